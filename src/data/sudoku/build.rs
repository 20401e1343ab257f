//! Builds the Sudoku train/test datasets: every training puzzle forms a group with its augmentations;
//! test puzzles are not augmented. All puzzle identifiers are 0 (Sudoku has no per-puzzle embedding).

use super::{clues, generate_many, read_file, side, to_tokens, Augment, GenOptions, Puzzle};
use crate::data::dataset::{histogram, Built, Dataset};
use crate::data::rng::SplitMix64;
use crate::data::source::{Maker, Source, Sources};
use anyhow::{bail, Result};
use serde_json::json;

pub type SudokuSource = Source<GenOptions>;

#[derive(Clone, Debug)]
pub struct SudokuBuild {
    pub sources: Sources<GenOptions>,
    /// Augmentations per training puzzle (official: 1000).
    pub augmentations: usize,
}

fn question(p: &Puzzle) -> &[u8] {
    &p.puzzle
}

/// Builds the train and test datasets. `progress(done, total)` follows puzzle generation.
pub fn build(opts: &SudokuBuild, progress: &mut dyn FnMut(usize, usize)) -> Result<Built> {
    let maker = Maker {
        read: read_file,
        generate: generate_many,
        key: question,
    };
    let mut rng = SplitMix64::new(opts.sources.seed);
    let split = opts.sources.load(&maker, &mut rng, progress)?;
    let Some(cells) = split
        .train
        .first()
        .or(split.test.first())
        .map(|p| p.puzzle.len())
    else {
        bail!("no puzzles")
    };
    if let Some(p) = split
        .train
        .iter()
        .chain(&split.test)
        .find(|p| p.puzzle.len() != cells)
    {
        bail!("mixed grid sizes: {cells} and {} cells", p.puzzle.len());
    }
    let n = side(cells)?;

    let src = &opts.sources;
    let meta = |split: &str, source: &SudokuSource, augmentations: usize| {
        json!({
            "task": "sudoku", "split": split, "size": n, "source": source.describe(),
            "augmentations": augmentations, "seed": src.seed, "ignore_label_id": 0, "blank_identifier_id": 0,
        })
    };
    let mut train = Dataset::new(cells, n + 2, meta("train", &src.train, opts.augmentations));
    let mut test = Dataset::new(
        cells,
        n + 2,
        meta("test", src.test.as_ref().unwrap_or(&src.train), 0),
    );
    for p in &split.train {
        train.push(&to_tokens(&p.puzzle), &to_tokens(&p.solution), 0);
        train.end_puzzle(0);
        for k in 1..=opts.augmentations {
            let aug = Augment::random(n, &mut rng);
            train.push(
                &to_tokens(&aug.apply(&p.puzzle)),
                &to_tokens(&aug.apply(&p.solution)),
                0,
            );
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
        (
            "train clues".into(),
            histogram(split.train.iter().map(|p| clues(&p.puzzle))),
        ),
        (
            "test clues".into(),
            histogram(split.test.iter().map(|p| clues(&p.puzzle))),
        ),
    ];
    built.summary.skipped = split.skipped;
    Ok(built)
}
