//! The static schedule of one training (or inference) step: dispatches in order over named tensors.
//! Built by the model, planned by `plan::plan`, executed by the GPU or CPU executor. No wgpu here.

use serde::Serialize;

/// What a tensor is for. Persistent roles live across steps; the others live from first write to last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Parameter,
    Gradient,
    OptimizerState,
    Ema,
    Carry,
    Input,
    Output,
    Activation,
    Checkpoint,
    Scratch,
}

impl Role {
    /// Persistent tensors keep their buffer for the whole run (they carry state between steps).
    pub fn is_persistent(self) -> bool {
        matches!(
            self,
            Role::Parameter
                | Role::Gradient
                | Role::OptimizerState
                | Role::Ema
                | Role::Carry
                | Role::Input
                | Role::Output
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Parameter => "parameter",
            Role::Gradient => "gradient",
            Role::OptimizerState => "optimizer_state",
            Role::Ema => "ema",
            Role::Carry => "carry",
            Role::Input => "input",
            Role::Output => "output",
            Role::Activation => "activation",
            Role::Checkpoint => "checkpoint",
            Role::Scratch => "scratch",
        }
    }
    pub const ALL: [Role; 10] = [
        Role::Parameter,
        Role::Gradient,
        Role::OptimizerState,
        Role::Ema,
        Role::Carry,
        Role::Input,
        Role::Output,
        Role::Activation,
        Role::Checkpoint,
        Role::Scratch,
    ];
}

pub type TensorId = usize;

#[derive(Clone, Debug, Serialize)]
pub struct TensorDesc {
    pub name: String,
    pub role: Role,
    /// Logical shape (row-major), in elements.
    pub shape: Vec<usize>,
    /// Size in bytes (elements * 4 for f32/i32/u32).
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DispatchDesc {
    pub name: String,
    pub reads: Vec<TensorId>,
    pub writes: Vec<TensorId>,
    /// Floating-point operations (2 per multiply-add).
    pub flops: u64,
    /// True for work that only exists to recompute checkpointed activations.
    pub recompute: bool,
}
