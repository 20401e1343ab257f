//! The planner on TRM's real step at paper size (D 512, batch 64, n 6): no GPU needed.

use trm_gpu::model::memory::plan_step;
use trm_gpu::model::{Checkpoint, Config};
use trm_gpu::plan::Role;

fn cfg(preset: &str, t: usize, n: usize) -> Config {
    let mut c = Config::preset(preset).unwrap();
    c.model.h_cycles = t;
    c.model.l_cycles = n;
    c
}

fn peak(preset: &str, t: usize, n: usize, ck: Checkpoint) -> (u64, u64) {
    let (_, p) = plan_step(&cfg(preset, t, n), 64, ck, u64::MAX).unwrap();
    (p.peak_bytes(), p.activation_peak_bytes())
}

#[test]
fn peak_does_not_depend_on_t() {
    for preset in ["sudoku-mlp", "sudoku-att"] {
        let base = peak(preset, 1, 6, Checkpoint::PerCall);
        for t in [2, 3, 8] {
            assert_eq!(peak(preset, t, 6, Checkpoint::PerCall), base, "{preset} T={t}");
        }
    }
}

#[test]
fn per_call_activation_peak_is_at_most_a_quarter_of_none() {
    for preset in ["sudoku-mlp", "sudoku-att"] {
        let (_, per_call) = peak(preset, 3, 6, Checkpoint::PerCall);
        let (_, none) = peak(preset, 3, 6, Checkpoint::None);
        assert!(per_call * 4 <= none, "{preset}: per-call {per_call} vs none {none}");
    }
}

#[test]
fn growth_in_n() {
    for preset in ["sudoku-mlp", "sudoku-att"] {
        let c = cfg(preset, 3, 6);
        let call_input = (64 * c.model.seq() * c.model.hidden_size * 4) as u64;
        let none: Vec<u64> = (2..=6).map(|n| peak(preset, 3, n, Checkpoint::None).0).collect();
        let per_call: Vec<u64> = (2..=6).map(|n| peak(preset, 3, n, Checkpoint::PerCall).0).collect();
        // None: linear in n (constant increments).
        let steps: Vec<u64> = none.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|&s| s == steps[0] && s > 0), "{preset}: none grows {steps:?}");
        // Per-call: one (B, S', D) checkpoint per extra call, plus at most 256-byte rounding.
        for w in per_call.windows(2) {
            assert!(
                w[1] - w[0] <= call_input + 256 && w[1] >= w[0],
                "{preset}: per-call grows by {} (call input {call_input})",
                w[1] - w[0]
            );
        }
    }
}

#[test]
fn recompute_costs_at_most_one_forward_of_the_graded_pass() {
    for preset in ["sudoku-mlp", "sudoku-att"] {
        let (s, p) = plan_step(&cfg(preset, 3, 6), 64, Checkpoint::PerCall, u64::MAX).unwrap();
        let (total, recompute) = s.flops();
        assert!(recompute * 5 <= total, "{preset}: recompute {recompute} of {total}");
        assert!(recompute > 0);
        // Every activation dies at its last use: nothing but persistent tensors spans the no-grad passes.
        trm_gpu::plan::check_plan(&s, &p).unwrap();
        assert!(p.bytes_by_role().contains_key(&Role::Checkpoint) || p.bytes_by_role().contains_key(&Role::Activation));
    }
}

#[test]
fn the_plan_holds_the_whole_training_memory() {
    use trm_gpu::model::trm::trained;
    use trm_gpu::plan::BUFFER_ALIGN;
    for preset in ["sudoku-mlp", "sudoku-att"] {
        let c = cfg(preset, 3, 6);
        let (_, p) = plan_step(&c, 64, Checkpoint::PerCall, u64::MAX).unwrap();
        let by_role = p.bytes_by_role();
        let padded = |n: usize| (n as u64 * 4).div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN;
        let trained: u64 = trained(&c.model).iter().map(|s| padded(s.shape.iter().product())).sum();
        assert_eq!(by_role[&Role::OptimizerState], 2 * trained, "{preset}: Adam's two moments per trained tensor");
        assert_eq!(by_role.get(&Role::Ema).copied(), c.train.ema.then_some(trained), "{preset}: the EMA");
        let gradients = by_role[&Role::Gradient];
        assert!(gradients >= trained, "{preset}: gradients {gradients} cover the trained tensors {trained}");
        assert!(by_role[&Role::Parameter] >= trained);
    }
}

/// The planner aliases buffers by `io()` alone, so a kernel's bindings must agree with it; the GPU executor
/// runs this check on every op it builds.
#[test]
fn bindings_that_disagree_with_io_are_refused() {
    use trm_gpu::gpu::Access::{Read, ReadWrite};
    use trm_gpu::model::program::check_bindings;
    let mut s = trm_gpu::plan::Schedule::default();
    let (x, y, out) = (
        s.tensor("x", Role::Activation, &[4]),
        s.tensor("y", Role::Activation, &[4]),
        s.tensor("out", Role::Activation, &[4]),
    );
    let ok = check_bindings("add", &[x, y], &[out], &[vec![(x, Read), (y, Read), (out, ReadWrite)]], &s);
    assert!(ok.is_ok());
    // A tensor one kernel writes and a later one reads.
    let two = [vec![(x, Read), (out, ReadWrite)], vec![(out, Read), (y, ReadWrite)]];
    assert!(check_bindings("two", &[x], &[out, y], &two, &s).is_ok());
    assert!(check_bindings("two", &[x], &[out, y], &[two[1].clone(), two[0].clone()], &s).is_err());
    for (bound, says) in [
        (vec![(x, Read), (out, ReadWrite)], "none of its kernels binds"),
        (vec![(x, Read), (y, ReadWrite), (out, ReadWrite)], "binds y writable"),
        (vec![(x, Read), (y, Read), (out, Read)], "binds out read-only"),
    ] {
        let e = check_bindings("add", &[x, y], &[out], &[bound], &s).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    let e = check_bindings("acc", &[x, out], &[out], &[vec![(x, Read), (out, Read)]], &s).unwrap_err().to_string();
    assert!(e.contains("only read-only"), "{e}");
}

/// Past WebGPU's default 128 MiB binding limit (sudoku-mlp above batch 64: the token mixer's hidden activation), the plan
/// is refused before anything is allocated, naming the tensor, its bytes and the limit; at batch 64 it fits.
#[test]
fn a_tensor_over_the_binding_limit_is_refused_by_name() {
    let limit = 128 << 20;
    let c = cfg("sudoku-mlp", 3, 6);
    assert!(plan_step(&c, 64, Checkpoint::PerCall, limit).is_ok());
    let e = plan_step(&c, 128, Checkpoint::PerCall, limit).unwrap_err().to_string();
    assert!(
        e.contains("tensor 'c0.l0.mix.h' [65536, 1024]") && e.contains("over the max binding size 134217728"),
        "{e}"
    );
    let bytes: u64 = e.split(" needs ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(bytes > limit, "{e}");
}
