//! ARC-AGI: tasks of demonstration (train) pairs and test pairs over colour grids of at most 30x30.
//! Read from a combined bundle (`{"train": {id: task}, "eval": {id: task}}`) or a folder of `<id>.json`
//! files (tasks under an `evaluation`/`eval` folder are evaluation tasks, all others training tasks).
//! Serialised as the official builder: the grid on a 30x30 canvas, EOS on the row below and the column
//! right of it; tokens PAD 0, EOS 1, colour c -> c + 2 (vocab 12).

mod augment;
mod build;
mod eval;

pub use augment::ArcAug;
pub use build::{build, ArcBuild};
pub use eval::{answers, answers_from_dataset, evaluate, origins, Candidate, Origin, Prediction, Report, PASS_KS};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;
use std::path::Path;

pub const CANVAS: usize = 30;
pub const SEQ_LEN: usize = CANVAS * CANVAS;
pub const PAD: u8 = 0;
pub const EOS: u8 = 1;
pub const VOCAB: usize = 12;

/// A colour grid, row-major.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grid {
    pub h: usize,
    pub w: usize,
    pub cells: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub input: Grid,
    /// Missing for hidden test outputs.
    pub output: Option<Grid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub train: Vec<Pair>,
    pub test: Vec<Pair>,
}

/// Training and evaluation tasks, sorted by id, plus the messages of tasks skipped under `skip_bad`.
#[derive(Clone, Debug, Default)]
pub struct ArcData {
    pub train: Vec<Task>,
    pub eval: Vec<Task>,
    pub skipped: Vec<String>,
}

impl Grid {
    /// Checks shape (1..=30 rows of equal length 1..=30) and colours (0..=9).
    pub fn from_rows(rows: &[Vec<u8>]) -> Result<Grid> {
        let h = rows.len();
        let w = rows.first().map_or(0, Vec::len);
        ensure!((1..=CANVAS).contains(&h) && (1..=CANVAS).contains(&w), "grid is {h}x{w}, expected 1..30 x 1..30");
        if let Some(r) = rows.iter().position(|row| row.len() != w) {
            bail!("row {r} has {} cells, expected {w}", rows[r].len());
        }
        let cells: Vec<u8> = rows.concat();
        if let Some(c) = cells.iter().find(|&&c| c > 9) {
            bail!("colour {c} out of range 0..9");
        }
        Ok(Grid { h, w, cells })
    }

    pub fn rows(&self) -> Vec<Vec<u8>> {
        self.cells.chunks(self.w.max(1)).map(<[u8]>::to_vec).collect()
    }
}

/// The grid placed at `(row, col)` on the canvas with its EOS border, as tokens.
pub fn to_canvas(grid: &Grid, row: usize, col: usize) -> Vec<u8> {
    assert!(row + grid.h <= CANVAS && col + grid.w <= CANVAS, "grid does not fit the canvas");
    let mut out = vec![PAD; SEQ_LEN];
    for r in 0..grid.h {
        for c in 0..grid.w {
            out[(row + r) * CANVAS + col + c] = grid.cells[r * grid.w + c] + 2;
        }
    }
    let (end_r, end_c) = (row + grid.h, col + grid.w);
    if end_r < CANVAS {
        out[end_r * CANVAS + col..end_r * CANVAS + end_c].fill(EOS);
    }
    if end_c < CANVAS {
        for r in row..end_r {
            out[r * CANVAS + end_c] = EOS;
        }
    }
    out
}

/// The grid at the top-left of a canvas: the largest top-left rectangle of colour tokens (as the official
/// evaluator crops predictions). Empty (0x0) when the first cell is not a colour.
pub fn crop(tokens: &[u8]) -> Grid {
    assert_eq!(tokens.len(), SEQ_LEN, "canvas must have {SEQ_LEN} tokens");
    let is_colour = |t: u8| (2..12).contains(&t);
    let (mut best, mut size, mut width) = (0, (0, 0), CANVAS);
    for r in 0..CANVAS {
        width = (0..width).find(|&c| !is_colour(tokens[r * CANVAS + c])).unwrap_or(width);
        if (r + 1) * width > best {
            best = (r + 1) * width;
            size = (r + 1, width);
        }
    }
    let (h, w) = size;
    let cells = (0..h).flat_map(|r| tokens[r * CANVAS..r * CANVAS + w].iter().map(|t| t - 2)).collect();
    Grid { h, w, cells }
}

#[derive(Deserialize)]
struct RawPair {
    input: Vec<Vec<u8>>,
    output: Option<Vec<Vec<u8>>>,
}

#[derive(Deserialize)]
struct RawTask {
    train: Vec<RawPair>,
    test: Vec<RawPair>,
}

/// Parses one task object; errors say which pair and grid is wrong (the caller adds the task id).
pub fn parse_task(id: &str, value: serde_json::Value) -> Result<Task> {
    let raw: RawTask = serde_json::from_value(value)?;
    let pairs = |raw: Vec<RawPair>, split: &str, need_output: bool| -> Result<Vec<Pair>> {
        ensure!(!raw.is_empty(), "no {split} pairs");
        let mut out = Vec::with_capacity(raw.len());
        for (i, p) in raw.into_iter().enumerate() {
            let input = Grid::from_rows(&p.input).with_context(|| format!("{split} pair {i} input"))?;
            let output = match p.output {
                Some(rows) => Some(Grid::from_rows(&rows).with_context(|| format!("{split} pair {i} output"))?),
                None if need_output => bail!("{split} pair {i} has no output"),
                None => None,
            };
            out.push(Pair { input, output });
        }
        Ok(out)
    };
    Ok(Task { id: id.to_string(), train: pairs(raw.train, "train", true)?, test: pairs(raw.test, "test", false)? })
}

impl ArcData {
    /// Adds a task read from `source`, or handles its error.
    fn add(&mut self, source: &Path, eval: bool, id: &str, value: serde_json::Value, skip_bad: bool) -> Result<()> {
        match parse_task(id, value) {
            Ok(task) if eval => self.eval.push(task),
            Ok(task) => self.train.push(task),
            Err(e) if skip_bad => self.skipped.push(format!("{}: task {id}: {e:#}", source.display())),
            Err(e) => bail!("{}: task {id}: {e:#}", source.display()),
        }
        Ok(())
    }
}

/// Reads a bundle file or a task folder (see the module notes). Bad tasks are errors naming the task, or
/// counted in `skipped` with `skip_bad`.
pub fn read(path: &Path, skip_bad: bool) -> Result<ArcData> {
    let mut data = ArcData::default();
    if path.is_dir() {
        let mut files = Vec::new();
        list_json(path, &mut files)?;
        for file in files {
            let rel = file.strip_prefix(path).unwrap_or(&file);
            let eval = rel.components().any(|c| matches!(c.as_os_str().to_str(), Some("evaluation" | "eval")));
            let id = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let value = read_json(&file)?;
            data.add(&file, eval, &id, value, skip_bad)?;
        }
    } else {
        let serde_json::Value::Object(bundle) = read_json(path)? else {
            bail!("{}: expected an object {{\"train\": {{..}}, \"eval\": {{..}}}}", path.display());
        };
        for (split, tasks) in bundle {
            let eval = match split.as_str() {
                "train" | "training" => false,
                "eval" | "evaluation" => true,
                other => bail!("{}: unknown split {other:?} (expected train or eval)", path.display()),
            };
            let serde_json::Value::Object(tasks) = tasks else {
                bail!("{}: split {split:?} is not an object of tasks", path.display());
            };
            for (id, value) in tasks {
                data.add(path, eval, &id, value, skip_bad)?;
            }
        }
    }
    data.train.sort_by(|a, b| a.id.cmp(&b.id));
    data.eval.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(data)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = crate::data::input::read_text(path)?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid JSON: {e}", path.display()))
}

/// All `*.json` files under `dir`, recursively, sorted.
fn list_json(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    let mut paths: Vec<_> = entries.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
    paths.sort();
    for p in paths {
        if p.is_dir() {
            list_json(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    Ok(())
}
