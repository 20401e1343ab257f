//! Maze files (the official CSV layout `source,question,answer,rating`, or headerless `question,answer`)
//! and the maze train/test builder. With augmentation every training maze forms a group with its 8
//! dihedral images (augmentation code = transform id); the test split is never augmented.

use super::{check_path, dihedral, generate_many, shortest_distance, side, to_tokens, Maze, MazeGen, VOCAB};
use crate::data::dataset::{histogram, Built, Dataset};
use crate::data::input::{column, csv_records, read_text, Loaded};
use crate::data::source::{Maker, Source, Sources};
use crate::rng::SplitMix64;
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::path::Path;

pub type MazeSource = Source<MazeGen>;

#[derive(Clone, Debug)]
pub struct MazeBuild {
    pub sources: Sources<MazeGen>,
    /// Add the 8 dihedral images of every training maze (the official builder's default is off).
    pub augment: bool,
}

/// Reads a maze CSV; errors name the file and 1-based line (with `skip_bad`, bad lines are counted).
pub fn read_file(path: &Path, skip_bad: bool) -> Result<Loaded<Maze>> {
    let name = path.display().to_string();
    let mut out = Loaded::default();
    let mut columns = None;
    let mut cells = None;
    let text = read_text(path)?;
    // Fields are not trimmed: spaces are open cells.
    for record in csv_records(&text, &name, false) {
        let (line, f) = record?;
        if columns.is_none() {
            if let (Some(q), Some(a)) = (column(&f, &["question"]), column(&f, &["answer"])) {
                columns = Some((q, a));
                continue;
            }
            columns = Some(if f.len() >= 4 { (1, 2) } else { (0, 1) });
        }
        let (q, a) = columns.unwrap();
        let record = parse_record(&f, q, a, &mut cells).map_err(|e| anyhow!("{name}:{line}: {e:#}"));
        out.push(record, skip_bad)?;
    }
    Ok(out)
}

/// One maze; the first fixes the size for the whole file.
fn parse_record(f: &csv::StringRecord, q: usize, a: usize, cells: &mut Option<usize>) -> Result<Maze> {
    if f.len() <= q.max(a) {
        bail!("line has {} fields, expected {}", f.len(), q.max(a) + 1);
    }
    let question = to_tokens(&f[q]).map_err(|e| anyhow!("question: {e}"))?;
    let answer = to_tokens(&f[a]).map_err(|e| anyhow!("answer: {e}"))?;
    side(question.len())?;
    let expected = *cells.get_or_insert(question.len());
    if question.len() != expected {
        bail!("maze has {} cells, the file's first has {expected}", question.len());
    }
    shortest_distance(&question).map_err(|e| anyhow!("question: {e}"))?;
    check_path(&question, &answer).map_err(|e| anyhow!("answer is not a shortest path: {e}"))?;
    Ok(Maze { question, answer })
}

fn question(m: &Maze) -> &[u8] {
    &m.question
}

fn path_length(m: &Maze) -> usize {
    shortest_distance(&m.question).ok().flatten().unwrap_or(0)
}

/// Builds the maze train and test datasets. `progress(done, total)` follows maze generation.
pub fn build(opts: &MazeBuild, progress: &mut dyn FnMut(usize, usize)) -> Result<Built> {
    let maker = Maker { read: read_file, generate: generate_many, key: question, keep: Box::new(|_| true) };
    let mut rng = SplitMix64::new(opts.sources.seed);
    let split = opts.sources.load(&maker, &mut rng, progress)?;
    let Some(cells) = split.train.first().or(split.test.first()).map(|m| m.question.len()) else { bail!("no mazes") };
    if let Some(m) = split.train.iter().chain(&split.test).find(|m| m.question.len() != cells) {
        bail!(
            "mixed maze sizes: {cells} and {} cells; every --from file and --generate must give one size",
            m.question.len()
        );
    }
    let src = &opts.sources;
    let augs: u8 = if opts.augment { 8 } else { 1 };
    let meta = |split: &str, source: String, augmentations: u8| {
        json!({
            "task": "maze", "split": split, "size": side(cells).unwrap_or(0), "source": source,
            "augmentations": augmentations - 1, "seed": src.seed, "ignore_label_id": 0, "blank_identifier_id": 0,
        })
    };
    let mut train = Dataset::new(cells, VOCAB, meta("train", Source::describe_all(&src.train), augs));
    let mut test = Dataset::new(
        cells,
        VOCAB,
        meta("test", src.test.as_ref().map_or_else(|| Source::describe_all(&src.train), Source::describe), 1),
    );
    for (ds, mazes, augs) in [(&mut train, &split.train, augs), (&mut test, &split.test, 1)] {
        for m in mazes {
            for t in 0..augs {
                ds.push(&dihedral(&m.question, t), &dihedral(&m.answer, t), 0);
                ds.end_puzzle(t as u32);
            }
            ds.end_group();
        }
    }
    let mut built = Built::new("maze", train, test);
    built.summary.histograms = vec![
        ("train path length".into(), histogram(split.train.iter().map(path_length))),
        ("test path length".into(), histogram(split.test.iter().map(path_length))),
    ];
    built.summary.skipped = split.skipped;
    Ok(built)
}
