//! A small human-technique rater. It solves the way a person does, with no guessing:
//! - naked and hidden singles place digits;
//! - when singles stall, locked candidates (pointing and claiming) and naked and hidden pairs and triples
//!   remove candidates, then singles resume.
//!
//! A puzzle is rated by the least it needs: singles alone, more than singles, or guessing (nothing above
//! finishes it: it needs search, or techniques beyond these, such as fish and chains).

use super::{geometry, side, Geometry};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// Naked and hidden singles alone finish it.
    Singles,
    /// Needs locked candidates or naked/hidden pairs or triples as well.
    More,
    /// Not finished by any of those: a solver has to guess.
    Guess,
}

impl Rating {
    pub const ALL: [Rating; 3] = [Rating::Singles, Rating::More, Rating::Guess];

    pub fn name(self) -> &'static str {
        match self {
            Rating::Singles => "singles",
            Rating::More => "more",
            Rating::Guess => "guess",
        }
    }
}

impl std::str::FromStr for Rating {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Rating> {
        match s {
            "singles" => Ok(Rating::Singles),
            "more" => Ok(Rating::More),
            "guess" => Ok(Rating::Guess),
            _ => bail!("unknown rating {s:?} (singles, more or guess)"),
        }
    }
}

impl std::fmt::Display for Rating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Placed digits and, for empty cells, the candidate mask (bit d-1 for digit d).
struct Pencil {
    g: &'static Geometry,
    cells: Vec<u8>,
    cand: Vec<u16>,
}

/// What one round of singles did.
enum Singles {
    Placed,
    Stalled,
    Contradiction,
}

impl Pencil {
    fn new(grid: &[u8]) -> Option<Pencil> {
        let g = geometry(side(grid.len()).ok()?);
        let full = (1u16 << g.n) - 1;
        let mut p = Pencil { g, cells: vec![0; grid.len()], cand: vec![full; grid.len()] };
        for (c, &d) in grid.iter().enumerate() {
            if d != 0 {
                if d as usize > g.n || p.cand[c] & (1 << (d - 1)) == 0 {
                    return None;
                }
                p.place(c, d);
            }
        }
        Some(p)
    }

    fn place(&mut self, c: usize, d: u8) {
        self.cells[c] = d;
        self.cand[c] = 0;
        for u in self.g.cell_units[c] {
            for &p in &self.g.units[u] {
                self.cand[p] &= !(1 << (d - 1));
            }
        }
    }

    fn solved(&self) -> bool {
        self.cells.iter().all(|&d| d != 0)
    }

    /// Places every naked single, then every hidden single of every unit.
    fn singles(&mut self) -> Singles {
        let mut placed = false;
        for c in 0..self.cells.len() {
            if self.cells[c] == 0 {
                match self.cand[c] {
                    0 => return Singles::Contradiction,
                    m if m.is_power_of_two() => {
                        self.place(c, m.trailing_zeros() as u8 + 1);
                        placed = true;
                    }
                    _ => {}
                }
            }
        }
        for unit in &self.g.units {
            for d in 1..=self.g.n as u8 {
                let bit = 1u16 << (d - 1);
                if unit.iter().any(|&c| self.cells[c] == d) {
                    continue;
                }
                let mut spots = unit.iter().filter(|&&c| self.cand[c] & bit != 0);
                match (spots.next(), spots.next()) {
                    (None, _) => return Singles::Contradiction,
                    (Some(&c), None) => {
                        self.place(c, d);
                        placed = true;
                    }
                    _ => {}
                }
            }
        }
        if placed {
            Singles::Placed
        } else {
            Singles::Stalled
        }
    }

    /// Removes `mask` from cell `c`; true when something went.
    fn remove(&mut self, c: usize, mask: u16) -> bool {
        let before = self.cand[c];
        self.cand[c] &= !mask;
        before != self.cand[c]
    }

    /// Locked candidates: a digit confined to one line within a box leaves the rest of the line (pointing),
    /// and a digit confined to one box within a line leaves the rest of the box (claiming).
    fn locked_candidates(&mut self) -> bool {
        let (g, n) = (self.g, self.g.n);
        let mut changed = false;
        for u in 0..3 * n {
            for d in 0..n {
                let bit = 1u16 << d;
                let spots: Vec<usize> = g.units[u].iter().copied().filter(|&c| self.cand[c] & bit != 0).collect();
                let Some(&first) = spots.first() else { continue };
                // The other kind of unit all spots share: a line for a box, the box for a line.
                let kinds: &[usize] = if u >= 2 * n { &[0, 1] } else { &[2] };
                for &k in kinds {
                    let shared = g.cell_units[first][k];
                    if spots.iter().all(|&c| g.cell_units[c][k] == shared) {
                        for &c in &g.units[shared] {
                            if !g.units[u].contains(&c) {
                                changed |= self.remove(c, bit);
                            }
                        }
                    }
                }
            }
        }
        changed
    }

    /// Naked and hidden subsets of 2 and 3 in every unit.
    fn subsets(&mut self) -> bool {
        let g = self.g;
        let mut changed = false;
        for unit in &g.units {
            let open: Vec<usize> = unit.iter().copied().filter(|&c| self.cells[c] == 0).collect();
            for k in 2..=3 {
                // Naked: k cells whose candidates together are k digits.
                for set in combinations(open.len(), k) {
                    let union = set.iter().fold(0u16, |m, &i| m | self.cand[open[i]]);
                    if union.count_ones() as usize == k {
                        for (i, &c) in open.iter().enumerate() {
                            if !set.contains(&i) {
                                changed |= self.remove(c, union);
                            }
                        }
                    }
                }
                // Hidden: k digits that only k cells can take.
                let digits: Vec<u16> =
                    (0..g.n).map(|d| 1u16 << d).filter(|&bit| open.iter().any(|&c| self.cand[c] & bit != 0)).collect();
                for set in combinations(digits.len(), k) {
                    let mask = set.iter().fold(0u16, |m, &i| m | digits[i]);
                    let cells: Vec<usize> = open.iter().copied().filter(|&c| self.cand[c] & mask != 0).collect();
                    if cells.len() == k {
                        for c in cells {
                            changed |= self.remove(c, !mask);
                        }
                    }
                }
            }
        }
        changed
    }
}

/// Every k-subset of 0..n, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut set: Vec<usize> = (0..k).collect();
    if k > n {
        return out;
    }
    loop {
        out.push(set.clone());
        let Some(i) = (0..k).rev().find(|&i| set[i] < n - k + i) else { return out };
        set[i] += 1;
        for j in i + 1..k {
            set[j] = set[j - 1] + 1;
        }
    }
}

/// The rating of a puzzle. A grid of the wrong size, with clashing givens or with no solution rates
/// `Guess` (no technique finishes it).
pub fn rate(grid: &[u8]) -> Rating {
    let Some(mut p) = Pencil::new(grid) else { return Rating::Guess };
    let mut rating = Rating::Singles;
    loop {
        match p.singles() {
            Singles::Placed => continue,
            Singles::Contradiction => return Rating::Guess,
            Singles::Stalled if p.solved() => return rating,
            Singles::Stalled => {}
        }
        if p.locked_candidates() || p.subsets() {
            rating = Rating::More;
        } else {
            return Rating::Guess;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sudoku::{generate, GenOptions};
    use crate::rng::SplitMix64;

    /// Every elimination is sound: however far the rater gets, each cell still allows its solution digit.
    #[test]
    fn eliminations_never_remove_the_solution() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0usize; 3];
        for _ in 0..200 {
            let p = generate(&GenOptions::new(9, false), &mut rng).unwrap();
            let mut pencil = Pencil::new(&p.puzzle).unwrap();
            let mut rounds = 0;
            loop {
                for c in 0..81 {
                    let ok = if pencil.cells[c] == 0 {
                        pencil.cand[c] & (1 << (p.solution[c] - 1)) != 0
                    } else {
                        pencil.cells[c] == p.solution[c]
                    };
                    assert!(ok, "cell {c} lost its solution digit {} after {rounds} rounds", p.solution[c]);
                }
                rounds += 1;
                match pencil.singles() {
                    Singles::Placed => continue,
                    Singles::Contradiction => panic!("a unique puzzle led to a contradiction"),
                    Singles::Stalled if pencil.solved() => break,
                    Singles::Stalled => {}
                }
                if !(pencil.locked_candidates() || pencil.subsets()) {
                    break;
                }
            }
            seen[rate(&p.puzzle) as usize] += 1;
        }
        // Random minimal puzzles span all three ratings, so each technique was exercised.
        assert!(seen.iter().all(|&k| k > 10), "ratings of 200 minimal puzzles: {seen:?}");
    }

    #[test]
    fn combinations_are_all_k_subsets() {
        assert_eq!(combinations(4, 2), vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(combinations(9, 3).len(), 84);
        assert!(combinations(2, 3).is_empty());
    }
}
