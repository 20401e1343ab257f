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
