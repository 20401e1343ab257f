//! ARC augmentation: a dihedral transform and a permutation of colours 1..9 (black stays black), with its
//! inverse and a compact code (stored per puzzle in the dataset) so predictions can be mapped back.

use super::Grid;
use crate::data::grid::{dihedral, dihedral_shape, DIHEDRAL_INVERSE};
use crate::rng::SplitMix64;
use anyhow::{ensure, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArcAug {
    /// Dihedral transform 0..8 (see [`crate::data::grid`]).
    pub dihedral: u8,
    /// `colours[c]` replaces colour c; `colours[0] = 0`.
    pub colours: [u8; 10],
}

const FACTORIAL: [u32; 10] = [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880];

impl ArcAug {
    pub const IDENTITY: ArcAug = ArcAug { dihedral: 0, colours: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] };

    pub fn random(rng: &mut SplitMix64) -> Self {
        let mut colours = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        rng.shuffle(&mut colours[1..]);
        ArcAug { dihedral: rng.below(8) as u8, colours }
    }

    /// `dihedral + 8 * rank`, the rank being the colour permutation's index in lexicographic order
    /// (the identity is code 0).
    pub fn code(&self) -> u32 {
        let p = &self.colours[1..];
        let rank: u32 =
            (0..9).map(|i| p[i + 1..].iter().filter(|&&x| x < p[i]).count() as u32 * FACTORIAL[8 - i]).sum();
        self.dihedral as u32 + 8 * rank
    }

    pub fn from_code(code: u32) -> Result<Self> {
        ensure!(code < 8 * FACTORIAL[9], "augmentation code {code} out of range");
        let mut rank = code / 8;
        let mut left: Vec<u8> = (1..=9).collect();
        let mut colours = [0u8; 10];
        for i in 0..9 {
            let f = FACTORIAL[8 - i];
            colours[i + 1] = left.remove((rank / f) as usize);
            rank %= f;
        }
        Ok(ArcAug { dihedral: (code % 8) as u8, colours })
    }

    /// The augmentation that undoes this one.
    pub fn inverse(&self) -> Self {
        let mut colours = [0u8; 10];
        for (c, &to) in self.colours.iter().enumerate() {
            colours[to as usize] = c as u8;
        }
        ArcAug { dihedral: DIHEDRAL_INVERSE[self.dihedral as usize], colours }
    }

    /// Recolours, then transforms (the two commute).
    pub fn apply(&self, g: &Grid) -> Grid {
        let recoloured: Vec<u8> = g.cells.iter().map(|&c| self.colours[c as usize]).collect();
        let (h, w) = dihedral_shape(self.dihedral, g.h, g.w);
        Grid { h, w, cells: dihedral(&recoloured, g.h, g.w, self.dihedral) }
    }

    /// Maps a grid in the augmented frame back to the original frame.
    pub fn invert(&self, g: &Grid) -> Grid {
        self.inverse().apply(g)
    }
}
