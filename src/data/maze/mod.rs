//! Mazes: square grids over the charset "# SGo" (wall, open, start, goal, path). A maze is a row-major
//! `Vec<u8>` of tokens (PAD 0, '#' 1, ' ' 2, 'S' 3, 'G' 4, 'o' 5; vocab 6). The label is the maze with
//! the cells of a shortest S..G path (S and G excluded) marked 'o'.

mod build;
mod generate;

pub use build::{build, read_file, MazeBuild, MazeSource};
pub use generate::{generate, generate_many, MazeGen};

use crate::data::grid::{dihedral as dihedral_grid, DIHEDRAL_INVERSE};
use anyhow::{bail, ensure, Result};
use std::collections::VecDeque;

pub const WALL: u8 = 1;
pub const OPEN: u8 = 2;
pub const START: u8 = 3;
pub const GOAL: u8 = 4;
pub const PATH: u8 = 5;
pub const VOCAB: usize = 6;
/// Characters of tokens 1..=5.
pub const CHARSET: &str = "# SGo";

/// A maze (question) and its label (answer), as tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Maze {
    pub question: Vec<u8>,
    pub answer: Vec<u8>,
}

/// Side of a square grid of `len` cells.
pub fn side(len: usize) -> Result<usize> {
    let n = (len as f64).sqrt().round() as usize;
    ensure!(n * n == len && n > 0, "maze has {len} cells, not a square number");
    Ok(n)
}

/// Text over "# SGo" -> tokens.
pub fn to_tokens(text: &str) -> Result<Vec<u8>> {
    text.chars()
        .map(|c| match CHARSET.find(c) {
            Some(i) => Ok(i as u8 + 1),
            None => bail!("unexpected character {c:?} (expected one of \"# SGo\")"),
        })
        .collect()
}

/// Tokens -> text ('?' for PAD or out-of-range tokens).
pub fn to_text(tokens: &[u8]) -> String {
    tokens.iter().map(|&t| CHARSET.chars().nth((t as usize).wrapping_sub(1)).unwrap_or('?')).collect()
}

fn find(maze: &[u8], token: u8) -> Result<usize> {
    let mut cells = maze.iter().enumerate().filter(|&(_, &t)| t == token).map(|(i, _)| i);
    let name = if token == START { "S" } else { "G" };
    match (cells.next(), cells.next()) {
        (Some(i), None) => Ok(i),
        (None, _) => bail!("maze has no {name}"),
        _ => bail!("maze has more than one {name}"),
    }
}

/// Breadth-first distances from `from`, moving between cells for which `pass` holds
/// (`u32::MAX` = unreachable); `parent` gets each reached cell's predecessor.
fn bfs(maze: &[u8], n: usize, from: usize, pass: impl Fn(u8) -> bool, parent: &mut [usize]) -> Vec<u32> {
    let mut dist = vec![u32::MAX; maze.len()];
    let mut queue = VecDeque::from([from]);
    dist[from] = 0;
    while let Some(c) = queue.pop_front() {
        let (r, k) = (c / n, c % n);
        let steps = [(r > 0, c.wrapping_sub(n)), (r + 1 < n, c + n), (k > 0, c.wrapping_sub(1)), (k + 1 < n, c + 1)];
        for (ok, d) in steps {
            if ok && dist[d] == u32::MAX && pass(maze[d]) {
                dist[d] = dist[c] + 1;
                parent[d] = c;
                queue.push_back(d);
            }
        }
    }
    dist
}

fn walkable(t: u8) -> bool {
    t != WALL && t != 0
}

/// Length (steps) of the shortest S..G path, or `None` when G cannot be reached.
pub fn shortest_distance(question: &[u8]) -> Result<Option<usize>> {
    let n = side(question.len())?;
    let (s, g) = (find(question, START)?, find(question, GOAL)?);
    let d = bfs(question, n, s, walkable, &mut vec![0; question.len()])[g];
    Ok((d != u32::MAX).then_some(d as usize))
}

/// The label of a maze: one shortest path marked 'o'. Errors when S or G is missing or unreachable.
pub fn solve(question: &[u8]) -> Result<Vec<u8>> {
    let n = side(question.len())?;
    let (s, g) = (find(question, START)?, find(question, GOAL)?);
    let mut parent = vec![usize::MAX; question.len()];
    let dist = bfs(question, n, s, walkable, &mut parent);
    ensure!(dist[g] != u32::MAX, "G cannot be reached from S");
    let mut answer = question.to_vec();
    let mut c = parent[g];
    while c != s {
        answer[c] = PATH;
        c = parent[c];
    }
    Ok(answer)
}

/// Checks that `label` is `question` with a shortest S..G path marked: marks only on open cells, the
/// marked cells connect S to G, and there are exactly (shortest distance - 1) of them.
pub fn check_path(question: &[u8], label: &[u8]) -> Result<()> {
    ensure!(label.len() == question.len(), "label has {} cells, maze has {}", label.len(), question.len());
    let n = side(question.len())?;
    for (i, (&q, &l)) in question.iter().zip(label).enumerate() {
        let ok = l == q || (q == OPEN && l == PATH);
        ensure!(
            ok,
            "cell ({}, {}) is {:?} in the label but {:?} in the maze",
            i / n,
            i % n,
            to_text(&[l]),
            to_text(&[q])
        );
    }
    let Some(shortest) = shortest_distance(question)? else { bail!("G cannot be reached from S") };
    let marks = label.iter().filter(|&&t| t == PATH).count();
    ensure!(marks + 1 == shortest, "path marks {marks} cells, a shortest path has {}", shortest - 1);
    let (s, g) = (find(question, START)?, find(question, GOAL)?);
    let dist = bfs(label, n, s, |t| t == PATH || t == GOAL, &mut vec![0; label.len()]);
    ensure!(dist[g] != u32::MAX, "marked cells do not connect S to G");
    Ok(())
}

/// Applies dihedral transform `t` (0..8, see [`crate::data::grid`]) to a square maze.
pub fn dihedral(maze: &[u8], t: u8) -> Vec<u8> {
    let n = side(maze.len()).expect("square maze");
    dihedral_grid(maze, n, n, t)
}

/// Undoes [`dihedral`] with the same `t`.
pub fn inverse_dihedral(maze: &[u8], t: u8) -> Vec<u8> {
    dihedral(maze, DIHEDRAL_INVERSE[t as usize])
}
