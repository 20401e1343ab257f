//! Kernel throughput (GFLOP/s or GB/s, reported by criterion as elements or bytes per second; one element = one
//! FLOP) and tiny training steps, on the native CPU executor and on the current adapter (when there is one).
//! `cargo bench`; `trm-gpu bench` prints the same cases as a table.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use trm_gpu::bench::{kernel_cases, train_step, Timed, Work};
use trm_gpu::gpu::{Gpu, GpuOptions};
use trm_gpu::model::{Checkpoint, Config, Device, Native};

fn devices() -> Vec<(&'static str, Device)> {
    let mut d = vec![("native", Device::Native(Native::new(0).expect("a thread pool")))];
    match Gpu::new_blocking(&GpuOptions::default()) {
        Ok(gpu) => d.push(("gpu", Device::Gpu(gpu))),
        Err(e) => eprintln!("no GPU adapter, native only: {e:#}"),
    }
    d
}

fn kernels(c: &mut Criterion) {
    for (tag, dev) in devices() {
        eprintln!("device: {}", dev.describe());
        let small_attention = dev.gpu().is_none_or(|gpu| gpu.info.device_type == wgpu::DeviceType::Cpu);
        let mut g = c.benchmark_group(format!("kernels-{tag}"));
        g.sample_size(10);
        for case in kernel_cases(small_attention) {
            g.throughput(match case.work {
                Work::Flops(f) => Throughput::Elements(f),
                Work::Bytes(b) => Throughput::Bytes(b),
            });
            let mut timed = Timed::new(&dev, &case.prog).expect("a kernel case");
            g.bench_function(&case.name, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| Duration::from_secs_f64(timed.time())).sum())
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("train_step-{tag}"));
        g.sample_size(10);
        for (preset, batch) in [("tiny-sudoku-mlp", 32), ("tiny-sudoku-att", 8)] {
            for ck in [Checkpoint::PerCall, Checkpoint::None] {
                let cfg = Config::preset(preset).unwrap();
                let mut step = train_step(&dev, preset, &cfg, batch, ck).expect("a training step");
                g.throughput(Throughput::Elements(step.batch as u64));
                let name = format!("{} (samples/s)", step.name);
                g.bench_function(name, |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| Duration::from_secs_f64(step.time())).sum())
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
