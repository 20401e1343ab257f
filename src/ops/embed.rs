//! Input embedding with the puzzle-embedding prefix (shaders/embed.wgsl).

use super::{Real, WG};
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// x (B, P+L, D) = scale · [puzzle row zero-padded to P·D | embed_tokens[tokens]].
#[derive(Clone, Copy, Debug)]
pub struct Embed {
    pub batch: usize,
    pub len: usize,
    pub prefix: usize,
    pub dim: usize,
    pub vocab: usize,
    pub ndim: usize,
    pub scale: f32,
}

impl Embed {
    pub fn seq(&self) -> usize {
        self.prefix + self.len
    }
    fn launch(&self, gpu: &Gpu, entry: &'static str, n: usize, t: &[(u32, &GpuTensor)]) -> Result<Launch> {
        let p = Params::new()
            .u("batch", self.batch)
            .u("len", self.len)
            .u("prefix", self.prefix)
            .u("dim", self.dim)
            .u("vocab", self.vocab)
            .u("ndim", self.ndim)
            .f("scale", self.scale);
        gpu.launch(&crate::shader!("embed"), entry, &[], &p, t, gpu.grid(n, WG))
    }
    /// `puzzle` may be any 1-element tensor when ndim = 0.
    pub fn forward(
        &self,
        gpu: &Gpu,
        tokens: &GpuTensor,
        ids: &GpuTensor,
        table: &GpuTensor,
        puzzle: &GpuTensor,
        x: &GpuTensor,
    ) -> Result<Launch> {
        let n = self.batch * self.seq() * self.dim;
        self.launch(gpu, "forward", n, &[(1, tokens), (2, ids), (3, x), (4, table), (5, puzzle)])
    }
    /// dtable (vocab, dim) += the token part of dx.
    pub fn backward_table(&self, gpu: &Gpu, tokens: &GpuTensor, dx: &GpuTensor, dtable: &GpuTensor) -> Result<Launch> {
        anyhow::ensure!(
            self.batch * self.len < gpu.loop_budget(),
            "embedding gradient: batch × length too large for this adapter"
        );
        self.launch(gpu, "backward_table", self.vocab * self.dim, &[(1, tokens), (3, dtable), (6, dx)])
    }
    /// dpuzzle (batch, ndim) = the prefix part of dx, per batch row.
    pub fn backward_puzzle(&self, gpu: &Gpu, dx: &GpuTensor, dpuzzle: &GpuTensor) -> Result<Launch> {
        self.launch(gpu, "backward_puzzle", self.batch * self.ndim, &[(3, dpuzzle), (6, dx)])
    }

    pub fn cpu_forward<F: Real>(&self, tokens: &[i32], ids: &[i32], table: &[F], puzzle: &[F], x: &mut [F]) {
        let (d, seq) = (self.dim, self.seq());
        let scale = F::from_f64(self.scale as f64);
        for b in 0..self.batch {
            for s in 0..seq {
                for k in 0..d {
                    let v = if s < self.prefix {
                        let f = s * d + k;
                        if f < self.ndim {
                            puzzle[ids[b] as usize * self.ndim + f]
                        } else {
                            F::zero()
                        }
                    } else {
                        table[tokens[b * self.len + s - self.prefix] as usize * d + k]
                    };
                    x[(b * seq + s) * d + k] = scale * v;
                }
            }
        }
    }
    /// The native forward: the twin over parallel chunks of batch entries. The gradients run their f32 twins
    /// (a scatter-add in a fixed order, and a copy).
    pub fn native_forward(&self, tokens: &[i32], ids: &[i32], table: &[f32], puzzle: &[f32], x: &mut [f32]) {
        let row = self.seq() * self.dim;
        super::native::for_rows(&mut x[..self.batch * row], row, |b0, x| {
            let e = Embed { batch: x.len() / row, ..*self };
            e.cpu_forward(&tokens[b0 * self.len..], &ids[b0..], table, puzzle, x);
        });
    }
    pub fn cpu_backward_table<F: Real>(&self, tokens: &[i32], dx: &[F], dtable: &mut [F]) {
        let (d, seq) = (self.dim, self.seq());
        let scale = F::from_f64(self.scale as f64);
        for b in 0..self.batch {
            for l in 0..self.len {
                let v = tokens[b * self.len + l] as usize;
                for k in 0..d {
                    dtable[v * d + k] += scale * dx[(b * seq + self.prefix + l) * d + k];
                }
            }
        }
    }
    pub fn cpu_backward_puzzle<F: Real>(&self, dx: &[F], dpuzzle: &mut [F]) {
        let scale = F::from_f64(self.scale as f64);
        for b in 0..self.batch {
            for f in 0..self.ndim {
                dpuzzle[b * self.ndim + f] = scale * dx[b * self.seq() * self.dim + f];
            }
        }
    }
}
