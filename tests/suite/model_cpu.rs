//! The whole model on the CPU reference: finite differences in f64, no-grad passes are really no-grad, and the
//! GPU training step equals the CPU reference step.

use crate::common::*;
use trm_gpu::model::*;
use trm_gpu::ops::loss::LossStats;

fn tiny(mlp_t: bool) -> ModelConfig {
    ModelConfig {
        hidden_size: 8,
        num_heads: 2,
        expansion: 1.0,
        layers: 1,
        h_cycles: 2,
        l_cycles: 2,
        halt_max_steps: 2,
        halt_exploration_prob: 0.0,
        mlp_t,
        pos_encodings: if mlp_t { "none" } else { "rope" }.into(),
        rope_theta: 10000.0,
        puzzle_emb_ndim: 5,
        puzzle_emb_len: 1,
        num_puzzle_identifiers: 2,
        vocab_size: 5,
        seq_len: 4,
    }
}

const B: usize = 2;

fn setup<E: Exec>(ex: &mut E, h: &Handles, w: &Weights) {
    ex.load_weights(h, w);
    ex.write_i32(h.tokens, &[1, 2, 3, 4, 0, 1, 2, 1]);
    ex.write_i32(h.labels, &[2, 3, 4, 1, 1, 1, 0, 3]);
    ex.write_i32(h.ids, &[1, 0]);
    ex.write_i32(h.reset, &[1; B]);
}

/// Official init plus small noise (as the official fixtures: 0.02), so that q_head and the puzzle embeddings
/// matter. Much larger noise makes the recursion chaotic: at 0.3, f32 rounding grows about 8× per net call.
fn weights(c: &ModelConfig) -> Weights {
    let mut w = Weights::init(c, 3);
    let mut rng = trm_gpu::rng::SplitMix64::new(4);
    for (_, (_, d)) in w.tensors.iter_mut() {
        let noise = randn(&mut rng, d.len(), 0.02);
        for (x, n) in d.iter_mut().zip(noise) {
            *x += n;
        }
    }
    w
}

fn opts(train: bool) -> StepOptions {
    StepOptions {
        batch: B,
        train,
        checkpoint: Checkpoint::PerCall,
        loss: trm_gpu::ops::loss::LossKind::Stablemax,
        grad_scale: 1.0,
        record: false,
        one_step_grad: false,
        update: None,
    }
}

fn total_loss(ex: &CpuRun<f64>, h: &Handles) -> f64 {
    ex.exec.vals[h.stats].chunks(trm_gpu::ops::loss::SEQ_STATS).map(|r| r[0] + 0.5 * r[1]).sum()
}

/// The T = 2 step's gradient against central differences in f64 of the loss as TRM defines its gradient: the
/// T−1 no-grad passes are held fixed (their carry is computed once with the unperturbed weights), the graded pass
/// and heads see the perturbation. Three entries of every trained tensor, both token mixers.
#[test]
fn whole_model_finite_differences_f64() {
    for mlp_t in [true, false] {
        let c = tiny(mlp_t);
        let w = weights(&c);
        let (prog, h) = build_step(&c, &opts(true));
        let mut ex = CpuRun::<f64>::new(&prog);
        setup(&mut ex, &h, &w);
        ex.run();
        // The carry entering the graded pass: one latent recursion from the initial state.
        let c1 = ModelConfig { h_cycles: 1, ..c.clone() };
        let (p1, h1) = build_step(&c1, &opts(true));
        let mut first = CpuRun::<f64>::new(&p1);
        setup(&mut first, &h1, &w);
        first.run();
        let (zh, zl) = (first.exec.vals[h1.z_h].clone(), first.exec.vals[h1.z_l].clone());
        let eps = 1e-6;
        for (name, &g) in h.grads.iter().filter(|(n, _)| n.as_str() != "puzzle_emb.local") {
            let grad = ex.exec.vals[g].clone();
            let t = h1.params[name];
            let n = grad.len();
            for i in [0, n / 2, n - 1] {
                let base = ex.exec.vals[h.params[name]][i];
                let f = |v: f64| {
                    let mut e = CpuRun::<f64>::new(&p1);
                    setup(&mut e, &h1, &w);
                    e.write_i32(h1.reset, &[0; B]);
                    e.exec.vals[h1.z_h] = zh.clone();
                    e.exec.vals[h1.z_l] = zl.clone();
                    e.exec.vals[t][i] = v;
                    e.run();
                    total_loss(&e, &h1)
                };
                let fd = (f(base + eps) - f(base - eps)) / (2.0 * eps);
                let err = (grad[i] - fd).abs();
                assert!(err <= 1e-4 * fd.abs().max(1e-3), "mlp_t={mlp_t} {name}[{i}]: analytic {} vs fd {fd}", grad[i]);
            }
        }
    }
}

/// The gradient after T−1 no-grad passes equals that of a fresh T = 1 step started from the same carry.
#[test]
fn no_grad_passes_are_no_grad() {
    for mlp_t in [true, false] {
        let c2 = tiny(mlp_t);
        let c1 = ModelConfig { h_cycles: 1, ..c2.clone() };
        let w = weights(&c2);
        // The carry after one latent recursion from the initial state.
        let (p1, h1) = build_step(&c1, &opts(true));
        let mut a = CpuRun::<f32>::new(&p1);
        setup(&mut a, &h1, &w);
        a.run();
        let (zh, zl) = (a.read(h1.z_h), a.read(h1.z_l));
        // T = 2 from the initial state.
        let (p2, h2) = build_step(&c2, &opts(true));
        let mut b = CpuRun::<f32>::new(&p2);
        setup(&mut b, &h2, &w);
        b.run();
        // T = 1 started at that carry.
        let mut c = CpuRun::<f32>::new(&p1);
        setup(&mut c, &h1, &w);
        c.write_i32(h1.reset, &[0; B]);
        c.write(h1.z_h, &zh);
        c.write(h1.z_l, &zl);
        c.run();
        for (name, &g) in &h2.grads {
            assert_eq!(b.read(g), c.read(h1.grads[name]), "mlp_t={mlp_t} {name}");
        }
        assert_eq!(b.read(h2.logits), c.read(h1.logits));
    }
}

/// The whole training step (forward, loss, backward, and the optimizer step with the EMA) on the GPU, with the
/// kernels of CPU adapters and those of GPUs, and on the native executor equals the CPU reference, for two steps;
/// the native executor holds exactly the plan's bytes.
#[test]
fn gpu_and_native_steps_equal_cpu_step() {
    let all = devices().into_iter().chain([("gpu-kernels", gpu_kernels_dev())]);
    for ((dev_name, dev), mlp_t) in all.flat_map(|d| [(d, true), (d, false)]) {
        let c = ModelConfig { hidden_size: 16, num_heads: 2, layers: 2, ..tiny(mlp_t) };
        let w = weights(&c);
        let adam = trm_gpu::ops::optim::Adam {
            kind: trm_gpu::ops::optim::OptimizerKind::AdamAtan2,
            wd: 0.1,
            b1: 0.9,
            b2: 0.95,
            eps: 1e-8,
        };
        let update = trm::Update { adam, ema: Some(0.9), puzzle_lr: 0.01, puzzle_wd: 0.1, ranks: 1 };
        let o = StepOptions { grad_scale: 0.5, update: Some(update), ..opts(true) };
        let (prog, h) = build_step(&c, &o);
        let plan = dev.plan(&prog).unwrap();
        let mut g = dev.exec(&prog, &plan).unwrap();
        if dev_name == "native" {
            assert_eq!(g.allocated(), plan.total_bytes(), "the native executor allocates the plan");
        }
        let mut cpu = CpuRun::<f32>::new(&prog);
        setup(&mut g, &h, &w);
        setup(&mut cpu, &h, &w);
        for (name, &e) in &h.ema {
            g.write(e, w.get(name));
            cpu.write(e, w.get(name));
        }
        for step in 0..2 {
            let hyper = adam.hyper(1e-3, step + 1);
            g.write(h.hyper, &hyper);
            cpu.write(h.hyper, &hyper);
            g.run();
            cpu.run();
            let what = |t: &str| format!("{dev_name} mlp_t={mlp_t} step {step} {t}");
            for (t, name) in [(h.logits, "logits"), (h.q, "q"), (h.z_h, "z_H"), (h.z_l, "z_L"), (h.stats, "stats")] {
                assert_close(&what(name), &g.read(t), &cpu.read(t), 1e-4, 1e-4);
            }
            for (name, &t) in &h.grads {
                assert_close(&what(name), &g.read(t), &cpu.read(t), 1e-4, 1e-3);
            }
            // AdamATan2 moves each weight by about lr whatever the gradient's size: compare updates to lr.
            for (name, &t) in h.params.iter().chain(&h.ema) {
                assert_close(&what(&format!("updated {name}")), &g.read(t), &cpu.read(t), 2e-5, 1e-4);
            }
            assert!(LossStats::from_rows(&g.read(h.stats), None).total().is_finite());
            // The next step continues from the same carry on both (rounding differences grow through the
            // recursion, so each step is checked from identical inputs).
            g.write_i32(h.reset, &[0; B]);
            cpu.write_i32(h.reset, &[0; B]);
            cpu.write(h.z_h, &g.read(h.z_h));
            cpu.write(h.z_l, &g.read(h.z_l));
            for &t in h.params.values().chain(h.ema.values()).chain(h.moments.values().flat_map(|(m, v)| [m, v])) {
                cpu.write(t, &g.read(t));
            }
        }
    }
}

/// The 1-step gradient (an ablation) differentiates only the last z_L update and the z_H update: with n = 1 it is
/// the full unroll; with n = 2 it is not.
#[test]
fn one_step_gradient() {
    for (n, same) in [(1, true), (2, false)] {
        let c = ModelConfig { l_cycles: n, ..tiny(true) };
        let w = weights(&c);
        let grads = |one: bool| {
            let (prog, h) = build_step(&c, &StepOptions { one_step_grad: one, ..opts(true) });
            let mut ex = CpuRun::<f32>::new(&prog);
            setup(&mut ex, &h, &w);
            ex.run();
            h.grads.values().map(|&g| ex.read(g)).collect::<Vec<_>>()
        };
        assert_eq!(grads(true) == grads(false), same, "n = {n}");
    }
}
