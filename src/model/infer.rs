//! Solving one Sudoku step by step with a trained model, on any executor (GPU, or the CPU twins where there is
//! none): the grid after each supervision step, sigmoid(q_halt), and an honest verdict.

use super::exec::Exec;
use super::trm::{build_step, Checkpoint, Handles, StepOptions};
use super::{Config, Weights};
use crate::data::sudoku;
use crate::plan::{self, Plan};
use anyhow::{ensure, Result};

/// The model's answer after one supervision step.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepView {
    pub step: usize,
    /// Predicted digits (0 where the model predicts no digit).
    pub grid: Vec<u8>,
    pub q_halt: f32,
    /// sigmoid(q_halt): the model's confidence that it is done.
    pub confidence: f32,
    /// Cells that clash in a row, column or box.
    pub conflicts: Vec<usize>,
    /// Givens the model changed.
    pub changed_givens: Vec<usize>,
    /// Complete, rule-abiding and faithful to the givens.
    pub solved: bool,
}

/// The inference program (batch 1, forward and halting only) and its handles.
pub fn program(cfg: &Config) -> (crate::model::Program, Handles) {
    let o = StepOptions { batch: 1, train: false, checkpoint: Checkpoint::PerCall, loss: cfg.train.loss, grad_scale: 1.0, record: false, one_step_grad: false };
    build_step(&cfg.model, &o)
}

/// Its memory plan, from the same planner as training.
pub fn plan_for(cfg: &Config, max_binding: u64) -> Result<(crate::model::Program, Handles, Plan)> {
    let (prog, h) = program(cfg);
    let p = plan::plan(&prog.schedule, max_binding)?;
    Ok((prog, h, p))
}

pub struct Solver<E: Exec> {
    pub ex: E,
    pub h: Handles,
    pub puzzle: Vec<u8>,
    step: usize,
}

impl<E: Exec> Solver<E> {
    pub fn new(mut ex: E, h: Handles, w: &Weights) -> Self {
        ex.load_weights(&h, w);
        Solver { ex, h, puzzle: Vec::new(), step: 0 }
    }

    /// Start on a puzzle (digits, 0 for blank) whose size matches the model.
    pub fn start(&mut self, cfg: &Config, puzzle: &[u8]) -> Result<()> {
        ensure!(
            puzzle.len() == cfg.model.seq_len,
            "the puzzle has {} cells but this model reads {} (a {}x{} Sudoku)",
            puzzle.len(),
            cfg.model.seq_len,
            (cfg.model.seq_len as f64).sqrt(),
            (cfg.model.seq_len as f64).sqrt()
        );
        let tokens: Vec<i32> = sudoku::to_tokens(puzzle).iter().map(|&t| t as i32).collect();
        self.ex.write_i32(self.h.tokens, &tokens);
        self.ex.write_i32(self.h.labels, &vec![0; tokens.len()]);
        self.ex.write_i32(self.h.ids, &[0]);
        self.puzzle = puzzle.to_vec();
        self.step = 0;
        Ok(())
    }

    /// Launch one supervision step; its answer is then in `h.logits` and `h.q` (see [`Solver::answer`]).
    pub fn launch(&mut self) {
        self.ex.write_i32(self.h.reset, &[(self.step == 0) as i32]);
        self.ex.run();
        self.step += 1;
    }

    /// The step's answer from the logits and q it wrote (read back by the caller, blocking or not).
    pub fn answer(&self, logits: &[f32], q: &[f32]) -> StepView {
        view(self.step, &self.puzzle, logits, q[0])
    }

    /// Run one supervision step and read the answer (blocking readback).
    pub fn step(&mut self) -> StepView {
        self.launch();
        let logits = self.ex.read(self.h.logits);
        let q = self.ex.read(self.h.q);
        self.answer(&logits, &q)
    }
}

/// Read a pasted puzzle for this model: 81 or 16 cells ('.' or '0' blank, separators allowed), the size the
/// model was trained on, and givens that do not already clash.
pub fn parse_puzzle(text: &str, cfg: &Config) -> Result<Vec<u8>> {
    let puzzle = sudoku::parse_grid(text)?;
    let n = (cfg.model.seq_len as f64).sqrt() as usize;
    ensure!(
        puzzle.len() == cfg.model.seq_len,
        "this model solves {n}x{n} Sudoku ({} cells), but the puzzle has {} cells",
        cfg.model.seq_len,
        puzzle.len()
    );
    let clash = sudoku::conflicts(&puzzle);
    ensure!(
        clash.is_empty(),
        "the givens already conflict at {}",
        clash.iter().map(|&i| format!("r{}c{}", i / n + 1, i % n + 1)).collect::<Vec<_>>().join(", ")
    );
    Ok(puzzle)
}

/// The logit threshold for halting confidence τ: halt when q_halt > log(τ/(1−τ)).
pub fn halt_threshold(tau: f64) -> f32 {
    (tau / (1.0 - tau)).ln() as f32
}

/// The answer from the logits (cells × vocab): argmax tokens back to digits.
pub fn view(step: usize, puzzle: &[u8], logits: &[f32], q_halt: f32) -> StepView {
    let v = logits.len() / puzzle.len();
    let n = (puzzle.len() as f64).sqrt() as usize;
    let grid: Vec<u8> = logits
        .chunks(v)
        .map(|x| {
            let best = (1..v).fold(0, |b, j| if x[j] > x[b] { j } else { b });
            if best >= 2 && best - 1 <= n { (best - 1) as u8 } else { 0 }
        })
        .collect();
    let changed_givens = (0..puzzle.len()).filter(|&i| puzzle[i] != 0 && grid[i] != puzzle[i]).collect();
    StepView {
        step,
        conflicts: sudoku::conflicts(&grid),
        solved: sudoku::is_valid_solution(puzzle, &grid),
        changed_givens,
        confidence: 1.0 / (1.0 + (-q_halt).exp()),
        q_halt,
        grid,
    }
}
