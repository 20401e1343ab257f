//! Data-parallel training: 2 ranks (threads of this process, meeting in `ThreadRanks`) with half the batch each
//! train as 1 process with the whole batch does, on every device; their checkpoints resume exactly; ranks that
//! disagree are refused by name. The same trainer runs over MPI in tests/suite/mpi.rs (feature `mpi`).

use crate::common::*;
use trm_gpu::data::dataset::Dataset;
use trm_gpu::data::source::{Source, Sources};
use trm_gpu::data::sudoku;
use trm_gpu::model::*;
use trm_gpu::train::ranks::{Ranks, ThreadRanks};
use trm_gpu::train::{checkpoint, StepMetrics, Trainer};

/// 4×4 Sudoku whose puzzles carry 3 puzzle identifiers, so ranks hold rows of the same puzzle embedding.
fn data() -> Dataset {
    let options = sudoku::GenOptions { clues: Some((8, 8)), ..sudoku::GenOptions::new(4, false) };
    let sources = Sources {
        train: vec![Source::Generate { count: 40, options }],
        test: None,
        holdout: 0,
        max_train: None,
        seed: 7,
        skip_bad: false,
    };
    let mut d = sudoku::build(&sudoku::SudokuBuild { sources, augmentations: 1, ratings: Vec::new() }, &mut |_, _| {})
        .unwrap()
        .train;
    d.puzzle_identifiers = (0..d.puzzle_identifiers.len() as u32).map(|i| i % 3).collect();
    d.num_puzzle_identifiers = 3;
    d
}

fn config() -> Config {
    let mut c = Config::preset("tiny-sudoku4-mlp").unwrap();
    let m = &mut c.model;
    (m.puzzle_emb_ndim, m.puzzle_emb_len, m.num_puzzle_identifiers) = (m.hidden_size, 2, 3);
    (m.halt_max_steps, m.halt_exploration_prob) = (3, 0.5);
    c.train.lr_warmup_steps = 2;
    c
}

const BATCH: usize = 8;

/// What a run's bits are: the trainer state (slots, stream, RNG), and every weight, moment, EMA and carry.
struct Run {
    metrics: Vec<(usize, u64)>,
    state: String,
    tensors: Vec<(String, Vec<f32>)>,
}

fn snapshot(t: &mut Trainer, metrics: &[StepMetrics]) -> Run {
    let mut tensors: Vec<(String, Vec<f32>)> = t.raw_weights().tensors.into_iter().map(|(n, (_, d))| (n, d)).collect();
    tensors.extend(t.state_tensors());
    Run { metrics: metrics.iter().map(|m| (m.halted, m.step)).collect(), state: format!("{:?}", t.state), tensors }
}

/// `steps` steps on `ranks` ranks (threads), resuming from `resume` when given; every rank's snapshot.
fn run_ranks(
    dev: &Device,
    n: usize,
    steps: usize,
    resume: Option<&std::path::Path>,
    save: Option<&std::path::Path>,
) -> Vec<Run> {
    let (cfg, d) = (config(), data());
    let w = Weights::init(&cfg.model, 2);
    let ranks = ThreadRanks::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = ranks
            .iter()
            .map(|r| {
                let (cfg, d, w) = (&cfg, &d, &w);
                s.spawn(move || {
                    let saved = resume.map(|dir| checkpoint::Saved::load(dir).unwrap());
                    let w = saved.as_ref().map_or(w, |s| &s.raw);
                    let mut t = Trainer::sharded(dev, cfg.clone(), BATCH, Checkpoint::PerCall, w, 9, r).unwrap();
                    if let Some(s) = &saved {
                        s.restore(&mut t, d).unwrap();
                    }
                    let metrics: Vec<StepMetrics> = (0..steps).map(|_| t.step(d, 6).unwrap()).collect();
                    if let Some(dir) = save {
                        checkpoint::save(dir, &mut t).unwrap();
                    }
                    snapshot(&mut t, &metrics)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// 2 ranks of 4 slots take the same 4 steps as 1 process of 8: the same halting decisions, data stream and
/// RNG, the ranks' weights identical to each other bit for bit, and within 1e-6 of the single process's (the
/// gradient is summed over the ranks rather than over the whole batch in one reduction; the carries within
/// 5e-5 + 1e-4·|b|). A checkpoint of 2 steps
/// resumes on 2 ranks to the same bits as the uninterrupted run.
#[test]
fn two_ranks_train_as_one_process() {
    let (cfg, d) = (config(), data());
    let w = Weights::init(&cfg.model, 2);
    for (name, dev) in devices() {
        let mut one = Trainer::new(dev, cfg.clone(), BATCH, Checkpoint::PerCall, &w, 9).unwrap();
        let metrics: Vec<StepMetrics> = (0..4).map(|_| one.step(&d, 6).unwrap()).collect();
        let one = snapshot(&mut one, &metrics);
        let two = run_ranks(dev, 2, 4, None, None);
        assert!(two[0].tensors == two[1].tensors && two[0].state == two[1].state, "{name}: the ranks differ");
        assert_eq!(two[0].metrics, one.metrics, "{name}: halting differs");
        assert_eq!(two[0].state, one.state, "{name}: slots, stream or RNG differ");
        for ((tensor, a), (_, b)) in two[0].tensors.iter().zip(&one.tensors) {
            // Weights, moments and EMA within 1e-6; the carries are activations, the recursion's output after
            // weights that differ by that much, and get 5e-5 + 1e-4·|b|.
            let (atol, rtol) = if tensor.starts_with("carry.") { (5e-5, 1e-4) } else { (1e-6, 0.0) };
            assert_eq!(a.len(), b.len(), "{name}: {tensor}");
            let worst =
                a.iter().zip(b).map(|(&x, &y)| (x - y).abs() - (atol + rtol * y.abs())).fold(f32::MIN, f32::max);
            assert!(worst <= 0.0, "{name}: {tensor} differs by {worst} beyond |a-b| <= {atol} + {rtol}|b|");
        }

        let dir = std::env::temp_dir().join(format!("trm-gpu-test-{}-ranks-{name}", std::process::id()));
        run_ranks(dev, 2, 2, None, Some(&dir));
        let resumed = run_ranks(dev, 2, 2, Some(&dir), None);
        assert!(resumed[0].tensors == two[0].tensors && resumed[0].state == two[0].state, "{name}: resume differs");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Ranks given other seeds or a batch that does not split are refused, with the rank named.
#[test]
fn ranks_that_disagree_are_refused() {
    let cfg = config();
    let w = Weights::init(&cfg.model, 2);
    let ranks = ThreadRanks::new(2);
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ranks
            .iter()
            .map(|r| {
                let (cfg, w) = (&cfg, &w);
                s.spawn(move || {
                    let seed = 9 + r.rank() as u64;
                    match Trainer::sharded(native(), cfg.clone(), BATCH, Checkpoint::PerCall, w, seed, r) {
                        Ok(_) => String::new(),
                        Err(e) => format!("{e:#}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for e in &errors {
        assert!(e.contains("rank 1 has another config, batch or seed than rank 0"), "{e}");
    }
    let lone = &ThreadRanks::new(3)[0];
    let e = Trainer::sharded(native(), cfg, BATCH, Checkpoint::PerCall, &w, 9, lone).err().unwrap();
    assert!(format!("{e}").contains("the global batch 8 does not split evenly over 3 ranks"), "{e}");
}
