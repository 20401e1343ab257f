//! Where the puzzles of a train/test pair come from (files or a generator), shared by Sudoku and mazes.

use crate::data::input::Loaded;
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub enum Source<G> {
    /// A file in a layout the task's reader accepts.
    File(PathBuf),
    /// `count` generated puzzles.
    Generate { count: usize, options: G },
}

/// The train and test sources of a build.
#[derive(Clone, Debug)]
pub struct Sources<G> {
    /// The training pool: every source's puzzles together (a generated source never repeats an earlier one's).
    pub train: Vec<Source<G>>,
    /// `None` holds out `holdout` random puzzles of the training source as the test split.
    pub test: Option<Source<G>>,
    pub holdout: usize,
    /// Keep a random subset of at most this many training puzzles.
    pub max_train: Option<usize>,
    pub seed: u64,
    /// Skip bad input records (counted in the summary) instead of failing.
    pub skip_bad: bool,
}

impl<G: std::fmt::Debug> Source<G> {
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Generate { count, options } => format!("generated {count}: {options:?}"),
        }
    }

    /// Several sources, as one line.
    pub fn describe_all(sources: &[Source<G>]) -> String {
        sources.iter().map(Source::describe).collect::<Vec<_>>().join(" + ")
    }

    fn count(&self) -> usize {
        match self {
            Source::File(_) => 0,
            Source::Generate { count, .. } => *count,
        }
    }
}

/// A generator: `(count, options, seed, exclude, progress)` -> distinct puzzles whose key is not in `exclude`.
pub(crate) type GenerateFn<T, G> =
    fn(usize, &G, u64, &HashSet<Vec<u8>>, &mut dyn FnMut(usize, usize)) -> Result<Vec<T>>;

/// How a task reads and generates its puzzles.
pub(crate) struct Maker<T, G> {
    pub read: fn(&Path, bool) -> Result<Loaded<T>>,
    pub generate: GenerateFn<T, G>,
    /// The part of a puzzle that must differ between train and test (its question).
    pub key: fn(&T) -> &[u8],
    /// Which puzzles read from files to keep (generators only make puzzles they keep).
    pub keep: Box<dyn Fn(&T) -> bool>,
}

/// Training and test puzzles, and the messages of skipped bad records.
pub(crate) struct Split<T> {
    pub train: Vec<T>,
    pub test: Vec<T>,
    pub skipped: Vec<String>,
}

impl<G: std::fmt::Debug> Sources<G> {
    /// Loads both splits; `progress(done, total)` follows generation. Shuffling uses `rng`.
    pub(crate) fn load<T>(
        &self,
        maker: &Maker<T, G>,
        rng: &mut SplitMix64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Split<T>> {
        let train_count: usize = self.train.iter().map(Source::count).sum();
        let total = train_count + self.test.as_ref().map_or(0, |t| t.count());
        let mut skipped = Vec::new();
        let mut load = |src: &Source<G>, seed: u64, exclude: &HashSet<Vec<u8>>, done: usize| -> Result<Vec<T>> {
            match src {
                Source::File(path) => {
                    let mut loaded = (maker.read)(path, self.skip_bad)?;
                    skipped.append(&mut loaded.skipped);
                    loaded.items.retain(|t| (maker.keep)(t));
                    if loaded.items.is_empty() {
                        bail!("{}: no puzzle kept", path.display());
                    }
                    Ok(loaded.items)
                }
                Source::Generate { count, options } => {
                    (maker.generate)(*count, options, seed, exclude, &mut |d, _| progress(done + d, total))
                }
            }
        };
        if self.train.is_empty() {
            bail!("no training source");
        }
        let mut train = Vec::new();
        let mut done = 0;
        for (i, src) in self.train.iter().enumerate() {
            let exclude = if i == 0 { HashSet::new() } else { train.iter().map(|t| (maker.key)(t).to_vec()).collect() };
            let seed = self.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            train.append(&mut load(src, seed, &exclude, done)?);
            done += src.count();
        }
        // One copy of each puzzle, so a repeated one can never land in both splits.
        let mut seen = HashSet::new();
        let before = train.len();
        train.retain(|t| seen.insert((maker.key)(t).to_vec()));
        let repeated = before - train.len();
        let test = match &self.test {
            Some(src) => {
                let exclude = train.iter().map(|t| (maker.key)(t).to_vec()).collect();
                load(src, self.seed ^ 0x7e57_7e57_7e57_7e57, &exclude, train_count)?
            }
            None => {
                if self.holdout >= train.len() {
                    bail!("cannot hold out {} test puzzles from {}", self.holdout, train.len());
                }
                if self.holdout == 0 {
                    Vec::new() // nothing to draw: the pool keeps its order
                } else {
                    rng.shuffle(&mut train);
                    train.split_off(train.len() - self.holdout)
                }
            }
        };
        if repeated > 0 {
            skipped.push(format!("{repeated} repeated puzzles dropped from the training sources"));
        }
        if let Some(max) = self.max_train.filter(|&m| m < train.len()) {
            rng.shuffle(&mut train);
            train.truncate(max);
        }
        Ok(Split { train, test, skipped })
    }
}

/// `count` distinct items from `make` (compared by `key`), none of them in `exclude`, deterministic given
/// `seed`; `progress(done, count)` after each. Fails when duplicates keep coming (`what` names the items).
pub(crate) fn distinct<T>(
    count: usize,
    seed: u64,
    exclude: &HashSet<Vec<u8>>,
    key: fn(&T) -> &[u8],
    what: &str,
    progress: &mut dyn FnMut(usize, usize),
    mut make: impl FnMut(&mut SplitMix64) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rng = SplitMix64::new(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    let mut duplicates = 0;
    while out.len() < count {
        let item = make(&mut rng)?;
        if exclude.contains(key(&item)) || !seen.insert(key(&item).to_vec()) {
            duplicates += 1;
            if duplicates > 100 * count + 1000 {
                bail!("only {} distinct {what} found", out.len());
            }
            continue;
        }
        out.push(item);
        progress(out.len(), count);
    }
    Ok(out)
}
