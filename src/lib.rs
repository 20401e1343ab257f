//! trm-gpu: the Tiny Recursive Model on any GPU, with hand-written WGSL kernels.
pub mod gpu;
pub mod model;
pub mod ops;
pub mod data;
pub mod plan;
pub mod train;
