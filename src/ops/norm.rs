//! RMSNorm without weight, fused with its residual add (shaders/norm.wgsl): y = rms(x + r).

use super::Real;
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

pub const EPS: f32 = 1e-5;

#[derive(Clone, Copy, Debug)]
pub struct Norm {
    pub rows: usize,
    pub dim: usize,
}

impl Norm {
    fn params(&self) -> Params {
        Params::new().u("rows", self.rows).u("dim", self.dim).f("eps", EPS)
    }
    /// The entry point for `pass` ("forward" or "backward") and its grid: one invocation per row on CPU
    /// adapters, one workgroup per row on GPUs.
    fn entry(&self, gpu: &Gpu, pass: &'static str) -> (&'static str, [u32; 3]) {
        match (gpu.cpu_kernels, pass) {
            (true, _) => (pass, gpu.grid(self.rows, 64)),
            (false, "forward") => ("forward_workgroup", gpu.grid(self.rows, 1)),
            (false, _) => ("backward_workgroup", gpu.grid(self.rows, 1)),
        }
    }
    /// y = rms(x + r), rstd per row.
    pub fn forward(&self, gpu: &Gpu, x: &GpuTensor, r: &GpuTensor, y: &GpuTensor, rstd: &GpuTensor) -> Result<Launch> {
        let (entry, grid) = self.entry(gpu, "forward");
        gpu.launch(&crate::shader!("norm"), entry, &[], &self.params(), &[(1, x), (2, r), (3, y), (4, rstd)], grid)
    }
    /// d(x + r) from y, dy and rstd.
    pub fn backward(
        &self,
        gpu: &Gpu,
        y: &GpuTensor,
        dy: &GpuTensor,
        rstd: &GpuTensor,
        dsum: &GpuTensor,
    ) -> Result<Launch> {
        let (entry, grid) = self.entry(gpu, "backward");
        gpu.launch(&crate::shader!("norm"), entry, &[], &self.params(), &[(3, dsum), (5, rstd), (6, y), (7, dy)], grid)
    }

    pub fn cpu_forward<F: Real>(&self, x: &[F], r: &[F], y: &mut [F], rstd: &mut [F]) {
        let d = self.dim;
        for row in 0..self.rows {
            let o = row * d;
            let ss: F = (0..d).map(|i| (x[o + i] + r[o + i]) * (x[o + i] + r[o + i])).sum();
            let s = F::one() / (ss / F::from_f64(d as f64) + F::from_f64(EPS as f64)).sqrt();
            for i in 0..d {
                y[o + i] = (x[o + i] + r[o + i]) * s;
            }
            rstd[row] = s;
        }
    }
    /// The native forward: the twin over parallel chunks of rows.
    pub fn native_forward(&self, x: &[f32], r: &[f32], y: &mut [f32], rstd: &mut [f32]) {
        let d = self.dim;
        super::native::for_rows2(&mut y[..self.rows * d], d, rstd, 1, |r0, y, s| {
            let n = Norm { rows: s.len(), dim: d };
            n.cpu_forward(&x[r0 * d..][..y.len()], &r[r0 * d..][..y.len()], y, s);
        });
    }
    /// The native backward: the twin over parallel chunks of rows.
    pub fn native_backward(&self, y: &[f32], dy: &[f32], rstd: &[f32], dsum: &mut [f32]) {
        let d = self.dim;
        super::native::for_rows(&mut dsum[..self.rows * d], d, |r0, out| {
            let n = Norm { rows: out.len() / d, dim: d };
            n.cpu_backward(&y[r0 * d..][..out.len()], &dy[r0 * d..][..out.len()], &rstd[r0..][..n.rows], out);
        });
    }
    pub fn cpu_backward<F: Real>(&self, y: &[F], dy: &[F], rstd: &[F], dsum: &mut [F]) {
        let d = self.dim;
        for row in 0..self.rows {
            let o = row * d;
            let mean = (0..d).map(|i| y[o + i] * dy[o + i]).sum::<F>() / F::from_f64(d as f64);
            for i in 0..d {
                dsum[o + i] = rstd[row] * (dy[o + i] - y[o + i] * mean);
            }
        }
    }
}
