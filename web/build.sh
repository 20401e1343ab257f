#!/usr/bin/env bash
# Build the browser demo into web/pkg: the library for wasm32 with the `web` feature, then wasm-bindgen.
# Serve web/ with any static server afterwards, e.g. `python3 -m http.server -d web 8000`.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); installing it from crates.io (about 3 minutes)" >&2
  cargo install wasm-bindgen-cli --version "$want"
fi
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo build --lib --release --target wasm32-unknown-unknown --features web
wasm-bindgen --target web --no-typescript --out-dir web/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/trm_gpu.wasm"
echo "built web/pkg ($(du -k web/pkg/trm_gpu_bg.wasm | cut -f1) KiB of wasm); serve web/ with any static server"
