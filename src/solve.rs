//! A Sudoku solved with a model, step by step: the pasted puzzle read for the model, and each step's answer as a
//! grid with an honest verdict (`trm-gpu solve` and the browser demo).

use crate::data::sudoku;
use crate::model::infer::{argmax_tokens, confidence};
use crate::model::Config;
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

/// The Sudoku answer from the logits (cells × vocab): argmax tokens back to digits.
pub fn view(step: usize, puzzle: &[u8], logits: &[f32], q_halt: f32) -> StepView {
    let n = (puzzle.len() as f64).sqrt() as usize;
    let grid: Vec<u8> = argmax_tokens(logits, puzzle.len())
        .into_iter()
        .map(|t| if t >= 2 && t as usize - 1 <= n { t - 1 } else { 0 })
        .collect();
    let changed_givens = (0..puzzle.len()).filter(|&i| puzzle[i] != 0 && grid[i] != puzzle[i]).collect();
    StepView {
        step,
        conflicts: sudoku::conflicts(&grid),
        solved: sudoku::is_valid_solution(puzzle, &grid),
        changed_givens,
        confidence: confidence(q_halt),
        q_halt,
        grid,
    }
}
