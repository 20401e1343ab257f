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
        let p = Params::new().u("rows", self.rows).u("inner", self.inner);
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
    /// The native forward: parallel rows, the vectorisable sigmoid.
    pub fn native_forward(&self, h: &[f32], a: &mut [f32]) {
        let n = self.inner;
        super::native::for_rows(&mut a[..self.rows * n], n, |r0, a| {
            for (r, a) in a.chunks_exact_mut(n).enumerate() {
                let (g, u) = h[(r0 + r) * 2 * n..][..2 * n].split_at(n);
                for j in 0..n {
                    a[j] = g[j] * super::native::sigmoid(g[j]) * u[j];
                }
            }
        });
    }
    /// The native backward: parallel rows, the vectorisable sigmoid.
    pub fn native_backward(&self, h: &[f32], da: &[f32], dh: &mut [f32]) {
        let n = self.inner;
        super::native::for_rows(&mut dh[..self.rows * 2 * n], 2 * n, |r0, dh| {
            for (r, dh) in dh.chunks_exact_mut(2 * n).enumerate() {
                let row = r0 + r;
                let (g, u) = h[row * 2 * n..][..2 * n].split_at(n);
                let d = &da[row * n..][..n];
                let (dg, du) = dh.split_at_mut(n);
                for j in 0..n {
                    let s = super::native::sigmoid(g[j]);
                    dg[j] = d[j] * u[j] * s * (1.0 + g[j] * (1.0 - s));
                    du[j] = d[j] * g[j] * s;
                }
            }
        });
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
