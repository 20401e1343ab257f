//! One interface over the executors (GPU kernels, the native CPU path, the CPU twins), so the trainer, the
//! evaluator and the tests drive any of them; and the device a command runs on.

use super::native::NativeExec;
use super::program::{CpuExec, GpuExec, Op, Program};
use super::trm::Handles;
use super::Weights;
use crate::gpu::Gpu;
use crate::ops::Real;
use crate::plan::{Plan, TensorId as T};
use anyhow::Result;
use std::ops::Range;

pub trait Exec {
    fn write(&mut self, t: T, data: &[f32]);
    fn write_i32(&mut self, t: T, data: &[i32]);
    fn read(&mut self, t: T) -> Vec<f32>;
    /// Several tensors at once: on a GPU one transfer and one wait for all of them.
    fn read_many(&mut self, ts: &[T]) -> Vec<Vec<f32>> {
        ts.iter().map(|&t| self.read(t)).collect()
    }
    fn run(&mut self) {
        self.run_ops(0..self.ops());
    }
    /// Run ops `ops` of the program alone: the trainer sums gradients across ranks between the supervision step
    /// and the optimizer step (`Program::update_from`).
    fn run_ops(&mut self, ops: Range<usize>);
    /// How many ops the program has.
    fn ops(&self) -> usize;
    /// Bytes this executor holds for the program's tensors.
    fn allocated(&self) -> u64;
    /// Run the program once, op by op, timing each: (op name, seconds). Empty where ops cannot be timed alone
    /// by the wall clock (the GPU times its launches with timestamps instead).
    fn time_ops(&mut self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Copy every state_dict tensor of `w` into the program's parameter tensors.
    fn load_weights(&mut self, h: &Handles, w: &Weights) {
        for (name, &t) in &h.params {
            self.write(t, w.get(name));
        }
    }
}

impl<E: Exec + ?Sized> Exec for Box<E> {
    fn write(&mut self, t: T, data: &[f32]) {
        (**self).write(t, data)
    }
    fn write_i32(&mut self, t: T, data: &[i32]) {
        (**self).write_i32(t, data)
    }
    fn read(&mut self, t: T) -> Vec<f32> {
        (**self).read(t)
    }
    fn read_many(&mut self, ts: &[T]) -> Vec<Vec<f32>> {
        (**self).read_many(ts)
    }
    fn run(&mut self) {
        (**self).run()
    }
    fn run_ops(&mut self, ops: Range<usize>) {
        (**self).run_ops(ops)
    }
    fn ops(&self) -> usize {
        (**self).ops()
    }
    fn allocated(&self) -> u64 {
        (**self).allocated()
    }
    fn time_ops(&mut self) -> Vec<(String, f64)> {
        (**self).time_ops()
    }
}

/// The GPU executor bound to its device.
pub struct GpuRun<'a> {
    pub gpu: &'a Gpu,
    pub exec: GpuExec,
}

impl<'a> GpuRun<'a> {
    pub fn new(gpu: &'a Gpu, prog: &Program, plan: &Plan) -> Result<Self> {
        Ok(GpuRun { gpu, exec: GpuExec::new(gpu, prog, plan)? })
    }
}

impl Exec for GpuRun<'_> {
    fn write(&mut self, t: T, data: &[f32]) {
        self.gpu.write(&self.exec.tensors[t], data);
    }
    fn write_i32(&mut self, t: T, data: &[i32]) {
        self.gpu.write(&self.exec.tensors[t], data);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn read(&mut self, t: T) -> Vec<f32> {
        self.gpu.read(&self.exec.tensors[t])
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn read_many(&mut self, ts: &[T]) -> Vec<Vec<f32>> {
        let tensors: Vec<&crate::gpu::GpuTensor> = ts.iter().map(|&t| &self.exec.tensors[t]).collect();
        self.gpu.read_many(&tensors)
    }
    #[cfg(target_arch = "wasm32")]
    fn read(&mut self, _t: T) -> Vec<f32> {
        unimplemented!("the browser reads asynchronously: use Gpu::read_async")
    }
    fn run_ops(&mut self, ops: Range<usize>) {
        self.exec.run(self.gpu, ops);
    }
    fn ops(&self) -> usize {
        self.exec.op_launches.len()
    }
    fn allocated(&self) -> u64 {
        self.exec.allocated
    }
}

/// The CPU reference executor with its program.
pub struct CpuRun<F: Real> {
    pub prog: Program,
    pub exec: CpuExec<F>,
}

impl<F: Real> CpuRun<F> {
    pub fn new(prog: &Program) -> Self {
        CpuRun { exec: CpuExec::new(prog), prog: prog.clone() }
    }
}

impl<F: Real> Exec for CpuRun<F> {
    fn write(&mut self, t: T, data: &[f32]) {
        self.exec.set(t, data);
    }
    fn write_i32(&mut self, t: T, data: &[i32]) {
        self.exec.ints[t] = data.to_vec();
    }
    fn read(&mut self, t: T) -> Vec<f32> {
        self.exec.get(t)
    }
    fn run_ops(&mut self, ops: Range<usize>) {
        self.exec.run(&self.prog, ops);
    }
    fn ops(&self) -> usize {
        self.prog.ops.len()
    }
    fn allocated(&self) -> u64 {
        let ints: usize = self.exec.ints.iter().map(|v| v.len() * 4).sum();
        (self.exec.vals.iter().map(|v| v.len() * std::mem::size_of::<F>()).sum::<usize>() + ints) as u64
    }
}

/// The CPU cores: a thread pool of its own, so that a caller can fix the thread count (the bits do not depend
/// on it). In wasm, the page's one thread.
pub struct Native {
    #[cfg(not(target_arch = "wasm32"))]
    pool: rayon::ThreadPool,
}

impl Native {
    /// `threads` 0: one per core.
    pub fn new(threads: usize) -> Result<Self> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("trm-native-{i}"))
                .build()?;
            Ok(Native { pool })
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = threads;
            Ok(Native {})
        }
    }
    pub fn threads(&self) -> usize {
        #[cfg(not(target_arch = "wasm32"))]
        return self.pool.current_num_threads();
        #[cfg(target_arch = "wasm32")]
        1
    }
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        #[cfg(not(target_arch = "wasm32"))]
        return self.pool.install(f);
        #[cfg(target_arch = "wasm32")]
        f()
    }
}

/// The native executor with its program, on its cores.
pub struct NativeRun<'a> {
    pub native: &'a Native,
    pub ops: Vec<Op>,
    pub exec: NativeExec,
}

impl<'a> NativeRun<'a> {
    pub fn new(native: &'a Native, prog: &Program, plan: &Plan) -> Result<Self> {
        Ok(NativeRun { native, ops: prog.ops.clone(), exec: NativeExec::new(prog, plan)? })
    }
}

impl Exec for NativeRun<'_> {
    fn write(&mut self, t: T, data: &[f32]) {
        self.exec.write(t, data);
    }
    fn write_i32(&mut self, t: T, data: &[i32]) {
        self.exec.write(t, bytemuck::cast_slice(data));
    }
    fn read(&mut self, t: T) -> Vec<f32> {
        self.exec.read(t)
    }
    fn run_ops(&mut self, range: Range<usize>) {
        let (exec, ops) = (&mut self.exec, &self.ops[range]);
        self.native.install(|| exec.run(ops));
    }
    fn ops(&self) -> usize {
        self.ops.len()
    }
    fn allocated(&self) -> u64 {
        self.exec.allocated()
    }
    fn time_ops(&mut self) -> Vec<(String, f64)> {
        let (exec, ops) = (&mut self.exec, &self.ops);
        self.native.install(|| {
            ops.iter()
                .map(|op| {
                    let t = std::time::Instant::now();
                    exec.run(std::slice::from_ref(op));
                    (op.io().0.to_string(), t.elapsed().as_secs_f64())
                })
                .collect()
        })
    }
}

/// Where a command runs: a wgpu adapter (the WGSL kernels) or the CPU cores (the native executor).
#[allow(clippy::large_enum_variant)] // one per process
pub enum Device {
    Gpu(Gpu),
    Native(Native),
    /// The CPU twins in f32: slow, the reference the others are checked against.
    Reference,
}

impl Device {
    /// An executor of `prog` over `plan` on this device.
    pub fn exec(&self, prog: &Program, plan: &Plan) -> Result<Box<dyn Exec + '_>> {
        match self {
            // The native executor checks its plan itself, buffer by buffer; wgpu checks each buffer's size.
            Device::Gpu(_) | Device::Native(_) => {}
            Device::Reference => {
                let every: u128 = prog.schedule.tensors.iter().map(|t| t.bytes as u128).sum();
                super::memory::check_host("the reference executor (every tensor its own buffer)", every)?
            }
        }
        Ok(match self {
            Device::Gpu(gpu) => Box::new(GpuRun::new(gpu, prog, plan)?),
            Device::Native(n) => Box::new(NativeRun::new(n, prog, plan)?),
            Device::Reference => Box::new(CpuRun::<f32>::new(prog)),
        })
    }
    /// The largest tensor one binding may hold.
    pub fn max_binding(&self) -> u64 {
        match self {
            Device::Gpu(gpu) => gpu.limits.max_storage_buffer_binding_size,
            Device::Native(_) | Device::Reference => isize::MAX as u64,
        }
    }
    /// The planner's buffers for `prog` within this device's limits.
    pub fn plan(&self, prog: &Program) -> Result<Plan> {
        crate::plan::plan(&prog.schedule, self.max_binding())
    }
    /// Which executor runs, in words.
    pub fn describe(&self) -> String {
        match self {
            Device::Gpu(gpu) => format!("gpu: {}", gpu.describe()),
            Device::Native(n) => format!(
                "cpu: native executor (gemm and {} thread{})",
                n.threads(),
                if n.threads() == 1 { "" } else { "s" }
            ),
            Device::Reference => "reference: the CPU twins, f32, one thread".into(),
        }
    }
    pub fn gpu(&self) -> Option<&Gpu> {
        match self {
            Device::Gpu(gpu) => Some(gpu),
            Device::Native(_) | Device::Reference => None,
        }
    }
}
