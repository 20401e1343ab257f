//! Solving one puzzle step by step with a trained model, on any executor: the inference program, the answer
//! after each supervision step, and the halting rule.

use super::exec::Exec;
use super::trm::{build_step, Checkpoint, Handles, StepOptions};
use super::{Config, Weights};
use crate::plan::{self, Plan};
use anyhow::{ensure, Result};

/// The inference program (forward and halting only) for `batch` puzzles, and its handles.
pub fn program(cfg: &Config, batch: usize) -> (crate::model::Program, Handles) {
    let o = StepOptions {
        batch,
        train: false,
        checkpoint: Checkpoint::PerCall,
        loss: cfg.train.loss,
        grad_scale: 1.0,
        record: false,
        one_step_grad: false,
        update: None,
    };
    build_step(&cfg.model, &o)
}

/// Its memory plan, from the same planner as training.
pub fn plan_for(cfg: &Config, batch: usize, max_binding: u64) -> Result<(crate::model::Program, Handles, Plan)> {
    let (prog, h) = program(cfg, batch);
    let p = plan::plan(&prog.schedule, max_binding)?;
    Ok((prog, h, p))
}

/// A model working on one puzzle, one supervision step at a time.
pub struct Solver<E: Exec> {
    pub ex: E,
    pub h: Handles,
    seq_len: usize,
    /// Supervision steps run on the current puzzle.
    pub steps: usize,
}

impl<E: Exec> Solver<E> {
    pub fn new(mut ex: E, h: Handles, cfg: &Config, w: &Weights) -> Self {
        ex.load_weights(&h, w);
        Solver { ex, h, seq_len: cfg.model.seq_len, steps: 0 }
    }

    /// Start on a puzzle given as model tokens, with its puzzle identifier (0 is the blank one).
    pub fn start(&mut self, tokens: &[u8], puzzle_id: u32) -> Result<()> {
        ensure!(
            tokens.len() == self.seq_len,
            "the puzzle has {} tokens but this model reads {}",
            tokens.len(),
            self.seq_len
        );
        let tokens: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        self.ex.write_i32(self.h.tokens, &tokens);
        self.ex.write_i32(self.h.labels, &vec![0; tokens.len()]);
        self.ex.write_i32(self.h.ids, &[puzzle_id as i32]);
        self.steps = 0;
        Ok(())
    }

    /// Launch one supervision step; its answer is then in `h.logits` and `h.q`.
    pub fn launch(&mut self) {
        self.ex.write_i32(self.h.reset, &[(self.steps == 0) as i32]);
        self.ex.run();
        self.steps += 1;
    }

    /// Run one supervision step and read back its logits (seq_len × vocab) and q_halt (blocking).
    pub fn step(&mut self) -> (Vec<f32>, f32) {
        self.launch();
        let [logits, q]: [Vec<f32>; 2] = self.ex.read_many(&[self.h.logits, self.h.q]).try_into().expect("two reads");
        (logits, q[0])
    }
}

/// The most likely token of every cell (first one on ties).
pub fn argmax_tokens(logits: &[f32], seq_len: usize) -> Vec<u8> {
    logits
        .chunks(logits.len() / seq_len)
        .map(|x| (1..x.len()).fold(0, |b, j| if x[j] > x[b] { j } else { b }) as u8)
        .collect()
}

/// The model's confidence that it is done: sigmoid(q_halt).
pub fn confidence(q_halt: f32) -> f32 {
    1.0 / (1.0 + (-q_halt).exp())
}

/// The logit threshold for halting confidence τ: halt when q_halt > log(τ/(1−τ)).
pub fn halt_threshold(tau: f64) -> f64 {
    (tau / (1.0 - tau)).ln()
}

/// The official halting rule for a slot after `steps` supervision steps: N_sup reached, or q_halt above
/// log(τ / (1 − τ)) once at least `min_steps` (exploration) have run.
pub fn halts(steps: usize, q_halt: f32, max_steps: usize, tau: f64, min_steps: usize) -> bool {
    steps >= max_steps || ((q_halt as f64) > halt_threshold(tau) && steps >= min_steps)
}
