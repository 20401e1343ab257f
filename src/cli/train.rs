//! `trm-gpu train` and `trm-gpu eval`.

use super::metrics::MetricsLog;
use super::{GpuArgs, ModelArgs};
use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use trm_gpu::data::dataset::Dataset;
use trm_gpu::data::sudoku;
use trm_gpu::model::{Checkpoint, Weights};
use trm_gpu::train::fit::{fit, HeldOut, Hooks, Schedule};
use trm_gpu::train::{checkpoint, evaluate, EvalReport, StepMetrics, Trainer};

#[derive(Args)]
pub struct TrainArgs {
    /// sudoku, maze or arc (selects the default preset when --data is given without one)
    #[arg(long, default_value = "sudoku", value_parser = ["sudoku", "maze", "arc"])]
    task: String,
    /// A dataset directory (train.trmd, test.trmd). Without it: a small generated Sudoku set
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Optimizer steps
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<u64>,
    /// Epochs over the training set (one epoch = one sample per training example, as the official trainer)
    #[arg(long)]
    epochs: Option<u64>,
    /// Batch size (slots); smaller than the preset's keeps the rest of the recipe
    #[arg(long)]
    batch: Option<usize>,
    /// The run directory (default: the --resume directory; else runs/default, or runs/default-2, ... when that
    /// already holds a run)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the run already in --out (its metrics, curves and checkpoint)
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Continue exactly from a run directory's checkpoint (its planned --steps unless --reschedule)
    #[arg(long)]
    resume: Option<PathBuf>,
    /// With --resume: follow a new --steps or --epochs; the learning-rate schedule changes from the resumed step
    #[arg(long, requires = "resume")]
    reschedule: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate on the held-out split every N steps (0: only at the end)
    #[arg(long, default_value_t = 100)]
    eval_every: u64,
    /// Held-out examples per evaluation
    #[arg(long, default_value_t = 256, value_parser = super::parse_positive)]
    eval_limit: usize,
    /// Write a checkpoint every N steps (and at the end)
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Write metrics every N steps
    #[arg(long, default_value_t = 10, value_parser = parse_positive_u64)]
    log_every: u64,
    /// none or per-call
    #[arg(long, default_value = "per-call")]
    checkpoint: Checkpoint,
    /// No progress bar; one log line per --log-every steps
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A model.safetensors written by trm-gpu (or a run's checkpoint directory)
    #[arg(long)]
    checkpoint: PathBuf,
    /// A dataset directory (its test split is used), or a Sudoku puzzle file in any layout `data sudoku --from` reads
    #[arg(long)]
    data: PathBuf,
    /// For a puzzle file: one row per value of this CSV column when the header has it (kaidoku's level)
    #[arg(long, default_value = "level")]
    by: String,
    /// Halting threshold τ for the halting view
    #[arg(long, default_value_t = 0.5, value_parser = super::parse_tau)]
    halt: f64,
    /// Evaluate at most N examples (of each row, for a puzzle file grouped --by a column)
    #[arg(long, default_value_t = usize::MAX, value_parser = super::parse_positive)]
    limit: usize,
    #[arg(long, default_value_t = 64, value_parser = super::parse_positive)]
    batch: usize,
    /// Also write the report as JSON here
    #[arg(long)]
    json: Option<PathBuf>,
    /// sudoku, maze or arc; arc runs the voting evaluator (pass@k) over the augmented test set
    #[arg(long, default_value = "sudoku", value_parser = ["sudoku", "maze", "arc"])]
    task: String,
    /// Evaluate only the test examples whose input never occurs in this dataset directory's train.trmd
    #[arg(long)]
    unseen: Option<PathBuf>,
    /// ARC: write the top 2 answers per test input in the submission layout here
    #[arg(long)]
    submission: Option<PathBuf>,
}

fn parse_positive_u64(s: &str) -> std::result::Result<u64, String> {
    super::parse_positive(s).map(|n| n as u64)
}

/// Whether `dir` holds a run: its metrics or its checkpoint.
fn holds_run(dir: &Path) -> bool {
    dir.join("metrics.jsonl").exists() || dir.join("checkpoint").exists()
}

/// `base`, or the first of base-2, base-3, ... that holds no run, so a second `train` never overwrites the first.
fn free_run_dir(base: &Path) -> PathBuf {
    let name = base.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    (1..)
        .map(|i| if i == 1 { base.to_path_buf() } else { base.with_file_name(format!("{name}-{i}")) })
        .find(|d| !holds_run(d))
        .expect("some directory is free")
}

fn load_data(dir: &Path) -> Result<(Dataset, Dataset)> {
    let train = Dataset::load(&dir.join("train.trmd"))?;
    let test = Dataset::load(&dir.join("test.trmd"))?;
    Ok((train, test))
}

fn check_fit(cfg: &trm_gpu::model::Config, d: &Dataset, what: &str) -> Result<()> {
    if d.seq_len != cfg.model.seq_len || d.vocab_size > cfg.model.vocab_size {
        bail!(
            "{what}: sequence length {} and vocabulary {} do not fit the model (seq_len {}, vocab_size {})",
            d.seq_len,
            d.vocab_size,
            cfg.model.seq_len,
            cfg.model.vocab_size
        );
    }
    if cfg.model.puzzle_emb_ndim > 0 && d.num_puzzle_identifiers > cfg.model.num_puzzle_identifiers {
        bail!(
            "{what}: {} puzzle identifiers, the model has {}",
            d.num_puzzle_identifiers,
            cfg.model.num_puzzle_identifiers
        );
    }
    Ok(())
}

/// What `train` shows and keeps of a run: metrics.jsonl, the progress bar (or log lines), checkpoints, Ctrl-C.
struct RunLog {
    metrics: MetricsLog,
    bar: ProgressBar,
    quiet: bool,
    log_every: u64,
    batch: usize,
    started: std::time::Instant,
    start_step: u64,
    /// Held-out exact accuracy after all steps, at the last evaluation.
    last_eval: Option<f64>,
    checkpoint: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Hooks for RunLog {
    fn step(&mut self, m: &StepMetrics, held_out: Option<&EvalReport>) -> Result<()> {
        let elapsed = self.started.elapsed().as_secs_f64();
        let samples_per_s = (m.step - self.start_step) as f64 * self.batch as f64 / elapsed;
        let mut line = serde_json::to_value(m)?;
        if let Some(last) = held_out.and_then(|r| r.steps.last()) {
            self.last_eval = Some(last.exact_accuracy);
            line["eval_exact_accuracy"] = last.exact_accuracy.into();
            line["eval_token_accuracy"] = last.token_accuracy.into();
        }
        if m.step.is_multiple_of(self.log_every) || held_out.is_some() {
            line["samples_per_s"] = samples_per_s.into();
            self.metrics.write(&line)?;
            // Exact accuracy and steps count halted slots only (as the official trainer logs them): "-" when none halted.
            let msg = format!(
                "loss {:.3} tok {:.3} exact {} steps {} held-out {} {:.0} samples/s",
                m.loss,
                m.token_accuracy,
                super::or_dash(m.exact_accuracy, 3),
                super::or_dash(m.avg_steps, 1),
                super::or_dash(self.last_eval, 3),
                samples_per_s
            );
            if self.quiet {
                eprintln!("step {} {msg}", m.step);
            }
            self.bar.set_message(msg);
        }
        self.bar.set_position(m.step);
        Ok(())
    }

    fn checkpoint(&mut self, t: &mut Trainer) -> Result<()> {
        checkpoint::save(&self.checkpoint, t)
    }

    fn stop(&mut self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

pub fn train(g: &GpuArgs, a: TrainArgs) -> Result<()> {
    let default_preset = match (a.data.is_some(), a.task.as_str()) {
        (false, "sudoku") => "tiny-sudoku4-mlp",
        (_, "sudoku") => "tiny-sudoku-mlp",
        (_, "maze") => "tiny-maze-att",
        (_, "arc") => "arc-att",
        (_, t) => bail!("unknown task {t:?} (sudoku, maze or arc)"),
    };
    let (train_data, test_data) = match &a.data {
        Some(d) => load_data(d)?,
        None => {
            eprintln!(
                "no --data: generating 2000 4x4 Sudoku puzzles with 8 givens (200 held out, 3 augmentations each)"
            );
            sudoku::embedded_default(a.seed)?
        }
    };
    ensure!(!train_data.is_empty(), "the training split is empty: nothing to train on");
    ensure!(!test_data.is_empty(), "the test split is empty: nothing to evaluate on");
    let resumed = a.resume.as_ref().map(|d| checkpoint::Saved::load(&d.join("checkpoint"))).transpose()?;
    let out = match (&a.out, &a.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => free_run_dir(Path::new("runs/default")),
    };
    if a.resume.is_none() && holds_run(&out) && !a.overwrite {
        bail!(
            "{0} already holds a run; pass --resume {0} to continue it, --overwrite to replace it, or another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let _lock = trm_gpu::files::DirLock::acquire(&out)?;
    let mut cfg = match &resumed {
        Some(s) => s.cfg.clone(),
        None => a.model.load(default_preset)?,
    };
    if !train_data.meta.is_null() && a.data.is_some() && train_data.meta["task"].as_str().is_some_and(|t| t != a.task) {
        eprintln!("note: the dataset's task is {}, not --task {}", train_data.meta["task"], a.task);
    }
    if resumed.is_none()
        && train_data.num_puzzle_identifiers > cfg.model.num_puzzle_identifiers
        && cfg.model.puzzle_emb_ndim > 0
    {
        cfg.model.num_puzzle_identifiers = train_data.num_puzzle_identifiers;
    }
    check_fit(&cfg, &train_data, "training data")?;
    check_fit(&cfg, &test_data, "test data")?;
    if let (Some(s), Some(b)) = (&resumed, a.batch) {
        ensure!(b == s.batch, "--batch {b}: the resumed run trains with batch {}; leave --batch out", s.batch);
    }
    let batch = resumed.as_ref().map(|s| s.batch).or(a.batch).unwrap_or(cfg.train.global_batch_size);
    if batch < cfg.train.global_batch_size {
        eprintln!(
            "batch {batch} (the preset's is {}): the rest of the recipe is unchanged",
            cfg.train.global_batch_size
        );
    }
    let asked = match (a.steps, a.epochs) {
        (Some(s), _) => Some(s),
        (None, Some(e)) => Some(
            e.checked_mul(train_data.len() as u64)
                .with_context(|| {
                    format!("--epochs {e} of {} examples is more steps than can be counted", train_data.len())
                })?
                .div_ceil(batch as u64),
        ),
        (None, None) => None,
    };
    if let Some(s) = asked {
        ensure!(
            s <= 1 << 40,
            "{s} steps is more than this trainer counts (at most 2^40); use fewer --steps or --epochs"
        );
    }
    let planned = resumed.as_ref().map(|s| s.state.planned_steps).filter(|&p| p > 0);
    let steps = match (planned, asked) {
        (Some(p), Some(s)) if s != p && !a.reschedule => bail!(
            "the resumed run was planned for {p} steps, and its learning-rate schedule follows that; \
             leave --steps and --epochs out, or pass --reschedule to plan {s} from here"
        ),
        (_, Some(s)) => s,
        (Some(p), None) => p,
        (None, None) => 300,
    };
    if let Some(s) = &resumed {
        ensure!(
            steps > s.state.step,
            "the checkpoint is at step {}, already the end of a {steps}-step run",
            s.state.step
        );
    }
    let dev = g.open()?;
    let weights = resumed.as_ref().map(|s| s.raw.clone()).unwrap_or_else(|| Weights::init(&cfg.model, a.seed));
    let mut t = Trainer::new(&dev, cfg.clone(), batch, a.checkpoint, &weights, a.seed)?;
    if let Some(s) = &resumed {
        let dir = a.resume.as_ref().unwrap().join("checkpoint");
        s.restore(&mut t, &train_data).with_context(|| format!("resuming {}", dir.display()))?;
        if s.repair_model(&dir, &mut t)? {
            eprintln!(
                "rewrote {} from the state (it was from another step)",
                dir.join(checkpoint::MODEL_FILE).display()
            );
        }
        eprintln!("resumed at step {}", t.state.step);
    }
    eprintln!(
        "model: {} parameters, D {}, {} layers, T {}, n {}, N_sup {}; batch {batch}; {} training / {} held-out examples; plan {} allocated",
        weights.num_parameters(&cfg.model),
        cfg.model.hidden_size,
        cfg.model.layers,
        cfg.model.h_cycles,
        cfg.model.l_cycles,
        cfg.model.halt_max_steps,
        train_data.len(),
        test_data.len(),
        trm_gpu::plan::report::human_bytes(t.ex.allocated()),
    );
    eprintln!("run directory: {}", out.display());
    let resumed_here = resumed.as_ref().filter(|_| a.resume.as_ref() == Some(&out));
    let metrics = MetricsLog::open(&out, resumed_here.map(|s| s.state.step))?;
    let metrics_path = metrics.jsonl_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(steps) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]").unwrap(),
    );
    bar.set_position(t.state.step);
    let mut log = RunLog {
        metrics,
        bar,
        quiet: a.quiet,
        log_every: a.log_every.max(1),
        batch,
        started: std::time::Instant::now(),
        start_step: t.state.step,
        last_eval: None,
        checkpoint: out.join("checkpoint"),
        stop,
    };
    let schedule = Schedule {
        steps,
        held_out: Some(HeldOut { data: &test_data, limit: a.eval_limit, every: a.eval_every }),
        checkpoint_every: a.checkpoint_every,
    };
    let fitted = fit(&dev, &mut t, &train_data, &schedule, &mut log)?;
    if fitted.stopped {
        log.bar.abandon();
        eprintln!("interrupted at step {}: checkpoint saved in {}", t.state.step, log.checkpoint.display());
        return Ok(());
    }
    let (bar, last_eval) = (log.bar, log.last_eval);
    bar.finish();
    let plot = trm_gpu::charts::curves::plot_run(&out)?;
    println!("held-out exact accuracy: {}", super::or_dash(last_eval, 3));
    println!("checkpoint: {}", out.join("checkpoint").join(checkpoint::MODEL_FILE).display());
    println!("metrics: {} (and metrics.csv)", metrics_path.display());
    println!("plot: {}", plot.display());
    Ok(())
}

/// The examples to evaluate: a dataset directory's test split, or a puzzle file's puzzles, one group per value
/// of the column `by` when the file has it.
fn eval_groups(data: &Path, by: &str) -> Result<Vec<(String, Dataset)>> {
    if !data.is_file() {
        return Ok(vec![("test".into(), Dataset::load(&data.join("test.trmd"))?)]);
    }
    let (puzzles, values) = sudoku::read_file_column(data, by)?;
    ensure!(!puzzles.is_empty(), "{}: no puzzles", data.display());
    let cells = puzzles[0].puzzle.len();
    let n = sudoku::side(cells)?;
    let mut groups: Vec<(String, Dataset)> = Vec::new();
    for (i, p) in puzzles.iter().enumerate() {
        let name = values.as_ref().map_or_else(|| "all".to_string(), |v| format!("{by} {}", v[i]));
        let at = match groups.iter().position(|(g, _)| *g == name) {
            Some(at) => at,
            None => {
                let meta = serde_json::json!({"task": "sudoku", "split": "test", "size": n, "source": data.display().to_string()});
                groups.push((name, Dataset::new(cells, n + 2, meta)));
                groups.len() - 1
            }
        };
        let d = &mut groups[at].1;
        d.push(&sudoku::to_tokens(&p.puzzle), &sudoku::to_tokens(&p.solution), 0);
        d.end_puzzle(0);
        d.end_group();
    }
    Ok(groups)
}

pub fn eval(g: &GpuArgs, a: EvalArgs) -> Result<()> {
    let path = checkpoint::model_path(&a.checkpoint);
    let (cfg, w) = checkpoint::load_weights(&path)?;
    let mut groups = eval_groups(&a.data, &a.by)?;
    let train = a.unseen.as_ref().map(|dir| Dataset::load(&dir.join("train.trmd")).map(|t| (dir, t))).transpose()?;
    for (name, test) in &mut groups {
        check_fit(&cfg, test, &format!("{}", a.data.display()))?;
        if let Some((dir, train)) = &train {
            let all = test.len();
            *test = test.unseen_in(train);
            println!(
                "{name}: {} of {all} test examples never occur in {} (augmentations included)",
                test.len(),
                dir.join("train.trmd").display()
            );
        }
    }
    groups.retain(|(_, t)| !t.is_empty());
    match &train {
        Some((dir, _)) => {
            ensure!(!groups.is_empty(), "every test example of {} occurs in {}", a.data.display(), dir.display())
        }
        None => ensure!(!groups.is_empty(), "{}: the test split is empty", a.data.display()),
    }
    if a.task == "arc" {
        ensure!(!a.data.is_file(), "--task arc evaluates a dataset directory, not a puzzle file");
        let task = groups[0].1.meta["task"].as_str().unwrap_or("unknown").to_string();
        ensure!(
            task == "arc",
            "{}: a {task} dataset; --task arc needs one built by `trm-gpu data arc`",
            a.data.display()
        );
        let dev = g.open()?;
        return eval_arc(&dev, &cfg, &w, &groups[0].1, &a);
    }
    let dev = g.open()?;
    // A puzzle file with the --by column always gets the per-row table (and JSON), even with one row.
    let grouped = groups.len() > 1 || groups[0].0.starts_with(&format!("{} ", a.by));
    if !grouped {
        let r = evaluate(&dev, &cfg, &w, &groups[0].1, a.batch, a.limit, a.halt)?;
        println!("{} examples", r.examples);
        println!("{:>5} {:>8} {:>8} {:>10} {:>8}", "step", "exact", "token", "halt prec", "recall");
        for s in &r.steps {
            println!(
                "{:>5} {:>8.4} {:>8.4} {:>10} {:>8}",
                s.step,
                s.exact_accuracy,
                s.token_accuracy,
                super::or_dash(s.halt_precision, 4),
                super::or_dash(s.halt_recall, 4)
            );
        }
        println!(
            "halting at tau {}: exact {:.4}, average steps {:.2}",
            a.halt, r.halted_exact_accuracy, r.avg_halt_steps
        );
        if let Some(j) = &a.json {
            trm_gpu::files::write_atomic(j, serde_json::to_string_pretty(&r)?.as_bytes())?;
        }
        return Ok(());
    }
    println!(
        "{:<12} {:>8} {:>14} {:>11} {:>16} {:>8}",
        "", "examples", "exact at tau", "avg steps", "exact all steps", "token"
    );
    let mut reports = Vec::new();
    for (name, test) in &groups {
        let r = evaluate(&dev, &cfg, &w, test, a.batch, a.limit, a.halt)?;
        let last = r.steps.last().expect("at least one step");
        println!(
            "{name:<12} {:>8} {:>14.4} {:>11.2} {:>16.4} {:>8.4}",
            r.examples, r.halted_exact_accuracy, r.avg_halt_steps, last.exact_accuracy, last.token_accuracy
        );
        reports.push(serde_json::json!({"group": name, "report": r}));
    }
    println!("(tau {}; exact at tau: the answer when sigmoid(q_halt) first exceeds tau, or after all steps)", a.halt);
    if let Some(j) = &a.json {
        trm_gpu::files::write_atomic(j, serde_json::to_string_pretty(&reports)?.as_bytes())?;
    }
    Ok(())
}

/// ARC: predict every augmented test input, invert the augmentations, vote (count, then mean sigmoid(q_halt)) and
/// report pass@k per task and overall.
fn eval_arc(
    dev: &trm_gpu::model::Device,
    cfg: &trm_gpu::model::Config,
    w: &Weights,
    test: &Dataset,
    a: &EvalArgs,
) -> Result<()> {
    use trm_gpu::data::arc;
    let origins = arc::origins(test)?;
    let answers = arc::answers_from_dataset(test)?;
    let preds = trm_gpu::train::predict(dev, cfg, w, test, a.batch)?;
    let predictions: Vec<arc::Prediction> = origins
        .into_iter()
        .zip(preds)
        .map(|(o, (tokens, q_halt))| arc::Prediction {
            task_id: o.task_id,
            test_index: o.test_index,
            augmentation: o.augmentation,
            tokens,
            q_halt,
        })
        .collect();
    let report = arc::evaluate(&answers, &predictions)?;
    println!("{} tasks, {} predictions", report.per_task.len(), predictions.len());
    for (k, p) in arc::PASS_KS.iter().zip(&report.pass) {
        println!("pass@{k}: {p:.4}");
    }
    if let Some(path) = &a.submission {
        report.write_submission(path)?;
        println!("wrote {}", path.display());
    }
    if let Some(j) = &a.json {
        let json = serde_json::json!({"pass": report.pass, "per_task": report.per_task});
        trm_gpu::files::write_atomic(j, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(())
}
