//! `trm-gpu ablate`: the paper's ablations, each trained with the same budget, data and seed as the base.

use super::GpuArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use trm_gpu::model::{Checkpoint, Config, Weights};
use trm_gpu::train::fit::{fit, HeldOut, NoHooks, Schedule};
use trm_gpu::train::Trainer;

#[derive(Args)]
pub struct AblateArgs {
    /// Only sudoku (the embedded 4x4 set) for now
    #[arg(long, default_value = "sudoku")]
    task: String,
    /// Optimizer steps per variant
    #[arg(long, default_value_t = 200)]
    budget: u64,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Comma list (default all): base, nsup1, n5-t1, no-ema, attention, one-step-grad
    #[arg(long)]
    variants: Option<String>,
    /// Held-out examples evaluated per variant
    #[arg(long, default_value_t = 200)]
    eval_limit: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draw held-out exact accuracy per variant as bars, in table order
    #[arg(long)]
    png: Option<PathBuf>,
    #[arg(long)]
    json: Option<PathBuf>,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("base", "TRM-MLP, full unroll, EMA, n 2, T 2, N_sup 8"),
    ("nsup1", "one supervision step (N_sup 1)"),
    ("n5-t1", "n 5, T 1: the same effective depth T(n+1) = 6"),
    ("no-ema", "no EMA of the weights"),
    ("attention", "self-attention with RoPE instead of the MLP token mixer"),
    ("one-step-grad", "1-step gradient instead of the full unroll"),
];

fn variant(name: &str) -> Result<Config> {
    let mut c = Config::preset("tiny-sudoku4-mlp")?;
    match name {
        "base" => {}
        "nsup1" => c.model.halt_max_steps = 1,
        "n5-t1" => {
            c.model.l_cycles = 5;
            c.model.h_cycles = 1;
        }
        "no-ema" => c.train.ema = false,
        "attention" => {
            c.model.mlp_t = false;
            c.model.pos_encodings = "rope".into();
            c.model.num_heads = 2;
        }
        "one-step-grad" => c.train.one_step_grad = true,
        _ => {
            bail!("unknown variant {name:?}; variants: {}", VARIANTS.iter().map(|v| v.0).collect::<Vec<_>>().join(", "))
        }
    }
    Ok(c)
}

#[derive(serde::Serialize)]
struct Row {
    variant: String,
    what: String,
    exact: f64,
    token: f64,
    seconds: f64,
}

pub fn ablate(g: &GpuArgs, a: AblateArgs) -> Result<()> {
    if a.task != "sudoku" {
        bail!("ablate runs on the embedded Sudoku task only (--task sudoku)");
    }
    let names: Vec<String> = match &a.variants {
        Some(v) => v.split(',').map(|s| s.trim().to_string()).collect(),
        None => VARIANTS.iter().map(|v| v.0.to_string()).collect(),
    };
    let configs = names.iter().map(|n| variant(n)).collect::<Result<Vec<_>>>()?;
    let (train, test) = trm_gpu::data::sudoku::embedded_default(a.seed)?;
    let dev = g.open()?;
    let mut rows = Vec::new();
    for (name, cfg) in names.iter().zip(configs) {
        let started = std::time::Instant::now();
        let w = Weights::init(&cfg.model, a.seed);
        let mut t = Trainer::new(&dev, cfg, a.batch, Checkpoint::PerCall, &w, a.seed)?;
        let schedule = Schedule {
            steps: a.budget,
            held_out: Some(HeldOut { data: &test, limit: a.eval_limit, every: 0 }),
            checkpoint_every: 0,
        };
        let r = fit(&dev, &mut t, &train, &schedule, &mut NoHooks)?.held_out.context("no held-out evaluation")?;
        let last = r.steps.last().context("no evaluation steps")?;
        let what = VARIANTS.iter().find(|v| v.0 == name).map(|v| v.1).unwrap_or("").to_string();
        rows.push(Row {
            variant: name.clone(),
            what,
            exact: last.exact_accuracy,
            token: last.token_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        });
        eprintln!("{name}: held-out exact {:.3}", last.exact_accuracy);
    }
    println!(
        "budget: {} steps × batch {} per variant, 4x4 Sudoku with 8 givens, {} held-out puzzles, seed {}",
        a.budget,
        a.batch,
        test.len().min(a.eval_limit),
        a.seed
    );
    println!("{:<14} {:>8} {:>8} {:>8}  what", "variant", "exact", "token", "seconds");
    for r in &rows {
        println!("{:<14} {:>8.3} {:>8.3} {:>8.0}  {}", r.variant, r.exact, r.token, r.seconds, r.what);
    }
    if let Some(p) = &a.png {
        let names: Vec<&str> = rows.iter().map(|r| r.variant.as_str()).collect();
        let measures =
            [("exact", rows.iter().map(|r| r.exact).collect()), ("token", rows.iter().map(|r| r.token).collect())];
        let title = format!(
            "ablation: {} steps × batch {}, {} held-out puzzles",
            a.budget,
            a.batch,
            test.len().min(a.eval_limit)
        );
        let img = trm_gpu::charts::bars::draw(&title, "held-out accuracy", &names, &measures)?;
        trm_gpu::charts::save_png(&img, p)?;
        println!("wrote {}", p.display());
    }
    if let Some(j) = &a.json {
        trm_gpu::files::write_atomic(j, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}
