//! Builds the Sudoku train/test datasets: every training puzzle forms a group with its augmentations;
//! test puzzles are not augmented. All puzzle identifiers are 0 (Sudoku has no per-puzzle embedding).

use super::{clues, format_grid, generate_many, rate, read_file, side, to_tokens, Augment, GenOptions, Puzzle, Rating};
use crate::data::dataset::{histogram, Built, Dataset};
use crate::data::source::{Maker, Source, Sources};
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use serde_json::json;

pub type SudokuSource = Source<GenOptions>;

#[derive(Clone, Debug)]
pub struct SudokuBuild {
    pub sources: Sources<GenOptions>,
    /// Augmentations per training puzzle (official: 1000).
    pub augmentations: usize,
    /// Keep only puzzles read from files with one of these ratings (empty: all).
    pub ratings: Vec<Rating>,
}

fn question(p: &Puzzle) -> &[u8] {
    &p.puzzle
}

/// Reads, generates and keys puzzles; puzzles read from files are kept when `ratings` is empty or holds
/// their rating.
fn maker(ratings: &[Rating]) -> Maker<Puzzle, GenOptions> {
    let ratings = ratings.to_vec();
    Maker {
        read: read_file,
        generate: generate_many,
        key: question,
        keep: Box::new(move |p: &Puzzle| ratings.is_empty() || ratings.contains(&rate(&p.puzzle))),
    }
}

/// Every puzzle of the training sources, in order (no split, no augmentation), e.g. to write as CSV;
/// puzzles read from files are kept when `ratings` is empty or holds their rating.
pub fn pool(
    sources: &Sources<GenOptions>,
    ratings: &[Rating],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Puzzle>> {
    let sources = Sources { test: None, holdout: 0, max_train: None, ..sources.clone() };
    let mut rng = SplitMix64::new(sources.seed);
    Ok(sources.load(&maker(ratings), &mut rng, progress)?.train)
}

/// Writes puzzles as CSV (`puzzle,solution,clues,rating`; '.' for blanks), which `read_file` reads back.
pub fn write_csv(path: &std::path::Path, puzzles: &[Puzzle]) -> Result<()> {
    let mut text = String::from("puzzle,solution,clues,rating\n");
    for p in puzzles {
        let line = format!(
            "{},{},{},{}\n",
            format_grid(&p.puzzle),
            format_grid(&p.solution),
            clues(&p.puzzle),
            rate(&p.puzzle)
        );
        text += &line;
    }
    crate::files::write_atomic(path, text.as_bytes())
}

/// The embedded default that `trm-gpu train` and `ablate` use without --data: 2000 generated 4×4 puzzles with 8
/// of 16 cells given (a unique solution each), 200 held out, 3 augmentations each. Returns (train, test).
pub fn embedded_default(seed: u64) -> Result<(Dataset, Dataset)> {
    let options = GenOptions { clues: Some((8, 8)), ..GenOptions::new(4, false) };
    let sources = Sources {
        train: vec![Source::Generate { count: 2000, options }],
        test: None,
        holdout: 200,
        max_train: None,
        seed,
        skip_bad: false,
    };
    let built = build(&SudokuBuild { sources, augmentations: 3, ratings: Vec::new() }, &mut |_, _| {})?;
    Ok((built.train, built.test))
}

/// Builds the train and test datasets. `progress(done, total)` follows puzzle generation.
pub fn build(opts: &SudokuBuild, progress: &mut dyn FnMut(usize, usize)) -> Result<Built> {
    let mut rng = SplitMix64::new(opts.sources.seed);
    let split = opts.sources.load(&maker(&opts.ratings), &mut rng, progress)?;
    let Some(cells) = split.train.first().or(split.test.first()).map(|p| p.puzzle.len()) else { bail!("no puzzles") };
    if let Some(p) = split.train.iter().chain(&split.test).find(|p| p.puzzle.len() != cells) {
        bail!("mixed grid sizes: {cells} and {} cells", p.puzzle.len());
    }
    let n = side(cells)?;

    let src = &opts.sources;
    let meta = |split: &str, source: String, augmentations: usize| {
        json!({
            "task": "sudoku", "split": split, "size": n, "source": source,
            "augmentations": augmentations, "seed": src.seed, "ignore_label_id": 0, "blank_identifier_id": 0,
        })
    };
    let mut train = Dataset::new(cells, n + 2, meta("train", Source::describe_all(&src.train), opts.augmentations));
    let mut test = Dataset::new(
        cells,
        n + 2,
        meta("test", src.test.as_ref().map_or_else(|| Source::describe_all(&src.train), Source::describe), 0),
    );
    for p in &split.train {
        train.push(&to_tokens(&p.puzzle), &to_tokens(&p.solution), 0);
        train.end_puzzle(0);
        for k in 1..=opts.augmentations {
            let aug = Augment::random(n, &mut rng);
            train.push(&to_tokens(&aug.apply(&p.puzzle)), &to_tokens(&aug.apply(&p.solution)), 0);
            train.end_puzzle(k as u32);
        }
        train.end_group();
    }
    for p in &split.test {
        test.push(&to_tokens(&p.puzzle), &to_tokens(&p.solution), 0);
        test.end_puzzle(0);
        test.end_group();
    }
    let mut built = Built::new("sudoku", train, test);
    built.summary.histograms = vec![
        ("train clues".into(), histogram(split.train.iter().map(|p| clues(&p.puzzle)))),
        ("test clues".into(), histogram(split.test.iter().map(|p| clues(&p.puzzle)))),
    ];
    built.summary.skipped = split.skipped;
    Ok(built)
}
