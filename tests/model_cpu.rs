//! The whole model on the CPU reference: the no-grad passes are really no-grad.

mod common;
use common::*;
use trm_gpu::model::*;

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

/// Official init plus noise, so that q_head and the puzzle embeddings matter.
fn weights(c: &ModelConfig) -> Weights {
    let mut w = Weights::init(c, 3);
    let mut rng = trm_gpu::data::rng::SplitMix64::new(4);
    for (_, (_, d)) in w.tensors.iter_mut() {
        let noise = randn(&mut rng, d.len(), 0.3);
        for (x, n) in d.iter_mut().zip(noise) {
            *x += n;
        }
    }
    w
}

fn opts(train: bool) -> StepOptions {
    StepOptions { batch: B, train, checkpoint: Checkpoint::PerCall, loss: trm_gpu::ops::loss::LossKind::Stablemax, grad_scale: 1.0, record: false }
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
