//! Benchmarks shared by `cargo bench` (criterion) and `trm-gpu bench`: every kernel on TRM's real shapes, and
//! whole training steps.

use crate::model::*;
use crate::ops::optim::{Adam, OptimizerKind};
use crate::ops::{
    attention::Attention, embed::Embed, loss::Loss, matmul::Matmul, norm::Norm, rope::Rope, swiglu::Swiglu,
};
use crate::plan::{Role, TensorId as T};
use anyhow::Result;

/// What one run of a case does: floating-point operations (compute ops) or bytes moved (memory ops).
#[derive(Clone, Copy, Debug)]
pub enum Work {
    Flops(u64),
    Bytes(u64),
}

/// One op on one shape, as a one-op program over its own tensors (zeros), so every device runs it.
pub struct Case {
    pub name: String,
    pub prog: Program,
    pub work: Work,
}

impl Case {
    /// GFLOP/s or GB/s at `seconds` per run, with its unit.
    pub fn rate(&self, seconds: f64) -> (f64, &'static str) {
        match self.work {
            Work::Flops(f) => (f as f64 / seconds * 1e-9, "GFLOP/s"),
            Work::Bytes(b) => (b as f64 / seconds * 1e-9, "GB/s"),
        }
    }
}

/// Vendor-rated fp32 peaks (GFLOP/s, non-tensor-core FMA at boost clock) of adapters people train on, found by
/// a substring of the adapter name; `trm-gpu bench --peak-gflops` gives any other.
pub const KNOWN_PEAKS: [(&str, f64); 10] = [
    ("H200", 66_900.0),
    ("H100 PCIe", 51_200.0),
    ("H100", 66_900.0),
    ("A100", 19_500.0),
    ("L4", 30_300.0),
    ("RTX 4090", 82_600.0),
    ("RTX 3090", 35_600.0),
    ("MI300X", 163_400.0),
    ("Apple M2", 3_600.0),
    ("Apple M1", 2_600.0),
];

/// The fp32 peak of an adapter named `name`, if it is in `KNOWN_PEAKS` (the first entry that matches).
pub fn known_peak(name: &str) -> Option<f64> {
    KNOWN_PEAKS.iter().find(|(n, _)| name.contains(n)).map(|&(_, p)| p)
}

/// The matmul shapes of the lavapipe floor (8 and 64 Sudoku samples through 512→1536) and the token mixer.
pub const MATMUL_SHAPES: [(usize, usize, usize); 3] = [(648, 512, 1536), (5184, 512, 1536), (64 * 512, 97, 1024)];

/// A case's f32 and i32 tensors: inputs (persistent, so the planner gives each its own buffer).
fn t(p: &mut Program, name: &str, len: usize) -> T {
    p.tensor(name, Role::Input, &[len])
}
fn ti(p: &mut Program, name: &str, len: usize) -> T {
    p.int_tensor(name, Role::Input, &[len])
}

struct Cases(Vec<Case>);

impl Cases {
    fn add(&mut self, name: String, work: Work, build: impl FnOnce(&mut Program) -> Op) {
        let mut prog = Program::default();
        let op = build(&mut prog);
        prog.push(op, false);
        self.0.push(Case { name, prog, work });
    }
}

/// Every op, forward and backward, on TRM's shapes: batch 64 × 81 tokens × D 512 with SwiGLU inner 1536, the
/// token mixer, maze attention (8 × 900 × 512, 8 heads; batch 2 with `small_attention`, for CPUs, where 8 takes
/// seconds) and the optimizer over 4M parameters.
pub fn kernel_cases(small_attention: bool) -> Vec<Case> {
    let mut c = Cases(Vec::new());
    for (m, k, n) in MATMUL_SHAPES {
        for (name, mm) in [
            ("matmul_fwd", Matmul::linear(m, k, n)),
            ("matmul_dx", Matmul::linear_dx(m, k, n)),
            ("matmul_dw", Matmul::linear_dw(m, k, n)),
        ] {
            let [la, lb, lc] = mm.lens();
            c.add(format!("{name} {m}x{k}x{n}"), Work::Flops(mm.flops()), |p| Op::Matmul {
                mm,
                a: t(p, "a", la),
                b: t(p, "b", lb),
                c: t(p, "c", lc),
            });
        }
    }
    let (rows, d, inner) = (64 * 81, 512, 1536);
    let b4 = |elems: usize| Work::Bytes(4 * elems as u64);
    let n = Norm { rows, dim: d };
    c.add(format!("norm_fwd {rows}x{d}"), b4(3 * rows * d), |p| Op::NormFwd {
        n,
        x: t(p, "x", rows * d),
        r: t(p, "r", rows * d),
        y: t(p, "y", rows * d),
        rstd: t(p, "rstd", rows),
    });
    c.add(format!("norm_bwd {rows}x{d}"), b4(3 * rows * d), |p| Op::NormBwd {
        n,
        y: t(p, "y", rows * d),
        dy: t(p, "dy", rows * d),
        rstd: t(p, "rstd", rows),
        dsum: t(p, "ds", rows * d),
    });
    let s = Swiglu { rows, inner };
    c.add(format!("swiglu_fwd {rows}x{inner}"), b4(3 * rows * inner), |p| Op::SwigluFwd {
        s,
        h: t(p, "h", rows * 2 * inner),
        a: t(p, "a", rows * inner),
    });
    c.add(format!("swiglu_bwd {rows}x{inner}"), b4(5 * rows * inner), |p| Op::SwigluBwd {
        s,
        h: t(p, "h", rows * 2 * inner),
        da: t(p, "da", rows * inner),
        dh: t(p, "dh", rows * 2 * inner),
    });
    c.add(format!("transpose 64x81x{d}"), b4(2 * rows * d), |p| Op::Transpose {
        x: t(p, "x", rows * d),
        out: t(p, "t", rows * d),
        batch: 64,
        rows: 81,
        cols: d,
    });
    c.add(format!("add {rows}x{d}"), b4(3 * rows * d), |p| Op::Add {
        x: t(p, "x", rows * d),
        y: t(p, "y", rows * d),
        out: t(p, "o", rows * d),
    });

    let batch = if small_attention { 2 } else { 8 };
    let (seq, heads, hd) = (900, 8, 64);
    let a = Attention { batch, seq, heads, hd };
    let (qkv, o, l) = (batch * seq * 3 * heads * hd, batch * seq * heads * hd, batch * heads * seq);
    let shape = format!("{batch}x{seq}x{} h{heads}", heads * hd);
    c.add(format!("attention_fwd {shape}"), Work::Flops(a.flops()), |p| Op::AttnFwd {
        a,
        qkv: t(p, "qkv", qkv),
        o: t(p, "o", o),
        lse: t(p, "lse", l),
    });
    // The backward does 2.5× the forward's useful matmul work (FlashAttention's count; recomputed scores excluded).
    c.add(format!("attention_bwd {shape}"), Work::Flops(a.flops() * 5 / 2), |p| Op::AttnBwd {
        a,
        qkv: t(p, "qkv", qkv),
        o: t(p, "o", o),
        lse: t(p, "lse", l),
        dout: t(p, "do", o),
        delta: t(p, "delta", l),
        dqkv: t(p, "dqkv", qkv),
    });
    let r = Rope { rows: batch * seq, seq, heads, hd };
    let rope_bytes = b4(2 * batch * seq * 2 * heads * hd);
    c.add(format!("rope_fwd {shape}"), rope_bytes, |p| Op::RopeFwd {
        r,
        x: t(p, "qkv", qkv),
        table: t(p, "table", seq * hd),
        out: t(p, "rot", qkv),
    });
    c.add(format!("rope_bwd {shape}"), rope_bytes, |p| Op::RopeBwd {
        r,
        dout: t(p, "drot", qkv),
        table: t(p, "table", seq * hd),
        dx: t(p, "dqkv", qkv),
    });

    let e = Embed { batch: 64, len: 81, prefix: 16, dim: d, vocab: 11, ndim: d, scale: 1.0 };
    let x = 64 * e.seq() * d;
    c.add(format!("embed_fwd 64x{}x{d}", e.seq()), b4(x), |p| Op::EmbedFwd {
        e,
        tokens: ti(p, "tokens", 64 * 81),
        ids: ti(p, "ids", 64),
        table: t(p, "table", 11 * d),
        puzzle: t(p, "puzzle", 64 * d),
        x: t(p, "x", x),
    });
    c.add(format!("embed_bwd_table 64x81x{d}"), b4(64 * 81 * d), |p| Op::EmbedBwdTable {
        e,
        tokens: ti(p, "tokens", 64 * 81),
        dx: t(p, "dx", x),
        dtable: t(p, "dtable", 11 * d),
    });
    c.add(format!("embed_bwd_puzzle 64x{d}"), b4(2 * 64 * d), |p| Op::EmbedBwdPuzzle {
        e,
        dx: t(p, "dx", x),
        dpuzzle: t(p, "dpuzzle", 64 * d),
    });
    let l = Loss { batch: 64, len: 81, vocab: 11, kind: crate::ops::loss::LossKind::Stablemax, grad_scale: 1.0 };
    let v = 64 * 81 * 11;
    c.add("loss 64x81x11".into(), b4(2 * v), |p| Op::Loss {
        l,
        logits: t(p, "logits", v),
        labels: ti(p, "labels", 64 * 81),
        q: t(p, "q", 128),
        dlogits: t(p, "dlogits", v),
        tok: t(p, "tok", 64 * 81 * 2),
        dq: t(p, "dq", 128),
        stats: t(p, "stats", 64 * crate::ops::loss::SEQ_STATS),
    });

    // 4M parameters, about the paper model's size.
    let n = 1 << 22;
    let adam = Adam { kind: OptimizerKind::AdamAtan2, wd: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8 };
    c.add(format!("adam_atan2 {n}"), b4(7 * n), |p| Op::Adam {
        a: adam,
        hyper: t(p, "hyper", 4),
        grad: t(p, "g", n),
        param: t(p, "p", n),
        m: t(p, "m", n),
        v: t(p, "v", n),
    });
    c.add(format!("ema {n}"), b4(3 * n), |p| Op::Ema { mu: 0.999, param: t(p, "p", n), ema: t(p, "e", n) });
    c.0
}

/// A program made ready on a device, for timing.
pub enum Timed<'d> {
    Gpu(GpuRun<'d>),
    Cpu(Box<dyn Exec + 'd>),
}

impl<'d> Timed<'d> {
    pub fn new(dev: &'d Device, prog: &Program) -> Result<Self> {
        let plan = dev.plan(prog)?;
        Ok(match dev {
            Device::Gpu(gpu) => Timed::Gpu(GpuRun::new(gpu, prog, &plan)?),
            _ => Timed::Cpu(dev.exec(prog, &plan)?),
        })
    }
    pub fn ex(&mut self) -> &mut dyn Exec {
        match self {
            Timed::Gpu(g) => g,
            Timed::Cpu(c) => c.as_mut(),
        }
    }
    /// Seconds of one run: GPU timestamps around the launches, or the wall clock on the CPU.
    pub fn time(&mut self) -> f64 {
        match self {
            Timed::Gpu(g) => g.gpu.time(&g.exec.launches.iter().collect::<Vec<_>>()),
            Timed::Cpu(c) => {
                let t = std::time::Instant::now();
                c.run();
                t.elapsed().as_secs_f64()
            }
        }
    }
}

/// One training step of a model (forward through all T passes, loss, backward, optimizer), ready to run.
pub struct StepCase<'d> {
    pub name: String,
    pub batch: usize,
    /// Flops of one step's dispatches, recomputation included.
    pub flops: u64,
    /// Bytes the step's buffers take on the device.
    pub bytes: u64,
    pub prog: Program,
    pub run: Timed<'d>,
}

pub fn train_step<'d>(
    dev: &'d Device,
    name: &str,
    cfg: &Config,
    batch: usize,
    checkpoint: Checkpoint,
) -> Result<StepCase<'d>> {
    let o = StepOptions::trainer(&cfg.train, batch, checkpoint);
    let (prog, h) = build_step(&cfg.model, &o);
    let mut run = Timed::new(dev, &prog)?;
    let ex = run.ex();
    let bytes = ex.allocated();
    ex.load_weights(&h, &Weights::init(&cfg.model, 0));
    let len = cfg.model.seq_len;
    ex.write_i32(h.tokens, &vec![1; batch * len]);
    ex.write_i32(h.labels, &vec![2; batch * len]);
    ex.write_i32(h.reset, &vec![1; batch]);
    ex.write(h.hyper, &[1e-4, 0.1, 0.05, 0.0]);
    Ok(StepCase {
        name: format!("{name} {checkpoint:?} batch {batch}"),
        batch,
        flops: prog.schedule.flops().0,
        bytes,
        prog,
        run,
    })
}

impl StepCase<'_> {
    /// Seconds of one step, wall clock around submit and wait.
    pub fn time(&mut self) -> f64 {
        let t = std::time::Instant::now();
        match &mut self.run {
            Timed::Gpu(g) => {
                g.run();
                g.gpu.wait();
            }
            Timed::Cpu(c) => c.run(),
        }
        t.elapsed().as_secs_f64()
    }
    /// Seconds per op family (each op timed alone, in program order on the CPU), largest first.
    pub fn split(&mut self) -> Vec<(String, f64)> {
        let mut split: std::collections::BTreeMap<String, f64> = Default::default();
        match &mut self.run {
            Timed::Gpu(g) => {
                for l in &g.exec.launches {
                    let family = l.label.split("::").next().unwrap_or("").to_string();
                    *split.entry(family).or_default() += g.gpu.time(&[l]);
                }
            }
            Timed::Cpu(c) => {
                for (name, s) in c.time_ops() {
                    *split.entry(name).or_default() += s;
                }
            }
        }
        let mut v: Vec<_> = split.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// The median of `reps` timings after one warm-up.
pub fn median(reps: usize, mut time: impl FnMut() -> f64) -> f64 {
    time();
    let mut t: Vec<f64> = (0..reps.max(1)).map(|_| time()).collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
