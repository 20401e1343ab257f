//! The training loop as library code: optimizer steps up to a total, held-out evaluation and checkpoints on a
//! schedule, and hooks for logging, saving and stopping. `trm-gpu train` and `trm-gpu ablate` both run it.

use super::{evaluate, EvalReport, StepMetrics, Trainer};
use crate::data::dataset::Dataset;
use crate::model::Device;
use anyhow::{ensure, Result};

/// Examples per evaluation batch.
const EVAL_BATCH: usize = 64;

/// Held-out evaluation during training: up to `limit` examples of `data` with the evaluation weights (the EMA
/// where enabled), every `every` steps (0: only at the end) and after the last step.
pub struct HeldOut<'a> {
    pub data: &'a Dataset,
    pub limit: usize,
    pub every: u64,
}

/// What a run does, and when.
pub struct Schedule<'a> {
    /// Train until the trainer reaches this step (also the length of the learning-rate schedule).
    pub steps: u64,
    pub held_out: Option<HeldOut<'a>>,
    /// Call `Hooks::checkpoint` every N steps (0: only at the end and when stopped).
    pub checkpoint_every: u64,
}

/// What a caller sees of a run. Every method has a do-nothing default.
pub trait Hooks {
    /// After every step, with the held-out report when one ran at this step.
    fn step(&mut self, _metrics: &StepMetrics, _held_out: Option<&EvalReport>) -> Result<()> {
        Ok(())
    }
    /// Save the trainer: on the schedule, after the last step (before its evaluation) and before stopping early.
    fn checkpoint(&mut self, _trainer: &mut Trainer) -> Result<()> {
        Ok(())
    }
    /// Asked after every step: stop now (a checkpoint is saved first).
    fn stop(&mut self) -> bool {
        false
    }
}

/// Hooks that do nothing: train to the end and keep nothing but the trainer.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// How a run ended.
#[derive(Debug)]
pub struct Fitted {
    /// `Hooks::stop` ended it before the last step.
    pub stopped: bool,
    /// The last held-out report.
    pub held_out: Option<EvalReport>,
}

fn due(step: u64, every: u64) -> bool {
    every > 0 && step.is_multiple_of(every)
}

/// Train `trainer` on `train` from its current step to `schedule.steps`.
pub fn fit(
    dev: &Device,
    trainer: &mut Trainer,
    train: &Dataset,
    schedule: &Schedule,
    hooks: &mut dyn Hooks,
) -> Result<Fitted> {
    ensure!(!train.is_empty(), "the training data is empty");
    let fingerprint = train.fingerprint();
    let seen = trainer.state.data;
    ensure!(seen == 0 || seen == fingerprint, "the trainer was trained on other data: resume with the same --data");
    trainer.state.data = fingerprint;
    trainer.check_ranks_agree("training data", fingerprint)?;
    if let Some(h) = &schedule.held_out {
        ensure!(
            !h.data.is_empty() && h.limit > 0,
            "the held-out evaluation has no examples (empty test split or limit 0)"
        );
    }
    let mut last = None;
    while trainer.state.step < schedule.steps {
        let m = trainer.step(train, schedule.steps)?;
        // No checkpoint after a diverged step: the last one saved holds finite weights.
        ensure!(
            m.loss.is_finite(),
            "training diverged: the loss is {} at step {}; the last checkpoint saved before it is kept",
            m.loss,
            m.step
        );
        let end = m.step == schedule.steps;
        if end {
            // The trained weights are safe before the final evaluation runs.
            hooks.checkpoint(trainer)?;
        }
        let report = match &schedule.held_out {
            // Rank 0 evaluates (the weights are the same on every rank).
            Some(h) if (end || due(m.step, h.every)) && trainer.is_root() => {
                let w = trainer.eval_weights();
                let tau = trainer.cfg.train.halt_tau;
                Some(evaluate(dev, &trainer.cfg, &w, h.data, EVAL_BATCH, h.limit, tau)?)
            }
            _ => None,
        };
        hooks.step(&m, report.as_ref())?;
        if report.is_some() {
            last = report;
        }
        let stop = trainer.any_rank(hooks.stop());
        if !end && (stop || due(m.step, schedule.checkpoint_every)) {
            hooks.checkpoint(trainer)?;
        }
        if stop && !end {
            return Ok(Fitted { stopped: true, held_out: last });
        }
    }
    Ok(Fitted { stopped: false, held_out: last })
}
