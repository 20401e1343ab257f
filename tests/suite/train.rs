//! Training: checkpoints round-trip and fail clearly, a resumed run equals the uninterrupted one, halting follows
//! τ and the seed.

use crate::common::*;
use trm_gpu::data::dataset::Dataset;
use trm_gpu::data::source::{Source, Sources};
use trm_gpu::data::sudoku;
use trm_gpu::model::infer::halts;
use trm_gpu::model::*;
use trm_gpu::train::{checkpoint, Trainer};

fn data() -> (Dataset, Dataset) {
    let options = sudoku::GenOptions { clues: Some((8, 8)), ..sudoku::GenOptions::new(4, false) };
    let sources = Sources {
        train: vec![Source::Generate { count: 60, options }],
        test: None,
        holdout: 16,
        max_train: None,
        seed: 5,
        skip_bad: false,
    };
    let b =
        sudoku::build(&sudoku::SudokuBuild { sources, augmentations: 1, ratings: Vec::new() }, &mut |_, _| {}).unwrap();
    (b.train, b.test)
}

fn config() -> Config {
    let mut c = Config::preset("tiny-sudoku4-mlp").unwrap();
    c.model.halt_max_steps = 3;
    c.model.halt_exploration_prob = 0.5;
    c.train.lr_warmup_steps = 2;
    c
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trm-gpu-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn checkpoint_round_trip_and_clear_errors() {
    let cfg = config();
    let w = Weights::init(&cfg.model, 1);
    let dir = tmp("ckpt");
    let path = dir.join("model.safetensors");
    checkpoint::save_weights(&path, &cfg, &w).unwrap();
    let (cfg2, w2) = checkpoint::load_weights(&path).unwrap();
    assert_eq!(cfg2, cfg);
    assert_eq!(w2, w);
    // Same outputs, bit for bit.
    let (_, test) = data();
    for (_, dev) in devices() {
        let run = |w: &Weights| trm_gpu::train::evaluate(dev, &cfg, w, &test, 8, 8, 0.5).unwrap();
        assert_eq!(format!("{:?}", run(&w).steps), format!("{:?}", run(&w2).steps));
    }
    // Truncated and corrupt files: errors that name the file, and no panic.
    let bytes = std::fs::read(&path).unwrap();
    let bad = dir.join("truncated.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let e = format!("{:#}", checkpoint::load_weights(&bad).unwrap_err());
    assert!(e.contains("truncated.safetensors"), "{e}");
    let mut corrupt = bytes.clone();
    corrupt[10] ^= 0xff;
    std::fs::write(&bad, &corrupt).unwrap();
    assert!(format!("{:#}", checkpoint::load_weights(&bad).unwrap_err()).contains("truncated.safetensors"));
    // A write that stops part-way never replaces the good file, and leaves no temporary file.
    let mut unfinished = trm_gpu::files::AtomicFile::create(&path).unwrap();
    std::io::Write::write_all(unfinished.file(), &bytes[..bytes.len() / 2]).unwrap();
    drop(unfinished);
    assert_eq!(checkpoint::load_weights(&path).unwrap().1, w);
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    // A shape mismatch lists what differs.
    let mut other = cfg.clone();
    other.model.hidden_size = 64;
    let e = format!("{:#}", w.check(&other.model).unwrap_err());
    assert!(e.contains("inner.embed_tokens.embedding_weight") && e.contains("expected"), "{e}");
    // The official prefix loads.
    let named: Vec<(String, Vec<usize>, &[f32])> =
        w.tensors.iter().map(|(n, (s, d))| (format!("_orig_mod.model.{n}"), s.clone(), d.as_slice())).collect();
    let bytes = trm_gpu::model::params::to_safetensors(&named, Default::default()).unwrap();
    assert_eq!(Weights::from_safetensors(&bytes, "").unwrap(), w);
}

fn losses(t: &mut Trainer, d: &Dataset, n: usize) -> Vec<(u64, u64, usize)> {
    (0..n).map(|_| t.step(d, 6).unwrap()).map(|m| (m.loss.to_bits(), m.step, m.halted)).collect()
}

/// On every device: a run saved and resumed after 3 steps takes the same 6 steps, bit for bit, as one that was not.
#[test]
fn resume_equals_uninterrupted_run() {
    let cfg = config();
    let (train, _) = data();
    let w = Weights::init(&cfg.model, 2);
    for (name, dev) in devices() {
        let mut a = Trainer::new(dev, cfg.clone(), 4, Checkpoint::PerCall, &w, 9).unwrap();
        let full = losses(&mut a, &train, 6);
        let mut b = Trainer::new(dev, cfg.clone(), 4, Checkpoint::PerCall, &w, 9).unwrap();
        let first = losses(&mut b, &train, 3);
        let dir = tmp(&format!("resume-{name}"));
        checkpoint::save(&dir, &mut b).unwrap();
        drop(b);
        let saved = checkpoint::Saved::load(&dir).unwrap();
        let mut c = Trainer::new(dev, saved.cfg.clone(), saved.batch, Checkpoint::PerCall, &saved.raw, 0).unwrap();
        saved.restore(&mut c, &train).unwrap();
        let rest = losses(&mut c, &train, 3);
        assert_eq!([first, rest].concat(), full, "{name}");
    }
}

/// The native executor gives the same bits on 1 and 2 threads: 4 training steps (forward, backward, optimizer,
/// EMA) of the MLP and the attention model, every weight and moment compared.
#[test]
fn native_bits_do_not_depend_on_threads() {
    let (train, _) = data();
    for preset in ["tiny-sudoku4-mlp", "tiny-sudoku-att"] {
        let mut cfg = config();
        let base = Config::preset(preset).unwrap();
        cfg.model = trm_gpu::model::ModelConfig { seq_len: 16, vocab_size: cfg.model.vocab_size, ..base.model };
        cfg.model.hidden_size = 32;
        let w = Weights::init(&cfg.model, 4);
        let run = |threads: usize| {
            let dev = Device::Native(Native::new(threads).unwrap());
            let mut t = Trainer::new(&dev, cfg.clone(), 4, Checkpoint::PerCall, &w, 3).unwrap();
            let steps = losses(&mut t, &train, 4);
            let tensors: Vec<Vec<u32>> =
                t.state_tensors().into_iter().map(|(_, v)| v.iter().map(|x| x.to_bits()).collect()).collect();
            let weights: Vec<Vec<u32>> =
                t.raw_weights().tensors.values().map(|(_, v)| v.iter().map(|x| x.to_bits()).collect()).collect();
            (steps, tensors, weights)
        };
        assert!(run(1) == run(2), "{preset}: 1 and 2 threads differ");
    }
}

#[test]
fn halting_follows_tau_and_the_seed() {
    // q crosses log(τ/(1−τ)): τ = 0.5 → 0; τ = 0.9 → ln 9 ≈ 2.197.
    assert!(!halts(1, 0.0, 16, 0.5, 0));
    assert!(halts(1, 1e-6, 16, 0.5, 0));
    assert!(!halts(1, 2.19, 16, 0.9, 0));
    assert!(halts(1, 2.2, 16, 0.9, 0));
    assert!(!halts(2, 5.0, 16, 0.5, 3), "exploration's minimum step count holds it");
    assert!(halts(16, -5.0, 16, 0.5, 0), "N_sup always halts");
    // Exploration draws come from the seeded stream: equal seeds, equal slot histories.
    let cfg = config();
    let (train, _) = data();
    let w = Weights::init(&cfg.model, 3);
    let run = |seed| {
        let mut t = Trainer::new(native(), cfg.clone(), 4, Checkpoint::PerCall, &w, seed).unwrap();
        (0..5)
            .map(|_| {
                t.step(&train, 5).unwrap();
                t.state.slots.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    // N_sup 1 with exploration on: every slot halts after one step, and nothing panics.
    let mut one = cfg.clone();
    one.model.halt_max_steps = 1;
    let mut t = Trainer::new(native(), one, 4, Checkpoint::PerCall, &w, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(t.step(&train, 3).unwrap().halted, 4);
    }
}

/// The official initialisation: truncated normal with the true std 1/sqrt(fan_in) (embeddings 1/sqrt(D),
/// H_init and L_init 1) and no value past 2σ·1.1368472, q_head weight 0 and bias −5, puzzle embeddings 0.
#[test]
fn official_initialisation() {
    let mut c = Config::preset("sudoku-att").unwrap().model;
    c.num_puzzle_identifiers = 3;
    let w = Weights::init(&c, 0);
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt(), v.iter().fold(0f32, |a, &x| a.max(x.abs())) as f64)
    };
    for (name, (shape, v)) in &w.tensors {
        let want = match name.as_str() {
            "inner.q_head.weight" | "inner.puzzle_emb.weights" => {
                assert!(v.iter().all(|&x| x == 0.0), "{name}");
                continue;
            }
            "inner.q_head.bias" => {
                assert!(v.iter().all(|&x| x == -5.0), "{name}");
                continue;
            }
            "inner.H_init" | "inner.L_init" => 1.0,
            "inner.embed_tokens.embedding_weight" => 1.0 / (c.hidden_size as f64).sqrt(),
            _ => 1.0 / (shape[1] as f64).sqrt(),
        };
        let (mean, std, max) = stats(v);
        let tol = if v.len() > 10_000 { 0.03 } else { 0.25 };
        assert!(
            (std / want - 1.0).abs() < tol && mean.abs() < 0.1 * want + 4.0 * want / (v.len() as f64).sqrt(),
            "{name}: std {std} want {want}, mean {mean}"
        );
        assert!(max <= 2.0 * 1.1368472 * want + 1e-6, "{name}: |x| {max} past the truncation");
    }
}

/// Records what `fit` calls, and asks to stop after `stop_at` steps.
#[derive(Default)]
struct Recorder {
    steps: Vec<u64>,
    evals: Vec<u64>,
    checkpoints: Vec<u64>,
    stop_at: Option<u64>,
}

impl trm_gpu::train::fit::Hooks for Recorder {
    fn step(
        &mut self,
        m: &trm_gpu::train::StepMetrics,
        held_out: Option<&trm_gpu::train::EvalReport>,
    ) -> anyhow::Result<()> {
        self.steps.push(m.step);
        if let Some(r) = held_out {
            assert_eq!(r.examples, 8);
            self.evals.push(m.step);
        }
        Ok(())
    }
    fn checkpoint(&mut self, t: &mut Trainer) -> anyhow::Result<()> {
        self.checkpoints.push(t.state.step);
        Ok(())
    }
    fn stop(&mut self) -> bool {
        self.stop_at.is_some_and(|s| self.steps.last() == Some(&s))
    }
}

#[test]
fn fit_runs_the_schedule_stops_when_asked_and_equals_plain_steps() {
    use trm_gpu::train::fit::{fit, HeldOut, NoHooks, Schedule};
    let (train, test) = data();
    let cfg = config();
    let w = Weights::init(&cfg.model, 3);
    let dev = native();
    let new = || Trainer::new(dev, cfg.clone(), 4, Checkpoint::PerCall, &w, 9).unwrap();
    let schedule =
        Schedule { steps: 7, held_out: Some(HeldOut { data: &test, limit: 8, every: 3 }), checkpoint_every: 2 };

    let mut hooks = Recorder::default();
    let mut t = new();
    let fitted = fit(dev, &mut t, &train, &schedule, &mut hooks).unwrap();
    assert!(!fitted.stopped);
    assert_eq!(hooks.steps, (1..=7).collect::<Vec<_>>());
    assert_eq!(hooks.evals, [3, 6, 7], "every 3 steps and after the last");
    assert_eq!(hooks.checkpoints, [2, 4, 6, 7], "every 2 steps and after the last");
    let report = fitted.held_out.unwrap();
    let own = trm_gpu::train::evaluate(dev, &cfg, &t.eval_weights(), &test, 64, 8, cfg.train.halt_tau).unwrap();
    assert_eq!(format!("{report:?}"), format!("{own:?}"), "the last report is of the final weights");

    // The same steps by hand give the same bits.
    let mut by_hand = new();
    for _ in 0..7 {
        by_hand.step(&train, 7).unwrap();
    }
    assert_eq!(by_hand.raw_weights(), t.raw_weights());
    by_hand.state.data = train.fingerprint(); // what fit records of the data, and plain steps do not
    assert_eq!(by_hand.state, t.state);

    // Stopped after step 5: a checkpoint first, and the rest of the run continues from there to the same end.
    let mut hooks = Recorder { stop_at: Some(5), ..Default::default() };
    let mut stopped = new();
    assert!(fit(dev, &mut stopped, &train, &schedule, &mut hooks).unwrap().stopped);
    assert_eq!(hooks.checkpoints, [2, 4, 5]);
    assert_eq!(stopped.state.step, 5);
    let rest = fit(dev, &mut stopped, &train, &Schedule { held_out: None, ..schedule }, &mut NoHooks).unwrap();
    assert!(!rest.stopped && rest.held_out.is_none());
    assert_eq!(stopped.raw_weights(), t.raw_weights());
}

/// A step whose loss is not finite ends the run with an error naming the step, and no checkpoint of it is saved
/// (the last one on disk holds finite weights).
#[test]
fn a_diverged_step_stops_without_a_checkpoint() {
    use trm_gpu::train::fit::{fit, Schedule};
    let (train, _) = data();
    let cfg = config();
    let mut w = Weights::init(&cfg.model, 3);
    w.tensors.get_mut("inner.lm_head.weight").unwrap().1.iter_mut().for_each(|v| *v = f32::MAX);
    let dev = native();
    let mut t = Trainer::new(dev, cfg, 4, Checkpoint::PerCall, &w, 9).unwrap();
    let schedule = Schedule { steps: 3, held_out: None, checkpoint_every: 1 };
    let mut hooks = Recorder::default();
    let e = fit(dev, &mut t, &train, &schedule, &mut hooks).unwrap_err().to_string();
    assert!(e.contains("training diverged") && e.contains("at step 1"), "{e}");
    assert!(hooks.checkpoints.is_empty(), "checkpoints at {:?}", hooks.checkpoints);
}
