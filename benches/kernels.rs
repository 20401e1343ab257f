//! Kernel throughput (GFLOP/s or GB/s, reported by criterion as elements or bytes per second; one element = one
//! FLOP) and tiny training steps, on the current adapter. `cargo bench`; `trm-gpu bench` prints the same cases as
//! a table.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use trm_gpu::bench::{kernel_cases, train_step, Work};
use trm_gpu::gpu::{Gpu, GpuOptions};
use trm_gpu::model::{Checkpoint, Config};

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new_blocking(&GpuOptions::default()).expect("a GPU adapter");
    eprintln!("adapter: {}", gpu.describe());
    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    for case in kernel_cases(&gpu).expect("kernel cases") {
        g.throughput(match case.work {
            Work::Flops(f) => Throughput::Elements(f),
            Work::Bytes(b) => Throughput::Bytes(b),
        });
        let l = case.refs();
        g.bench_function(&case.name, |b| b.iter_custom(|iters| (0..iters).map(|_| Duration::from_secs_f64(gpu.time(&l))).sum()));
    }
    g.finish();

    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    for preset in ["tiny-sudoku-mlp", "tiny-sudoku-att"] {
        for ck in [Checkpoint::PerCall, Checkpoint::None] {
            let cfg = Config::preset(preset).unwrap();
            let mut step = train_step(&gpu, preset, &cfg, 8, ck).expect("a training step");
            let parts: Vec<String> = step.split().iter().map(|(k, v)| format!("{k} {:.3} ms", v * 1e3)).collect();
            eprintln!("{}: {}", step.name, parts.join(", "));
            g.throughput(Throughput::Elements(step.batch as u64));
            let name = format!("{} (samples/s)", step.name);
            g.bench_function(name, |b| b.iter_custom(|iters| (0..iters).map(|_| Duration::from_secs_f64(step.time())).sum()));
        }
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
