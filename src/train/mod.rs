//! Deep-supervision training with the official carry semantics: a batch of slots, each with its (z_H, z_L)
//! carry, step count and sample; one supervision step and one optimizer step per iteration; halted slots take
//! the next sample with a fresh carry.

pub mod checkpoint;
pub mod fit;
pub mod ranks;

use crate::data::dataset::{Batch, Dataset};
use crate::model::infer::{argmax_tokens, halt_threshold, halts, plan_for};
use crate::model::params::specs;
use crate::model::trm::Update;
use crate::model::{build_step, Checkpoint, Config, Device, Exec, Handles, StepOptions, Weights};
use crate::ops::loss::LossStats;
use crate::plan;
use crate::rng::SplitMix64;
use anyhow::{ensure, Result};
use ranks::Ranks;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A batch position: its sample and how many supervision steps it has had.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Slot {
    pub sample: usize,
    pub steps: usize,
    pub halted: bool,
}

/// Where the data stream stands: the epoch's shuffled order and the next position in it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stream {
    pub order: Vec<usize>,
    pub cursor: usize,
    pub epoch: usize,
}

/// Everything besides tensors that a resume needs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    pub step: u64,
    /// The run's planned length, which the learning-rate schedule follows (0 in checkpoints older than it).
    #[serde(default)]
    pub planned_steps: u64,
    /// `Dataset::fingerprint` of the training data (0 before the first step, and in older checkpoints).
    #[serde(default)]
    pub data: u64,
    pub rng: SplitMix64,
    pub slots: Vec<Slot>,
    pub stream: Stream,
}

/// One optimizer step's metrics, averaged over the batch (accuracy over the slots that halted).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub lr: f32,
    pub loss: f64,
    pub lm_loss: f64,
    pub halt_loss: f64,
    pub token_accuracy: f64,
    /// Over the slots that halted this step; None when none did.
    pub exact_accuracy: Option<f64>,
    pub halted: usize,
    pub avg_steps: Option<f64>,
}

/// `num / den`, or None (printed '-', written null) where it is undefined.
fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// Training on any device: one program per iteration (the supervision step, then the optimizer step, EMA and
/// puzzle-embedding update), built once and replayed by the device's executor.
///
/// Over several ranks (`Trainer::sharded`) every rank keeps the whole batch's slots, carries its own shard of
/// them through the model, and between the supervision step and the optimizer step the ranks sum their
/// gradients and gather the halting logits, loss stats and puzzle-embedding rows, so every rank takes the same
/// step and makes the same halting decisions as one process with the whole batch would.
pub struct Trainer<'d> {
    pub cfg: Config,
    pub h: Handles,
    pub ex: Box<dyn Exec + 'd>,
    pub plan: plan::Plan,
    update: Update,
    pub state: TrainerState,
    /// The global batch (every rank's slots).
    pub batch: usize,
    ranks: Option<&'d dyn Ranks>,
    /// The program's first optimizer-step op.
    update_from: usize,
    /// Each program tensor's bytes.
    bytes: Vec<u64>,
}

impl<'d> Trainer<'d> {
    pub fn new(
        dev: &'d Device,
        cfg: Config,
        batch: usize,
        checkpoint: Checkpoint,
        weights: &Weights,
        seed: u64,
    ) -> Result<Self> {
        let o = StepOptions::trainer(&cfg.train, batch, checkpoint);
        Self::build(dev, cfg, batch, o, weights, seed, None)
    }

    /// This rank's part of a model trained by all of `ranks`: the global `batch` splits evenly over them, and
    /// every rank must be given the same config, weights and seed (checked, with the binary, before training).
    pub fn sharded(
        dev: &'d Device,
        cfg: Config,
        batch: usize,
        checkpoint: Checkpoint,
        weights: &Weights,
        seed: u64,
        ranks: &'d dyn Ranks,
    ) -> Result<Self> {
        let n = ranks.size();
        ensure!(
            batch > 0 && batch.is_multiple_of(n),
            "the global batch {batch} does not split evenly over {n} ranks: use a multiple of {n}"
        );
        let config = serde_json::to_string(&(&cfg, batch, format!("{checkpoint:?}"), seed))?;
        let words: Vec<u8> =
            weights.tensors.values().flat_map(|(_, d)| bytemuck::cast_slice::<f32, u8>(d)).copied().collect();
        ranks::check_agree(
            ranks,
            &[
                ("binary", ranks::binary_fingerprint()?),
                ("config, batch or seed", ranks::fingerprint(config.as_bytes())),
                ("initial weights", ranks::fingerprint(&words)),
            ],
        )?;
        let mut o = StepOptions::trainer(&cfg.train, batch / n, checkpoint);
        // Each rank's share of the global batch's mean gradient, so the ranks' sum is the mean.
        o.grad_scale = 1.0 / batch as f32;
        o.update.as_mut().expect("the trainer's program updates").ranks = n;
        Self::build(dev, cfg, batch, o, weights, seed, Some(ranks))
    }

    fn build(
        dev: &'d Device,
        cfg: Config,
        batch: usize,
        o: StepOptions,
        weights: &Weights,
        seed: u64,
        ranks: Option<&'d dyn Ranks>,
    ) -> Result<Self> {
        ensure!(batch > 0, "batch must be positive");
        let update = o.update.expect("the trainer's program updates");
        let (prog, h) = build_step(&cfg.model, &o);
        let update_from = prog.update_from.expect("the trainer's program updates");
        let bytes = prog.schedule.tensors.iter().map(|t| t.bytes).collect();
        let plan = dev.plan(&prog)?;
        let mut ex = dev.exec(&prog, &plan)?;
        ex.load_weights(&h, weights);
        for (name, &(m, v)) in &h.moments {
            let zeros = vec![0f32; weights.get(name).len()];
            ex.write(m, &zeros);
            ex.write(v, &zeros);
        }
        for (name, &e) in &h.ema {
            ex.write(e, weights.get(name));
        }
        let state = TrainerState {
            step: 0,
            planned_steps: 0,
            data: 0,
            rng: SplitMix64::new(seed),
            slots: vec![Slot { halted: true, ..Default::default() }; batch],
            stream: Stream::default(),
        };
        Ok(Trainer { cfg, h, ex, plan, update, state, batch, ranks, update_from, bytes })
    }

    /// This rank's slots of the global batch (all of them in a single process).
    fn shard(&self) -> Range<usize> {
        match self.ranks {
            None => 0..self.batch,
            Some(r) => {
                let local = self.batch / r.size();
                r.rank() * local..(r.rank() + 1) * local
            }
        }
    }

    /// Whether this rank writes the run's files: rank 0, or the only process.
    pub fn is_root(&self) -> bool {
        self.ranks.is_none_or(|r| r.rank() == 0)
    }

    /// Whether any rank says `flag` (every rank gets the same answer, so they stop together).
    pub fn any_rank(&self, flag: bool) -> bool {
        match self.ranks {
            None => flag,
            Some(r) => r.all_gather(&[flag as u32]).iter().any(|&f| f != 0),
        }
    }

    /// Refuse to go on when the ranks hold different `what` (as the training data's fingerprint).
    pub fn check_ranks_agree(&self, what: &str, value: u64) -> Result<()> {
        match self.ranks {
            None => Ok(()),
            Some(r) => ranks::check_agree(r, &[(what, value)]),
        }
    }

    /// The bytes each rank sends per step to sum gradients and gather the rest (0 in a single process).
    pub fn bytes_exchanged_per_step(&self) -> u64 {
        let Some(r) = self.ranks else { return 0 };
        let n = r.size() as u64;
        let dense: u64 = self.dense_grads().iter().map(|&(_, t)| self.plan_bytes(t)).sum();
        let gathered: u64 = self.gathered().iter().map(|&t| self.plan_bytes(t)).sum();
        // Reduce-scatter and all-gather each move (n − 1)/n of the gradients; each rank's gathered part goes to
        // the n − 1 others.
        2 * dense * (n - 1) / n + gathered * (n - 1)
    }

    fn plan_bytes(&self, t: plan::TensorId) -> u64 {
        self.bytes[t]
    }

    /// The gradients Adam reads, by name.
    fn dense_grads(&self) -> Vec<(&str, plan::TensorId)> {
        self.h.grads.iter().filter(|(n, _)| *n != "puzzle_emb.local").map(|(n, &t)| (n.as_str(), t)).collect()
    }

    /// What each rank contributes its rows of: the halting logits, the loss stats, the puzzle-embedding rows.
    fn gathered(&self) -> Vec<plan::TensorId> {
        let mut ts = vec![self.h.q, self.h.stats];
        ts.extend(self.h.grads.get("puzzle_emb.local"));
        ts
    }

    /// The program over the ranks: the supervision step, the gradients summed and the rows gathered, then the
    /// optimizer step. Returns the whole batch's halting logits and loss stats.
    fn run_across(&mut self, r: &dyn Ranks, all_ids: &[i32]) -> [Vec<f32>; 2] {
        self.ex.run_ops(0..self.update_from);
        let dense = self.dense_grads().into_iter().map(|(_, t)| t).collect::<Vec<_>>();
        let gathered = self.gathered();
        let got = self.ex.read_many(&[dense.clone(), gathered.clone()].concat());
        let summed = r.sum(&got[..dense.len()].concat());
        let mut at = 0;
        for (&t, g) in dense.iter().zip(&got) {
            self.ex.write(t, &summed[at..at + g.len()]);
            at += g.len();
        }
        // One gather for the rows: each rank's [q | stats | puzzle rows], split back into whole-batch tensors.
        let local: Vec<f32> = got[dense.len()..].concat();
        let all: Vec<f32> = bytemuck::cast_vec(r.all_gather(bytemuck::cast_slice(&local)));
        let mut whole = vec![Vec::new(); gathered.len()];
        for part in all.chunks_exact(local.len()) {
            let mut at = 0;
            for (w, g) in whole.iter_mut().zip(&got[dense.len()..]) {
                w.extend_from_slice(&part[at..at + g.len()]);
                at += g.len();
            }
        }
        if let Some(puzzle) = whole.get(2) {
            self.ex.write(self.h.all_puzzle_grad, puzzle);
            self.ex.write_i32(self.h.all_ids, all_ids);
        }
        self.ex.run_ops(self.update_from..self.ex.ops());
        [std::mem::take(&mut whole[0]), std::mem::take(&mut whole[1])]
    }

    /// Learning rate at optimizer step `step` (0-based): linear warmup, then cosine towards lr · lr_min_ratio.
    pub fn lr(&self, step: u64, total: u64) -> f32 {
        let t = &self.cfg.train;
        if step < t.lr_warmup_steps {
            return t.lr * step as f32 / t.lr_warmup_steps as f32;
        }
        let progress = (step - t.lr_warmup_steps) as f64 / (total.saturating_sub(t.lr_warmup_steps)).max(1) as f64;
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
        (t.lr as f64 * (t.lr_min_ratio as f64 + (1.0 - t.lr_min_ratio as f64) * cos)) as f32
    }

    fn next_sample(&mut self, n: usize) -> usize {
        let s = &mut self.state.stream;
        if s.cursor >= s.order.len() {
            s.order = (0..n).collect();
            self.state.rng.shuffle(&mut s.order);
            s.cursor = 0;
            s.epoch += 1;
        }
        s.cursor += 1;
        s.order[s.cursor - 1]
    }

    /// One supervision step for every slot, then one optimizer step.
    pub fn step(&mut self, data: &Dataset, total_steps: u64) -> Result<StepMetrics> {
        let (b, l) = (self.batch, data.seq_len);
        ensure!(
            l == self.cfg.model.seq_len,
            "data sequence length {l} differs from the model's {}",
            self.cfg.model.seq_len
        );
        let mut reset = vec![0i32; b];
        for i in 0..b {
            if self.state.slots[i].halted {
                let sample = self.next_sample(data.len());
                self.state.slots[i] = Slot { sample, steps: 0, halted: false };
                reset[i] = 1;
            }
        }
        let all = data.batch(self.state.slots.iter().map(|s| s.sample));
        let rows = self.shard();
        let mine = Batch {
            tokens: all.tokens[rows.start * l..rows.end * l].to_vec(),
            labels: all.labels[rows.start * l..rows.end * l].to_vec(),
            ids: all.ids[rows.clone()].to_vec(),
        };
        write_batch(self.ex.as_mut(), &self.h, &mine);
        self.ex.write_i32(self.h.reset, &reset[rows]);
        // The supervision step, then the optimizer, EMA and puzzle embeddings, in one run on the device.
        self.state.planned_steps = total_steps;
        let lr = self.lr(self.state.step, total_steps);
        self.ex.write(self.h.hyper, &self.update.adam.hyper(lr, self.state.step + 1));
        let [q, rows] = match self.ranks {
            None => {
                self.ex.run();
                self.ex.read_many(&[self.h.q, self.h.stats]).try_into().expect("two reads")
            }
            Some(r) => self.run_across(r, &all.ids),
        };
        let t = &self.cfg.train;

        // Halting: q_halt > log(τ/(1−τ)), or N_sup steps; exploration enforces a minimum step count.
        let m = &self.cfg.model;
        let mut halted_mask = vec![false; b];
        for (i, s) in self.state.slots.iter_mut().enumerate() {
            s.steps += 1;
            let explore = self.state.rng.f64() < m.halt_exploration_prob;
            // Drawn from [2, N_sup]; with N_sup < 2 there is nothing to explore.
            let min_steps =
                if explore && m.halt_max_steps >= 2 { 2 + self.state.rng.below(m.halt_max_steps - 1) } else { 0 };
            s.halted = halts(s.steps, q[2 * i], m.halt_max_steps, t.halt_tau, min_steps);
            halted_mask[i] = s.halted;
        }
        let all = LossStats::from_rows(&rows, None);
        let done = LossStats::from_rows(&rows, Some(&halted_mask));
        let halted = halted_mask.iter().filter(|&&h| h).count();
        let steps_sum: usize = self.state.slots.iter().filter(|s| s.halted).map(|s| s.steps).sum();
        self.state.step += 1;
        Ok(StepMetrics {
            step: self.state.step,
            lr,
            loss: all.total() / b as f64,
            lm_loss: all.lm_loss / b as f64,
            halt_loss: all.halt_loss / b as f64,
            token_accuracy: all.tok_correct / all.tok_valid.max(1.0),
            exact_accuracy: ratio(done.seq_correct, halted as f64),
            halted,
            avg_steps: ratio(steps_sum as f64, halted as f64),
        })
    }

    /// The weights evaluation uses: the EMA where enabled, else the raw parameters; buffers as they are.
    pub fn eval_weights(&mut self) -> Weights {
        let mut w = self.raw_weights();
        for (name, &e) in &self.h.ema {
            w.tensors.get_mut(name).unwrap().1 = self.ex.read(e);
        }
        w
    }

    pub fn raw_weights(&mut self) -> Weights {
        let mut tensors = std::collections::BTreeMap::new();
        for s in specs(&self.cfg.model) {
            let data = self.ex.read(self.h.params[&s.name]);
            tensors.insert(s.name.clone(), (s.shape.clone(), data));
        }
        Weights { tensors }
    }

    /// Host copies of the optimizer state, EMA and carries, by name (for checkpoints).
    pub fn state_tensors(&mut self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (name, &(m, v)) in &self.h.moments {
            out.push((format!("opt.m.{name}"), self.ex.read(m)));
            out.push((format!("opt.v.{name}"), self.ex.read(v)));
            // Without the EMA, its slot holds the weights (so a checkpoint's layout does not depend on it).
            let e = self.h.ema.get(name).copied().unwrap_or(self.h.params[name]);
            out.push((format!("ema.{name}"), self.ex.read(e)));
        }
        // Over several ranks, the whole batch's carries in slot order: the layout of one process's checkpoint.
        for (name, t) in [("carry.z_H", self.h.z_h), ("carry.z_L", self.h.z_l)] {
            let local = self.ex.read(t);
            let carry = match self.ranks {
                None => local,
                Some(r) => bytemuck::cast_vec(r.all_gather(bytemuck::cast_slice(&local))),
            };
            out.push((name.into(), carry));
        }
        out
    }

    /// Restore what `state_tensors` saved.
    pub fn restore_tensors(&mut self, get: &dyn Fn(&str) -> Result<Vec<f32>>) -> Result<()> {
        for (name, &(m, v)) in &self.h.moments {
            self.ex.write(m, &get(&format!("opt.m.{name}"))?);
            self.ex.write(v, &get(&format!("opt.v.{name}"))?);
            if let Some(&e) = self.h.ema.get(name) {
                self.ex.write(e, &get(&format!("ema.{name}"))?);
            }
        }
        let rows = self.shard();
        for (name, t) in [("carry.z_H", self.h.z_h), ("carry.z_L", self.h.z_l)] {
            let carry = get(name)?;
            let per_slot = self.plan_bytes(t) as usize / 4 / rows.len();
            ensure!(
                carry.len() == per_slot * self.batch,
                "the checkpoint's {name} holds {} values, not {} for batch {}",
                carry.len(),
                per_slot * self.batch,
                self.batch
            );
            self.ex.write(t, &carry[rows.start * per_slot..rows.end * per_slot]);
        }
        Ok(())
    }
}

/// Per supervision step of an evaluation: exact and token accuracy, halting precision and recall.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EvalStep {
    pub step: usize,
    pub exact_accuracy: f64,
    pub token_accuracy: f64,
    /// Of the samples that would halt, the fraction exactly right; None when none would.
    pub halt_precision: Option<f64>,
    /// Of the samples exactly right, the fraction that would halt; None when none is right.
    pub halt_recall: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EvalReport {
    pub examples: usize,
    pub steps: Vec<EvalStep>,
    /// With halting at τ: exact accuracy of the answer given when each sample halts, and the mean steps used.
    pub halted_exact_accuracy: f64,
    pub avg_halt_steps: f64,
}

/// Evaluate `w` on up to `limit` examples of `data`: all N_sup steps, no early halt (as the official
/// evaluation), plus the halting view at τ.
pub fn evaluate(
    dev: &Device,
    cfg: &Config,
    w: &Weights,
    data: &Dataset,
    batch: usize,
    limit: usize,
    tau: f64,
) -> Result<EvalReport> {
    let n = data.len().min(limit);
    ensure!(n > 0, "no examples to evaluate");
    ensure!(
        data.seq_len == cfg.model.seq_len,
        "data sequence length {} differs from the model's {}",
        data.seq_len,
        cfg.model.seq_len
    );
    ensure!(
        data.vocab_size <= cfg.model.vocab_size,
        "data vocabulary {} exceeds the model's {}",
        data.vocab_size,
        cfg.model.vocab_size
    );
    let batch = batch.min(n);
    let (prog, h, plan) = plan_for(cfg, batch, dev.max_binding())?;
    let mut ex = dev.exec(&prog, &plan)?;
    ex.load_weights(&h, w);
    let nsup = cfg.model.halt_max_steps;
    let threshold = halt_threshold(tau);
    let mut acc = vec![[0f64; 6]; nsup]; // exact, tok correct, tok valid, true pos, predicted pos, actual pos
    let (mut halted_correct, mut halt_steps) = (0f64, 0f64);
    for start in (0..n).step_by(batch) {
        let real = (n - start).min(batch);
        write_batch(ex.as_mut(), &h, &data.batch(padded_rows(start, batch, n)));
        let mut halted_at = vec![None; batch];
        for k in 0..nsup {
            ex.write_i32(h.reset, &vec![(k == 0) as i32; batch]);
            ex.run();
            let [q, st]: [Vec<f32>; 2] = ex.read_many(&[h.q, h.stats]).try_into().expect("two reads");
            for i in 0..real {
                let stats = LossStats::row(&st, i);
                let correct = stats.exact();
                let halt = (q[2 * i] as f64) > threshold;
                let a = &mut acc[k];
                a[0] += correct as u8 as f64;
                a[1] += stats.tok_correct;
                a[2] += stats.tok_valid;
                a[3] += (halt && correct) as u8 as f64;
                a[4] += halt as u8 as f64;
                a[5] += correct as u8 as f64;
                if halted_at[i].is_none() && (halt || k + 1 == nsup) {
                    halted_at[i] = Some((k + 1, correct));
                }
            }
        }
        for h in halted_at.iter().take(real).flatten() {
            halt_steps += h.0 as f64;
            halted_correct += h.1 as u8 as f64;
        }
    }
    let steps = acc
        .iter()
        .enumerate()
        .map(|(k, a)| EvalStep {
            step: k + 1,
            exact_accuracy: a[0] / n as f64,
            token_accuracy: a[1] / a[2].max(1.0),
            halt_precision: ratio(a[3], a[4]),
            halt_recall: ratio(a[3], a[5]),
        })
        .collect();
    Ok(EvalReport {
        examples: n,
        steps,
        halted_exact_accuracy: halted_correct / n as f64,
        avg_halt_steps: halt_steps / n as f64,
    })
}

/// Rows `start..start + batch` of an `n`-row set, the last row repeated past the end (a full batch every time).
fn padded_rows(start: usize, batch: usize, n: usize) -> impl Iterator<Item = usize> {
    (start..start + batch).map(move |r| r.min(n - 1))
}

/// Write a batch's tokens, labels and puzzle identifiers to the program's inputs.
fn write_batch(ex: &mut dyn Exec, h: &Handles, b: &Batch) {
    ex.write_i32(h.tokens, &b.tokens);
    ex.write_i32(h.labels, &b.labels);
    ex.write_i32(h.ids, &b.ids);
}

/// Every example's answer after all N_sup supervision steps (no early halt): argmax tokens and q_halt.
pub fn predict(dev: &Device, cfg: &Config, w: &Weights, data: &Dataset, batch: usize) -> Result<Vec<(Vec<u8>, f32)>> {
    let n = data.len();
    ensure!(n > 0, "no examples to predict");
    ensure!(
        data.seq_len == cfg.model.seq_len,
        "data sequence length {} differs from the model's {}",
        data.seq_len,
        cfg.model.seq_len
    );
    let batch = batch.min(n);
    let (prog, h, plan) = plan_for(cfg, batch, dev.max_binding())?;
    let mut ex = dev.exec(&prog, &plan)?;
    ex.load_weights(&h, w);
    let (l, v) = (data.seq_len, cfg.model.vocab_size);
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(batch) {
        // The labels only feed the loss, which prediction does not read.
        write_batch(ex.as_mut(), &h, &data.batch(padded_rows(start, batch, n)));
        for k in 0..cfg.model.halt_max_steps {
            ex.write_i32(h.reset, &vec![(k == 0) as i32; batch]);
            ex.run();
        }
        let [logits, q]: [Vec<f32>; 2] = ex.read_many(&[h.logits, h.q]).try_into().expect("two reads");
        for i in 0..(n - start).min(batch) {
            out.push((argmax_tokens(&logits[i * l * v..(i + 1) * l * v], l), q[2 * i]));
        }
    }
    Ok(out)
}
