//! Maze generator: a perfect maze carved by a randomised depth-first search on the odd lattice, some inner
//! walls knocked down so that several routes exist, then S and G placed; the hard filter (as Maze-Hard selects
//! by path length) keeps only mazes whose shortest S..G path is at least `min_path` steps.

use super::{bfs, solve, Maze, GOAL, OPEN, START, WALL};
use crate::data::source::distinct;
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq)]
pub struct MazeGen {
    /// Side of the square grid (at least 5; 30 for Maze-Hard).
    pub size: usize,
    /// Minimum shortest-path length in steps (0: any).
    pub min_path: usize,
    /// Probability of knocking down each remaining wall between two corridor cells (makes loops).
    pub loops: f64,
    /// Tries per maze before giving up.
    pub max_attempts: usize,
}

impl MazeGen {
    /// `hard` asks for a shortest path of at least size²/8 steps (112 on 30x30).
    pub fn new(size: usize, hard: bool) -> Self {
        MazeGen { size, min_path: if hard { size * size / 8 } else { 0 }, loops: 0.1, max_attempts: 1000 }
    }
}

/// Walls everywhere except a carved maze on the lattice of corridor cells (odd rows and columns, shifted
/// by one on even sides so that the spare wall line falls on either edge).
fn carve(n: usize, loops: f64, rng: &mut SplitMix64) -> Vec<u8> {
    let m = (n - 1) / 2;
    let shift = |rng: &mut SplitMix64| if n.is_multiple_of(2) { rng.below(2) } else { 0 };
    let (dr, dc) = (shift(rng), shift(rng));
    let at = |i: usize, j: usize| (1 + dr + 2 * i) * n + 1 + dc + 2 * j;
    let mut grid = vec![WALL; n * n];
    let mut seen = vec![false; m * m];
    let start = rng.below(m * m);
    let mut stack = vec![start];
    seen[start] = true;
    grid[at(start / m, start % m)] = OPEN;
    while let Some(&cur) = stack.last() {
        let (i, j) = (cur / m, cur % m);
        let next: Vec<usize> =
            [(i > 0, cur.wrapping_sub(m)), (i + 1 < m, cur + m), (j > 0, cur.wrapping_sub(1)), (j + 1 < m, cur + 1)]
                .into_iter()
                .filter(|&(ok, c)| ok && !seen[c])
                .map(|(_, c)| c)
                .collect();
        if next.is_empty() {
            stack.pop();
            continue;
        }
        let nb = next[rng.below(next.len())];
        let (a, b) = (at(i, j), at(nb / m, nb % m));
        grid[(a + b) / 2] = OPEN; // the wall between them
        grid[b] = OPEN;
        seen[nb] = true;
        stack.push(nb);
    }
    // Knock down some walls between neighbouring corridor cells.
    for i in 0..m {
        for j in 0..m {
            for (ok, step) in [(i + 1 < m, n), (j + 1 < m, 1)] {
                let wall = at(i, j) + step;
                if ok && grid[wall] == WALL && rng.f64() < loops {
                    grid[wall] = OPEN;
                }
            }
        }
    }
    grid
}

/// One attempt: `None` when the placed S and G cannot be `min_path` apart.
fn attempt(opts: &MazeGen, rng: &mut SplitMix64) -> Option<Maze> {
    let n = opts.size;
    let mut question = carve(n, opts.loops, rng);
    let open: Vec<usize> = (0..n * n).filter(|&c| question[c] == OPEN).collect();
    let s = open[rng.below(open.len())];
    let dist = bfs(&question, n, s, |t| t == OPEN, &mut vec![0; n * n]);
    let far: Vec<usize> =
        open.iter().copied().filter(|&c| dist[c] != u32::MAX && dist[c] as usize >= opts.min_path.max(1)).collect();
    if far.is_empty() {
        return None;
    }
    question[s] = START;
    question[far[rng.below(far.len())]] = GOAL;
    let answer = solve(&question).expect("G is reachable");
    Some(Maze { question, answer })
}

/// One maze meeting `opts`.
pub fn generate(opts: &MazeGen, rng: &mut SplitMix64) -> Result<Maze> {
    if opts.size < 5 {
        bail!("maze size {} is below 5", opts.size);
    }
    for _ in 0..opts.max_attempts {
        if let Some(m) = attempt(opts, rng) {
            return Ok(m);
        }
    }
    bail!("no {0}x{0} maze with a path of {1}+ steps in {2} attempts", opts.size, opts.min_path, opts.max_attempts)
}

/// `count` distinct mazes, none in `exclude`, deterministic given `seed`; `progress(done, count)`.
pub fn generate_many(
    count: usize,
    opts: &MazeGen,
    seed: u64,
    exclude: &HashSet<Vec<u8>>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Maze>> {
    let what = format!("{0}x{0} mazes", opts.size);
    distinct(count, seed, exclude, |m: &Maze| &m.question, &what, progress, |rng| generate(opts, rng))
}
