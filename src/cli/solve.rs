//! `trm-gpu solve`: one puzzle (a Sudoku, a maze or an ARC task), step by step, with the halting confidence
//! and an honest verdict.

use super::GpuArgs;
use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use std::io::Read;
use std::path::PathBuf;
use trm_gpu::data::arc::{self, Grid};
use trm_gpu::data::dataset::Dataset;
use trm_gpu::data::{maze, sudoku};
use trm_gpu::files::write_atomic;
use trm_gpu::model::infer::{argmax_tokens, confidence, halt_threshold, plan_for, Solver};
use trm_gpu::model::Config;
use trm_gpu::solve::{parse_puzzle, view, StepView};
use trm_gpu::train::checkpoint;

#[derive(Args)]
pub struct SolveArgs {
    /// A model.safetensors (or a run's checkpoint directory)
    #[arg(long)]
    checkpoint: PathBuf,
    /// The puzzle: a Sudoku (81 or 16 cells, '.' or '0' for blanks, separators allowed), a maze (rows over
    /// "# SGo"), or an ARC task JSON; '-' or nothing reads stdin
    puzzle: Option<String>,
    /// Stop when sigmoid(q_halt) > τ
    #[arg(long, default_value_t = 0.5, value_parser = super::parse_tau)]
    halt: f64,
    /// Run every supervision step, ignoring halting
    #[arg(long)]
    all_steps: bool,
    /// Sudoku: draw the puzzle and the final answer, marking wrong or conflicting cells
    #[arg(long)]
    png: Option<PathBuf>,
    /// Also write every step's answer as JSON here
    #[arg(long)]
    json: Option<PathBuf>,
    /// A Sudoku puzzle file (any layout `data sudoku --from` reads) to take the puzzle from, instead of PUZZLE;
    /// ARC: the dataset directory the model was trained on, to find the task's puzzle embedding
    #[arg(long)]
    data: Option<PathBuf>,
    /// With a puzzle file in --data: which puzzle to solve (1 is the first; default 1)
    #[arg(long)]
    index: Option<usize>,
}

/// What the text holds.
enum Puzzle {
    /// Digits, 0 for blanks.
    Sudoku(Vec<u8>),
    /// Maze tokens.
    Maze(Vec<u8>),
    /// The test inputs of an ARC task, with their expected outputs where the JSON has them.
    Arc(Vec<(Grid, Option<Grid>)>),
}

impl Puzzle {
    /// An ARC task is a JSON object; a maze has walls ('#'); anything else is read as a Sudoku.
    fn read(text: &str, cfg: &Config) -> Result<Puzzle> {
        let t = text.trim();
        if t.starts_with('{') {
            let value = serde_json::from_str(t).context("the ARC task is not valid JSON")?;
            let task = arc::parse_task("task", value).context("the ARC task")?;
            return Ok(Puzzle::Arc(task.test.into_iter().map(|p| (p.input, p.output)).collect()));
        }
        if t.contains('#') {
            let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let n = rows.len();
            for (i, r) in rows.iter().enumerate() {
                ensure!(
                    r.chars().count() == n,
                    "maze row {} has {} characters; a {n}-row maze needs {n} in every row",
                    i + 1,
                    r.chars().count()
                );
            }
            let tokens = maze::to_tokens(&rows.concat()).context("the maze")?;
            maze::shortest_distance(&tokens).context("the maze")?;
            return Ok(Puzzle::Maze(tokens));
        }
        Ok(Puzzle::Sudoku(parse_puzzle(text, cfg)?))
    }

    /// The model's input tokens: one sequence, or one per ARC test input.
    fn inputs(&self) -> Vec<Vec<u8>> {
        match self {
            Puzzle::Sudoku(p) => vec![sudoku::to_tokens(p)],
            Puzzle::Maze(m) => vec![m.clone()],
            Puzzle::Arc(tests) => tests.iter().map(|(g, _)| arc::to_canvas(g, 0, 0)).collect(),
        }
    }
}

/// One step's answer, for the JSON output.
#[derive(serde::Serialize)]
struct Answer {
    test: usize,
    step: usize,
    q_halt: f32,
    confidence: f32,
    /// The answer as text rows.
    rows: Vec<String>,
}

pub fn solve(g: &GpuArgs, a: SolveArgs) -> Result<()> {
    let path = checkpoint::model_path(&a.checkpoint);
    let (cfg, w) = checkpoint::load_weights(&path)?;
    // --data names a puzzle file unless it is a (dataset) directory; a missing file is reported as such.
    let from_file = a.data.as_ref().filter(|d| !d.is_dir());
    if a.index.is_some() && from_file.is_none() {
        bail!("--index picks a puzzle from a puzzle file given with --data");
    }
    let text = match (from_file, a.puzzle.as_deref()) {
        (Some(_), Some(p)) => bail!("give the puzzle ({p:?}) or a puzzle file in --data, not both"),
        (Some(file), None) => {
            let puzzles = sudoku::read_file(file, false)?.items;
            let index = a.index.unwrap_or(1);
            ensure!(
                (1..=puzzles.len()).contains(&index),
                "--index {index}: {} has puzzles 1 to {}",
                file.display(),
                puzzles.len()
            );
            sudoku::format_grid(&puzzles[index - 1].puzzle)
        }
        (None, Some(p)) if p != "-" => p.to_string(),
        (None, _) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the puzzle from stdin")?;
            s
        }
    };
    let puzzle = Puzzle::read(&text, &cfg).context("the puzzle")?;
    let inputs = puzzle.inputs();
    let m = &cfg.model;
    for x in &inputs {
        let top = *x.iter().max().unwrap_or(&0) as usize;
        ensure!(
            x.len() == m.seq_len && top < m.vocab_size,
            "this model reads {} tokens over a vocabulary of {}, but the puzzle is {} tokens up to {top}: it was trained on another task or size",
            m.seq_len,
            m.vocab_size,
            x.len()
        );
    }
    if a.png.is_some() && !matches!(puzzle, Puzzle::Sudoku(_)) {
        bail!("--png draws Sudoku only");
    }
    let ids = match &puzzle {
        Puzzle::Arc(_) => arc_identifiers(&inputs, a.data.as_ref())?,
        _ => vec![0; inputs.len()],
    };

    let dev = g.open()?;
    let (prog, h, plan) = plan_for(&cfg, 1, dev.max_binding())?;
    let mut solver = Solver::new(dev.exec(&prog, &plan)?, h, &cfg, &w);
    let threshold = halt_threshold(a.halt);
    let side = (m.seq_len as f64).sqrt().round() as usize;
    let mut answers = Vec::new();
    let mut sudoku_views: Vec<StepView> = Vec::new();
    for (test, (x, &id)) in inputs.iter().zip(&ids).enumerate() {
        if inputs.len() > 1 {
            println!("test input {}", test + 1);
        }
        solver.start(x, id)?;
        let mut last = Vec::new();
        for _ in 0..m.halt_max_steps {
            let started = std::time::Instant::now();
            let (logits, q) = solver.step();
            let tokens = argmax_tokens(&logits, m.seq_len);
            let confidence = confidence(q);
            println!(
                "step {} (sigmoid(q_halt) {confidence:.3}, {:.0} ms)",
                solver.steps,
                started.elapsed().as_secs_f64() * 1e3
            );
            let rows = match &puzzle {
                Puzzle::Sudoku(p) => {
                    let v = view(solver.steps, p, &logits, q);
                    let line = sudoku::format_grid(&v.grid);
                    sudoku_views.push(v);
                    vec![line]
                }
                Puzzle::Maze(_) => maze::to_text(&tokens)
                    .chars()
                    .collect::<Vec<_>>()
                    .chunks(side)
                    .map(|r| r.iter().collect())
                    .collect(),
                Puzzle::Arc(_) => grid_rows(&arc::crop(&tokens)),
            };
            println!("{}", rows.join("\n"));
            answers.push(Answer { test, step: solver.steps, q_halt: q, confidence, rows });
            last = tokens;
            if q as f64 > threshold && !a.all_steps {
                break;
            }
        }
        match &puzzle {
            Puzzle::Sudoku(p) => {
                sudoku_verdict(p, sudoku_views.last().context("no supervision steps")?, a.png.as_ref())?
            }
            Puzzle::Maze(q) => match maze::check_path(q, &last) {
                Ok(()) => println!("solved: a shortest path from S to G ({} steps)", solver.steps),
                Err(e) => println!("NOT solved: {e}"),
            },
            Puzzle::Arc(tests) => {
                let got = arc::crop(&last);
                match &tests[test].1 {
                    Some(want) if *want == got => println!("correct: the answer equals the task's test output"),
                    Some(want) => println!(
                        "NOT correct: the answer is {}x{}, the expected output {}x{}{}",
                        got.h,
                        got.w,
                        want.h,
                        want.w,
                        if (got.h, got.w) == (want.h, want.w) {
                            format!(
                                ", {} cells differ",
                                got.cells.iter().zip(&want.cells).filter(|(a, b)| a != b).count()
                            )
                        } else {
                            String::new()
                        }
                    ),
                    None => println!("the task has no test output to compare with"),
                }
            }
        }
    }
    if let Some(p) = &a.json {
        let text = match &puzzle {
            Puzzle::Sudoku(_) => serde_json::to_string_pretty(&sudoku_views)?,
            _ => serde_json::to_string_pretty(&answers)?,
        };
        write_atomic(p, text.as_bytes())?;
    }
    Ok(())
}

fn sudoku_verdict(puzzle: &[u8], v: &StepView, png: Option<&PathBuf>) -> Result<()> {
    println!("{}", sudoku::pretty(&v.grid));
    if v.solved {
        println!("solved: a complete, valid grid that keeps every given ({} steps)", v.step);
    } else {
        println!(
            "NOT solved: {} empty cells, {} conflicting cells, {} changed givens",
            v.grid.iter().filter(|&&d| d == 0).count(),
            v.conflicts.len(),
            v.changed_givens.len()
        );
    }
    if let Some(p) = png {
        trm_gpu::charts::save_png(&trm_gpu::charts::puzzle::draw(puzzle, v)?, p)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn grid_rows(g: &Grid) -> Vec<String> {
    if g.h == 0 {
        return vec!["(no grid: the answer does not start with a colour)".into()];
    }
    g.cells.chunks(g.w).map(|r| r.iter().map(|c| char::from(b'0' + c)).collect()).collect()
}

/// The puzzle identifier of each ARC test input: the one the dataset gave the same input (original
/// orientation), or the blank identifier 0 when there is no dataset or no match.
fn arc_identifiers(inputs: &[Vec<u8>], data: Option<&PathBuf>) -> Result<Vec<u32>> {
    let Some(dir) = data else {
        println!("no --data: using the blank puzzle identifier (the model's task embeddings are not used)");
        return Ok(vec![0; inputs.len()]);
    };
    let test = Dataset::load(&dir.join("test.trmd"))?;
    let train = Dataset::load(&dir.join("train.trmd"))?;
    Ok(inputs
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let found = [&test, &train].iter().find_map(|d| {
                (0..d.len()).find(|&i| d.example(i).input == x.as_slice()).map(|i| d.example(i).puzzle_identifier)
            });
            if found.is_none() {
                println!("test input {}: not in {}; using the blank puzzle identifier", k + 1, dir.display());
            }
            found.unwrap_or(0)
        })
        .collect())
}
