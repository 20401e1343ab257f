//! Benchmarks shared by `cargo bench` (criterion) and `trm-gpu bench`: every kernel on TRM's real shapes, and
//! whole training steps.

use crate::gpu::{Gpu, GpuTensor, Launch};
use crate::model::*;
use crate::ops::{attention::Attention, elementwise, embed::Embed, loss::Loss, matmul::Matmul, norm::Norm, optim, rope::Rope, swiglu::Swiglu};
use anyhow::Result;

/// What one run of a case does: floating-point operations (compute ops) or bytes moved (memory ops).
#[derive(Clone, Copy, Debug)]
pub enum Work {
    Flops(u64),
    Bytes(u64),
}

/// One kernel (or the launches of one op) on one shape.
pub struct Case {
    pub name: String,
    pub launches: Vec<Launch>,
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
    pub fn refs(&self) -> Vec<&Launch> {
        self.launches.iter().collect()
    }
}

/// The matmul shapes of the lavapipe floor (8 and 64 Sudoku samples through 512→1536) and the token mixer.
pub const MATMUL_SHAPES: [(usize, usize, usize); 3] = [(648, 512, 1536), (5184, 512, 1536), (64 * 512, 97, 1024)];

fn z(gpu: &Gpu, name: &str, len: usize) -> Result<GpuTensor> {
    gpu.zeros(name, len)
}

/// Every kernel, forward and backward, on TRM's shapes: batch 64 × 81 tokens × D 512 with SwiGLU inner 1536, the
/// token mixer, and maze attention (8 × 900 × 512, 8 heads; batch 2 on a CPU adapter, where 8 takes seconds).
pub fn kernel_cases(gpu: &Gpu) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut add = |name: String, launches: Vec<Launch>, work: Work| cases.push(Case { name, launches, work });
    for (m, k, n) in MATMUL_SHAPES {
        for (name, mm) in [("matmul_fwd", Matmul::linear(m, k, n)), ("matmul_dx", Matmul::linear_dx(m, k, n)), ("matmul_dw", Matmul::linear_dw(m, k, n))] {
            let [la, lb, lc] = mm.lens();
            let (a, b, c) = (z(gpu, "a", la)?, z(gpu, "b", lb)?, z(gpu, "c", lc)?);
            add(format!("{name} {m}x{k}x{n}"), vec![mm.launch(gpu, &a, &b, &c)?], Work::Flops(mm.flops()));
        }
    }
    let (rows, d, inner) = (64 * 81, 512, 1536);
    let f = 4u64;
    let norm = Norm { rows, dim: d };
    let (x, y, dx, r) = (z(gpu, "x", rows * d)?, z(gpu, "y", rows * d)?, z(gpu, "dx", rows * d)?, z(gpu, "rstd", rows)?);
    add(format!("norm_fwd {rows}x{d}"), vec![norm.forward(gpu, &x, &x, &y, &r)?], Work::Bytes(3 * (rows * d) as u64 * f));
    add(format!("norm_bwd {rows}x{d}"), vec![norm.backward(gpu, &y, &x, &r, &dx)?], Work::Bytes(3 * (rows * d) as u64 * f));
    let s = Swiglu { rows, inner };
    let (h, a, dh) = (z(gpu, "h", rows * 2 * inner)?, z(gpu, "a", rows * inner)?, z(gpu, "dh", rows * 2 * inner)?);
    add(format!("swiglu_fwd {rows}x{inner}"), vec![s.forward(gpu, &h, &a)?], Work::Bytes(3 * (rows * inner) as u64 * f));
    add(format!("swiglu_bwd {rows}x{inner}"), vec![s.backward(gpu, &h, &a, &dh)?], Work::Bytes(5 * (rows * inner) as u64 * f));
    let tr = z(gpu, "t", rows * d)?;
    add(format!("transpose 64x81x{d}"), vec![elementwise::transpose(gpu, &x, &tr, 64, 81, d)?], Work::Bytes(2 * (rows * d) as u64 * f));
    add(format!("add {rows}x{d}"), vec![elementwise::add(gpu, &x, &y, &tr)?], Work::Bytes(3 * (rows * d) as u64 * f));

    let batch = if gpu.info.device_type == wgpu::DeviceType::Cpu { 2 } else { 8 };
    let (seq, heads, hd) = (900, 8, 64);
    let att = Attention { batch, seq, heads, hd };
    let qkv_len = batch * seq * 3 * heads * hd;
    let (qkv, o, lse) = (z(gpu, "qkv", qkv_len)?, z(gpu, "o", batch * seq * heads * hd)?, z(gpu, "lse", batch * heads * seq)?);
    let (dqkv, delta) = (z(gpu, "dqkv", qkv_len)?, z(gpu, "delta", batch * heads * seq)?);
    let shape = format!("{batch}x{seq}x{} h{heads}", heads * hd);
    add(format!("attention_fwd {shape}"), vec![att.forward(gpu, &qkv, &o, &lse)?], Work::Flops(att.flops()));
    // The backward does 2.5× the forward's useful matmul work (FlashAttention's count; recomputed scores excluded).
    add(format!("attention_bwd {shape}"), att.backward(gpu, &qkv, &o, &lse, &o, &delta, &dqkv)?.into(), Work::Flops(att.flops() * 5 / 2));
    let rope = Rope { rows: batch * seq, seq, heads, hd };
    let table = gpu.upload("rope", &crate::ops::rope::table(seq, hd, 10000.0))?;
    add(format!("rope_fwd {shape}"), vec![rope.forward(gpu, &qkv, &table, &dqkv)?], Work::Bytes(2 * (batch * seq * 2 * heads * hd) as u64 * f));
    add(format!("rope_bwd {shape}"), vec![rope.backward(gpu, &qkv, &table, &dqkv)?], Work::Bytes(2 * (batch * seq * 2 * heads * hd) as u64 * f));

    let e = Embed { batch: 64, len: 81, prefix: 16, dim: d, vocab: 11, ndim: d, scale: 1.0 };
    let (tokens, ids) = (z(gpu, "tokens", 64 * 81)?, z(gpu, "ids", 64)?);
    let (tab, puz, ex) = (z(gpu, "table", 11 * d)?, z(gpu, "puzzle", 64 * d)?, z(gpu, "x", 64 * e.seq() * d)?);
    let eb = (64 * e.seq() * d) as u64 * f;
    add(format!("embed_fwd 64x{}x{d}", e.seq()), vec![e.forward(gpu, &tokens, &ids, &tab, &puz, &ex)?], Work::Bytes(eb));
    add(format!("embed_bwd_table 64x81x{d}"), vec![e.backward_table(gpu, &tokens, &ex, &tab)?], Work::Bytes((64 * 81 * d) as u64 * f));
    add(format!("embed_bwd_puzzle 64x{d}"), vec![e.backward_puzzle(gpu, &ex, &puz)?], Work::Bytes(2 * (64 * d) as u64 * f));
    let loss = Loss { batch: 64, len: 81, vocab: 11, kind: crate::ops::loss::LossKind::Stablemax, grad_scale: 1.0 };
    let (logits, dlogits, tok) = (z(gpu, "logits", 64 * 81 * 11)?, z(gpu, "dlogits", 64 * 81 * 11)?, z(gpu, "tok", 64 * 81 * 2)?);
    let (q, dq, st) = (z(gpu, "q", 64 * 2)?, z(gpu, "dq", 64 * 2)?, z(gpu, "stats", 64 * crate::ops::loss::SEQ_STATS)?);
    add("loss 64x81x11".into(), loss.launch(gpu, &logits, &tokens, &q, &dlogits, &tok, &dq, &st)?.into(), Work::Bytes(2 * (64 * 81 * 11) as u64 * f));

    // 4M parameters, about the paper model's size.
    let n = 1 << 22;
    let (g, p, m, v) = (z(gpu, "grad", n)?, z(gpu, "param", n)?, z(gpu, "m", n)?, z(gpu, "v", n)?);
    let step = optim::AdamStep { kind: optim::OptimizerKind::AdamAtan2, lr: 1e-4, wd: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8, t: 1 };
    add(format!("adam_atan2 {n}"), vec![step.launch(gpu, &g, &p, &m, &v)?], Work::Bytes(7 * n as u64 * f));
    add(format!("ema {n}"), vec![optim::ema(gpu, &p, &m, 0.999)?], Work::Bytes(3 * n as u64 * f));
    Ok(cases)
}

/// One training step of a model (forward through all T passes, loss, backward, optimizer), ready to run.
pub struct StepCase<'a> {
    pub name: String,
    pub batch: usize,
    /// Flops of one step's dispatches, recomputation included.
    pub flops: u64,
    /// Bytes the step's buffers take on the device.
    pub bytes: u64,
    pub run: GpuRun<'a>,
}

pub fn train_step<'a>(gpu: &'a Gpu, name: &str, cfg: &Config, batch: usize, checkpoint: Checkpoint) -> Result<StepCase<'a>> {
    let o = StepOptions {
        batch,
        train: true,
        checkpoint,
        loss: cfg.train.loss,
        grad_scale: 1.0 / batch as f32,
        record: false,
        one_step_grad: false,
    };
    let (prog, h) = build_step(&cfg.model, &o);
    let plan = crate::plan::plan(&prog.schedule, gpu.limits.max_storage_buffer_binding_size as u64)?;
    let before = gpu.allocated_bytes();
    let mut run = GpuRun::new(gpu, &prog, &plan)?;
    let bytes = gpu.allocated_bytes() - before;
    run.load_weights(&h, &Weights::init(&cfg.model, 0));
    let len = cfg.model.seq_len;
    run.write_i32(h.tokens, &vec![1; batch * len]);
    run.write_i32(h.labels, &vec![2; batch * len]);
    run.write_i32(h.reset, &vec![1; batch]);
    Ok(StepCase { name: format!("{name} {checkpoint:?} batch {batch}"), batch, flops: prog.schedule.flops().0, bytes, run })
}

impl StepCase<'_> {
    /// Seconds of one step, wall clock around submit and wait.
    pub fn time(&mut self) -> f64 {
        let t = std::time::Instant::now();
        self.run.run();
        self.run.gpu.wait();
        t.elapsed().as_secs_f64()
    }
    /// Seconds per op family (each launch timed alone), largest first.
    pub fn split(&self) -> Vec<(String, f64)> {
        let gpu = self.run.gpu;
        let mut split: std::collections::BTreeMap<String, f64> = Default::default();
        for l in &self.run.exec.launches {
            let family = l.label.split("::").next().unwrap_or("").to_string();
            *split.entry(family).or_default() += gpu.time(&[l]);
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
