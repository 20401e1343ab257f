//! One interface over the two executors, so the trainer, the evaluator and the tests drive either.

use super::program::{CpuExec, GpuExec, Program};
use super::trm::Handles;
use super::Weights;
use crate::gpu::Gpu;
use crate::ops::Real;
use crate::plan::{Plan, TensorId as T};
use anyhow::Result;

pub trait Exec {
    fn write(&mut self, t: T, data: &[f32]);
    fn write_i32(&mut self, t: T, data: &[i32]);
    fn read(&mut self, t: T) -> Vec<f32>;
    fn run(&mut self);

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
    fn run(&mut self) {
        (**self).run()
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
    #[cfg(target_arch = "wasm32")]
    fn read(&mut self, _t: T) -> Vec<f32> {
        unimplemented!("the browser reads asynchronously: use Gpu::read_async")
    }
    fn run(&mut self) {
        self.exec.run(self.gpu);
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
    fn run(&mut self) {
        self.exec.run(&self.prog);
    }
}
