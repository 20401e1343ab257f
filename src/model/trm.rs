//! TRM as a static program: the input embedding, T recursion passes (T−1 without gradient), the heads, the
//! loss, and the backward through the last pass, read almost as the paper's pseudocode:
//!
//! ```text
//! latent_recursion(x, y, z, n):  repeat n times: z = net(z, y + x);  y = net(y, z)
//! deep_recursion(x, y, z, n, T): T−1 times without gradient: latent_recursion;  once with gradient
//! ```
//! y is z_H, z is z_L. Every op is appended to a `Program`; the planner gives its tensors buffers.

use super::config::ModelConfig;
use super::params::{specs, Kind, Spec};
use super::program::{Op, Program};
use crate::ops::optim::{Adam, SignSgd};
use crate::ops::{
    attention::Attention,
    embed::Embed,
    loss::{Loss, LossKind, SEQ_STATS},
    matmul::Matmul,
    norm::Norm,
    rope::{self, Rope},
    swiglu::{inner_width, Swiglu},
};
use crate::plan::{Role, TensorId as T};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the graded pass keeps for its backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkpoint {
    /// Keep every activation, as autograd does.
    None,
    /// Keep each net call's input; recompute that call's activations in the backward.
    PerCall,
    /// Keep the input of every k-th call; the backward recomputes each segment of k calls from its checkpoint.
    EveryK(usize),
}

impl Checkpoint {
    /// Calls per recomputed segment (None keeps everything: no segments).
    fn segment(self) -> Option<usize> {
        match self {
            Checkpoint::None => None,
            Checkpoint::PerCall => Some(1),
            Checkpoint::EveryK(k) => Some(k.max(1)),
        }
    }
}

impl std::str::FromStr for Checkpoint {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "none" => Ok(Checkpoint::None),
            "per-call" => Ok(Checkpoint::PerCall),
            "every-k" => Ok(Checkpoint::EveryK(2)),
            _ => match s.strip_prefix("every-").and_then(|k| k.parse().ok()).filter(|&k: &usize| k > 0) {
                Some(k) => Ok(Checkpoint::EveryK(k)),
                None => anyhow::bail!(
                    "unknown checkpoint policy {s:?} (use none, per-call, every-k or every-K such as every-3)"
                ),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct StepOptions {
    pub batch: usize,
    /// Build the loss backward and the gradients (training); otherwise forward, heads and loss only.
    pub train: bool,
    pub checkpoint: Checkpoint,
    pub loss: LossKind,
    /// Gradient scale: 1 / global batch in training, 1 for the raw summed loss.
    pub grad_scale: f32,
    /// Also copy every net call's output and the input embedding into outputs (parity dumps).
    pub record: bool,
    /// The 1-step gradient approximation (HRM's; a TRM ablation): only the last z_L update and the z_H update of
    /// the final pass are differentiated; the earlier n−1 z_L updates run without gradient.
    pub one_step_grad: bool,
    /// With `train`: append the optimizer step (the trainer's program), so one run is one training iteration.
    pub update: Option<Update>,
}

impl StepOptions {
    /// The trainer's program: one supervision step with gradients scaled by 1 / batch, then the optimizer step.
    pub fn trainer(t: &super::config::TrainConfig, batch: usize, checkpoint: Checkpoint) -> Self {
        StepOptions {
            batch,
            train: true,
            checkpoint,
            loss: t.loss,
            grad_scale: 1.0 / batch as f32,
            record: false,
            one_step_grad: t.one_step_grad,
            update: Some(Update::new(t)),
        }
    }
}

/// The optimizer step at the end of a training program: Adam (or AdamATan2) on every trained parameter, the
/// weight EMA, and sign-SGD on the puzzle-embedding rows the batch touched.
#[derive(Clone, Copy, Debug)]
pub struct Update {
    pub adam: Adam,
    /// The EMA rate, when the EMA is kept.
    pub ema: Option<f32>,
    pub puzzle_lr: f32,
    pub puzzle_wd: f32,
    /// The ranks training together (1: this process alone). With more, the puzzle-embedding update takes the
    /// row gradients and identifiers of the whole global batch, which the trainer gathers into
    /// `Handles::all_puzzle_grad` and `all_ids` before the optimizer step.
    pub ranks: usize,
}

impl Update {
    pub fn new(t: &super::config::TrainConfig) -> Self {
        Update {
            adam: Adam { kind: t.optimizer, wd: t.weight_decay, b1: t.beta1, b2: t.beta2, eps: 1e-8 },
            ema: t.ema.then_some(t.ema_rate),
            puzzle_lr: t.puzzle_emb_lr,
            puzzle_wd: t.puzzle_emb_weight_decay,
            ranks: 1,
        }
    }
}

/// Tensors the trainer and tests address by meaning.
#[derive(Clone, Debug, Default)]
pub struct Handles {
    /// Every state_dict tensor, by official name.
    pub params: BTreeMap<String, T>,
    /// Gradients of trained parameters, by official name; "puzzle_emb.local" is the (batch, ndim) row gradient.
    pub grads: BTreeMap<String, T>,
    pub tokens: T,
    pub labels: T,
    pub ids: T,
    /// 1 for slots whose carry resets at the start of the step.
    pub reset: T,
    pub z_h: T,
    pub z_l: T,
    pub logits: T,
    pub q: T,
    pub stats: T,
    /// With `record`: the input embedding and each net call's output, in call order.
    pub recorded: Vec<T>,
    /// With `update`: this step's [lr, 1 − b1^t, 1 − b2^t, 0], written before each run.
    pub hyper: T,
    /// With `update`: Adam's (m, v) and the EMA of every trained parameter, by official name.
    pub moments: BTreeMap<String, (T, T)>,
    pub ema: BTreeMap<String, T>,
    /// With `update` over several ranks and puzzle embeddings: the global batch's row gradients and identifiers.
    pub all_puzzle_grad: T,
    pub all_ids: T,
}

/// One net call's saved activations, per layer.
#[derive(Clone, Debug, Default)]
struct Acts {
    layers: Vec<LayerActs>,
}

#[derive(Clone, Debug, Default)]
struct LayerActs {
    input: T,
    // token mixer: transposed input, gate/up, activation, normalised transposed output and its rstd
    mix_in: T,
    mix_h: T,
    mix_a: T,
    // attention: rotated qkv, attention output, log-sum-exp
    rot: T,
    att_o: T,
    lse: T,
    mix_out: T,
    rstd1: T,
    /// The block's middle state y (after the mixer), input of the MLP.
    mid: T,
    mlp_h: T,
    mlp_a: T,
    out: T,
    rstd2: T,
}

/// One net call of the graded pass: its input, its activations when kept, its output.
/// Which latent a net call of latent_recursion updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Latent {
    /// z_L = net(z_L + z_H + x)
    Low,
    /// z_H = net(z_H + z_L)
    High,
}

struct Call {
    update: Latent,
    input: T,
    acts: Option<Acts>,
    out: T,
}

struct Graded {
    calls: Vec<Call>,
    inj: T,
    /// The program index of the first graded call's first op.
    first_op: usize,
}

struct Builder<'a> {
    c: &'a ModelConfig,
    o: &'a StepOptions,
    p: Program,
    h: Handles,
    recompute: bool,
    calls: usize,
    /// Net calls differentiated so far, naming the gradients of each.
    backwards: usize,
}

impl Builder<'_> {
    fn d(&self) -> usize {
        self.c.hidden_size
    }
    fn s(&self) -> usize {
        self.c.seq()
    }
    fn rows(&self) -> usize {
        self.o.batch * self.s()
    }
    fn act(&mut self, name: &str, shape: &[usize]) -> T {
        let name = format!("c{}.{name}", self.calls);
        self.p.tensor(name, Role::Activation, shape)
    }
    fn grad_t(&mut self, name: &str, shape: &[usize]) -> T {
        let name = format!("b{}.d{name}", self.backwards);
        self.p.tensor(name, Role::Scratch, shape)
    }
    fn op(&mut self, op: Op) {
        self.p.push(op, self.recompute);
    }
    fn w(&self, name: &str) -> T {
        self.h.params[name]
    }
    fn gw(&self, name: &str) -> T {
        self.h.grads[name]
    }
    fn layer(&self, l: usize, what: &str) -> String {
        format!("inner.L_level.layers.{l}.{what}.weight")
    }

    /// Y = X · Wᵀ for X (rows, inp), W (out, inp).
    fn linear(&mut self, x: T, w: T, y: T, rows: usize, inp: usize, out: usize) {
        self.op(Op::Matmul { mm: Matmul::linear(rows, inp, out), a: x, b: w, c: y });
    }
    /// dX (+)= dY · W and dW += dYᵀ · X.
    fn linear_bwd(
        &mut self,
        x: T,
        w: T,
        dy: T,
        dx: T,
        dw: T,
        rows: usize,
        inp: usize,
        out: usize,
        accumulate_dx: bool,
    ) {
        let mm = Matmul { accumulate: accumulate_dx, ..Matmul::linear_dx(rows, inp, out) };
        self.op(Op::Matmul { mm, a: dy, b: w, c: dx });
        self.op(Op::Matmul { mm: Matmul::linear_dw(rows, inp, out), a: dy, b: x, c: dw });
    }

    /// SwiGLU MLP over the last axis with residual and post-norm: out = rms(x + down(silu(gate)·up)).
    /// Returns (h, a, out, rstd).
    fn mlp(&mut self, x: T, rows: usize, n: usize, gate_up: T, down: T, tag: &str, out: Option<T>) -> (T, T, T, T) {
        let inner = inner_width(n, self.c.expansion);
        let h = self.act(&format!("{tag}.h"), &[rows, 2 * inner]);
        let a = self.act(&format!("{tag}.a"), &[rows, inner]);
        let m = self.act(&format!("{tag}.m"), &[rows, n]);
        let out = out.unwrap_or_else(|| self.act(&format!("{tag}.out"), &[rows, n]));
        let rstd = self.act(&format!("{tag}.rstd"), &[rows]);
        self.linear(x, gate_up, h, rows, n, 2 * inner);
        self.op(Op::SwigluFwd { s: Swiglu { rows, inner }, h, a });
        self.linear(a, down, m, rows, inner, n);
        self.op(Op::NormFwd { n: Norm { rows, dim: n }, x, r: m, y: out, rstd });
        (h, a, out, rstd)
    }

    /// The backward of `mlp`: from d(out), returns d(x).
    #[allow(clippy::too_many_arguments)]
    fn mlp_bwd(
        &mut self,
        x: T,
        h: T,
        a: T,
        out: T,
        rstd: T,
        dout: T,
        rows: usize,
        n: usize,
        gate_up: &str,
        down: &str,
        tag: &str,
    ) -> T {
        let inner = inner_width(n, self.c.expansion);
        let ds = self.grad_t(&format!("{tag}.s"), &[rows, n]);
        let da = self.grad_t(&format!("{tag}.a"), &[rows, inner]);
        let dh = self.grad_t(&format!("{tag}.h"), &[rows, 2 * inner]);
        self.op(Op::NormBwd { n: Norm { rows, dim: n }, y: out, dy: dout, rstd, dsum: ds });
        let (wd, wgu) = (self.w(down), self.w(gate_up));
        let (gd, ggu) = (self.gw(down), self.gw(gate_up));
        self.linear_bwd(a, wd, ds, da, gd, rows, inner, n, false);
        self.op(Op::SwigluBwd { s: Swiglu { rows, inner }, h, da, dh });
        // d(x) = d(sum) through the residual + the MLP's input gradient, accumulated in place.
        self.linear_bwd(x, wgu, dh, ds, ggu, rows, n, 2 * inner, true);
        ds
    }

    /// One post-norm block on h (B, S', D).
    fn block(&mut self, l: usize, input: T, out: Option<T>) -> LayerActs {
        let (b, s, d, rows) = (self.o.batch, self.s(), self.d(), self.rows());
        let mut la = LayerActs { input, ..Default::default() };
        if self.c.mlp_t {
            // Token mixer over the sequence axis: transpose to (B, D, S'), MLP over S', transpose back.
            la.mix_in = self.act(&format!("l{l}.mix_in"), &[b, d, s]);
            self.op(Op::Transpose { x: input, out: la.mix_in, batch: b, rows: s, cols: d });
            let (gu, dn) = (self.w(&self.layer(l, "mlp_t.gate_up_proj")), self.w(&self.layer(l, "mlp_t.down_proj")));
            let (h, a, o, r) = self.mlp(la.mix_in, b * d, s, gu, dn, &format!("l{l}.mix"), None);
            (la.mix_h, la.mix_a, la.mix_out, la.rstd1) = (h, a, o, r);
            la.mid = self.act(&format!("l{l}.mid"), &[b, s, d]);
            self.op(Op::Transpose { x: la.mix_out, out: la.mid, batch: b, rows: d, cols: s });
        } else {
            let (hh, hd) = (self.c.num_heads, self.c.head_dim());
            la.mix_h = self.act(&format!("l{l}.qkv"), &[rows, 3 * d]);
            let wqkv = self.w(&self.layer(l, "self_attn.qkv_proj"));
            self.linear(input, wqkv, la.mix_h, rows, d, 3 * d);
            la.rot = if self.c.rope() {
                let rot = self.act(&format!("l{l}.rot"), &[rows, 3 * d]);
                let table = self.rope_table();
                self.op(Op::RopeFwd { r: Rope { rows, seq: s, heads: hh, hd }, x: la.mix_h, table, out: rot });
                rot
            } else {
                la.mix_h
            };
            la.att_o = self.act(&format!("l{l}.att_o"), &[rows, d]);
            la.lse = self.act(&format!("l{l}.lse"), &[b * hh * s]);
            self.op(Op::AttnFwd {
                a: Attention { batch: b, seq: s, heads: hh, hd },
                qkv: la.rot,
                o: la.att_o,
                lse: la.lse,
            });
            la.mix_a = self.act(&format!("l{l}.att_out"), &[rows, d]);
            let wo = self.w(&self.layer(l, "self_attn.o_proj"));
            self.linear(la.att_o, wo, la.mix_a, rows, d, d);
            la.mid = self.act(&format!("l{l}.mid"), &[rows, d]);
            la.rstd1 = self.act(&format!("l{l}.rstd1"), &[rows]);
            self.op(Op::NormFwd { n: Norm { rows, dim: d }, x: input, r: la.mix_a, y: la.mid, rstd: la.rstd1 });
        }
        let (gu, dn) = (self.w(&self.layer(l, "mlp.gate_up_proj")), self.w(&self.layer(l, "mlp.down_proj")));
        let (h, a, o, r) = self.mlp(la.mid, rows, d, gu, dn, &format!("l{l}.mlp"), out);
        (la.mlp_h, la.mlp_a, la.out, la.rstd2) = (h, a, o, r);
        la
    }

    /// The backward of `block`: from d(out), returns d(input).
    fn block_bwd(&mut self, l: usize, la: &LayerActs, dout: T) -> T {
        let (b, s, d, rows) = (self.o.batch, self.s(), self.d(), self.rows());
        let dmid = self.mlp_bwd(
            la.mid,
            la.mlp_h,
            la.mlp_a,
            la.out,
            la.rstd2,
            dout,
            rows,
            d,
            &self.layer(l, "mlp.gate_up_proj"),
            &self.layer(l, "mlp.down_proj"),
            &format!("l{l}.mlp"),
        );
        if self.c.mlp_t {
            let dmix = self.grad_t(&format!("l{l}.mix_out"), &[b, d, s]);
            self.op(Op::Transpose { x: dmid, out: dmix, batch: b, rows: s, cols: d });
            let dmix_in = self.mlp_bwd(
                la.mix_in,
                la.mix_h,
                la.mix_a,
                la.mix_out,
                la.rstd1,
                dmix,
                b * d,
                s,
                &self.layer(l, "mlp_t.gate_up_proj"),
                &self.layer(l, "mlp_t.down_proj"),
                &format!("l{l}.mix"),
            );
            let dinput = self.grad_t(&format!("l{l}.input"), &[b, s, d]);
            self.op(Op::Transpose { x: dmix_in, out: dinput, batch: b, rows: d, cols: s });
            dinput
        } else {
            let (hh, hd) = (self.c.num_heads, self.c.head_dim());
            let ds = self.grad_t(&format!("l{l}.s1"), &[rows, d]);
            self.op(Op::NormBwd { n: Norm { rows, dim: d }, y: la.mid, dy: dmid, rstd: la.rstd1, dsum: ds });
            let dao = self.grad_t(&format!("l{l}.att_o"), &[rows, d]);
            let (wo, gwo) = (self.w(&self.layer(l, "self_attn.o_proj")), self.gw(&self.layer(l, "self_attn.o_proj")));
            self.linear_bwd(la.att_o, wo, ds, dao, gwo, rows, d, d, false);
            let delta = self.grad_t(&format!("l{l}.delta"), &[b * hh * s]);
            let drot = self.grad_t(&format!("l{l}.rot"), &[rows, 3 * d]);
            let a = Attention { batch: b, seq: s, heads: hh, hd };
            self.op(Op::AttnBwd { a, qkv: la.rot, o: la.att_o, lse: la.lse, dout: dao, delta, dqkv: drot });
            let dqkv = if self.c.rope() {
                let dqkv = self.grad_t(&format!("l{l}.qkv"), &[rows, 3 * d]);
                let table = self.rope_table();
                self.op(Op::RopeBwd { r: Rope { rows, seq: s, heads: hh, hd }, dout: drot, table, dx: dqkv });
                dqkv
            } else {
                drot
            };
            let (wqkv, gqkv) =
                (self.w(&self.layer(l, "self_attn.qkv_proj")), self.gw(&self.layer(l, "self_attn.qkv_proj")));
            self.linear_bwd(la.input, wqkv, dqkv, ds, gqkv, rows, d, 3 * d, true);
            ds
        }
    }

    fn rope_table(&mut self) -> T {
        if let Some(t) = self.p.find("rope_table") {
            return t;
        }
        let (s, hd) = (self.s(), self.c.head_dim());
        let t = self.p.tensor("rope_table", Role::Input, &[2, s, hd / 2]);
        self.p.constants.insert(t, rope::table(s, hd, self.c.rope_theta));
        t
    }

    /// net(h, inj): the layers applied to `input` = h + inj. The last layer writes `out` when given.
    fn net(&mut self, input: T, out: Option<T>) -> (T, Acts) {
        let mut acts = Acts::default();
        let mut x = input;
        for l in 0..self.c.layers {
            let last = l + 1 == self.c.layers;
            let la = self.block(l, x, if last { out } else { None });
            x = la.out;
            acts.layers.push(la);
        }
        self.calls += 1;
        (x, acts)
    }

    /// The backward of one net call from its activations: from d(out), returns d(input).
    fn net_bwd(&mut self, acts: &Acts, dout: T) -> T {
        let mut d = dout;
        for l in (0..self.c.layers).rev() {
            d = self.block_bwd(l, &acts.layers[l], d);
        }
        self.backwards += 1;
        d
    }

    fn sum(&mut self, a: T, b: T, name: &str, role: Role) -> T {
        let shape = [self.o.batch, self.s(), self.d()];
        let t = self.p.tensor(format!("c{}.{name}", self.calls), role, &shape);
        self.op(Op::Add { x: a, y: b, out: t });
        t
    }

    fn record(&mut self, t: T) {
        if self.o.record {
            let shape = self.p.schedule.tensors[t].shape.clone();
            let r = self.p.tensor(format!("record{}", self.h.recorded.len()), Role::Output, &shape);
            self.op(Op::Copy { x: t, out: r });
            self.h.recorded.push(r);
        }
    }

    /// The calls of one latent_recursion, in order: n z_L updates, then the z_H update.
    fn updates(&self) -> impl Iterator<Item = Latent> {
        std::iter::repeat_n(Latent::Low, self.c.l_cycles).chain([Latent::High])
    }

    /// A net call's input: z_L + (z_H + x) for a z_L update, z_H + z_L for the z_H update. The recursion's wiring
    /// is written here alone, for the forward and the recompute alike.
    fn call_input(&mut self, update: Latent, z_h: T, z_l: T, inj: T, role: Role) -> T {
        match update {
            Latent::Low => self.sum(z_l, inj, "in", role),
            Latent::High => self.sum(z_h, z_l, "in", role),
        }
    }

    /// latent_recursion: z_L = net(z_L, z_H + x) n times, then z_H = net(z_H, z_L). Calls before `graded_from`
    /// run without gradient, in place on the carry; the others write fresh tensors for the backward, which keeps
    /// their inputs (Checkpoint) and activations as the checkpoint policy says. Returns the graded calls.
    fn latent_recursion(&mut self, x: T, graded_from: usize) -> Graded {
        let policy = self.o.checkpoint;
        let keep_acts = policy == Checkpoint::None && self.o.train;
        let kept = |c: usize| policy.segment().is_none_or(|k| c.is_multiple_of(k));
        let (z_h, z_l) = (self.h.z_h, self.h.z_l);
        let inj = self.sum(z_h, x, "inj", Role::Activation);
        let mut g = Graded { calls: Vec::new(), inj, first_op: usize::MAX };
        let mut zl = z_l;
        for (c, update) in self.updates().collect::<Vec<_>>().into_iter().enumerate() {
            if c < graded_from {
                let carry = if update == Latent::Low { z_l } else { z_h };
                let input = self.call_input(update, z_h, z_l, inj, Role::Activation);
                self.net(input, Some(carry));
                self.record(carry);
            } else {
                g.first_op = g.first_op.min(self.p.ops.len());
                let role = if kept(c - graded_from) { Role::Checkpoint } else { Role::Activation };
                let input = self.call_input(update, z_h, zl, inj, role);
                let (out, acts) = self.net(input, None);
                self.record(out);
                g.calls.push(Call { update, input, acts: keep_acts.then_some(acts), out });
                zl = out;
            }
        }
        g
    }

    /// The backward through the graded pass, from d(z_H). Segments of the checkpoint policy are recomputed from
    /// their first call's input (the carry z_H still holds the pass's input: the new carry is stored last).
    /// d(input) of a z_L update flows to x through the injection; the carries entering the pass are detached.
    fn latent_recursion_bwd(&mut self, g: &Graded, dzh: T, dx: T) {
        let n = g.calls.len();
        let seg = self.o.checkpoint.segment().unwrap_or(n);
        let mut dz = dzh;
        let mut end = n;
        while end > 0 {
            let start = (end - 1) / seg * seg;
            let acts: Vec<Acts> = if g.calls[start].acts.is_some() {
                (start..end).filter_map(|c| g.calls[c].acts.clone()).collect()
            } else {
                self.recompute = true;
                let mut u = g.calls[start].input;
                let mut acts = Vec::new();
                for c in start..end {
                    let (out, a) = self.net(u, None);
                    acts.push(a);
                    if c + 1 < end {
                        u = self.call_input(g.calls[c + 1].update, self.h.z_h, out, g.inj, Role::Activation);
                    }
                }
                self.recompute = false;
                acts
            };
            for c in (start..end).rev() {
                dz = self.net_bwd(&acts[c - start], dz);
                if c < n - 1 {
                    self.op(Op::Accumulate { x: dz, out: dx, s: 1.0 });
                }
            }
            end = start;
        }
    }

    /// The new carry, detached: the graded pass's last z_L and z_H. The recompute reads the carry as the graded
    /// pass's input, so nothing may write it from the first graded call until here, the end of the backward.
    fn store_carry(&mut self, g: &Graded) {
        let (z_l, z_h) = (self.h.z_l, self.h.z_h);
        let writes_carry = |op: &Op| op.io().2.iter().any(|&t| t == z_l || t == z_h);
        assert!(!self.p.ops[g.first_op..].iter().any(writes_carry), "the carry changes before the backward ends");
        let n = g.calls.len();
        self.op(Op::Detach { x: g.calls[n - 2].out, out: z_l });
        self.op(Op::Detach { x: g.calls[n - 1].out, out: z_h });
    }

    fn build(mut self) -> (Program, Handles) {
        let c = self.c;
        let (b, s, d, p, l, v) = (self.o.batch, c.seq(), c.hidden_size, c.prefix(), c.seq_len, c.vocab_size);
        // Parameters and their gradients / optimizer state live outside the step's schedule (persistent).
        for sp in specs(c) {
            let t = self.p.tensor(sp.name.clone(), Role::Parameter, &sp.shape);
            self.h.params.insert(sp.name.clone(), t);
            if self.o.train && sp.kind == Kind::Trained {
                let g = self.p.tensor(format!("grad.{}", sp.name), Role::Gradient, &sp.shape);
                self.h.grads.insert(sp.name.clone(), g);
            }
        }
        let dummy_puzzle = self
            .h
            .params
            .get("inner.puzzle_emb.weights")
            .copied()
            .unwrap_or_else(|| self.p.tensor("puzzle_emb.none", Role::Input, &[1]));
        self.h.tokens = self.p.int_tensor("tokens", Role::Input, &[b, l]);
        self.h.labels = self.p.int_tensor("labels", Role::Input, &[b, l]);
        self.h.ids = self.p.int_tensor("puzzle_identifiers", Role::Input, &[b]);
        self.h.reset = self.p.int_tensor("reset", Role::Input, &[b]);
        self.h.z_h = self.p.tensor("z_H", Role::Carry, &[b, s, d]);
        self.h.z_l = self.p.tensor("z_L", Role::Carry, &[b, s, d]);
        self.h.logits = self.p.tensor("logits", Role::Output, &[b, l, v]);
        self.h.q = self.p.tensor("q", Role::Output, &[b, 2]);
        self.h.stats = self.p.tensor("seq_stats", Role::Output, &[b, SEQ_STATS]);
        let train = self.o.train;
        if train {
            for &g in self.h.grads.clone().values() {
                self.op(Op::Fill { out: g, s: 0.0 });
            }
        }
        // Halted slots start from the fixed initial states.
        let (hi, li, reset) = (self.h.params["inner.H_init"], self.h.params["inner.L_init"], self.h.reset);
        self.op(Op::ResetCarry { init: hi, mask: reset, out: self.h.z_h, seq: s, cols: d });
        self.op(Op::ResetCarry { init: li, mask: reset, out: self.h.z_l, seq: s, cols: d });

        // x = scale · [puzzle prefix | embed_tokens[tokens]]
        let e =
            Embed { batch: b, len: l, prefix: p, dim: d, vocab: v, ndim: c.puzzle_emb_ndim, scale: (d as f32).sqrt() };
        let x = self.p.tensor("x", Role::Activation, &[b, s, d]);
        let (tokens, ids, table) = (self.h.tokens, self.h.ids, self.h.params["inner.embed_tokens.embedding_weight"]);
        self.op(Op::EmbedFwd { e, tokens, ids, table, puzzle: dummy_puzzle, x });
        self.record(x);

        // deep_recursion: T−1 passes without gradient, one with (under one-step gradient, through the last z_L
        // update and the z_H update only).
        for _ in 1..c.h_cycles {
            self.latent_recursion(x, usize::MAX);
        }
        let graded = self.latent_recursion(x, if self.o.one_step_grad { c.l_cycles - 1 } else { 0 });
        let zh = graded.calls.last().expect("the z_H update is graded").out;

        // Heads: logits = lm_head(z_H[:, P:]), (q_halt, q_continue) = q_head(z_H[:, 0]).
        let zs = self.p.tensor("heads.z_tokens", Role::Activation, &[b, l, d]);
        self.op(Op::SliceSeq { x: zh, out: zs, batch: b, seq: s, cols: d, s0: p, len: l });
        let w_lm = self.h.params["inner.lm_head.weight"];
        self.linear(zs, w_lm, self.h.logits, b * l, d, v);
        let zq = self.p.tensor("heads.z_first", Role::Activation, &[b, d]);
        self.op(Op::SliceSeq { x: zh, out: zq, batch: b, seq: s, cols: d, s0: 0, len: 1 });
        let (wq, bq) = (self.h.params["inner.q_head.weight"], self.h.params["inner.q_head.bias"]);
        self.linear(zq, wq, self.h.q, b, d, 2);
        self.op(Op::BiasAdd { bias: bq, out: self.h.q, cols: 2 });

        let loss = Loss { batch: b, len: l, vocab: v, kind: self.o.loss, grad_scale: self.o.grad_scale };
        let dlogits = self.p.tensor("heads.dlogits", Role::Scratch, &[b, l, v]);
        let tok = self.p.tensor("heads.token_stats", Role::Scratch, &[b, l, 2]);
        let dq = self.p.tensor("heads.dq", Role::Scratch, &[b, 2]);
        let (logits, labels, q, stats) = (self.h.logits, self.h.labels, self.h.q, self.h.stats);
        self.op(Op::Loss { l: loss, logits, labels, q, dlogits, tok, dq, stats });
        if !train {
            self.store_carry(&graded);
            return self.finish();
        }

        // Backward through the heads into d z_H.
        let dzh = self.p.tensor("heads.dz_H", Role::Scratch, &[b, s, d]);
        self.op(Op::Fill { out: dzh, s: 0.0 });
        let dzs = self.p.tensor("heads.dz_tokens", Role::Scratch, &[b, l, d]);
        let g_lm = self.h.grads["inner.lm_head.weight"];
        self.linear_bwd(zs, w_lm, dlogits, dzs, g_lm, b * l, d, v, false);
        self.op(Op::UnsliceSeq { x: dzs, out: dzh, batch: b, seq: s, cols: d, s0: p, len: l });
        let dzq = self.p.tensor("heads.dz_first", Role::Scratch, &[b, d]);
        let (g_wq, g_bq) = (self.h.grads["inner.q_head.weight"], self.h.grads["inner.q_head.bias"]);
        self.linear_bwd(zq, wq, dq, dzq, g_wq, b, d, 2, false);
        self.op(Op::ColSum { x: dq, out: g_bq, rows: b, cols: 2 });
        self.op(Op::UnsliceSeq { x: dzq, out: dzh, batch: b, seq: s, cols: d, s0: 0, len: 1 });

        // Backward through the graded pass: the z_H update, then the n z_L updates in reverse.
        // d(input) of a call flows to both of its summands; the carries entering the pass are detached.
        let dx = self.p.tensor("dx", Role::Scratch, &[b, s, d]);
        self.op(Op::Fill { out: dx, s: 0.0 });
        self.latent_recursion_bwd(&graded, dzh, dx);
        // The embedding: token table and the per-row puzzle-embedding gradient.
        let g_emb = self.h.grads["inner.embed_tokens.embedding_weight"];
        self.op(Op::EmbedBwdTable { e, tokens, dx, dtable: g_emb });
        if c.puzzle_emb_ndim > 0 {
            let g = self.p.tensor("grad.puzzle_emb.local", Role::Gradient, &[b, c.puzzle_emb_ndim]);
            self.h.grads.insert("puzzle_emb.local".into(), g);
            self.op(Op::EmbedBwdPuzzle { e, dx, dpuzzle: g });
        }
        self.store_carry(&graded);
        if let Some(u) = self.o.update {
            self.update(&u);
        }
        self.finish()
    }

    /// The built program, once no op after the stored carry uses it (the stored carry is the step's result).
    fn finish(self) -> (Program, Handles) {
        let (z_l, z_h) = (self.h.z_l, self.h.z_h);
        let stored = self.p.ops.iter().position(|op| matches!(op, Op::Detach { .. })).expect("the carry is stored");
        let uses_carry = |op: &Op| {
            let (_, reads, writes, _) = op.io();
            reads.iter().chain(&writes).any(|&t| t == z_l || t == z_h)
        };
        assert!(!self.p.ops[stored + 2..].iter().any(uses_carry), "an op uses the carry after it is stored");
        (self.p, self.h)
    }

    /// The optimizer step over the gradients just computed.
    fn update(&mut self, u: &Update) {
        self.p.update_from = Some(self.p.ops.len());
        let hyper = self.p.tensor("optim.hyper", Role::Input, &[4]);
        self.h.hyper = hyper;
        for sp in trained(self.c) {
            let (param, grad) = (self.w(&sp.name), self.gw(&sp.name));
            let m = self.p.tensor(format!("opt.m.{}", sp.name), Role::OptimizerState, &sp.shape);
            let v = self.p.tensor(format!("opt.v.{}", sp.name), Role::OptimizerState, &sp.shape);
            self.op(Op::Adam { a: u.adam, hyper, grad, param, m, v });
            self.h.moments.insert(sp.name.clone(), (m, v));
            if let Some(mu) = u.ema {
                let ema = self.p.tensor(format!("ema.{}", sp.name), Role::Ema, &sp.shape);
                self.op(Op::Ema { mu, param, ema });
                self.h.ema.insert(sp.name.clone(), ema);
            }
        }
        if let Some(&weights) = self.h.params.get("inner.puzzle_emb.weights") {
            let (batch, ndim) = (self.o.batch * u.ranks, self.c.puzzle_emb_ndim);
            let (grad, ids) = if u.ranks == 1 {
                (self.h.grads["puzzle_emb.local"], self.h.ids)
            } else {
                self.h.all_puzzle_grad = self.p.tensor("grad.puzzle_emb.all_ranks", Role::Input, &[batch, ndim]);
                self.h.all_ids = self.p.int_tensor("ids.all_ranks", Role::Input, &[batch]);
                (self.h.all_puzzle_grad, self.h.all_ids)
            };
            let s = SignSgd { batch, ndim, lr: u.puzzle_lr, wd: u.puzzle_wd };
            self.op(Op::SignSgd { s, grad, ids, weights });
        }
    }
}

/// Build one supervision step for `c` (see `StepOptions`).
pub fn build_step(c: &ModelConfig, o: &StepOptions) -> (Program, Handles) {
    Builder { c, o, p: Program::default(), h: Handles::default(), recompute: false, calls: 0, backwards: 0 }.build()
}

/// The trained parameters' specs (those with gradients), in official order.
pub fn trained(c: &ModelConfig) -> Vec<Spec> {
    specs(c).into_iter().filter(|s| s.kind == Kind::Trained).collect()
}
