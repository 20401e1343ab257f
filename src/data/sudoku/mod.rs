//! Sudoku, 9x9 (3x3 boxes) and 4x4 (2x2 boxes). A grid is a row-major `Vec<u8>` of 81 or 16 cells,
//! 0 = blank and 1..=n a digit; the size is inferred from the cell count.
//! Tokens (as the official builder): PAD 0, blank 1, digit d -> d + 1; vocab n + 2.

mod augment;
mod build;
mod generate;
mod rate;
mod read;
mod solver;

pub use augment::Augment;
pub use build::{build, embedded_default, pool, write_csv, SudokuBuild, SudokuSource};
pub use generate::{generate, generate_many, GenOptions};
pub use rate::{rate, Rating};
pub use read::{parse_text, read_file, read_file_column};
pub use solver::{count_solutions, needs_guessing, solve, solved_by_singles, Solve};

use anyhow::{bail, Result};
use std::sync::OnceLock;

/// A puzzle and its solution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Puzzle {
    pub puzzle: Vec<u8>,
    pub solution: Vec<u8>,
}

/// Side length (4 or 9) of a grid with `cells` cells.
pub fn side(cells: usize) -> Result<usize> {
    match cells {
        16 => Ok(4),
        81 => Ok(9),
        _ => bail!("puzzle has {cells} cells, expected 16 or 81"),
    }
}

/// Rows, columns and boxes of one grid size, computed once.
pub(crate) struct Geometry {
    pub n: usize,
    /// Units 0..n are rows, n..2n columns, 2n..3n boxes.
    pub units: Vec<Vec<usize>>,
    /// The row, column and box unit of every cell.
    pub cell_units: Vec<[usize; 3]>,
}

pub(crate) fn geometry(n: usize) -> &'static Geometry {
    static G4: OnceLock<Geometry> = OnceLock::new();
    static G9: OnceLock<Geometry> = OnceLock::new();
    assert!(n == 4 || n == 9, "sudoku side {n} is not 4 or 9");
    let cell = if n == 4 { &G4 } else { &G9 };
    cell.get_or_init(|| {
        let b = if n == 4 { 2 } else { 3 };
        let mut units = vec![Vec::new(); 3 * n];
        let mut cell_units = Vec::with_capacity(n * n);
        for r in 0..n {
            for c in 0..n {
                let bx = (r / b) * b + c / b;
                let us = [r, n + c, 2 * n + bx];
                for u in us {
                    units[u].push(r * n + c);
                }
                cell_units.push(us);
            }
        }
        Geometry { n, units, cell_units }
    })
}

/// Reads cells from text: digits, '.' or '0' for blanks; whitespace and `|`, `-`, `+` are ignored.
fn parse_cells(text: &str) -> Result<Vec<u8>> {
    let mut cells = Vec::with_capacity(81);
    for ch in text.chars() {
        match ch {
            '.' => cells.push(0),
            '0'..='9' => cells.push(ch as u8 - b'0'),
            '|' | '-' | '+' => {}
            c if c.is_whitespace() => {}
            c => bail!("unexpected character {c:?}"),
        }
    }
    Ok(cells)
}

/// Checks that every digit fits the grid size.
fn check_digits(grid: &[u8]) -> Result<()> {
    let n = side(grid.len())?;
    if let Some(&d) = grid.iter().find(|&&d| d as usize > n) {
        bail!("digit {d} out of range 1..{n} for a {n}x{n} grid");
    }
    Ok(())
}

/// Parses one puzzle (81 or 16 cells; '.' or '0' blank; whitespace and `|-+` separators tolerated).
pub fn parse_grid(text: &str) -> Result<Vec<u8>> {
    let cells = parse_cells(text)?;
    check_digits(&cells)?;
    Ok(cells)
}

/// The grid as one line, '.' for blanks.
pub fn format_grid(grid: &[u8]) -> String {
    grid.iter().map(|&d| if d == 0 { '.' } else { (b'0' + d) as char }).collect()
}

/// The grid drawn over several lines with box separators (readable back by [`parse_grid`]).
pub fn pretty(grid: &[u8]) -> String {
    let n = side(grid.len()).expect("sudoku grid");
    let b = if n == 4 { 2 } else { 3 };
    let mut out = String::new();
    for r in 0..n {
        let row: Vec<String> = (0..b)
            .map(|k| {
                let cells = format_grid(&grid[r * n + k * b..r * n + (k + 1) * b]);
                cells.chars().map(String::from).collect::<Vec<_>>().join(" ")
            })
            .collect();
        let row = row.join(" | ");
        if r > 0 && r % b == 0 {
            // A rule between bands, with '+' where the rows have '|'.
            out.extend(row.chars().map(|c| if c == '|' { '+' } else { '-' }));
            out.push('\n');
        }
        out += &row;
        out.push('\n');
    }
    out
}

/// Number of givens.
pub fn clues(grid: &[u8]) -> usize {
    grid.iter().filter(|&&d| d != 0).count()
}

/// Cells whose digit clashes with the same digit elsewhere in a row, column or box (sorted, unique).
pub fn conflicts(grid: &[u8]) -> Vec<usize> {
    let Ok(n) = side(grid.len()) else {
        return Vec::new();
    };
    let mut bad = vec![false; grid.len()];
    for unit in &geometry(n).units {
        for (i, &a) in unit.iter().enumerate() {
            for &b in &unit[i + 1..] {
                if grid[a] != 0 && grid[a] == grid[b] {
                    bad[a] = true;
                    bad[b] = true;
                }
            }
        }
    }
    (0..grid.len()).filter(|&c| bad[c]).collect()
}

/// True when `solution` is a full, rule-abiding grid that keeps every given of `puzzle`.
pub fn is_valid_solution(puzzle: &[u8], solution: &[u8]) -> bool {
    let Ok(n) = side(solution.len()) else {
        return false;
    };
    puzzle.len() == solution.len()
        && solution.iter().all(|&d| d >= 1 && d as usize <= n)
        && puzzle.iter().zip(solution).all(|(&p, &s)| p == 0 || p == s)
        && conflicts(solution).is_empty()
}

/// Grid -> tokens (blank 1, digit d -> d + 1).
pub fn to_tokens(grid: &[u8]) -> Vec<u8> {
    grid.iter().map(|&d| d + 1).collect()
}

/// Tokens -> grid (PAD and blank become 0).
pub fn from_tokens(tokens: &[u8]) -> Vec<u8> {
    tokens.iter().map(|&t| t.saturating_sub(1)).collect()
}
