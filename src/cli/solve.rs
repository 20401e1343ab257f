//! `trm-gpu solve`: one Sudoku, step by step, with the halting confidence and an honest verdict.

use super::GpuArgs;
use anyhow::{Context, Result};
use clap::Args;
use image::{Rgb, RgbImage};
use std::io::Read;
use std::path::PathBuf;
use trm_gpu::data::sudoku;
use trm_gpu::model::infer::{halt_threshold, parse_puzzle, plan_for, program, Solver, StepView};
use trm_gpu::model::{CpuRun, Exec, GpuRun};
use trm_gpu::train::checkpoint;

#[derive(Args)]
pub struct SolveArgs {
    /// A model.safetensors (or a run's checkpoint directory)
    #[arg(long)]
    checkpoint: PathBuf,
    /// The puzzle: 81 or 16 cells, '.' or '0' for blanks, separators allowed; '-' or nothing reads stdin
    puzzle: Option<String>,
    /// Stop when sigmoid(q_halt) > τ
    #[arg(long, default_value_t = 0.5)]
    halt: f64,
    /// Run every supervision step, ignoring halting
    #[arg(long)]
    all_steps: bool,
    /// Draw the puzzle and the final answer, marking wrong or conflicting cells
    #[arg(long)]
    png: Option<PathBuf>,
    /// Also write every step's answer as JSON here
    #[arg(long)]
    json: Option<PathBuf>,
    /// Solve with the CPU twins instead of the GPU (as the browser demo does without WebGPU)
    #[arg(long)]
    cpu: bool,
}

pub fn solve(g: &GpuArgs, a: SolveArgs) -> Result<()> {
    let path = if a.checkpoint.is_dir() { a.checkpoint.join(checkpoint::MODEL_FILE) } else { a.checkpoint.clone() };
    let (cfg, w) = checkpoint::load_weights(&path)?;
    let text = match a.puzzle.as_deref() {
        Some(p) if p != "-" => p.to_string(),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the puzzle from stdin")?;
            s
        }
    };
    let puzzle = parse_puzzle(&text, &cfg).context("the puzzle")?;
    let gpu = if a.cpu { None } else { Some(g.open()?) };
    let mut solver: Solver<Box<dyn Exec + '_>> = match &gpu {
        None => {
            println!("solving with the CPU twins");
            let (prog, h) = program(&cfg);
            Solver::new(Box::new(CpuRun::<f32>::new(&prog)), h, &w)
        }
        Some(gpu) => {
            let (prog, h, plan) = plan_for(&cfg, gpu.limits.max_storage_buffer_binding_size as u64)?;
            Solver::new(Box::new(GpuRun::new(gpu, &prog, &plan)?), h, &w)
        }
    };
    solver.start(&cfg, &puzzle)?;
    let threshold = halt_threshold(a.halt);
    let mut views: Vec<StepView> = Vec::new();
    for _ in 0..cfg.model.halt_max_steps {
        let started = std::time::Instant::now();
        let v = solver.step();
        println!("step {} (sigmoid(q_halt) {:.3}, {:.0} ms)", v.step, v.confidence, started.elapsed().as_secs_f64() * 1e3);
        println!("{}", sudoku::format_grid(&v.grid));
        let halt = v.q_halt > threshold;
        views.push(v);
        if halt && !a.all_steps {
            break;
        }
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&views)?).with_context(|| format!("writing {}", p.display()))?;
    }
    let v = views.pop().context("the model has no supervision steps")?;
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
    if let Some(p) = &a.png {
        render(&puzzle, &v).save(p).with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// 3×5 pixel digits 0..9, one row of bits per line.
const FONT: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// The puzzle (left) and the answer (right): givens black, the model's digits blue, conflicts and changed
/// givens on red.
fn render(puzzle: &[u8], v: &StepView) -> RgbImage {
    let n = (puzzle.len() as f64).sqrt() as usize;
    let box_side = if n == 4 { 2 } else { 3 };
    let cell = 36u32;
    let side = cell * n as u32;
    let mut img = RgbImage::from_pixel(2 * side + 3 * cell / 2, side + cell, Rgb([255, 255, 255]));
    for (panel, grid) in [(0u32, puzzle), (1, v.grid.as_slice())] {
        let x0 = cell / 2 + panel * (side + cell / 2);
        let y0 = cell / 2;
        for i in 0..puzzle.len() {
            let (r, c) = ((i / n) as u32, (i % n) as u32);
            let bad = panel == 1 && (v.conflicts.contains(&i) || v.changed_givens.contains(&i));
            if bad {
                for y in 0..cell {
                    for x in 0..cell {
                        img.put_pixel(x0 + c * cell + x, y0 + r * cell + y, Rgb([255, 200, 200]));
                    }
                }
            }
            let d = grid[i] as usize;
            if d > 0 {
                let color = if puzzle[i] != 0 { Rgb([0, 0, 0]) } else { Rgb([20, 60, 220]) };
                for (fy, bits) in FONT[d].iter().enumerate() {
                    for fx in 0..3u32 {
                        if bits >> (2 - fx) & 1 == 1 {
                            for y in 0..5 {
                                for x in 0..5 {
                                    img.put_pixel(x0 + c * cell + 11 + fx * 5 + x, y0 + r * cell + 6 + fy as u32 * 5 + y, color);
                                }
                            }
                        }
                    }
                }
            }
        }
        for k in 0..=n as u32 {
            let w = if k as usize % box_side == 0 { 3 } else { 1 };
            for t in 0..side + 2 {
                for o in 0..w {
                    let p = (k * cell + o).min(side);
                    img.put_pixel(x0 + p.min(side), y0 + t.min(side), Rgb([0, 0, 0]));
                    img.put_pixel(x0 + t.min(side), y0 + p.min(side), Rgb([0, 0, 0]));
                }
            }
        }
    }
    img
}
