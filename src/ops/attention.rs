//! Non-causal multi-head self-attention on a fused qkv tensor (shaders/attention.wgsl for CPU adapters,
//! shaders/attention_tiled.wgsl for GPUs).

use super::Real;
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::{ensure, Result};

const WG: usize = 64;
/// attention_tiled.wgsl's rows per workgroup (BR) and vec4 per staged tile (TILE4).
const TILED_ROWS: usize = 64;
const TILE4: usize = 512;
/// Queries per block of the native path: a block's scores are NATIVE_BLOCK × S' floats.
const NATIVE_BLOCK: usize = 64;
pub const MAX_HEAD_DIM: usize = 128;

#[derive(Clone, Copy, Debug)]
pub struct Attention {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub hd: usize,
}

impl Attention {
    pub fn scale(&self) -> f32 {
        1.0 / (self.hd as f32).sqrt()
    }
    /// The entry point `entry` of attention.wgsl (one invocation per row) on CPU adapters, or of
    /// attention_tiled.wgsl (a workgroup per block of rows, tiles in workgroup memory) on GPUs; delta_rows, a
    /// row-wise dot, is attention.wgsl's everywhere.
    fn launch(&self, gpu: &Gpu, entry: &'static str, t: &[(u32, &GpuTensor)]) -> Result<Launch> {
        ensure!(
            self.hd <= MAX_HEAD_DIM && self.hd.is_multiple_of(4),
            "attention head dim {} must be a multiple of 4 and at most {MAX_HEAD_DIM}",
            self.hd
        );
        let hd4 = self.hd / 4;
        // Per row: a dot and an update over the head per key (query), plus the tiles' staging loops.
        ensure!(
            self.seq * (3 * hd4 + 2) < gpu.loop_budget(),
            "attention over {} tokens with head dim {} exceeds what this adapter runs in one invocation",
            self.seq,
            self.hd
        );
        let p = Params::new()
            .u("batch", self.batch)
            .u("seq", self.seq)
            .u("heads", self.heads)
            .u("hd", self.hd)
            .f("scale", self.scale());
        if gpu.cpu_kernels || entry == "delta_rows" {
            let n = self.batch * self.heads * self.seq;
            return gpu.launch(&crate::shader!("attention"), entry, &[], &p, t, gpu.grid(n, WG));
        }
        let constants = [("HD4", hd4 as u32), ("BT", (TILE4 / hd4).min(TILED_ROWS) as u32)];
        let blocks = self.batch * self.heads * self.seq.div_ceil(TILED_ROWS);
        gpu.launch(&crate::shader!("attention_tiled"), entry, &constants, &p, t, gpu.grid(blocks, 1))
    }
    /// o (B·S', H·hd) and lse (B, H, S') from the rotated qkv.
    pub fn forward(&self, gpu: &Gpu, qkv: &GpuTensor, o: &GpuTensor, lse: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, "forward", &[(1, qkv), (3, o), (4, lse)])
    }
    /// The three backward launches: delta = rowsum(dO ∘ O), then dq, then dk and dv, all into dqkv.
    pub fn backward(
        &self,
        gpu: &Gpu,
        qkv: &GpuTensor,
        o: &GpuTensor,
        lse: &GpuTensor,
        dout: &GpuTensor,
        delta: &GpuTensor,
        dqkv: &GpuTensor,
    ) -> Result<[Launch; 3]> {
        Ok([
            self.launch(gpu, "delta_rows", &[(2, o), (4, delta), (6, dout)])?,
            self.launch(gpu, "backward_dq", &[(1, qkv), (3, dqkv), (5, lse), (6, dout), (7, delta)])?,
            self.launch(gpu, "backward_dkv", &[(1, qkv), (3, dqkv), (5, lse), (6, dout), (7, delta)])?,
        ])
    }
    pub fn flops(&self) -> u64 {
        (4 * self.batch * self.heads * self.seq * self.seq * self.hd) as u64
    }

    fn probs<F: Real>(&self, qkv: &[F], b: usize, h: usize) -> Vec<F> {
        let (s, hd, w) = (self.seq, self.hd, 3 * self.heads * self.hd);
        let scale = F::from_f64(self.scale() as f64);
        let mut p = vec![F::zero(); s * s];
        for i in 0..s {
            let q = &qkv[(b * s + i) * w + h * hd..][..hd];
            let row = &mut p[i * s..(i + 1) * s];
            for j in 0..s {
                let k = &qkv[(b * s + j) * w + (self.heads + h) * hd..][..hd];
                row[j] = scale * q.iter().zip(k).map(|(&a, &c)| a * c).sum::<F>();
            }
            let m = row.iter().fold(row[0], |a, &b| a.max(b));
            let mut z = F::zero();
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                z += *v;
            }
            for v in row.iter_mut() {
                *v = *v / z;
            }
        }
        p
    }

    /// The native forward: o and lse, one batch entry per task, in blocks of `NATIVE_BLOCK` queries: scores
    /// S = scale·Q·Kᵀ (a block × S' matrix, never S' × S'), an exact softmax per row, then O = P·V, each product
    /// through gemm on the task's thread.
    pub fn native_forward(&self, qkv: &[f32], o: &mut [f32], lse: &mut [f32]) {
        use super::native::{exp, for_rows2, gemm_into, View};
        let (s, hd, hh) = (self.seq, self.hd, self.heads);
        let (w, ow) = (3 * hh * hd, hh * hd);
        let scale = self.scale();
        for_rows2(&mut o[..self.batch * s * ow], s * ow, &mut lse[..self.batch * hh * s], hh * s, |b0, o, lse| {
            let mut p = vec![0f32; NATIVE_BLOCK.min(s) * s];
            for (z, (o, lse)) in o.chunks_exact_mut(s * ow).zip(lse.chunks_exact_mut(hh * s)).enumerate() {
                let x = &qkv[(b0 + z) * s * w..][..s * w];
                for h in 0..hh {
                    for i0 in (0..s).step_by(NATIVE_BLOCK) {
                        let bm = NATIVE_BLOCK.min(s - i0);
                        let q = View { data: x, at: i0 * w + h * hd, rs: w, cs: 1 };
                        let kt = View { data: x, at: (hh + h) * hd, rs: 1, cs: w };
                        gemm_into(bm, s, hd, &mut p, 0, s, false, q, kt, scale);
                        for (r, row) in p.chunks_exact_mut(s).take(bm).enumerate() {
                            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                            row.iter_mut().for_each(|v| *v = exp(*v - m));
                            let zsum: f32 = row.iter().sum();
                            row.iter_mut().for_each(|v| *v /= zsum);
                            lse[h * s + i0 + r] = m + zsum.ln();
                        }
                        let pv = View { data: &p, at: 0, rs: s, cs: 1 };
                        let v = View { data: x, at: (2 * hh + h) * hd, rs: w, cs: 1 };
                        gemm_into(bm, hd, s, o, i0 * ow + h * hd, ow, false, pv, v, 1.0);
                    }
                }
            }
        });
    }

    /// The native backward, in the forward's query blocks: P again from lse, delta = rowsum(dO ∘ O),
    /// dS = P ∘ (dO·Vᵀ − delta), dQ = scale·dS·K, and dK += scale·dSᵀ·Q, dV += Pᵀ·dO over the blocks in order.
    pub fn native_backward(
        &self,
        qkv: &[f32],
        o: &[f32],
        lse: &[f32],
        dout: &[f32],
        delta: &mut [f32],
        dqkv: &mut [f32],
    ) {
        use super::native::{dot, exp, for_rows2, gemm_into, View};
        let (s, hd, hh) = (self.seq, self.hd, self.heads);
        let (w, ow) = (3 * hh * hd, hh * hd);
        let scale = self.scale();
        for_rows2(
            &mut dqkv[..self.batch * s * w],
            s * w,
            &mut delta[..self.batch * hh * s],
            hh * s,
            |b0, dx, delta| {
                let n = NATIVE_BLOCK.min(s) * s;
                let (mut p, mut ds) = (vec![0f32; n], vec![0f32; n]);
                for (z, (dx, delta)) in dx.chunks_exact_mut(s * w).zip(delta.chunks_exact_mut(hh * s)).enumerate() {
                    let b = b0 + z;
                    let x = &qkv[b * s * w..][..s * w];
                    let (o, g) = (&o[b * s * ow..][..s * ow], &dout[b * s * ow..][..s * ow]);
                    let lse = &lse[b * hh * s..][..hh * s];
                    for h in 0..hh {
                        for i0 in (0..s).step_by(NATIVE_BLOCK) {
                            let bm = NATIVE_BLOCK.min(s - i0);
                            let q = View { data: x, at: i0 * w + h * hd, rs: w, cs: 1 };
                            let gb = View { data: g, at: i0 * ow + h * hd, rs: ow, cs: 1 };
                            gemm_into(
                                bm,
                                s,
                                hd,
                                &mut p,
                                0,
                                s,
                                false,
                                q,
                                View { data: x, at: (hh + h) * hd, rs: 1, cs: w },
                                scale,
                            );
                            gemm_into(
                                bm,
                                s,
                                hd,
                                &mut ds,
                                0,
                                s,
                                false,
                                gb,
                                View { data: x, at: (2 * hh + h) * hd, rs: 1, cs: w },
                                1.0,
                            );
                            for r in 0..bm {
                                let i = i0 + r;
                                let di = dot(&g[i * ow + h * hd..][..hd], &o[i * ow + h * hd..][..hd]);
                                delta[h * s + i] = di;
                                let l = lse[h * s + i];
                                for (pj, dj) in p[r * s..][..s].iter_mut().zip(&mut ds[r * s..][..s]) {
                                    *pj = exp(*pj - l);
                                    *dj = *pj * (*dj - di);
                                }
                            }
                            let (pv, dsv) =
                                (View { data: &p, at: 0, rs: s, cs: 1 }, View { data: &ds, at: 0, rs: s, cs: 1 });
                            let (pt, dst) = (View { rs: 1, cs: s, ..pv }, View { rs: 1, cs: s, ..dsv });
                            gemm_into(
                                bm,
                                hd,
                                s,
                                dx,
                                i0 * w + h * hd,
                                w,
                                false,
                                dsv,
                                View { data: x, at: (hh + h) * hd, rs: w, cs: 1 },
                                scale,
                            );
                            gemm_into(s, hd, bm, dx, (hh + h) * hd, w, i0 > 0, dst, q, scale);
                            gemm_into(s, hd, bm, dx, (2 * hh + h) * hd, w, i0 > 0, pt, gb, 1.0);
                        }
                    }
                }
            },
        );
    }

    /// CPU twin of the forward: o (B·S', H·hd).
    pub fn cpu_forward<F: Real>(&self, qkv: &[F], o: &mut [F]) {
        let (s, hd, w) = (self.seq, self.hd, 3 * self.heads * self.hd);
        for b in 0..self.batch {
            for h in 0..self.heads {
                let p = self.probs(qkv, b, h);
                for i in 0..s {
                    for d in 0..hd {
                        let mut acc = F::zero();
                        for j in 0..s {
                            acc += p[i * s + j] * qkv[(b * s + j) * w + (2 * self.heads + h) * hd + d];
                        }
                        o[(b * s + i) * self.heads * hd + h * hd + d] = acc;
                    }
                }
            }
        }
    }

    /// CPU twin of the backward: dqkv from qkv and dO.
    pub fn cpu_backward<F: Real>(&self, qkv: &[F], dout: &[F], dqkv: &mut [F]) {
        let (s, hd, hh, w) = (self.seq, self.hd, self.heads, 3 * self.heads * self.hd);
        let scale = F::from_f64(self.scale() as f64);
        for b in 0..self.batch {
            for h in 0..hh {
                let p = self.probs(qkv, b, h);
                let at = |i: usize, col: usize| qkv[(b * s + i) * w + col * hd..][..hd].to_vec();
                let g = |i: usize| dout[(b * s + i) * hh * hd + h * hd..][..hd].to_vec();
                // dP_ij = dO_i · v_j; dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik)
                let mut ds = vec![F::zero(); s * s];
                for i in 0..s {
                    let gi = g(i);
                    let dp: Vec<F> =
                        (0..s).map(|j| gi.iter().zip(at(j, 2 * hh + h)).map(|(&a, c)| a * c).sum()).collect();
                    let dot: F = (0..s).map(|j| p[i * s + j] * dp[j]).sum();
                    for j in 0..s {
                        ds[i * s + j] = p[i * s + j] * (dp[j] - dot);
                    }
                }
                for i in 0..s {
                    for d in 0..hd {
                        let (mut dq, mut dk, mut dv) = (F::zero(), F::zero(), F::zero());
                        for j in 0..s {
                            dq += ds[i * s + j] * qkv[(b * s + j) * w + (hh + h) * hd + d];
                            dk += ds[j * s + i] * qkv[(b * s + j) * w + h * hd + d];
                            dv += p[j * s + i] * dout[(b * s + j) * hh * hd + h * hd + d];
                        }
                        let row = (b * s + i) * w;
                        dqkv[row + h * hd + d] = scale * dq;
                        dqkv[row + (hh + h) * hd + d] = scale * dk;
                        dqkv[row + (2 * hh + h) * hd + d] = dv;
                    }
                }
            }
        }
    }
}
