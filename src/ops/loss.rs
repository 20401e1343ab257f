//! Losses (shaders/loss.wgsl): stablemax or softmax cross-entropy with ignored labels, exact match, and the
//! halting head's BCE-with-logits. Total = lm + 0.5 · halt.

use super::Real;
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// Per-sequence statistics written by the loss: lm loss, halt loss, seq correct, correct tokens, valid tokens, q_halt.
pub const SEQ_STATS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    Stablemax,
    Softmax,
}

#[derive(Clone, Copy, Debug)]
pub struct Loss {
    pub batch: usize,
    pub len: usize,
    pub vocab: usize,
    pub kind: LossKind,
    /// Multiplies every gradient: 1 / global batch in training, 1 for the raw summed loss.
    pub grad_scale: f32,
}

/// Summed statistics of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    pub lm_loss: f64,
    pub halt_loss: f64,
    pub seq_correct: f64,
    pub tok_correct: f64,
    pub tok_valid: f64,
}

impl LossStats {
    pub fn total(&self) -> f64 {
        self.lm_loss + 0.5 * self.halt_loss
    }
    /// Sequence `b`'s row as written by the loss kernel.
    pub fn row(rows: &[f32], b: usize) -> Self {
        let r = &rows[b * SEQ_STATS..(b + 1) * SEQ_STATS];
        LossStats {
            lm_loss: r[0] as f64,
            halt_loss: r[1] as f64,
            seq_correct: r[2] as f64,
            tok_correct: r[3] as f64,
            tok_valid: r[4] as f64,
        }
    }

    /// Whether every valid token of the sequence was predicted right.
    pub fn exact(&self) -> bool {
        self.seq_correct > 0.5
    }

    /// Sum the per-sequence rows written by the loss kernel (those with mask true, or all).
    pub fn from_rows(rows: &[f32], mask: Option<&[bool]>) -> Self {
        let mut s = LossStats::default();
        for b in (0..rows.len() / SEQ_STATS).filter(|&b| mask.is_none_or(|m| m[b])) {
            let r = Self::row(rows, b);
            s.lm_loss += r.lm_loss;
            s.halt_loss += r.halt_loss;
            s.seq_correct += r.seq_correct;
            s.tok_correct += r.tok_correct;
            s.tok_valid += r.tok_valid;
        }
        s
    }
}

fn stablemax<F: Real>(x: F) -> F {
    if x >= F::zero() {
        x + F::one()
    } else {
        F::one() / (F::one() - x + F::from_f64(1e-30))
    }
}
fn stablemax_grad<F: Real>(x: F) -> F {
    if x >= F::zero() {
        F::one()
    } else {
        F::one() / ((F::one() - x) * (F::one() - x))
    }
}

impl Loss {
    fn params(&self) -> Params {
        Params::new()
            .u("batch", self.batch)
            .u("len", self.len)
            .u("vocab", self.vocab)
            .u("softmax", (self.kind == LossKind::Softmax) as usize)
            .f("grad_scale", self.grad_scale)
    }
    /// Two launches: per position (loss, correct, dlogits), then per sequence (stats, dq).
    #[allow(clippy::too_many_arguments)]
    pub fn launch(
        &self,
        gpu: &Gpu,
        logits: &GpuTensor,
        labels: &GpuTensor,
        q: &GpuTensor,
        dlogits: &GpuTensor,
        tok: &GpuTensor,
        dq: &GpuTensor,
        seq_stats: &GpuTensor,
    ) -> Result<[Launch; 2]> {
        let sh = crate::shader!("loss");
        let n = self.batch * self.len;
        Ok([
            gpu.launch(
                &sh,
                "token",
                &[],
                &self.params(),
                &[(1, logits), (2, labels), (3, dlogits), (4, tok)],
                gpu.grid(n, 64),
            )?,
            gpu.launch(
                &sh,
                "sequence",
                &[],
                &self.params(),
                &[(2, labels), (5, tok), (6, q), (7, dq), (8, seq_stats)],
                [self.batch.div_ceil(64) as u32, 1, 1],
            )?,
        ])
    }

    /// CPU twin: fills dlogits, dq (batch, 2) and the per-sequence stats rows; returns the total loss
    /// (unscaled, summed over the batch).
    pub fn cpu<F: Real>(
        &self,
        logits: &[F],
        labels: &[i32],
        q: &[F],
        dlogits: &mut [F],
        dq: &mut [F],
        seq_stats: &mut [F],
    ) -> F {
        let (l, v) = (self.len, self.vocab);
        let gs = F::from_f64(self.grad_scale as f64);
        let mut total = F::zero();
        for b in 0..self.batch {
            let valid = labels[b * l..(b + 1) * l].iter().filter(|&&y| y > 0).count();
            let g = gs / F::from_f64(valid.max(1) as f64);
            let (mut loss, mut correct) = (F::zero(), 0usize);
            for i in b * l..(b + 1) * l {
                let x = &logits[i * v..(i + 1) * v];
                let d = &mut dlogits[i * v..(i + 1) * v];
                let y = labels[i];
                if y <= 0 {
                    d.iter_mut().for_each(|e| *e = F::zero());
                    continue;
                }
                let y = y as usize;
                let best = (1..v).fold(0, |best, j| if x[j] > x[best] { j } else { best });
                correct += (best == y) as usize;
                match self.kind {
                    LossKind::Softmax => {
                        let m = x.iter().fold(x[0], |a, &b| a.max(b));
                        let z: F = x.iter().map(|&e| (e - m).exp()).sum();
                        loss += z.ln() - (x[y] - m);
                        for j in 0..v {
                            let t = if j == y { F::one() } else { F::zero() };
                            d[j] = g * ((x[j] - m).exp() / z - t);
                        }
                    }
                    LossKind::Stablemax => {
                        let z: F = x.iter().map(|&e| stablemax(e)).sum();
                        loss += z.ln() - stablemax(x[y]).ln();
                        for j in 0..v {
                            d[j] = g * stablemax_grad(x[j]) / z;
                        }
                        d[y] = d[y] - g * stablemax_grad(x[y]) / stablemax(x[y]);
                    }
                }
            }
            let lm = loss / F::from_f64(valid.max(1) as f64);
            let t = if correct == valid { F::one() } else { F::zero() };
            let qh = q[2 * b];
            let bce = qh.max(F::zero()) - qh * t + (F::one() + (-qh.abs()).exp()).ln();
            dq[2 * b] = F::from_f64(0.5) * gs * (qh.sigmoid() - t);
            dq[2 * b + 1] = F::zero();
            let row = &mut seq_stats[b * SEQ_STATS..(b + 1) * SEQ_STATS];
            row[0] = lm;
            row[1] = bce;
            row[2] = t;
            row[3] = F::from_f64(correct as f64);
            row[4] = F::from_f64(valid as f64);
            row[5] = qh;
            total += lm + F::from_f64(0.5) * bce;
        }
        total
    }
}
