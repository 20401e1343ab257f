//! `trm-gpu data`: build dataset files for Sudoku, mazes and ARC.

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use trm_gpu::data::source::{Source, Sources};
use trm_gpu::data::{arc, maze, sudoku};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Sudoku from a file (Sudoku-Extreme CSV, puzzle,solution CSV, kaidoku level,puzzle,solution, or one per line) or generated
    Sudoku {
        #[command(flatten)]
        src: SourceArgs,
        /// Puzzles that need guessing (9×9) or minimal clues (4×4)
        #[arg(long)]
        hard: bool,
        /// Grid side for generated puzzles: 4 or 9
        #[arg(long, default_value_t = 9)]
        size: usize,
        /// Exact number of givens for generated puzzles (default: as few as keep the solution unique)
        #[arg(long)]
        clues: Option<usize>,
        /// Augmentations per training puzzle
        #[arg(long, default_value_t = 0)]
        aug: usize,
    },
    /// Mazes from the official CSV layout or generated
    Maze {
        #[command(flatten)]
        src: SourceArgs,
        #[arg(long, default_value_t = 30)]
        size: usize,
        #[arg(long)]
        hard: bool,
        /// Add the 8 dihedral images of every training maze
        #[arg(long)]
        aug: bool,
    },
    /// ARC-AGI from a bundle JSON or a folder of task files
    Arc {
        #[arg(long)]
        from: PathBuf,
        #[arg(long, default_value_t = 1000)]
        aug: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        skip_bad: bool,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where a generated or read puzzle set comes from and goes to.
#[derive(Args)]
pub struct SourceArgs {
    /// Read puzzles from this file
    #[arg(long, conflicts_with = "generate")]
    from: Option<PathBuf>,
    /// Generate N puzzles
    #[arg(long)]
    generate: Option<usize>,
    /// Held-out test puzzles
    #[arg(long, default_value_t = 100)]
    holdout: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Count malformed records as warnings instead of failing
    #[arg(long)]
    skip_bad: bool,
    #[arg(long)]
    out: PathBuf,
}

impl SourceArgs {
    fn sources<G>(&self, options: G) -> Result<Sources<G>> {
        let train = match (&self.from, self.generate) {
            (Some(p), _) => Source::File(p.clone()),
            (None, Some(count)) => Source::Generate { count, options },
            (None, None) => anyhow::bail!("give --from FILE or --generate N"),
        };
        Ok(Sources { train, test: None, holdout: self.holdout, max_train: None, seed: self.seed, skip_bad: self.skip_bad })
    }
}

fn bar() -> ProgressBar {
    let b = ProgressBar::new(0);
    b.set_style(ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}]").unwrap());
    b
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let b = bar();
    let mut progress = |done: usize, total: usize| {
        b.set_length(total as u64);
        b.set_position(done as u64);
    };
    let (mut built, out) = match cmd {
        DataCommand::Sudoku { src, hard, size, clues, aug } => {
            let options = sudoku::GenOptions { clues: clues.or(sudoku::GenOptions::new(size, hard).clues), ..sudoku::GenOptions::new(size, hard) };
            (sudoku::build(&sudoku::SudokuBuild { sources: src.sources(options)?, augmentations: aug }, &mut progress)?, src.out)
        }
        DataCommand::Maze { src, size, hard, aug } => {
            (maze::build(&maze::MazeBuild { sources: src.sources(maze::MazeGen::new(size, hard))?, augment: aug }, &mut progress)?, src.out)
        }
        DataCommand::Arc { from, aug, seed, skip_bad, out } => {
            (arc::build(&arc::ArcBuild { path: from, augmentations: aug, translate: true, seed, skip_bad }, &mut progress)?, out)
        }
    };
    b.finish_and_clear();
    built.save(&out)?;
    println!("{}", built.summary);
    println!("wrote {}", out.display());
    Ok(())
}
