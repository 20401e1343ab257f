//! `trm-gpu data`: build dataset files for Sudoku, mazes and ARC.

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use trm_gpu::data::source::{Source, Sources};
use trm_gpu::data::{arc, maze, sudoku};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Sudoku from files (Sudoku-Extreme CSV, puzzle,solution CSV, kaidoku level,puzzle,solution, or one per line), generated, or both
    Sudoku {
        #[command(flatten)]
        src: SourceArgs,
        /// Puzzles that the solver cannot settle with singles alone (9×9) or minimal clues (4×4)
        #[arg(long)]
        hard: bool,
        /// Grid side for generated puzzles: 4 or 9
        #[arg(long, default_value_t = 9)]
        size: usize,
        /// Givens of generated puzzles: N, or A-B drawn uniformly per puzzle (default: as few as keep the solution unique)
        #[arg(long, value_parser = parse_clues)]
        clues: Option<(usize, usize)>,
        /// Keep only puzzles of these human ratings, generated or read (comma-separated): singles (naked and
        /// hidden singles finish it), more (also locked candidates, naked and hidden pairs and triples), guess
        /// (none of these finish it)
        #[arg(long, value_delimiter = ',')]
        rating: Vec<sudoku::Rating>,
        /// Write the puzzles (every source, no split, no augmentation) to this CSV file
        /// (puzzle,solution,clues,rating), which --from, eval --data and solve --data read, instead of a dataset
        #[arg(long, conflicts_with = "out")]
        csv: Option<PathBuf>,
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
        /// Augmented variants per task (at most 100000: the official builder makes 1000)
        #[arg(long, default_value_t = 1000, value_parser = parse_aug)]
        aug: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        skip_bad: bool,
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_aug(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= 100_000 => Ok(n),
        Ok(n) => Err(format!("{n} is more than 100000 variants per task")),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// Where a generated or read puzzle set comes from and goes to.
#[derive(Args)]
pub struct SourceArgs {
    /// Read puzzles from this file (repeat for several; with --generate, the generated puzzles are added)
    #[arg(long)]
    from: Vec<PathBuf>,
    /// Generate N puzzles (none equal to a puzzle read with --from)
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
    /// The dataset directory to write (train.trmd, test.trmd)
    #[arg(long)]
    out: Option<PathBuf>,
}

impl SourceArgs {
    fn sources<G>(&self, options: G) -> Result<Sources<G>> {
        let mut train: Vec<Source<G>> = self.from.iter().map(|p| Source::File(p.clone())).collect();
        if let Some(count) = self.generate {
            train.push(Source::Generate { count, options });
        }
        if train.is_empty() {
            anyhow::bail!("give --from FILE or --generate N (or both)");
        }
        Ok(Sources {
            train,
            test: None,
            holdout: self.holdout,
            max_train: None,
            seed: self.seed,
            skip_bad: self.skip_bad,
        })
    }

    fn out(&self) -> Result<PathBuf> {
        self.out.clone().ok_or_else(|| anyhow::anyhow!("give --out DIR (the dataset directory to write)"))
    }
}

/// `N` or `A-B` givens.
fn parse_clues(s: &str) -> std::result::Result<(usize, usize), String> {
    let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("{s:?} is not N or A-B (numbers of givens)"));
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    if lo > hi {
        return Err(format!("{s:?}: the range is empty ({lo} > {hi})"));
    }
    Ok((lo, hi))
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
        DataCommand::Sudoku { src, hard, size, clues, rating, csv, aug } => {
            let base = sudoku::GenOptions::new(size, hard);
            if let Some((lo, hi)) = clues {
                anyhow::ensure!(hi <= size * size, "--clues {lo}-{hi}: a {size}x{size} grid has {} cells", size * size);
            }
            let options = sudoku::GenOptions { clues: clues.or(base.clues), rating: rating.clone(), ..base };
            let sources = src.sources(options)?;
            if let Some(path) = csv {
                let puzzles = sudoku::pool(&sources, &rating, &mut progress)?;
                b.finish_and_clear();
                sudoku::write_csv(&path, &puzzles)?;
                let mut ratings = std::collections::BTreeMap::new();
                for p in &puzzles {
                    *ratings.entry(sudoku::rate(&p.puzzle)).or_insert(0) += 1;
                }
                let ratings: Vec<String> = ratings.iter().map(|(r, k)| format!("{r}:{k}")).collect();
                println!("{} puzzles; ratings {}", puzzles.len(), ratings.join(" "));
                println!("wrote {}", path.display());
                return Ok(());
            }
            let out = src.out()?;
            (sudoku::build(&sudoku::SudokuBuild { sources, augmentations: aug, ratings: rating }, &mut progress)?, out)
        }
        DataCommand::Maze { src, size, hard, aug } => {
            let out = src.out()?;
            let sources = src.sources(maze::MazeGen::new(size, hard))?;
            (maze::build(&maze::MazeBuild { sources, augment: aug }, &mut progress)?, out)
        }
        DataCommand::Arc { from, aug, seed, skip_bad, out } => (
            arc::build(
                &arc::ArcBuild { path: from, augmentations: aug, translate: true, seed, skip_bad },
                &mut progress,
            )?,
            out,
        ),
    };
    b.finish_and_clear();
    built.save(&out)?;
    println!("{}", built.summary);
    println!("wrote {}", out.display());
    Ok(())
}
