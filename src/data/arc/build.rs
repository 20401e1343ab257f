//! ARC train/test builder, as the official one: each task and its augmented variants form a group, every
//! variant is a puzzle with its own identifier (0 is the blank identifier). Training tasks (all pairs) and the
//! demonstration pairs of evaluation tasks go to the train split; the evaluation tasks' test pairs, under the
//! same identifiers, form the test split. Grids are translated at random on the train split only.

use super::{read, to_canvas, ArcAug, Grid, Pair, Task, CANVAS, PAD, SEQ_LEN, VOCAB};
use crate::data::dataset::{histogram, Built, Dataset};
use crate::rng::SplitMix64;
use anyhow::Result;
use serde_json::json;
use std::borrow::Borrow;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct ArcBuild {
    /// A bundle file or a task folder.
    pub path: PathBuf,
    /// Augmented variants per task besides the original (official: 1000).
    pub augmentations: usize,
    /// Random translation of the train split (official: on).
    pub translate: bool,
    pub seed: u64,
    pub skip_bad: bool,
}

/// FNV-1a 64 over the shapes and cells of grids: identifies an augmented task for deduplication.
fn grids_hash<G: Borrow<Grid>>(grids: impl Iterator<Item = G>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for g in grids {
        let g = g.borrow();
        for &b in [g.h as u8, g.w as u8].iter().chain(&g.cells) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn all_grids(task: &Task) -> impl Iterator<Item = &Grid> {
    task.train.iter().chain(&task.test).flat_map(|p| std::iter::once(&p.input).chain(&p.output))
}

/// The original plus up to `n` distinct random variants (5n tries, as the official builder). A task with fewer
/// distinct variants (a 1×1 grid has a handful) stops after 1000 tries in a row find nothing new.
fn variants(task: &Task, n: usize, rng: &mut SplitMix64) -> Vec<ArcAug> {
    let mut out = vec![ArcAug::IDENTITY];
    let mut seen = HashSet::from([grids_hash(all_grids(task))]);
    let mut misses = 0;
    for _ in 0..5 * n {
        if out.len() > n || misses == 1000 {
            break;
        }
        let aug = ArcAug::random(rng);
        if seen.insert(grids_hash(all_grids(task).map(|g| aug.apply(g)))) {
            out.push(aug);
            misses = 0;
        } else {
            misses += 1;
        }
    }
    out
}

/// Adds the pairs (augmented) as examples, translated at random when given `rng`. A pair without an output
/// gets ignored (PAD) labels.
fn push_pairs(ds: &mut Dataset, pairs: &[Pair], aug: &ArcAug, id: u32, mut rng: Option<&mut SplitMix64>) {
    for p in pairs {
        let input = aug.apply(&p.input);
        let output = p.output.as_ref().map(|o| aug.apply(o));
        let (h, w) = output.as_ref().map_or((input.h, input.w), |o| (input.h.max(o.h), input.w.max(o.w)));
        let (r, c) = match rng.as_deref_mut() {
            Some(rng) => (rng.below(CANVAS - h + 1), rng.below(CANVAS - w + 1)),
            None => (0, 0),
        };
        let label = output.map_or(vec![PAD; SEQ_LEN], |o| to_canvas(&o, r, c));
        ds.push(&to_canvas(&input, r, c), &label, id);
    }
}

/// Builds the ARC train and test datasets; `progress(done, total)` counts tasks.
pub fn build(opts: &ArcBuild, progress: &mut dyn FnMut(usize, usize)) -> Result<Built> {
    let data = read(&opts.path, opts.skip_bad)?;
    let mut rng = SplitMix64::new(opts.seed);
    let source = opts.path.display().to_string();
    let names = |tasks: &[Task]| tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let meta = |split: &str, groups: Vec<String>| {
        json!({
            "task": "arc", "split": split, "source": source, "augmentations": opts.augmentations,
            "translate": opts.translate && split == "train", "seed": opts.seed, "ignore_label_id": 0,
            "blank_identifier_id": 0, "group_names": groups,
        })
    };
    let all: Vec<Task> = data.train.iter().chain(&data.eval).cloned().collect();
    anyhow::ensure!(!all.is_empty(), "{source}: no ARC tasks found (expected task JSON files or an ARC-AGI bundle)");
    let mut train = Dataset::new(SEQ_LEN, VOCAB, meta("train", names(&all)));
    let mut test = Dataset::new(SEQ_LEN, VOCAB, meta("test", names(&data.eval)));
    let mut next_id = 1u32;
    let mut group_sizes = Vec::new();
    for (k, task) in all.iter().enumerate() {
        let is_eval = k >= data.train.len();
        let mut task_rng = rng.fork();
        let augs = variants(task, opts.augmentations, &mut task_rng);
        for aug in &augs {
            let mut translate = opts.translate.then_some(&mut task_rng);
            push_pairs(&mut train, &task.train, aug, next_id, translate.as_deref_mut());
            if is_eval {
                push_pairs(&mut test, &task.test, aug, next_id, None);
                test.end_puzzle(aug.code());
            } else {
                push_pairs(&mut train, &task.test, aug, next_id, translate);
            }
            train.end_puzzle(aug.code());
            next_id += 1;
        }
        train.end_group();
        if is_eval {
            test.end_group();
        }
        group_sizes.push(augs.len());
        progress(k + 1, all.len());
    }
    train.num_puzzle_identifiers = next_id as usize;
    test.num_puzzle_identifiers = next_id as usize;
    let mut built = Built::new("arc", train, test);
    built.summary.histograms = vec![("variants per task".into(), histogram(group_sizes))];
    built.summary.skipped = data.skipped;
    Ok(built)
}
