//! SwiGLU activation (shaders/swiglu.wgsl): h = [gate | up] → silu(gate) · up.

use super::{Real, WG};
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// The official inner width: 256 · ceil(round_half_even(expansion · n · 2/3) / 256).
pub fn inner_width(n: usize, expansion: f64) -> usize {
    let x = expansion * n as f64 * 2.0 / 3.0;
    let r = x.round_ties_even() as usize;
    256 * r.div_ceil(256)
}

#[derive(Clone, Copy, Debug)]
pub struct Swiglu {
    pub rows: usize,
    pub inner: usize,
}

impl Swiglu {
    fn launch(&self, gpu: &Gpu, entry: &'static str, t: &[(u32, &GpuTensor)]) -> Result<Launch> {
        let p = Params::new().u(self.rows).u(self.inner);
        gpu.launch(&crate::shader!("swiglu"), entry, &[], &p, t, gpu.grid(self.rows * self.inner, WG))
    }
    pub fn forward(&self, gpu: &Gpu, h: &GpuTensor, a: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, "forward", &[(1, h), (3, a)])
    }
    pub fn backward(&self, gpu: &Gpu, h: &GpuTensor, da: &GpuTensor, dh: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, "backward", &[(1, h), (2, da), (3, dh)])
    }

    pub fn cpu_forward<F: Real>(&self, h: &[F], a: &mut [F]) {
        let n = self.inner;
        for r in 0..self.rows {
            for j in 0..n {
                let (g, u) = (h[r * 2 * n + j], h[r * 2 * n + n + j]);
                a[r * n + j] = g * g.sigmoid() * u;
            }
        }
    }
    pub fn cpu_backward<F: Real>(&self, h: &[F], da: &[F], dh: &mut [F]) {
        let n = self.inner;
        for r in 0..self.rows {
            for j in 0..n {
                let gi = r * 2 * n + j;
                let (g, u, d) = (h[gi], h[gi + n], da[r * n + j]);
                let s = g.sigmoid();
                dh[gi] = d * u * s * (F::one() + g * (F::one() - s));
                dh[gi + n] = d * g * s;
            }
        }
    }
}
