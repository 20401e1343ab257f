//! Deep-supervision training with the official carry semantics: a batch of slots, each with its (z_H, z_L)
//! carry, step count and sample; one supervision step and one optimizer step per iteration; halted slots take
//! the next sample with a fresh carry.

pub mod checkpoint;
pub mod fit;

use crate::data::dataset::{Batch, Dataset};
use crate::model::infer::{argmax_tokens, halt_threshold, halts, plan_for};
use crate::model::params::specs;
use crate::model::trm::Update;
use crate::model::{build_step, Checkpoint, Config, Device, Exec, Handles, StepOptions, Weights};
use crate::ops::loss::LossStats;
use crate::plan;
use crate::rng::SplitMix64;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

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
pub struct Trainer<'d> {
    pub cfg: Config,
    pub h: Handles,
    pub ex: Box<dyn Exec + 'd>,
    pub plan: plan::Plan,
    update: Update,
    pub state: TrainerState,
    pub batch: usize,
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
        ensure!(batch > 0, "batch must be positive");
        let o = StepOptions::trainer(&cfg.train, batch, checkpoint);
        let update = o.update.expect("the trainer's program updates");
        let (prog, h) = build_step(&cfg.model, &o);
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
        Ok(Trainer { cfg, h, ex, plan, update, state, batch })
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
        write_batch(self.ex.as_mut(), &self.h, &data.batch(self.state.slots.iter().map(|s| s.sample)));
        self.ex.write_i32(self.h.reset, &reset);
        // The supervision step, then the optimizer, EMA and puzzle embeddings, in one run on the device.
        self.state.planned_steps = total_steps;
        let lr = self.lr(self.state.step, total_steps);
        self.ex.write(self.h.hyper, &self.update.adam.hyper(lr, self.state.step + 1));
        self.ex.run();
        let t = &self.cfg.train;

        // Halting: q_halt > log(τ/(1−τ)), or N_sup steps; exploration enforces a minimum step count.
        let [q, rows]: [Vec<f32>; 2] = self.ex.read_many(&[self.h.q, self.h.stats]).try_into().expect("two reads");
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
        out.push(("carry.z_H".into(), self.ex.read(self.h.z_h)));
        out.push(("carry.z_L".into(), self.ex.read(self.h.z_l)));
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
        let (zh, zl) = (get("carry.z_H")?, get("carry.z_L")?);
        self.ex.write(self.h.z_h, &zh);
        self.ex.write(self.h.z_l, &zl);
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
