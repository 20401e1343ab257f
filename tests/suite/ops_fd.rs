//! Every CPU backward against central finite differences in f64: relative error ≤ 1e-4.

use crate::common::randn64;
use trm_gpu::ops::*;
use trm_gpu::rng::SplitMix64;

const H: f64 = 1e-6;
const TOL: f64 = 1e-4;

/// Compare `grad` with central differences of `f` at `x`, element by element:
/// |g − fd| ≤ TOL · max(|fd|, max|fd| · 1e-3).
#[track_caller]
fn check(what: &str, x: &[f64], grad: &[f64], f: impl Fn(&[f64]) -> f64) {
    let mut fd = vec![0.0; x.len()];
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        let v = xp[i];
        xp[i] = v + H;
        let up = f(&xp);
        xp[i] = v - H;
        let down = f(&xp);
        xp[i] = v;
        fd[i] = (up - down) / (2.0 * H);
    }
    let scale = fd.iter().fold(0f64, |a, b| a.max(b.abs())).max(1e-12);
    for i in 0..x.len() {
        let err = (grad[i] - fd[i]).abs();
        assert!(
            err <= TOL * fd[i].abs().max(scale * 1e-3),
            "{what}[{i}]: analytic {} vs finite difference {}",
            grad[i],
            fd[i]
        );
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn matmul_linear() {
    let mut rng = SplitMix64::new(1);
    let (rows, inp, out) = (5, 7, 3);
    let (x, w, g) =
        (randn64(&mut rng, rows * inp, 1.0), randn64(&mut rng, out * inp, 1.0), randn64(&mut rng, rows * out, 1.0));
    let f = |x: &[f64], w: &[f64]| {
        let mut y = vec![0.0; rows * out];
        matmul::Matmul::linear(rows, inp, out).cpu(x, w, &mut y);
        dot(&y, &g)
    };
    let mut dx = vec![0.0; rows * inp];
    matmul::Matmul::linear_dx(rows, inp, out).cpu(&g, &w, &mut dx);
    let mut dw = vec![0.0; out * inp];
    matmul::Matmul::linear_dw(rows, inp, out).cpu(&g, &x, &mut dw);
    check("dX", &x, &dx, |x| f(x, &w));
    check("dW", &w, &dw, |w| f(&x, w));
}

#[test]
fn rmsnorm() {
    let mut rng = SplitMix64::new(2);
    let n = norm::Norm { rows: 3, dim: 9 };
    let (x, r, g) = (randn64(&mut rng, 27, 1.0), randn64(&mut rng, 27, 1.0), randn64(&mut rng, 27, 1.0));
    let f = |x: &[f64]| {
        let (mut y, mut s) = (vec![0.0; 27], vec![0.0; 3]);
        n.cpu_forward(x, &r, &mut y, &mut s);
        dot(&y, &g)
    };
    let (mut y, mut s, mut dx) = (vec![0.0; 27], vec![0.0; 3], vec![0.0; 27]);
    n.cpu_forward(&x, &r, &mut y, &mut s);
    n.cpu_backward(&y, &g, &s, &mut dx);
    check("rms", &x, &dx, f);
}

#[test]
fn swiglu() {
    let mut rng = SplitMix64::new(3);
    let s = swiglu::Swiglu { rows: 3, inner: 5 };
    let (h, g) = (randn64(&mut rng, 30, 2.0), randn64(&mut rng, 15, 1.0));
    let mut dh = vec![0.0; 30];
    s.cpu_backward(&h, &g, &mut dh);
    check("swiglu", &h, &dh, |h| {
        let mut a = vec![0.0; 15];
        s.cpu_forward(h, &mut a);
        dot(&a, &g)
    });
}

#[test]
fn rope_and_attention() {
    let mut rng = SplitMix64::new(4);
    let (batch, seq, heads, hd) = (2, 5, 2, 4);
    let rows = batch * seq;
    let rope = rope::Rope { rows, seq, heads, hd };
    let att = attention::Attention { batch, seq, heads, hd };
    let table = rope::table(seq, hd, 10000.0);
    let (qkv, g) = (randn64(&mut rng, rows * 3 * heads * hd, 1.0), randn64(&mut rng, rows * heads * hd, 1.0));
    let f = |qkv: &[f64]| {
        let (mut rot, mut o) = (vec![0.0; qkv.len()], vec![0.0; g.len()]);
        rope.cpu_forward(qkv, &table, &mut rot);
        att.cpu_forward(&rot, &mut o);
        dot(&o, &g)
    };
    let (mut rot, mut drot, mut dqkv) = (vec![0.0; qkv.len()], vec![0.0; qkv.len()], vec![0.0; qkv.len()]);
    rope.cpu_forward(&qkv, &table, &mut rot);
    att.cpu_backward(&rot, &g, &mut drot);
    rope.cpu_backward(&drot, &table, &mut dqkv);
    check("rope+attention", &qkv, &dqkv, f);
}

#[test]
fn embedding_and_puzzle_prefix() {
    let mut rng = SplitMix64::new(5);
    let e = embed::Embed { batch: 3, len: 4, prefix: 2, dim: 3, vocab: 5, ndim: 4, scale: 1.7 };
    let tokens = vec![0, 1, 4, 4, 2, 2, 2, 0, 3, 1, 0, 4];
    let ids = vec![1, 0, 1];
    let (table, puzzle) = (randn64(&mut rng, 15, 1.0), randn64(&mut rng, 8, 1.0));
    let g = randn64(&mut rng, 3 * 6 * 3, 1.0);
    let f = |table: &[f64], puzzle: &[f64]| {
        let mut x = vec![0.0; g.len()];
        e.cpu_forward(&tokens, &ids, table, puzzle, &mut x);
        dot(&x, &g)
    };
    let (mut dt, mut dp) = (vec![0.0; 15], vec![0.0; 3 * 4]);
    e.cpu_backward_table(&tokens, &g, &mut dt);
    e.cpu_backward_puzzle(&g, &mut dp);
    check("embed table", &table, &dt, |t| f(t, &puzzle));
    // Per-row puzzle grads summed per identifier give the gradient of the identifier's row.
    let mut dpid = vec![0.0; 8];
    for b in 0..3 {
        for k in 0..4 {
            dpid[ids[b] as usize * 4 + k] += dp[b * 4 + k];
        }
    }
    check("puzzle embedding", &puzzle, &dpid, |p| f(&table, p));
}

#[test]
fn losses() {
    let mut rng = SplitMix64::new(6);
    for kind in [loss::LossKind::Stablemax, loss::LossKind::Softmax] {
        let l = loss::Loss { batch: 2, len: 4, vocab: 5, kind, grad_scale: 0.5 };
        let logits = randn64(&mut rng, 40, 2.0);
        let q = vec![0.3, 0.1, -1.2, 0.7];
        let labels = vec![1, 4, 0, 2, 3, -100, 1, 1];
        let (mut dl, mut dq, mut st) = (vec![0.0; 40], vec![0.0; 4], vec![0.0; 2 * loss::SEQ_STATS]);
        l.cpu(&logits, &labels, &q, &mut dl, &mut dq, &mut st);
        let f = |x: &[f64], q: &[f64]| {
            let (mut a, mut b, mut c) = (vec![0.0; 40], vec![0.0; 4], vec![0.0; 2 * loss::SEQ_STATS]);
            0.5 * l.cpu(x, &labels, q, &mut a, &mut b, &mut c)
        };
        check(&format!("{kind:?} logits"), &logits, &dl, |x| f(x, &q));
        // q_continue has no loss (no_ACT_continue), only q_halt does.
        check(&format!("{kind:?} q"), &q, &dq, |q| f(&logits, q));
    }
}

#[test]
fn small_ops_are_their_own_adjoints() {
    use elementwise::cpu;
    let mut rng = SplitMix64::new(7);
    let (b, r, c) = (2, 3, 4);
    let (x, g) = (randn64(&mut rng, 24, 1.0), randn64(&mut rng, 24, 1.0));
    let mut gt = vec![0.0; 24];
    cpu::transpose(&g, &mut gt, b, c, r);
    check("transpose", &x, &gt, |x| {
        let mut y = vec![0.0; 24];
        cpu::transpose(x, &mut y, b, r, c);
        dot(&y, &g)
    });
    let gs = randn64(&mut rng, b * 2 * c, 1.0);
    let mut dx = vec![0.0; 24];
    cpu::unslice_seq(&gs, &mut dx, b, r, c, 1, 2);
    check("slice", &x, &dx, |x| {
        let mut y = vec![0.0; b * 2 * c];
        cpu::slice_seq(x, &mut y, b, r, c, 1, 2);
        dot(&y, &gs)
    });
    let bias = randn64(&mut rng, c, 1.0);
    let g2 = randn64(&mut rng, 24, 1.0);
    let mut db = vec![0.0; c];
    cpu::col_sum(&g2, &mut db, 6, c);
    check("bias", &bias, &db, |bias| {
        let mut y = x.clone();
        cpu::bias_add(bias, &mut y, c);
        dot(&y, &g2)
    });
}
