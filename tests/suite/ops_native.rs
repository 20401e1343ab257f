//! Every op on the native executor against its f64 CPU twin, on odd shapes (no dimension a multiple of 4 or of
//! any tile) and on shapes large enough to be split across threads: |native − ref| ≤ 1e-5 + 1e-5·|ref|.

use crate::common::*;
use trm_gpu::model::{CpuRun, Exec, Op, Program};
use trm_gpu::ops::optim::{Adam, OptimizerKind, SignSgd};
use trm_gpu::ops::{
    attention::Attention, embed::Embed, loss, matmul::Matmul, norm::Norm, rope, rope::Rope, swiglu::Swiglu,
};
use trm_gpu::plan::{Role, TensorId as T};
use trm_gpu::rng::SplitMix64;

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-5;

/// One test program: its ops over random tensors, with some tensors set explicitly.
#[derive(Default)]
struct Case {
    p: Program,
    set: Vec<(T, Vec<f32>)>,
    ints: Vec<(T, Vec<i32>)>,
}

impl Case {
    fn t(&mut self, len: usize) -> T {
        let n = self.p.schedule.tensors.len();
        self.p.tensor(format!("t{n}"), Role::Input, &[len])
    }
    fn int(&mut self, data: Vec<i32>) -> T {
        let n = self.p.schedule.tensors.len();
        let t = self.p.int_tensor(format!("i{n}"), Role::Input, &[data.len()]);
        self.ints.push((t, data));
        t
    }
    fn set(&mut self, len: usize, data: Vec<f32>) -> T {
        let t = self.t(len);
        self.set.push((t, data));
        t
    }
    fn op(&mut self, op: Op) {
        self.p.push(op, false);
    }

    /// Run on the native executor and on the f64 twins from the same random inputs; compare `outputs`.
    #[track_caller]
    fn check(mut self, what: &str, outputs: &[T]) {
        let mut rng = SplitMix64::new(what.len() as u64);
        let mut native_ex = {
            let dev = native();
            let plan = dev.plan(&self.p).unwrap();
            dev.exec(&self.p, &plan).unwrap()
        };
        let mut reference = CpuRun::<f64>::new(&self.p);
        for t in 0..self.p.schedule.tensors.len() {
            if self.p.int[t] || self.p.constants.contains_key(&t) {
                continue;
            }
            let data = match self.set.iter().position(|s| s.0 == t) {
                Some(i) => std::mem::take(&mut self.set[i].1),
                None => randn(&mut rng, self.p.len(t), 1.0),
            };
            native_ex.write(t, &data);
            reference.write(t, &data);
        }
        for (t, data) in &self.ints {
            native_ex.write_i32(*t, data);
            reference.write_i32(*t, data);
        }
        native_ex.run();
        reference.run();
        for &t in outputs {
            let name = format!("{what}: {}", self.p.schedule.tensors[t].name);
            assert_close(&name, &native_ex.read(t), &reference.read(t), ATOL, RTOL);
        }
    }
}

#[test]
fn matmul_every_layout() {
    for (m, k, n) in [(1, 1, 1), (7, 13, 5), (33, 97, 17), (131, 81, 67)] {
        for (ta, tb, acc) in [(false, false, false), (false, true, false), (true, false, true), (true, true, true)] {
            let mm = Matmul { trans_a: ta, trans_b: tb, accumulate: acc, alpha: 0.7, ..Matmul::new(m, n, k) };
            let mut c = Case::default();
            let [la, lb, lc] = mm.lens();
            let (a, b, out) = (c.t(la), c.t(lb), c.t(lc));
            c.op(Op::Matmul { mm, a, b, c: out });
            c.check(&format!("matmul {m}x{k}x{n} ta {ta} tb {tb} acc {acc}"), &[out]);
        }
    }
    // Batched, B shared across the batch (stride 0).
    let mm = Matmul { stride_b: 0, ..Matmul::new(9, 11, 5).batched(3) };
    let mut c = Case::default();
    let [la, lb, lc] = mm.lens();
    let (a, b, out) = (c.t(la), c.t(lb), c.t(lc));
    c.op(Op::Matmul { mm, a, b, c: out });
    c.check("batched matmul", &[out]);
}

#[test]
fn norm_and_swiglu() {
    for (rows, dim) in [(7, 13), (3001, 13)] {
        let n = Norm { rows, dim };
        let mut c = Case::default();
        let (x, r, y, rstd, dy, ds) =
            (c.t(rows * dim), c.t(rows * dim), c.t(rows * dim), c.t(rows), c.t(rows * dim), c.t(rows * dim));
        c.op(Op::NormFwd { n, x, r, y, rstd });
        c.op(Op::NormBwd { n, y, dy, rstd, dsum: ds });
        c.check(&format!("norm {rows}x{dim}"), &[y, rstd, ds]);
    }
    for (rows, inner) in [(5, 11), (301, 77)] {
        let s = Swiglu { rows, inner };
        let mut c = Case::default();
        // Gates from −30 to 30 cover the sigmoid's tails.
        let gates: Vec<f32> = (0..rows * 2 * inner).map(|i| ((i * 7919) % 601) as f32 / 10.0 - 30.0).collect();
        let (h, a, da, dh) =
            (c.set(rows * 2 * inner, gates), c.t(rows * inner), c.t(rows * inner), c.t(rows * 2 * inner));
        c.op(Op::SwigluFwd { s, h, a });
        c.op(Op::SwigluBwd { s, h, da, dh });
        c.check(&format!("swiglu {rows}x{inner}"), &[a, dh]);
    }
}

#[test]
fn elementwise_ops() {
    let n = 20_003;
    let mut c = Case::default();
    let (x, y, sum, acc, copied, detached, filled) = (c.t(n), c.t(n), c.t(n), c.t(n), c.t(n), c.t(n), c.t(n));
    c.op(Op::Add { x, y, out: sum });
    c.op(Op::Accumulate { x, out: acc, s: -0.3 });
    c.op(Op::Copy { x, out: copied });
    c.op(Op::Detach { x: sum, out: detached });
    c.op(Op::Fill { out: filled, s: 0.25 });
    c.check("add, accumulate, copy, detach, fill", &[sum, acc, copied, detached, filled]);
    for (batch, rows, cols) in [(3, 5, 7), (2, 97, 67), (40, 9, 81)] {
        let mut c = Case::default();
        let (x, out) = (c.t(batch * rows * cols), c.t(batch * rows * cols));
        c.op(Op::Transpose { x, out, batch, rows, cols });
        c.check(&format!("transpose {batch}x{rows}x{cols}"), &[out]);
    }
    let (batch, seq, cols) = (3, 7, 5);
    let mut c = Case::default();
    let (x, sl, un, init, bias, bsum, cs) = (
        c.t(batch * seq * cols),
        c.t(batch * 3 * cols),
        c.t(batch * seq * cols),
        c.t(cols),
        c.t(cols),
        c.t(batch * seq * cols),
        c.t(cols),
    );
    let mask = c.int(vec![1, 0, 1]);
    c.op(Op::SliceSeq { x, out: sl, batch, seq, cols, s0: 2, len: 3 });
    c.op(Op::UnsliceSeq { x: sl, out: un, batch, seq, cols, s0: 2, len: 3 });
    c.op(Op::ResetCarry { init, mask, out: un, seq, cols });
    c.op(Op::BiasAdd { bias, out: bsum, cols });
    c.op(Op::ColSum { x: bsum, out: cs, rows: batch * seq, cols });
    c.check("slice, unslice, reset, bias, col sum", &[sl, un, bsum, cs]);
}

#[test]
fn rope_and_attention() {
    for (batch, seq, heads, hd) in [(3, 7, 2, 6), (70, 7, 2, 6)] {
        let r = Rope { rows: batch * seq, seq, heads, hd };
        let mut c = Case::default();
        let w = 3 * heads * hd;
        let (x, out, dx) = (c.t(batch * seq * w), c.t(batch * seq * w), c.t(batch * seq * w));
        let table = c.t(seq * hd);
        c.p.constants.insert(table, rope::table(seq, hd, 10000.0));
        c.op(Op::RopeFwd { r, x, table, out });
        c.op(Op::RopeBwd { r, dout: out, table, dx });
        c.check(&format!("rope {batch}x{seq} h{heads}x{hd}"), &[out, dx]);
    }
    // The second shape splits the batch across tasks.
    for (batch, seq, heads, hd) in [(2, 7, 2, 6), (1, 1, 1, 3), (5, 130, 2, 66)] {
        let a = Attention { batch, seq, heads, hd };
        let mut c = Case::default();
        let (w, rows) = (3 * heads * hd, batch * seq);
        let (qkv, o, lse, dout, delta, dqkv) = (
            c.t(rows * w),
            c.t(rows * heads * hd),
            c.t(batch * heads * seq),
            c.t(rows * heads * hd),
            c.t(batch * heads * seq),
            c.t(rows * w),
        );
        c.op(Op::AttnFwd { a, qkv, o, lse });
        c.op(Op::AttnBwd { a, qkv, o, lse, dout, delta, dqkv });
        c.check(&format!("attention {batch}x{seq} h{heads}x{hd}"), &[o, dqkv]);
    }
}

#[test]
fn embedding_and_loss() {
    let e = Embed { batch: 3, len: 5, prefix: 2, dim: 7, vocab: 4, ndim: 9, scale: 2.6 };
    let mut c = Case::default();
    let tokens = c.int((0..15).map(|i| i * 7 % 4).collect());
    let ids = c.int(vec![2, 0, 2]);
    let (table, puzzle, x, dtable, dpuzzle) = (c.t(4 * 7), c.t(3 * 9), c.t(3 * 7 * 7), c.t(4 * 7), c.t(3 * 9));
    c.op(Op::EmbedFwd { e, tokens, ids, table, puzzle, x });
    c.op(Op::EmbedBwdTable { e, tokens, dx: x, dtable });
    c.op(Op::EmbedBwdPuzzle { e, dx: x, dpuzzle });
    c.check("embedding", &[x, dtable, dpuzzle]);
    for kind in [loss::LossKind::Stablemax, loss::LossKind::Softmax] {
        let l = loss::Loss { batch: 3, len: 5, vocab: 6, kind, grad_scale: 0.3 };
        let mut c = Case::default();
        let labels = c.int((0..15).map(|i| i * 5 % 6).collect());
        let (logits, q, dlogits, tok, dq, stats) =
            (c.t(90), c.t(6), c.t(90), c.t(30), c.t(6), c.t(3 * loss::SEQ_STATS));
        c.op(Op::Loss { l, logits, labels, q, dlogits, tok, dq, stats });
        c.check(&format!("loss {kind:?}"), &[dlogits, dq, stats]);
    }
}

#[test]
fn optimizers() {
    for kind in [OptimizerKind::AdamAtan2, OptimizerKind::Adamw] {
        let n = 40_001;
        let a = Adam { kind, wd: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8 };
        let mut c = Case::default();
        let v0: Vec<f32> = randn(&mut SplitMix64::new(3), n, 0.1).iter().map(|x| x * x).collect();
        let (hyper, grad, param, m, v, ema) =
            (c.set(4, a.hyper(1e-2, 3).to_vec()), c.t(n), c.t(n), c.t(n), c.set(n, v0), c.t(n));
        c.op(Op::Adam { a, hyper, grad, param, m, v });
        c.op(Op::Ema { mu: 0.999, param, ema });
        c.check(&format!("{kind:?} and the EMA"), &[param, m, v, ema]);
    }
    let s = SignSgd { batch: 5, ndim: 7, lr: 0.01, wd: 0.1 };
    let mut c = Case::default();
    let ids = c.int(vec![3, 1, 3, 0, 3]);
    let (grad, weights) = (c.t(5 * 7), c.t(4 * 7));
    c.op(Op::SignSgd { s, grad, ids, weights });
    c.check("sign-SGD", &[weights]);
}
