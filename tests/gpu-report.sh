#!/usr/bin/env bash
# The GPU report: what trm-gpu measures on a real GPU, in one run of at most 10 minutes, into one file.
# Runs on a Linux machine with an NVIDIA or AMD GPU and a Vulkan driver, from binaries built elsewhere:
#   cargo build --release && cargo test --release --no-run     # on the build machine; the suite binary is
#   ls target/release/deps/suite-*                             # the one without an extension
#   tests/gpu-report.sh [--bin target/release/trm-gpu] [--suite target/release/deps/suite-HASH]
#                       [--official DIR] [--out gpu-report.md] [--steps "P:B ..."] [--filter KERNEL]
# Run it in the repository root (the tests read shaders/ and tests/fixtures/). Where the machine lacks the Vulkan
# loader, unpack Debian's libvulkan1 first. --official names a checkout of the official TRM code: with PyTorch and
# CUDA installed, the official step is timed at the same configs (benches/official_pytorch.py --device cuda).
# --steps and --filter narrow the bench (a quick check of the script on a machine without a GPU).
set -uo pipefail
bin=target/release/trm-gpu suite="" official="" out=gpu-report.md filter=""
steps="sudoku-mlp:64 sudoku-att:64 maze-att:8 tiny-sudoku-mlp:64"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --suite) suite=$2; shift 2 ;;
        --official) official=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        *) echo "gpu-report.sh: unknown argument $1 (see the usage at the top of the script)" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "gpu-report.sh: no trm-gpu binary at $bin (--bin)" >&2; exit 2; }
tmp=$(mktemp "$out.XXXXXX") || exit 2
failed=0

# One section: a title, the command, its output (the last 200 lines), its exit status and seconds.
section() {
    local title=$1 limit=$2; shift 2
    local start=$SECONDS rc
    { echo "## $title"; echo; echo '```'; echo "\$ $*"; } >>"$tmp"
    timeout "$limit" "$@" >"$tmp.part" 2>&1
    rc=$?
    tail -200 "$tmp.part" >>"$tmp"
    rm -f "$tmp.part"
    { echo '```'; echo; echo "exit $rc after $((SECONDS - start)) s"; echo; } >>"$tmp"
    [ $rc -eq 0 ] || failed=1
    echo "gpu-report: $title: exit $rc after $((SECONDS - start)) s" >&2
}

{
    echo "# trm-gpu GPU report"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
} >"$tmp"
command -v nvidia-smi >/dev/null && section "nvidia-smi" 30 nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
section "Adapters" 30 "$bin" info

if [ -n "$suite" ]; then
    # The suite was compiled with its repository's absolute path for shaders/ and tests/fixtures/: point that path
    # here when this checkout lives elsewhere.
    built=$(grep -a -o -m1 '/[^[:space:]"]*/tests/fixtures' "$suite" | head -1 | sed 's#/tests/fixtures$##')
    if [ -n "$built" ] && [ ! -e "$built" ]; then
        mkdir -p "$(dirname "$built")" && ln -s "$PWD" "$built"
    fi
    # Every kernel against its CPU twin on odd shapes, the training step against the CPU reference, and the
    # planner's adapter limits, on this GPU (its default adapter).
    section "Kernel and step tests on this GPU" 150 "$suite" --test-threads 4 ops_gpu:: model_cpu:: plan_trm::
fi

bench=(bench --device gpu --reps 5)
for s in $steps; do bench+=(--step "$s"); done
[ -n "$filter" ] && bench+=(--filter "$filter")
section "Kernels and paper-size steps" 240 "$bin" "${bench[@]}"

if [ -n "$official" ]; then
    if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        section "Official PyTorch step, CUDA fp32" 120 env TRM_OFFICIAL_DIR="$official" \
            python3 benches/official_pytorch.py --device cuda --config sudoku-mlp,sudoku-att --batch 64 --reps 5
    else
        echo "PyTorch with CUDA is not installed here: no official step timed." >>"$tmp"
    fi
fi

mv "$tmp" "$out"
echo "gpu-report: wrote $out" >&2
exit $failed
