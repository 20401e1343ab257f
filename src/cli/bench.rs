//! `trm-gpu bench`: every kernel's throughput and whole training steps, as a table (the cases of `cargo bench`).

use super::GpuArgs;
use anyhow::{Context, Result};
use clap::Args;
use trm_gpu::bench::{kernel_cases, known_peak, median, train_step, Timed};
use trm_gpu::model::{Checkpoint, Config};

#[derive(Args)]
pub struct BenchArgs {
    /// Timed runs per case (the median is reported)
    #[arg(long, default_value_t = 5, value_parser = super::parse_positive)]
    reps: usize,
    /// Only kernels whose name contains this
    #[arg(long)]
    filter: Option<String>,
    /// Training steps to time, as PRESET:BATCH (repeatable; "none" for kernels only)
    #[arg(long, default_values_t = ["tiny-sudoku-mlp:8".to_string(), "tiny-sudoku-att:8".to_string()])]
    step: Vec<String>,
    /// none or per-call
    #[arg(long, default_value = "per-call")]
    checkpoint: Checkpoint,
    /// The device's fp32 peak in GFLOP/s, for each compute kernel's fraction of it (default: from a table of
    /// known adapters)
    #[arg(long)]
    peak_gflops: Option<f64>,
}

pub fn bench(g: &GpuArgs, a: BenchArgs) -> Result<()> {
    let mut steps = Vec::new();
    for spec in a.step.iter().filter(|s| s.as_str() != "none") {
        let (preset, batch) = spec.split_once(':').unwrap_or((spec, "8"));
        let batch =
            super::parse_positive(batch).map_err(|e| anyhow::anyhow!("--step {spec:?}: the batch after ':' {e}"))?;
        steps.push((Config::preset(preset).with_context(|| format!("--step {spec:?}"))?, preset, batch));
    }
    if let Some(p) = a.peak_gflops {
        anyhow::ensure!(p.is_finite() && p > 0.0, "--peak-gflops {p}: give the device's fp32 peak, a positive number");
    }
    let wanted = |name: &str| a.filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
    if let Some(f) = &a.filter {
        let names: Vec<String> = kernel_cases(false).into_iter().map(|c| c.name).collect();
        anyhow::ensure!(
            names.iter().any(|n| wanted(n)),
            "--filter {f:?} matches no kernel; kernels: {}",
            names.join(", ")
        );
    }
    let dev = g.open()?;
    let peak = a.peak_gflops.or_else(|| dev.gpu().and_then(|gpu| known_peak(&gpu.info.name)));
    let small_attention = dev.gpu().is_none_or(|gpu| gpu.info.device_type == wgpu::DeviceType::Cpu);
    match peak {
        Some(p) => println!(
            "fp32 peak {p:.0} GFLOP/s{}",
            if a.peak_gflops.is_some() { " (given)" } else { " (known adapter)" }
        ),
        None => println!("fp32 peak unknown for this device: --peak-gflops P adds each kernel's fraction of it"),
    }
    println!("{:<36} {:>10} {:>12} {:>8}", "kernel", "ms", "rate", "of peak");
    for case in kernel_cases(small_attention).into_iter().filter(|c| wanted(&c.name)) {
        let mut timed = Timed::new(&dev, &case.prog)?;
        let s = median(a.reps, || timed.time());
        let (rate, unit) = case.rate(s);
        let share = match (peak, unit) {
            (Some(p), "GFLOP/s") => format!("{:>7.1}%", 100.0 * rate / p),
            _ => String::new(),
        };
        println!("{}", format!("{:<36} {:>10.3} {:>8.1} {unit} {share}", case.name, s * 1e3, rate).trim_end());
    }
    for (cfg, preset, batch) in steps {
        let mut step = train_step(&dev, preset, &cfg, batch, a.checkpoint)?;
        let s = median(a.reps, || step.time());
        println!(
            "step {}: {:.2} ms, {:.1} samples/s, {:.1} GFLOP/s, {:.1} MiB of buffers",
            step.name,
            s * 1e3,
            step.batch as f64 / s,
            step.flops as f64 / s * 1e-9,
            step.bytes as f64 / (1 << 20) as f64
        );
        let split = step.split();
        let total: f64 = split.iter().map(|p| p.1).sum();
        let parts: Vec<String> = split.iter().take(8).map(|(k, v)| format!("{k} {:.0}%", 100.0 * v / total)).collect();
        println!("  time by op, each launch alone: {}", parts.join(", "));
    }
    Ok(())
}
