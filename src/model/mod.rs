//! The TRM model: config, parameters under official names, and the step program.
pub mod config;
pub mod exec;
#[cfg(not(target_arch = "wasm32"))]
pub mod import;
pub mod infer;
pub mod memory;
pub mod native;
pub mod params;
#[cfg(not(target_arch = "wasm32"))]
pub mod parity;
pub mod program;
pub mod trm;

pub use config::{Config, ModelConfig, TrainConfig};
pub use exec::{CpuRun, Device, Exec, GpuRun, Native, NativeRun};
pub use params::Weights;
pub use program::{CpuExec, GpuExec, Op, Program};
pub use trm::{build_step, Checkpoint, Handles, StepOptions};
