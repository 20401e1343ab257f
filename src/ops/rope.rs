//! Rotary position embedding, NeoX pairing (shaders/rope.wgsl), on the q and k heads of a fused qkv tensor.

use super::{Real, WG};
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// The cos and sin tables, [cos (seq, hd/2) | sin (seq, hd/2)], computed as the official code does:
/// inv_freq = 1 / base^(2j/hd) and p·inv_freq in f32, then cos and sin.
pub fn table(seq: usize, hd: usize, base: f32) -> Vec<f32> {
    let half = hd / 2;
    let mut t = vec![0f32; 2 * seq * half];
    for p in 0..seq {
        for j in 0..half {
            let inv = 1.0f32 / base.powf((2 * j) as f32 / hd as f32);
            let angle = (p as f32 * inv) as f64;
            t[p * half + j] = angle.cos() as f32;
            t[seq * half + p * half + j] = angle.sin() as f32;
        }
    }
    t
}

#[derive(Clone, Copy, Debug)]
pub struct Rope {
    /// B·S'
    pub rows: usize,
    pub seq: usize,
    pub heads: usize,
    pub hd: usize,
}

impl Rope {
    fn launch(&self, gpu: &Gpu, x: &GpuTensor, table: &GpuTensor, out: &GpuTensor, sign: f32) -> Result<Launch> {
        let p = Params::new()
            .u("rows", self.rows)
            .u("seq", self.seq)
            .u("heads", self.heads)
            .u("hd", self.hd)
            .f("sign", sign);
        let n = self.rows * 3 * self.heads * self.hd / 2;
        gpu.launch(&crate::shader!("rope"), "apply", &[], &p, &[(1, x), (2, table), (3, out)], gpu.grid(n, WG))
    }
    pub fn forward(&self, gpu: &Gpu, qkv: &GpuTensor, table: &GpuTensor, out: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, qkv, table, out, 1.0)
    }
    /// The transpose: rotation by −θ maps d(rotated) to d(qkv).
    pub fn backward(&self, gpu: &Gpu, dout: &GpuTensor, table: &GpuTensor, dqkv: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, dout, table, dqkv, -1.0)
    }

    fn cpu_apply<F: Real>(&self, x: &[F], table: &[f32], out: &mut [F], sign: f64) {
        let (h, half) = (self.heads, self.hd / 2);
        let width = 3 * h * self.hd;
        for row in 0..self.rows {
            let pos = row % self.seq;
            for slot in 0..3 * h {
                for j in 0..half {
                    let a = row * width + slot * self.hd + j;
                    let b = a + half;
                    if slot >= 2 * h {
                        out[a] = x[a];
                        out[b] = x[b];
                        continue;
                    }
                    let c = F::from_f64(table[pos * half + j] as f64);
                    let s = F::from_f64(sign * table[self.seq * half + pos * half + j] as f64);
                    let (xa, xb) = (x[a], x[b]);
                    out[a] = xa * c - xb * s;
                    out[b] = xb * c + xa * s;
                }
            }
        }
    }
    /// The native path (forward with sign 1, backward with −1): the twin over parallel chunks of rows.
    pub fn native(&self, x: &[f32], table: &[f32], out: &mut [f32], sign: f64) {
        let w = 3 * self.heads * self.hd;
        // Chunks start at whole sequences so that each chunk's rows know their positions.
        super::native::for_rows(&mut out[..self.rows * w], self.seq * w, |s0, out| {
            let r = Rope { rows: out.len() / w, ..*self };
            r.cpu_apply(&x[s0 * self.seq * w..][..out.len()], table, out, sign);
        });
    }
    pub fn cpu_forward<F: Real>(&self, qkv: &[F], table: &[f32], out: &mut [F]) {
        self.cpu_apply(qkv, table, out, 1.0)
    }
    pub fn cpu_backward<F: Real>(&self, dout: &[F], table: &[f32], dqkv: &mut [F]) {
        self.cpu_apply(dout, table, dqkv, -1.0)
    }
}
