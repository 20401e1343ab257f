//! The command line on bad input: a clear message naming what is wrong, a non-zero exit, no panic.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trm-gpu")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("panicked"), "{args:?} panicked: {text}");
    (out.status.success(), text)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trm-gpu-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bad_flags_and_missing_files() {
    let (ok, t) = run(&["train", "--steps", "many"]);
    assert!(!ok && t.contains("--steps"), "{t}");
    let (ok, t) = run(&["train", "--preset", "nope"]);
    assert!(!ok && t.contains("unknown preset \"nope\""), "{t}");
    let (ok, t) = run(&["train", "--data", "/nonexistent/dir"]);
    assert!(!ok && t.contains("/nonexistent/dir"), "{t}");
    let (ok, t) = run(&["plan", "--checkpoint", "sometimes"]);
    assert!(!ok && t.contains("sometimes"), "{t}");
    let (ok, t) = run(&["eval", "--checkpoint", "/nonexistent/model.safetensors", "--data", "/tmp"]);
    assert!(!ok && t.contains("/nonexistent/model.safetensors"), "{t}");
}

#[test]
fn bad_config_and_puzzle_files() {
    let d = tmp("bad");
    let cfg = d.join("config.json");
    std::fs::write(&cfg, "{\"hidden_size\": 64,").unwrap();
    let (ok, t) = run(&["plan", "--config", cfg.to_str().unwrap()]);
    assert!(!ok && t.contains("config.json") && t.contains("JSON"), "{t}");
    let csv = d.join("puzzles.csv");
    std::fs::write(&csv, "puzzle,solution\n12.4,1234\n").unwrap();
    let out = d.join("out");
    let (ok, t) = run(&["data", "sudoku", "--from", csv.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && t.contains("puzzles.csv:2"), "{t}");
}

/// A checkpoint whose config disagrees with the data (sequence length, vocabulary) is refused by name.
#[test]
fn checkpoint_and_data_must_agree() {
    let d = tmp("mismatch");
    let data = d.join("sudoku9");
    let (ok, t) = run(&["data", "sudoku", "--generate", "12", "--holdout", "4", "--out", data.to_str().unwrap()]);
    assert!(ok, "{t}");
    let cfg = trm_gpu::model::Config::preset("tiny-sudoku4-mlp").unwrap();
    let w = trm_gpu::model::Weights::init(&cfg.model, 0);
    let ck = d.join("model.safetensors");
    trm_gpu::train::checkpoint::save_weights(&ck, &cfg, &w).unwrap();
    let (ok, t) = run(&["eval", "--checkpoint", ck.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(!ok && t.contains("sequence length 81") && t.contains("seq_len 16"), "{t}");
}
