//! A step as a static program: ops over the planner's named tensors, run by the GPU executor (kernels over the
//! planned buffers, built once and replayed) or by the CPU executor (the ops' CPU twins, the reference).

use crate::gpu::{Access, Gpu, GpuTensor, Launch};
use crate::ops::optim::{self, Adam, SignSgd};
use crate::ops::{
    attention::Attention, elementwise as ew, embed::Embed, loss::Loss, matmul::Matmul, norm::Norm, rope::Rope,
    swiglu::Swiglu, Real,
};
use crate::plan::{Plan, Role, Schedule, TensorId as T};
use anyhow::{bail, Result};
use std::collections::HashMap;

/// One op of a step. Tensor fields are schedule ids.
#[derive(Clone, Debug)]
pub enum Op {
    Matmul {
        mm: Matmul,
        a: T,
        b: T,
        c: T,
    },
    NormFwd {
        n: Norm,
        x: T,
        r: T,
        y: T,
        rstd: T,
    },
    NormBwd {
        n: Norm,
        y: T,
        dy: T,
        rstd: T,
        dsum: T,
    },
    SwigluFwd {
        s: Swiglu,
        h: T,
        a: T,
    },
    SwigluBwd {
        s: Swiglu,
        h: T,
        da: T,
        dh: T,
    },
    Add {
        x: T,
        y: T,
        out: T,
    },
    Accumulate {
        x: T,
        out: T,
        s: f32,
    },
    /// out = x, as an output the host reads (recorded states).
    Copy {
        x: T,
        out: T,
    },
    /// out = x with no gradient flowing back: the new carry.
    Detach {
        x: T,
        out: T,
    },
    Fill {
        out: T,
        s: f32,
    },
    Transpose {
        x: T,
        out: T,
        batch: usize,
        rows: usize,
        cols: usize,
    },
    SliceSeq {
        x: T,
        out: T,
        batch: usize,
        seq: usize,
        cols: usize,
        s0: usize,
        len: usize,
    },
    UnsliceSeq {
        x: T,
        out: T,
        batch: usize,
        seq: usize,
        cols: usize,
        s0: usize,
        len: usize,
    },
    ResetCarry {
        init: T,
        mask: T,
        out: T,
        seq: usize,
        cols: usize,
    },
    BiasAdd {
        bias: T,
        out: T,
        cols: usize,
    },
    ColSum {
        x: T,
        out: T,
        rows: usize,
        cols: usize,
    },
    RopeFwd {
        r: Rope,
        x: T,
        table: T,
        out: T,
    },
    RopeBwd {
        r: Rope,
        dout: T,
        table: T,
        dx: T,
    },
    AttnFwd {
        a: Attention,
        qkv: T,
        o: T,
        lse: T,
    },
    AttnBwd {
        a: Attention,
        qkv: T,
        o: T,
        lse: T,
        dout: T,
        delta: T,
        dqkv: T,
    },
    EmbedFwd {
        e: Embed,
        tokens: T,
        ids: T,
        table: T,
        puzzle: T,
        x: T,
    },
    EmbedBwdTable {
        e: Embed,
        tokens: T,
        dx: T,
        dtable: T,
    },
    EmbedBwdPuzzle {
        e: Embed,
        dx: T,
        dpuzzle: T,
    },
    Loss {
        l: Loss,
        logits: T,
        labels: T,
        q: T,
        dlogits: T,
        tok: T,
        dq: T,
        stats: T,
    },
    /// One optimizer step of a trained parameter; `hyper` holds this step's [lr, bc1, bc2, 0].
    Adam {
        a: Adam,
        hyper: T,
        grad: T,
        param: T,
        m: T,
        v: T,
    },
    Ema {
        mu: f32,
        param: T,
        ema: T,
    },
    SignSgd {
        s: SignSgd,
        grad: T,
        ids: T,
        weights: T,
    },
}

impl Op {
    /// (name, reads, writes, flops) for the planner. Ops that accumulate into a tensor also read it.
    pub fn io(&self) -> (&'static str, Vec<T>, Vec<T>, u64) {
        use Op::*;
        match *self {
            Matmul { mm, a, b, c } => {
                ("matmul", if mm.accumulate { vec![a, b, c] } else { vec![a, b] }, vec![c], mm.flops())
            }
            NormFwd { n, x, r, y, rstd } => ("norm", vec![x, r], vec![y, rstd], (4 * n.rows * n.dim) as u64),
            NormBwd { n, y, dy, rstd, dsum } => {
                ("norm_bwd", vec![y, dy, rstd], vec![dsum], (5 * n.rows * n.dim) as u64)
            }
            SwigluFwd { s, h, a } => ("swiglu", vec![h], vec![a], (6 * s.rows * s.inner) as u64),
            SwigluBwd { s, h, da, dh } => ("swiglu_bwd", vec![h, da], vec![dh], (10 * s.rows * s.inner) as u64),
            Add { x, y, out } => ("add", vec![x, y], vec![out], 0),
            Accumulate { x, out, .. } => ("accumulate", vec![x, out], vec![out], 0),
            Copy { x, out } => ("copy", vec![x], vec![out], 0),
            Detach { x, out } => ("detach", vec![x], vec![out], 0),
            Fill { out, .. } => ("fill", vec![], vec![out], 0),
            Transpose { x, out, .. } => ("transpose", vec![x], vec![out], 0),
            SliceSeq { x, out, .. } => ("slice", vec![x], vec![out], 0),
            UnsliceSeq { x, out, .. } => ("unslice", vec![x, out], vec![out], 0),
            ResetCarry { init, mask, out, .. } => ("reset_carry", vec![init, mask, out], vec![out], 0),
            BiasAdd { bias, out, .. } => ("bias_add", vec![bias, out], vec![out], 0),
            ColSum { x, out, .. } => ("col_sum", vec![x, out], vec![out], 0),
            RopeFwd { x, table, out, .. } => ("rope", vec![x, table], vec![out], 0),
            RopeBwd { dout, table, dx, .. } => ("rope_bwd", vec![dout, table], vec![dx], 0),
            AttnFwd { a, qkv, o, lse } => ("attention", vec![qkv], vec![o, lse], a.flops()),
            AttnBwd { a, qkv, o, lse, dout, delta, dqkv } => {
                ("attention_bwd", vec![qkv, o, lse, dout], vec![delta, dqkv], 2 * a.flops())
            }
            EmbedFwd { tokens, ids, table, puzzle, x, .. } => ("embed", vec![tokens, ids, table, puzzle], vec![x], 0),
            EmbedBwdTable { tokens, dx, dtable, .. } => ("embed_bwd", vec![tokens, dx, dtable], vec![dtable], 0),
            EmbedBwdPuzzle { dx, dpuzzle, .. } => ("puzzle_emb_bwd", vec![dx], vec![dpuzzle], 0),
            Loss { logits, labels, q, dlogits, tok, dq, stats, .. } => {
                ("loss", vec![logits, labels, q], vec![dlogits, tok, dq, stats], 0)
            }
            Adam { hyper, grad, param, m, v, .. } => ("adam", vec![hyper, grad, param, m, v], vec![param, m, v], 0),
            Ema { param, ema, .. } => ("ema", vec![param, ema], vec![ema], 0),
            SignSgd { grad, ids, weights, .. } => ("sign_sgd", vec![grad, ids, weights], vec![weights], 0),
        }
    }

    /// The kernels of this op over concrete GPU tensors.
    pub fn launches(&self, gpu: &Gpu, t: &[GpuTensor]) -> Result<Vec<Launch>> {
        use Op::*;
        Ok(match *self {
            Matmul { mm, a, b, c } => mm.launch(gpu, &t[a], &t[b], &t[c])?,
            NormFwd { n, x, r, y, rstd } => vec![n.forward(gpu, &t[x], &t[r], &t[y], &t[rstd])?],
            NormBwd { n, y, dy, rstd, dsum } => vec![n.backward(gpu, &t[y], &t[dy], &t[rstd], &t[dsum])?],
            SwigluFwd { s, h, a } => vec![s.forward(gpu, &t[h], &t[a])?],
            SwigluBwd { s, h, da, dh } => vec![s.backward(gpu, &t[h], &t[da], &t[dh])?],
            Add { x, y, out } => vec![ew::add(gpu, &t[x], &t[y], &t[out])?],
            Accumulate { x, out, s } => vec![ew::accumulate(gpu, &t[x], &t[out], s)?],
            Copy { x, out } | Detach { x, out } => vec![ew::scale(gpu, &t[x], &t[out], 1.0)?],
            Fill { out, s } => vec![ew::fill(gpu, &t[out], s)?],
            Transpose { x, out, batch, rows, cols } => vec![ew::transpose(gpu, &t[x], &t[out], batch, rows, cols)?],
            SliceSeq { x, out, batch, seq, cols, s0, len } => {
                vec![ew::slice_seq(gpu, &t[x], &t[out], batch, seq, cols, s0, len)?]
            }
            UnsliceSeq { x, out, batch, seq, cols, s0, len } => {
                vec![ew::unslice_seq(gpu, &t[x], &t[out], batch, seq, cols, s0, len)?]
            }
            ResetCarry { init, mask, out, seq, cols } => {
                vec![ew::reset_carry(gpu, &t[init], &t[mask], &t[out], seq, cols)?]
            }
            BiasAdd { bias, out, cols } => vec![ew::bias_add(gpu, &t[bias], &t[out], cols)?],
            ColSum { x, out, rows, cols } => vec![ew::col_sum(gpu, &t[x], &t[out], rows, cols)?],
            RopeFwd { r, x, table, out } => vec![r.forward(gpu, &t[x], &t[table], &t[out])?],
            RopeBwd { r, dout, table, dx } => vec![r.backward(gpu, &t[dout], &t[table], &t[dx])?],
            AttnFwd { a, qkv, o, lse } => vec![a.forward(gpu, &t[qkv], &t[o], &t[lse])?],
            AttnBwd { a, qkv, o, lse, dout, delta, dqkv } => {
                a.backward(gpu, &t[qkv], &t[o], &t[lse], &t[dout], &t[delta], &t[dqkv])?.into()
            }
            EmbedFwd { e, tokens, ids, table, puzzle, x } => {
                vec![e.forward(gpu, &t[tokens], &t[ids], &t[table], &t[puzzle], &t[x])?]
            }
            EmbedBwdTable { e, tokens, dx, dtable } => vec![e.backward_table(gpu, &t[tokens], &t[dx], &t[dtable])?],
            EmbedBwdPuzzle { e, dx, dpuzzle } => vec![e.backward_puzzle(gpu, &t[dx], &t[dpuzzle])?],
            Loss { l, logits, labels, q, dlogits, tok, dq, stats } => {
                l.launch(gpu, &t[logits], &t[labels], &t[q], &t[dlogits], &t[tok], &t[dq], &t[stats])?.into()
            }
            Adam { a, hyper, grad, param, m, v } => vec![a.launch(gpu, &t[hyper], &t[grad], &t[param], &t[m], &t[v])?],
            Ema { mu, param, ema } => vec![optim::ema(gpu, &t[param], &t[ema], mu)?],
            SignSgd { s, grad, ids, weights } => vec![s.launch(gpu, &t[grad], &t[ids], &t[weights])?],
        })
    }
}

/// A built step: the schedule (for the planner) and the ops (one per dispatch), plus which tensors hold i32.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub schedule: Schedule,
    pub ops: Vec<Op>,
    pub int: Vec<bool>,
    /// Host-provided constant tensors (the RoPE table), uploaded once.
    pub constants: HashMap<T, Vec<f32>>,
    /// The first op of the optimizer step, in a training program.
    pub update_from: Option<usize>,
}

impl Program {
    pub fn tensor(&mut self, name: impl Into<String>, role: Role, shape: &[usize]) -> T {
        self.int.push(false);
        self.schedule.tensor(name, role, shape)
    }
    pub fn int_tensor(&mut self, name: impl Into<String>, role: Role, shape: &[usize]) -> T {
        self.int.push(true);
        self.schedule.tensor(name, role, shape)
    }
    pub fn len(&self, t: T) -> usize {
        self.schedule.tensors[t].shape.iter().product()
    }
    /// Append an op; `recompute` marks work that only exists to recompute checkpointed activations.
    pub fn push(&mut self, op: Op, recompute: bool) {
        let (name, reads, writes, flops) = op.io();
        self.schedule.dispatch(name, &reads, &writes, flops, recompute);
        self.ops.push(op);
    }
    pub fn find(&self, name: &str) -> Option<T> {
        self.schedule.tensor_by_name(name)
    }
}

/// The program on the GPU: one buffer per planned buffer, every launch built once.
pub struct GpuExec {
    pub tensors: Vec<GpuTensor>,
    pub launches: Vec<Launch>,
    /// Each op's launches, as a range of `launches`.
    pub op_launches: Vec<std::ops::Range<usize>>,
    /// Bytes allocated for the planned buffers (equals `plan.total_bytes()`).
    pub allocated: u64,
}

impl GpuExec {
    pub fn new(gpu: &Gpu, prog: &Program, plan: &Plan) -> Result<GpuExec> {
        let bufs = plan
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| gpu.buffer(&format!("buffer{i}"), b.bytes))
            .collect::<Result<Vec<_>>>()?;
        let tensors: Vec<GpuTensor> = prog
            .schedule
            .tensors
            .iter()
            .enumerate()
            .map(|(i, d)| GpuTensor {
                buf: bufs[plan.buffer_of[i]].clone(),
                len: (d.bytes / 4) as usize,
                name: d.name.as_str().into(),
            })
            .collect();
        // What the device actually holds for this program: the sizes of the buffers created above.
        let allocated = bufs.iter().map(|b| b.size()).sum();
        for (&t, data) in &prog.constants {
            gpu.write(&tensors[t], data);
        }
        let mut ids = HashMap::new();
        for (i, t) in prog.schedule.tensors.iter().enumerate() {
            if ids.insert(t.name.as_str(), i).is_some() {
                bail!("the program names two tensors {}", t.name);
            }
        }
        let (mut launches, mut op_launches) = (Vec::new(), Vec::new());
        for op in &prog.ops {
            let kernels = op.launches(gpu, &tensors)?;
            // The GPU's shared workspace lives outside the plan, used within one op's launches only.
            let mut bound: Vec<Vec<(T, Access)>> = Vec::new();
            for l in &kernels {
                let mut b = Vec::new();
                for (tensor, access) in l.bound.iter().filter(|(t, _)| &**t != crate::gpu::WORKSPACE) {
                    let Some(&id) = ids.get(&**tensor) else {
                        bail!("{}: binds tensor {tensor}, which the program does not have", l.label);
                    };
                    b.push((id, *access));
                }
                bound.push(b);
            }
            let (name, reads, writes, _) = op.io();
            check_bindings(name, &reads, &writes, &bound, &prog.schedule)?;
            op_launches.push(launches.len()..launches.len() + kernels.len());
            launches.extend(kernels);
        }
        Ok(GpuExec { tensors, launches, op_launches, allocated })
    }
    /// Run ops `ops` in one submission.
    pub fn run(&self, gpu: &Gpu, ops: std::ops::Range<usize>) {
        if ops.is_empty() {
            return;
        }
        let launches = &self.launches[self.op_launches[ops.start].start..self.op_launches[ops.end - 1].end];
        gpu.run(&launches.iter().collect::<Vec<_>>());
    }
}

/// Checks an op's kernels (their bindings, in launch order) against what the planner was told, since the planner
/// aliases buffers by `io()` alone: a tensor bound read-only must be among the reads or written by an earlier
/// kernel of the op, one bound writable among the writes, and every tensor of `io()` must be bound.
pub fn check_bindings(op: &str, reads: &[T], writes: &[T], kernels: &[Vec<(T, Access)>], s: &Schedule) -> Result<()> {
    let name = |t: T| &s.tensors[t].name;
    let mut written = Vec::new();
    for bound in kernels {
        for &(t, access) in bound {
            match access {
                Access::Read if !reads.contains(&t) && !written.contains(&t) => {
                    bail!("{op}: binds {} read-only, but io() does not read it", name(t))
                }
                Access::ReadWrite if !writes.contains(&t) => {
                    bail!("{op}: binds {} writable, but io() does not write it", name(t))
                }
                _ => {}
            }
        }
        written.extend(bound.iter().filter(|b| b.1 == Access::ReadWrite).map(|b| b.0));
    }
    for &t in reads.iter().chain(writes) {
        if !kernels.iter().flatten().any(|b| b.0 == t) {
            bail!("{op}: io() names {}, which none of its kernels binds", name(t));
        }
    }
    for &t in writes {
        if !written.contains(&t) {
            bail!("{op}: io() writes {}, which its kernels bind only read-only", name(t));
        }
    }
    Ok(())
}

/// The program on the CPU: every tensor its own vector, every op its CPU twin. The reference executor.
#[derive(Clone, Debug)]
pub struct CpuExec<F: Real> {
    pub vals: Vec<Vec<F>>,
    pub ints: Vec<Vec<i32>>,
}

impl<F: Real> CpuExec<F> {
    pub fn new(prog: &Program) -> Self {
        let n = prog.schedule.tensors.len();
        let mut vals = vec![Vec::new(); n];
        let mut ints = vec![Vec::new(); n];
        for t in 0..n {
            if prog.int[t] {
                ints[t] = vec![0; prog.len(t)];
            } else {
                vals[t] = vec![F::zero(); prog.len(t)];
            }
        }
        for (&t, data) in &prog.constants {
            vals[t] = data.iter().map(|&v| F::from_f64(v as f64)).collect();
        }
        CpuExec { vals, ints }
    }

    pub fn set(&mut self, t: T, data: &[f32]) {
        self.vals[t] = data.iter().map(|&v| F::from_f64(v as f64)).collect();
    }
    pub fn get(&self, t: T) -> Vec<f32> {
        self.vals[t].iter().map(|v| v.to_f64() as f32).collect()
    }

    pub fn run(&mut self, prog: &Program, ops: std::ops::Range<usize>) {
        for op in &prog.ops[ops] {
            self.exec(op, &prog.constants);
        }
    }

    fn exec(&mut self, op: &Op, constants: &HashMap<T, Vec<f32>>) {
        use Op::*;
        let mut take = |t: T| std::mem::take(&mut self.vals[t]);
        // Each arm takes its outputs out of the store, computes, and puts them back.
        macro_rules! with_out {
            ($o:expr, |$out:ident| $body:expr) => {{
                let mut $out = take($o);
                $body;
                self.vals[$o] = $out;
            }};
        }
        match *op {
            Matmul { mm, a, b, c } => with_out!(c, |out| mm.cpu(&self.vals[a], &self.vals[b], &mut out)),
            NormFwd { n, x, r, y, rstd } => {
                let (mut yv, mut rv) = (take(y), take(rstd));
                n.cpu_forward(&self.vals[x], &self.vals[r], &mut yv, &mut rv);
                self.vals[y] = yv;
                self.vals[rstd] = rv;
            }
            NormBwd { n, y, dy, rstd, dsum } => {
                with_out!(dsum, |out| n.cpu_backward(&self.vals[y], &self.vals[dy], &self.vals[rstd], &mut out))
            }
            SwigluFwd { s, h, a } => with_out!(a, |out| s.cpu_forward(&self.vals[h], &mut out)),
            SwigluBwd { s, h, da, dh } => with_out!(dh, |out| s.cpu_backward(&self.vals[h], &self.vals[da], &mut out)),
            Add { x, y, out } => with_out!(out, |o| ew::cpu::add(&self.vals[x], &self.vals[y], &mut o)),
            Accumulate { x, out, s } => {
                with_out!(out, |o| ew::cpu::accumulate(&self.vals[x], &mut o, F::from_f64(s as f64)))
            }
            Copy { x, out } | Detach { x, out } => self.vals[out] = self.vals[x].clone(),
            Fill { out, s } => self.vals[out].iter_mut().for_each(|e| *e = F::from_f64(s as f64)),
            Transpose { x, out, batch, rows, cols } => {
                with_out!(out, |o| ew::cpu::transpose(&self.vals[x], &mut o, batch, rows, cols))
            }
            SliceSeq { x, out, batch, seq, cols, s0, len } => {
                with_out!(out, |o| ew::cpu::slice_seq(&self.vals[x], &mut o, batch, seq, cols, s0, len))
            }
            UnsliceSeq { x, out, batch, seq, cols, s0, len } => {
                with_out!(out, |o| ew::cpu::unslice_seq(&self.vals[x], &mut o, batch, seq, cols, s0, len))
            }
            ResetCarry { init, mask, out, seq, cols } => {
                with_out!(out, |o| ew::cpu::reset_carry(&self.vals[init], &self.ints[mask], &mut o, seq, cols))
            }
            BiasAdd { bias, out, cols } => with_out!(out, |o| ew::cpu::bias_add(&self.vals[bias], &mut o, cols)),
            ColSum { x, out, rows, cols } => with_out!(out, |o| ew::cpu::col_sum(&self.vals[x], &mut o, rows, cols)),
            RopeFwd { r, x, table, out } => {
                with_out!(out, |o| r.cpu_forward(&self.vals[x], &constants[&table], &mut o))
            }
            RopeBwd { r, dout, table, dx } => {
                with_out!(dx, |o| r.cpu_backward(&self.vals[dout], &constants[&table], &mut o))
            }
            AttnFwd { a, qkv, o, .. } => with_out!(o, |out| a.cpu_forward(&self.vals[qkv], &mut out)),
            AttnBwd { a, qkv, dout, dqkv, .. } => {
                with_out!(dqkv, |out| a.cpu_backward(&self.vals[qkv], &self.vals[dout], &mut out))
            }
            EmbedFwd { e, tokens, ids, table, puzzle, x } => {
                with_out!(x, |out| e.cpu_forward(
                    &self.ints[tokens],
                    &self.ints[ids],
                    &self.vals[table],
                    &self.vals[puzzle],
                    &mut out
                ))
            }
            EmbedBwdTable { e, tokens, dx, dtable } => {
                with_out!(dtable, |out| e.cpu_backward_table(&self.ints[tokens], &self.vals[dx], &mut out))
            }
            EmbedBwdPuzzle { e, dx, dpuzzle } => {
                with_out!(dpuzzle, |out| e.cpu_backward_puzzle(&self.vals[dx], &mut out))
            }
            Loss { l, logits, labels, q, dlogits, tok: _, dq, stats } => {
                let (mut d, mut g, mut s) = (take(dlogits), take(dq), take(stats));
                l.cpu(&self.vals[logits], &self.ints[labels], &self.vals[q], &mut d, &mut g, &mut s);
                self.vals[dlogits] = d;
                self.vals[dq] = g;
                self.vals[stats] = s;
            }
            Adam { a, hyper, grad, param, m, v } => {
                let (mut p, mut mv, mut vv) = (take(param), take(m), take(v));
                a.cpu(&self.vals[hyper], &self.vals[grad], &mut p, &mut mv, &mut vv);
                (self.vals[param], self.vals[m], self.vals[v]) = (p, mv, vv);
            }
            Ema { mu, param, ema } => with_out!(ema, |e| optim::cpu_ema(&self.vals[param], &mut e, mu)),
            SignSgd { s, grad, ids, weights } => {
                with_out!(weights, |w| s.cpu(&self.vals[grad], &self.ints[ids], &mut w))
            }
        }
    }
}
