//! Exact Sudoku solver: bitmask candidates, propagation of naked and hidden singles, then depth-first
//! search on the cell with the fewest candidates (MRV). Counts solutions up to a limit and reports effort.

use super::{geometry, side, Geometry};
use crate::rng::SplitMix64;

/// Outcome of a search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Solve {
    /// Solutions found, at most the limit asked for.
    pub count: usize,
    /// The first solution found.
    pub solution: Option<Vec<u8>>,
    /// Search nodes (propagation rounds started).
    pub nodes: u64,
    /// Tentative placements at branch points; 0 means singles alone settle the puzzle.
    pub guesses: u64,
}

/// Search state: cells and, per unit, the mask of digits already placed (bit d-1 for digit d).
#[derive(Clone, Copy)]
struct State {
    cells: [u8; 81],
    used: [u16; 27],
    empty: usize,
}

impl State {
    /// `None` when the givens already clash or a digit is out of range.
    fn new(g: &Geometry, grid: &[u8]) -> Option<State> {
        let mut s = State { cells: [0; 81], used: [0; 27], empty: grid.len() };
        for (c, &d) in grid.iter().enumerate() {
            if d != 0 {
                if d as usize > g.n || s.candidates(g, c) & (1 << (d - 1)) == 0 {
                    return None;
                }
                s.place(g, c, d);
            }
        }
        Some(s)
    }

    fn candidates(&self, g: &Geometry, c: usize) -> u16 {
        let [r, k, b] = g.cell_units[c];
        let full = (1u16 << g.n) - 1;
        full & !(self.used[r] | self.used[k] | self.used[b])
    }

    fn place(&mut self, g: &Geometry, c: usize, d: u8) {
        self.cells[c] = d;
        for u in g.cell_units[c] {
            self.used[u] |= 1 << (d - 1);
        }
        self.empty -= 1;
    }

    /// Places naked and hidden singles until nothing changes; false on a contradiction.
    fn propagate(&mut self, g: &Geometry) -> bool {
        let full = (1u16 << g.n) - 1;
        loop {
            let mut changed = false;
            for c in 0..g.n * g.n {
                if self.cells[c] == 0 {
                    let m = self.candidates(g, c);
                    if m == 0 {
                        return false;
                    }
                    if m.is_power_of_two() {
                        self.place(g, c, m.trailing_zeros() as u8 + 1);
                        changed = true;
                    }
                }
            }
            for (u, unit) in g.units.iter().enumerate() {
                let (mut once, mut twice) = (0u16, 0u16);
                for &c in unit {
                    if self.cells[c] == 0 {
                        let m = self.candidates(g, c);
                        twice |= once & m;
                        once |= m;
                    }
                }
                if once | self.used[u] != full {
                    return false; // some digit has no place left in this unit
                }
                let mut hidden = once & !twice;
                while hidden != 0 {
                    let bit = hidden & hidden.wrapping_neg();
                    hidden ^= bit;
                    let spot = unit.iter().copied().find(|&c| self.cells[c] == 0 && self.candidates(g, c) & bit != 0);
                    match spot {
                        Some(c) => self.place(g, c, bit.trailing_zeros() as u8 + 1),
                        None => return false,
                    }
                    changed = true;
                }
            }
            if !changed {
                return true;
            }
        }
    }
}

struct Search<'a> {
    g: &'static Geometry,
    limit: usize,
    rng: Option<&'a mut SplitMix64>,
    out: Solve,
}

impl Search<'_> {
    fn run(&mut self, mut s: State) {
        self.out.nodes += 1;
        if !s.propagate(self.g) {
            return;
        }
        if s.empty == 0 {
            self.out.count += 1;
            if self.out.solution.is_none() {
                self.out.solution = Some(s.cells[..self.g.n * self.g.n].to_vec());
            }
            return;
        }
        // Branch on the empty cell with the fewest candidates.
        let (cell, mask) = (0..self.g.n * self.g.n)
            .filter(|&c| s.cells[c] == 0)
            .map(|c| (c, s.candidates(self.g, c)))
            .min_by_key(|&(_, m)| m.count_ones())
            .expect("an empty cell");
        let mut digits: Vec<u8> = (1..=self.g.n as u8).filter(|d| mask & (1 << (d - 1)) != 0).collect();
        if let Some(rng) = self.rng.as_deref_mut() {
            rng.shuffle(&mut digits);
        }
        for d in digits {
            self.out.guesses += 1;
            let mut t = s;
            t.place(self.g, cell, d);
            self.run(t);
            if self.out.count >= self.limit {
                return;
            }
        }
    }
}

fn search(grid: &[u8], limit: usize, rng: Option<&mut SplitMix64>) -> Solve {
    let Ok(n) = side(grid.len()) else {
        return Solve::default();
    };
    let g = geometry(n);
    let mut search = Search { g, limit: limit.max(1), rng, out: Solve::default() };
    if let Some(s) = State::new(g, grid) {
        search.run(s);
    }
    search.out
}

/// Counts the solutions of `grid` up to `limit` (use 2 to test uniqueness). A grid of the wrong size or
/// with clashing givens has 0 solutions.
pub fn count_solutions(grid: &[u8], limit: usize) -> Solve {
    search(grid, limit, None)
}

/// The first solution, if any.
pub fn solve(grid: &[u8]) -> Option<Vec<u8>> {
    search(grid, 1, None).solution
}

/// True when naked and hidden singles alone fill every cell (so the solution is unique).
pub fn solved_by_singles(grid: &[u8]) -> bool {
    let Ok(n) = side(grid.len()) else {
        return false;
    };
    let g = geometry(n);
    State::new(g, grid).is_some_and(|mut s| s.propagate(g) && s.empty == 0)
}

/// True when singles alone cannot finish the puzzle (the solver has to guess).
pub fn needs_guessing(grid: &[u8]) -> bool {
    search(grid, 1, None).guesses > 0
}

/// A random full grid of side `n` (random digit order at every branch).
pub(super) fn random_solution(n: usize, rng: &mut SplitMix64) -> Vec<u8> {
    search(&vec![0; n * n], 1, Some(rng)).solution.expect("an empty grid has solutions")
}
