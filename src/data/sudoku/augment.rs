//! Validity-preserving Sudoku shuffles, as the official builder draws them: permute the digits, transpose
//! with p = 0.5, shuffle the bands and the rows inside each band, the stacks and the columns inside each stack.

use super::side;
use crate::rng::SplitMix64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Augment {
    /// `digits[d]` replaces digit d; `digits[0] = 0` keeps blanks blank.
    pub digits: Vec<u8>,
    pub transpose: bool,
    /// Row i of the result is row `rows[i]` of the (transposed) source; likewise for columns.
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
}

/// A permutation of `0..n` that keeps blocks of `b` together: blocks shuffled, then lines inside each block.
fn block_permutation(n: usize, b: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut blocks: Vec<usize> = (0..n / b).collect();
    rng.shuffle(&mut blocks);
    let mut out = Vec::with_capacity(n);
    for blk in blocks {
        let mut inner: Vec<usize> = (0..b).collect();
        rng.shuffle(&mut inner);
        out.extend(inner.iter().map(|i| blk * b + i));
    }
    out
}

impl Augment {
    /// The identity on an `n x n` grid.
    pub fn identity(n: usize) -> Self {
        Augment { digits: (0..=n as u8).collect(), transpose: false, rows: (0..n).collect(), cols: (0..n).collect() }
    }

    /// A random augmentation for an `n x n` grid (n = 4 or 9).
    pub fn random(n: usize, rng: &mut SplitMix64) -> Self {
        let b = if n == 4 { 2 } else { 3 };
        let mut digits: Vec<u8> = (1..=n as u8).collect();
        rng.shuffle(&mut digits);
        digits.insert(0, 0);
        let transpose = rng.f64() < 0.5;
        let rows = block_permutation(n, b, rng);
        let cols = block_permutation(n, b, rng);
        Augment { digits, transpose, rows, cols }
    }

    /// Applies the augmentation to a grid (puzzle or solution alike).
    pub fn apply(&self, grid: &[u8]) -> Vec<u8> {
        let n = side(grid.len()).expect("sudoku grid");
        assert_eq!(n, self.rows.len(), "augmentation is for another grid size");
        let at = |r: usize, c: usize| {
            if self.transpose {
                grid[c * n + r]
            } else {
                grid[r * n + c]
            }
        };
        let mut out = Vec::with_capacity(n * n);
        for r in 0..n {
            for c in 0..n {
                out.push(self.digits[at(self.rows[r], self.cols[c]) as usize]);
            }
        }
        out
    }
}
