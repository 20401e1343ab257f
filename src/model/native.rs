//! The native executor: the step program on the CPU cores, in f32, over the planner's buffers (one vector per
//! planned buffer, tensors sharing them as on the GPU, so `trm-gpu plan`'s figures hold here too). Every matmul
//! goes through gemm; the other ops run their row-parallel native paths. The CPU twins stay the reference.

use super::program::{Op, Program};
use crate::ops::{elementwise as ew, optim};
use crate::plan::{report::human_bytes, Plan, TensorId as T};
use anyhow::{ensure, Result};

/// The program's tensors in the planned buffers.
pub struct NativeExec {
    bufs: Vec<Vec<f32>>,
    /// Each tensor's buffer and length in elements.
    place: Vec<(usize, usize)>,
}

/// Bytes the system can still hand out (MemAvailable), where it says.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Zeros written page by page: the memory is resident from the start (a plan that does not fit fails here, not
/// mid-run), and never the kernel's shared zero page, which halves gemm's speed on inputs not yet written.
fn touched_zeros(n: usize) -> Vec<f32> {
    let mut v = vec![0f32; n];
    for i in (0..n).step_by(1024) {
        // SAFETY: i < n. A volatile write, so the compiler cannot drop it as a store of the value already there.
        unsafe { std::ptr::write_volatile(v.as_mut_ptr().add(i), 0.0) };
    }
    v
}

fn ints(x: &[f32]) -> &[i32] {
    bytemuck::cast_slice(x)
}

impl NativeExec {
    /// Allocate the plan's buffers, refusing a plan larger than the memory available.
    pub fn new(prog: &Program, plan: &Plan) -> Result<Self> {
        let need = plan.total_bytes();
        if let Some(have) = available_memory() {
            ensure!(
                need < have,
                "this step's plan needs {} but the machine has {} available: use a smaller batch or model",
                human_bytes(need),
                human_bytes(have)
            );
        }
        let bufs = plan.buffers.iter().map(|b| touched_zeros((b.bytes / 4) as usize)).collect();
        let place = prog
            .schedule
            .tensors
            .iter()
            .enumerate()
            .map(|(i, d)| (plan.buffer_of[i], (d.bytes / 4) as usize))
            .collect();
        let mut ex = NativeExec { bufs, place };
        for (&t, data) in &prog.constants {
            ex.write(t, data);
        }
        Ok(ex)
    }

    pub fn allocated(&self) -> u64 {
        self.bufs.iter().map(|b| 4 * b.len() as u64).sum()
    }

    pub fn write(&mut self, t: T, data: &[f32]) {
        let (b, n) = self.place[t];
        assert!(data.len() <= n, "writing {} elements into a tensor of {n}", data.len());
        self.bufs[b][..data.len()].copy_from_slice(data);
    }
    pub fn read(&self, t: T) -> Vec<f32> {
        let (b, n) = self.place[t];
        self.bufs[b][..n].to_vec()
    }

    /// Run `f` over the tensors `r` (read) and `w` (written; a tensor both read and written goes in `w` only).
    /// The planner never puts two tensors of one op in one buffer; a broken plan stops here, not in wrong values.
    fn with<const R: usize, const W: usize>(
        &mut self,
        r: [T; R],
        w: [T; W],
        f: impl FnOnce([&[f32]; R], [&mut [f32]; W]),
    ) {
        let mut outs: [Vec<f32>; W] = w.map(|t| std::mem::take(&mut self.bufs[self.place[t].0]));
        let place = &self.place;
        let bufs = &self.bufs;
        let ins = r.map(|t| {
            let (b, n) = place[t];
            assert!(bufs[b].len() >= n, "tensor {t} shares a buffer with an output of the same op: the plan is broken");
            &bufs[b][..n]
        });
        let mut k = 0;
        let out_slices = outs.each_mut().map(|v| {
            let n = place[w[k]].1;
            k += 1;
            &mut v[..n]
        });
        f(ins, out_slices);
        for (t, v) in w.into_iter().zip(outs) {
            self.bufs[self.place[t].0] = v;
        }
    }

    pub fn run(&mut self, ops: &[Op]) {
        for op in ops {
            self.exec(op);
        }
    }

    fn exec(&mut self, op: &Op) {
        use Op::*;
        match *op {
            Matmul { mm, a, b, c } => self.with([a, b], [c], |[a, b], [c]| mm.native(a, b, c)),
            NormFwd { n, x, r, y, rstd } => self.with([x, r], [y, rstd], |[x, r], [y, s]| n.native_forward(x, r, y, s)),
            NormBwd { n, y, dy, rstd, dsum } => {
                self.with([y, dy, rstd], [dsum], |[y, dy, s], [d]| n.native_backward(y, dy, s, d))
            }
            SwigluFwd { s, h, a } => self.with([h], [a], |[h], [a]| s.native_forward(h, a)),
            SwigluBwd { s, h, da, dh } => self.with([h, da], [dh], |[h, da], [dh]| s.native_backward(h, da, dh)),
            Add { x, y, out } => self.with([x, y], [out], |[x, y], [o]| ew::native::add(x, y, o)),
            Accumulate { x, out, s } => self.with([x], [out], |[x], [o]| ew::native::accumulate(x, o, s)),
            Copy { x, out } | Detach { x, out } => self.with([x], [out], |[x], [o]| o.copy_from_slice(x)),
            Fill { out, s } => self.with([], [out], |[], [o]| ew::native::fill(o, s)),
            Transpose { x, out, batch, rows, cols } => {
                self.with([x], [out], |[x], [o]| ew::native::transpose(x, o, batch, rows, cols))
            }
            SliceSeq { x, out, batch, seq, cols, s0, len } => {
                self.with([x], [out], |[x], [o]| ew::cpu::slice_seq(x, o, batch, seq, cols, s0, len))
            }
            UnsliceSeq { x, out, batch, seq, cols, s0, len } => {
                self.with([x], [out], |[x], [o]| ew::cpu::unslice_seq(x, o, batch, seq, cols, s0, len))
            }
            ResetCarry { init, mask, out, seq, cols } => {
                self.with([init, mask], [out], |[i, m], [o]| ew::cpu::reset_carry(i, ints(m), o, seq, cols))
            }
            BiasAdd { bias, out, cols } => self.with([bias], [out], |[b], [o]| ew::cpu::bias_add(b, o, cols)),
            ColSum { x, out, rows, cols } => self.with([x], [out], |[x], [o]| ew::cpu::col_sum(x, o, rows, cols)),
            RopeFwd { r, x, table, out } => self.with([x, table], [out], |[x, t], [o]| r.native(x, t, o, 1.0)),
            RopeBwd { r, dout, table, dx } => self.with([dout, table], [dx], |[d, t], [o]| r.native(d, t, o, -1.0)),
            AttnFwd { a, qkv, o, lse } => self.with([qkv], [o, lse], |[x], [o, l]| a.native_forward(x, o, l)),
            AttnBwd { a, qkv, o, lse, dout, delta, dqkv } => {
                self.with([qkv, o, lse, dout], [delta, dqkv], |[x, o, l, g], [d, dx]| {
                    a.native_backward(x, o, l, g, d, dx)
                })
            }
            EmbedFwd { e, tokens, ids, table, puzzle, x } => {
                self.with([tokens, ids, table, puzzle], [x], |[t, i, tab, p], [x]| {
                    e.native_forward(ints(t), ints(i), tab, p, x)
                })
            }
            EmbedBwdTable { e, tokens, dx, dtable } => {
                self.with([tokens, dx], [dtable], |[t, dx], [d]| e.cpu_backward_table(ints(t), dx, d))
            }
            EmbedBwdPuzzle { e, dx, dpuzzle } => self.with([dx], [dpuzzle], |[dx], [d]| e.cpu_backward_puzzle(dx, d)),
            Loss { l, logits, labels, q, dlogits, tok, dq, stats } => {
                self.with([logits, labels, q], [dlogits, tok, dq, stats], |[x, y, q], [d, _, g, s]| {
                    l.cpu(x, ints(y), q, d, g, s);
                })
            }
            Adam { a, hyper, grad, param, m, v } => {
                self.with([hyper, grad], [param, m, v], |[h, g], [p, m, v]| a.native(h, g, p, m, v))
            }
            Ema { mu, param, ema } => self.with([param], [ema], |[p], [e]| optim::native_ema(p, e, mu)),
            SignSgd { s, grad, ids, weights } => self.with([grad, ids], [weights], |[g, i], [w]| s.cpu(g, ints(i), w)),
        }
    }
}
