//! Optimizers (shaders/optim.wgsl): AdamATan2 and AdamW with decoupled weight decay, the weight EMA, and
//! sign-SGD for puzzle-embedding rows.

use super::{Real, WG};
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    AdamAtan2,
    Adamw,
}

/// The fixed hyperparameters of AdamATan2 / AdamW. What changes every step (the learning rate and the bias
/// corrections) lives in a 4-element tensor, `hyper` = [lr, 1 − b1^t, 1 − b2^t, 0], so that a step's program
/// is built once and every executor replays it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub kind: OptimizerKind,
    pub wd: f32,
    pub b1: f32,
    pub b2: f32,
    pub eps: f32,
}

impl Adam {
    /// `hyper` for optimizer step `t` (1-based) at learning rate `lr`.
    pub fn hyper(&self, lr: f32, t: u64) -> [f32; 4] {
        [lr, 1.0 - self.b1.powf(t as f32), 1.0 - self.b2.powf(t as f32), 0.0]
    }
    fn params(&self, n: usize) -> Params {
        Params::new().u("n", n).f("wd", self.wd).f("b1", self.b1).f("b2", self.b2).f("eps", self.eps)
    }
    pub fn launch(
        &self,
        gpu: &Gpu,
        hyper: &GpuTensor,
        grad: &GpuTensor,
        param: &GpuTensor,
        m: &GpuTensor,
        v: &GpuTensor,
    ) -> Result<Launch> {
        let entry = match self.kind {
            OptimizerKind::AdamAtan2 => "adam_atan2",
            OptimizerKind::Adamw => "adamw",
        };
        let n = param.len;
        gpu.launch(
            &crate::shader!("optim"),
            entry,
            &[],
            &self.params(n),
            &[(1, grad), (2, param), (3, m), (4, v), (7, hyper)],
            gpu.grid(n, WG),
        )
    }
    pub fn cpu<F: Real>(&self, hyper: &[F], grad: &[F], param: &mut [F], m: &mut [F], v: &mut [F]) {
        let f = |x: f32| F::from_f64(x as f64);
        let (lr, bc1, bc2) = (hyper[0], hyper[1], hyper[2]);
        let (b1, b2) = (f(self.b1), f(self.b2));
        for i in 0..param.len() {
            param[i] *= F::one() - lr * f(self.wd);
            m[i] = b1 * m[i] + (F::one() - b1) * grad[i];
            v[i] = b2 * v[i] + (F::one() - b2) * grad[i] * grad[i];
            param[i] = param[i]
                - match self.kind {
                    OptimizerKind::AdamAtan2 => {
                        let den = v[i].sqrt() / bc2.sqrt();
                        let step = if m[i] == F::zero() && den == F::zero() { F::zero() } else { m[i].atan2(den) };
                        lr / bc1 * step
                    }
                    OptimizerKind::Adamw => lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + f(self.eps)),
                };
        }
    }
    /// The native path: the f32 twin over parallel chunks (element-wise, so thread-count independent).
    pub fn native(&self, hyper: &[f32], grad: &[f32], param: &mut [f32], m: &mut [f32], v: &mut [f32]) {
        super::native::for_elems3(param, m, v, |i, p, m, v| self.cpu(hyper, &grad[i..][..p.len()], p, m, v));
    }
}

/// ema = (1 − mu) · param + mu · ema
pub fn ema(gpu: &Gpu, param: &GpuTensor, ema: &GpuTensor, mu: f32) -> Result<Launch> {
    let n = param.len;
    gpu.launch(
        &crate::shader!("optim"),
        "ema_update",
        &[],
        &Params::new().u("n", n).f("mu", mu),
        &[(5, ema), (8, param)],
        gpu.grid(n, WG),
    )
}
pub fn cpu_ema<F: Real>(param: &[F], ema: &mut [F], mu: f32) {
    let mu = F::from_f64(mu as f64);
    for (e, &p) in ema.iter_mut().zip(param) {
        *e = (F::one() - mu) * p + mu * *e;
    }
}
pub fn native_ema(param: &[f32], ema: &mut [f32], mu: f32) {
    super::native::for_rows(ema, 1, |i, e| cpu_ema(&param[i..][..e.len()], e, mu));
}

/// Sign-SGD on the puzzle-embedding rows of a batch: grads (batch, ndim) are summed per identifier, and only
/// those rows change: w[id] = w[id] · (1 − lr·wd) − lr · sign(Σ grads).
#[derive(Clone, Copy, Debug)]
pub struct SignSgd {
    pub batch: usize,
    pub ndim: usize,
    pub lr: f32,
    pub wd: f32,
}

impl SignSgd {
    pub fn params(&self) -> Params {
        Params::new().u("batch", self.batch).u("ndim", self.ndim).f("wd", self.wd).f("sgd_lr", self.lr)
    }
    pub fn launch(&self, gpu: &Gpu, grad: &GpuTensor, ids: &GpuTensor, weights: &GpuTensor) -> Result<Launch> {
        let n = self.batch * self.ndim;
        gpu.launch(
            &crate::shader!("optim"),
            "sign_sgd",
            &[],
            &self.params(),
            &[(1, grad), (2, weights), (6, ids)],
            gpu.grid(n, WG),
        )
    }
    pub fn cpu<F: Real>(&self, grad: &[F], ids: &[i32], weights: &mut [F]) {
        let (lr, wd) = (F::from_f64(self.lr as f64), F::from_f64(self.wd as f64));
        for b in 0..self.batch {
            if ids[..b].contains(&ids[b]) {
                continue;
            }
            for f in 0..self.ndim {
                let g: F = (b..self.batch).filter(|&e| ids[e] == ids[b]).map(|e| grad[e * self.ndim + f]).sum();
                let w = &mut weights[ids[b] as usize * self.ndim + f];
                *w = *w * (F::one() - lr * wd) - lr * g.sign();
            }
        }
    }
}
