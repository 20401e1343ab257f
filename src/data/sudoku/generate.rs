//! Puzzle generator: a random full grid, then clues removed in random order while the solution stays unique.
//! Difficulty by clue count (an exact target, or one drawn from a range per puzzle), by human rating (see
//! `rate`) and by search effort (reject puzzles that the solver settles with fewer guesses than asked).
//! For singles-rated puzzles a clue is only removed while singles still finish the puzzle, which reaches
//! far fewer givens than removing at random and rating afterwards. `hard` 9x9 puzzles need at least one guess, as Sudoku-Extreme's do.
//! No 4x4 puzzle ever needs a guess once naked and hidden singles are applied (checked exhaustively), so a
//! `hard` 4x4 puzzle is one with the fewest possible clues, 4.

use super::rate::{rate, Rating};
use super::solver::{count_solutions, random_solution, solved_by_singles};
use super::Puzzle;
use crate::data::source::distinct;
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOptions {
    /// 4 or 9.
    pub size: usize,
    /// Clue count, drawn uniformly from this inclusive range per puzzle (equal ends: exact; None: remove
    /// clues while the solution stays unique, giving a minimal puzzle).
    pub clues: Option<(usize, usize)>,
    /// Keep only puzzles of these ratings (empty: any).
    pub rating: Vec<Rating>,
    /// Minimum guesses the solver needs (0: any puzzle; 1: `hard`, singles are not enough).
    pub min_guesses: u64,
    /// Tries per puzzle before giving up.
    pub max_attempts: usize,
}

impl GenOptions {
    /// Defaults for `size`; see the module notes for what `hard` means.
    pub fn new(size: usize, hard: bool) -> Self {
        let (clues, min_guesses) = match (size, hard) {
            (4, true) => (Some((4, 4)), 0),
            (_, hard) => (None, hard as u64),
        };
        GenOptions { size, clues, rating: Vec::new(), min_guesses, max_attempts: 10_000 }
    }
}

/// One attempt: a unique puzzle, or `None` when it misses the clue or effort target.
fn attempt(opts: &GenOptions, rng: &mut SplitMix64) -> Option<Puzzle> {
    let cells = opts.size * opts.size;
    let solution = random_solution(opts.size, rng);
    let mut puzzle = solution.clone();
    let mut order: Vec<usize> = (0..cells).collect();
    rng.shuffle(&mut order);
    // An exact count draws nothing, so a seed gives the same puzzles as before ranges existed.
    let target = match opts.clues {
        None => 0,
        Some((lo, hi)) if hi <= lo => lo,
        Some((lo, hi)) => lo + rng.below(hi - lo + 1),
    };
    let singles = opts.rating == [Rating::Singles];
    let mut left = cells;
    for c in order {
        if left <= target {
            break;
        }
        puzzle[c] = 0;
        if if singles { solved_by_singles(&puzzle) } else { count_solutions(&puzzle, 2).count == 1 } {
            left -= 1;
        } else {
            puzzle[c] = solution[c];
        }
    }
    let effort = count_solutions(&puzzle, 2);
    (opts.clues.is_none() || left == target)
        .then_some(())
        .filter(|_| {
            effort.guesses >= opts.min_guesses && (opts.rating.is_empty() || opts.rating.contains(&rate(&puzzle)))
        })
        .map(|_| Puzzle { puzzle, solution })
}

/// One puzzle with a unique solution meeting `opts`.
pub fn generate(opts: &GenOptions, rng: &mut SplitMix64) -> Result<Puzzle> {
    if opts.size != 4 && opts.size != 9 {
        bail!("sudoku size {} is not 4 or 9", opts.size);
    }
    for _ in 0..opts.max_attempts {
        if let Some(p) = attempt(opts, rng) {
            return Ok(p);
        }
    }
    bail!(
        "no {0}x{0} puzzle with {1} clues{2} needing {3} guesses in {4} attempts",
        opts.size,
        match opts.clues {
            None => "minimal".to_string(),
            Some((lo, hi)) if lo == hi => lo.to_string(),
            Some((lo, hi)) => format!("{lo}-{hi}"),
        },
        if opts.rating.is_empty() { String::new() } else { format!(" rated {:?}", opts.rating) },
        opts.min_guesses,
        opts.max_attempts
    )
}

/// `count` distinct puzzles, none of them in `exclude`, deterministic given `seed`.
/// `progress(done, count)` is called after each puzzle.
pub fn generate_many(
    count: usize,
    opts: &GenOptions,
    seed: u64,
    exclude: &HashSet<Vec<u8>>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Puzzle>> {
    let what = format!("{0}x{0} puzzles", opts.size);
    distinct(count, seed, exclude, |p: &Puzzle| &p.puzzle, &what, progress, |rng| generate(opts, rng))
}
