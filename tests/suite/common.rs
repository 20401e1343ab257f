#![allow(dead_code)]
//! Shared test helpers: one GPU and one native CPU device per test binary, seeded random data, llm.c-style
//! closeness checks.

use std::sync::OnceLock;
use trm_gpu::gpu::{Gpu, GpuOptions};
use trm_gpu::model::{Device, Native};
use trm_gpu::rng::SplitMix64;

/// The wgpu adapter as a device (lavapipe in CI).
pub fn gpu_dev() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| Device::Gpu(Gpu::new_blocking(&GpuOptions::default()).expect("a GPU adapter (lavapipe in CI)")))
}

/// The wgpu adapter choosing the kernels a real GPU gets (matmul_tiled.wgsl), even where it is lavapipe.
pub fn gpu_kernels_dev() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| {
        let opts = GpuOptions { gpu_kernels: true, ..Default::default() };
        Device::Gpu(Gpu::new_blocking(&opts).expect("a GPU adapter (lavapipe in CI)"))
    })
}

pub fn gpu() -> &'static Gpu {
    gpu_dev().gpu().expect("a GPU device")
}

/// The native CPU executor on 2 threads (the bits do not depend on the count).
pub fn native() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| Device::Native(Native::new(2).expect("a thread pool")))
}

/// The devices every training and evaluation test runs on.
pub fn devices() -> [(&'static str, &'static Device); 2] {
    [("gpu", gpu_dev()), ("native", native())]
}

pub fn randn(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            // Box–Muller
            let (u, v) = (rng.f64().max(1e-12), rng.f64());
            (scale * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

pub fn randn64(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<f64> {
    randn(rng, n, scale).into_iter().map(|x| x as f64).collect()
}

/// `|a - b| <= atol + rtol * |b|` everywhere, and no NaN or Inf.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0f32);
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(a.is_finite(), "{what}[{i}] = {a} is not finite");
        let err = (a - b).abs() - (atol + rtol * b.abs());
        if err > worst.1 {
            worst = (i, err);
        }
    }
    let i = worst.0;
    assert!(
        worst.1 <= 0.0,
        "{what}: element {i}: got {} want {} (|diff| {} > {atol} + {rtol}·|want|)",
        got[i],
        want[i],
        (got[i] - want[i]).abs()
    );
}

/// Every pipeline (shader, entry point, override constants) that trm-gpu's programs build on a device opened with
/// `opts`: training steps of both token mixers, with and without puzzle embeddings and checkpointing, both losses,
/// both optimizers and the 1-step gradient, and inference.
pub fn pipelines_of_every_program(opts: &GpuOptions) -> Vec<trm_gpu::gpu::PipelineKey> {
    use trm_gpu::model::{Checkpoint, Config, Weights};
    use trm_gpu::ops::loss::LossKind;
    use trm_gpu::ops::optim::OptimizerKind;
    let gpu = Gpu::new_blocking(opts).unwrap();
    if opts.webgpu_features_only {
        assert!(!gpu.has_lanes8(), "a WebGPU-featured device never picks matmul_lanes8");
    }
    let dev = Device::Gpu(gpu);
    let data = {
        use trm_gpu::data::{source::*, sudoku};
        let options = sudoku::GenOptions { clues: Some((8, 8)), ..sudoku::GenOptions::new(4, false) };
        let train = vec![Source::Generate { count: 4, options }];
        let sources = Sources { train, test: None, holdout: 0, max_train: None, seed: 5, skip_bad: false };
        let build = sudoku::SudokuBuild { sources, augmentations: 0, ratings: Vec::new() };
        sudoku::build(&build, &mut |_, _| {}).unwrap().train
    };
    for (mlp_t, emb, checkpoint, loss, one_step, optimizer) in [
        (true, false, Checkpoint::PerCall, LossKind::Stablemax, false, OptimizerKind::AdamAtan2),
        (true, true, Checkpoint::None, LossKind::Softmax, true, OptimizerKind::Adamw),
        (false, true, Checkpoint::PerCall, LossKind::Softmax, false, OptimizerKind::AdamAtan2),
        (false, false, Checkpoint::None, LossKind::Stablemax, true, OptimizerKind::Adamw),
    ] {
        let mut cfg = Config::preset("tiny-sudoku4-mlp").unwrap();
        let m = &mut cfg.model;
        (m.mlp_t, m.pos_encodings, m.num_heads) = (mlp_t, if mlp_t { "none" } else { "rope" }.into(), 2);
        if emb {
            (m.puzzle_emb_ndim, m.puzzle_emb_len, m.num_puzzle_identifiers) = (m.hidden_size, 2, 3);
        }
        m.halt_max_steps = 2;
        (cfg.train.loss, cfg.train.one_step_grad, cfg.train.optimizer) = (loss, one_step, optimizer);
        let w = Weights::init(&cfg.model, 1);
        let mut t = trm_gpu::train::Trainer::new(&dev, cfg.clone(), 2, checkpoint, &w, 1).unwrap();
        t.step(&data, 2).unwrap();
        trm_gpu::train::predict(&dev, &cfg, &w, &data, 1).unwrap();
    }
    let gpu = dev.gpu().unwrap();
    if !gpu.cpu_kernels {
        // Split-K, which these tiny programs are too small for: a weight gradient over 2048 rows.
        let mm = trm_gpu::ops::matmul::Matmul::linear_dw(2048, 8, 8);
        assert!(mm.splits() > 1);
        let [a, b, c] = mm.lens().map(|n| gpu.zeros("t", n).unwrap());
        gpu.run(&mm.launch(gpu, &a, &b, &c).unwrap().iter().collect::<Vec<_>>());
    }
    gpu.compiled_pipelines()
}
