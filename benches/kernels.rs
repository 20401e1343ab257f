//! Kernel throughput (GFLOP/s reported as Gelem/s: one element = one FLOP) and one tiny training step, on the
//! current adapter. `cargo bench`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trm_gpu::gpu::{Gpu, GpuOptions};
use trm_gpu::model::*;
use trm_gpu::ops::{attention::Attention, matmul::Matmul, norm::Norm, swiglu::Swiglu};

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new_blocking(&GpuOptions::default()).expect("a GPU adapter");
    eprintln!("adapter: {}", gpu.describe());
    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    for (m, k, n) in [(648usize, 512usize, 1536usize), (5184, 512, 1536), (64 * 512, 97, 1024)] {
        for (name, mm) in [("matmul_fwd", Matmul::linear(m, k, n)), ("matmul_dx", Matmul::linear_dx(m, k, n)), ("matmul_dw", Matmul::linear_dw(m, k, n))] {
            let a = gpu.zeros("a", m * n.max(k)).unwrap();
            let b = gpu.zeros("b", n * k).unwrap();
            let cc = gpu.zeros("c", m.max(n) * n.max(k)).unwrap();
            let l = mm.launch(&gpu, &a, &b, &cc).unwrap();
            g.throughput(Throughput::Elements(mm.flops()));
            g.bench_function(format!("{name} {m}x{k}x{n}"), |bench| bench.iter_custom(|iters| (0..iters).map(|_| std::time::Duration::from_secs_f64(gpu.time(&[&l]))).sum()));
        }
    }
    let rows = 64 * 81;
    let norm = Norm { rows, dim: 512 };
    let (x, y, r) = (gpu.zeros("x", rows * 512).unwrap(), gpu.zeros("y", rows * 512).unwrap(), gpu.zeros("r", rows).unwrap());
    let l = norm.forward(&gpu, &x, &x, &y, &r).unwrap();
    g.throughput(Throughput::Bytes((3 * rows * 512 * 4) as u64));
    g.bench_function("norm_fwd 5184x512", |bench| bench.iter_custom(|iters| (0..iters).map(|_| std::time::Duration::from_secs_f64(gpu.time(&[&l]))).sum()));
    let s = Swiglu { rows, inner: 1536 };
    let (h, a) = (gpu.zeros("h", rows * 3072).unwrap(), gpu.zeros("a", rows * 1536).unwrap());
    let l = s.forward(&gpu, &h, &a).unwrap();
    g.throughput(Throughput::Bytes((rows * 1536 * 3 * 4) as u64));
    g.bench_function("swiglu_fwd 5184x1536", |bench| bench.iter_custom(|iters| (0..iters).map(|_| std::time::Duration::from_secs_f64(gpu.time(&[&l]))).sum()));
    let att = Attention { batch: 2, seq: 900, heads: 8, hd: 64 };
    let (qkv, o, lse) = (gpu.zeros("qkv", 2 * 900 * 1536).unwrap(), gpu.zeros("o", 2 * 900 * 512).unwrap(), gpu.zeros("lse", 2 * 8 * 900).unwrap());
    let l = att.forward(&gpu, &qkv, &o, &lse).unwrap();
    g.throughput(Throughput::Elements(att.flops()));
    g.bench_function("attention_fwd 2x900x512 h8", |bench| bench.iter_custom(|iters| (0..iters).map(|_| std::time::Duration::from_secs_f64(gpu.time(&[&l]))).sum()));
    g.finish();

    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    for preset in ["tiny-sudoku-mlp", "tiny-sudoku-att"] {
        for ck in [Checkpoint::PerCall, Checkpoint::None] {
            let cfg = Config::preset(preset).unwrap();
            let batch = 8;
            let o = StepOptions { batch, train: true, checkpoint: ck, loss: cfg.train.loss, grad_scale: 1.0 / batch as f32, record: false, one_step_grad: false };
            let (prog, h) = build_step(&cfg.model, &o);
            let plan = trm_gpu::plan::plan(&prog.schedule, gpu.limits.max_storage_buffer_binding_size as u64).unwrap();
            let mut ex = GpuRun::new(&gpu, &prog, &plan).unwrap();
            ex.load_weights(&h, &Weights::init(&cfg.model, 0));
            ex.write_i32(h.tokens, &vec![1; batch * 81]);
            ex.write_i32(h.labels, &vec![2; batch * 81]);
            ex.write_i32(h.reset, &vec![1; batch]);
            // The time split by op family (each launch timed alone), printed once.
            let mut split: std::collections::BTreeMap<String, f64> = Default::default();
            for l in &ex.exec.launches {
                let family = l.label.split("::").next().unwrap_or("").to_string();
                *split.entry(family).or_default() += gpu.time(&[l]);
            }
            let total: f64 = split.values().sum();
            let parts: Vec<String> = split.iter().map(|(k, v)| format!("{k} {:.0}%", 100.0 * v / total)).collect();
            eprintln!("{preset} {ck:?}: {}", parts.join(", "));
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(format!("{preset} {ck:?} batch {batch} (samples/s)"), |bench| {
                bench.iter(|| {
                    ex.run();
                    gpu.wait();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
