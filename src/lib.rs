//! trm-gpu: the Tiny Recursive Model on any GPU, with hand-written WGSL kernels.
// Ops and their builders name every tensor and size they touch, and the CPU twins index like the WGSL they mirror.
#![allow(clippy::too_many_arguments, clippy::needless_range_loop)]

#[cfg(target_endian = "big")]
compile_error!("trm-gpu's files (safetensors, datasets) and GPU buffers are little-endian, read as native words");

/// Kernel and training-step benchmarks (`cargo bench`, `trm-gpu bench`).
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod charts;
pub mod data;
pub mod files;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod plan;
pub mod rng;
pub mod solve;
/// Training is native-only; the browser build runs inference.
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
#[cfg(all(target_arch = "wasm32", feature = "web"))]
pub mod web;
