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
fn bench_prints_rates_for_kernels_and_steps() {
    let (ok, t) = run(&["bench", "--reps", "1", "--filter", "embed_bwd_puzzle", "--step", "tiny-sudoku4-mlp:2"]);
    assert!(ok, "{t}");
    let kernel = t.lines().find(|l| l.starts_with("embed_bwd_puzzle 64x512")).unwrap_or_else(|| panic!("{t}"));
    assert!(kernel.ends_with("GB/s") && !t.lines().any(|l| l.starts_with("matmul")), "{t}");
    assert!(
        t.contains("step tiny-sudoku4-mlp PerCall batch 2:") && t.contains("samples/s") && t.contains("time by op"),
        "{t}"
    );
    let (ok, t) = run(&["bench", "--filter", "none-such", "--step", "tiny-sudoku4-mlp:two"]);
    assert!(!ok && t.contains("tiny-sudoku4-mlp:two"), "{t}");
    // A compute kernel's share of a given peak, on the kernels a real GPU gets (matmul_tiled.wgsl).
    let args = ["bench", "--reps", "1", "--filter", "matmul_fwd 648", "--step", "none", "--peak-gflops", "100"];
    let (ok, t) = run(&[&args[..], &["--device", "gpu", "--gpu-kernels"]].concat());
    assert!(ok && t.contains("fp32 peak 100 GFLOP/s (given)"), "{t}");
    let line = t.lines().find(|l| l.starts_with("matmul_fwd 648x512x1536")).unwrap_or_else(|| panic!("{t}"));
    let gflops: f64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    let share: f64 = line.split_whitespace().last().unwrap().trim_end_matches('%').parse().unwrap();
    assert!(line.contains("GFLOP/s") && (share - gflops).abs() <= 0.05 + 1e-3 * gflops, "{line}");
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

/// `eval --task arc` runs the voting evaluator end to end on a small ARC set (an untrained model: the plumbing,
/// the pass@k table and the submission file are what is checked here).
#[test]
fn arc_eval_writes_a_submission() {
    let d = tmp("arc");
    let (_, data, ck) = arc_fixture(&d, 2, 2);
    let sub = d.join("submission.json");
    let (ok, t) = run(&[
        "eval",
        "--task",
        "arc",
        "--checkpoint",
        &ck,
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "8",
        "--submission",
        sub.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    assert!(t.contains("pass@1:") && t.contains("pass@1000:"), "{t}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sub).unwrap()).unwrap();
    assert_eq!(s.as_object().unwrap().len(), 2, "one entry per evaluation task: {s}");
}

/// `data arc` over the first `train` and `eval` tasks of ARC-AGI-1 (a file each), and an untrained ARC-shaped model
/// for that dataset: the evaluation tasks written, the dataset directory and the checkpoint.
fn arc_fixture(d: &std::path::Path, train: usize, eval: usize) -> (Vec<serde_json::Value>, std::path::PathBuf, String) {
    let bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/arc/arc-agi-1.json")).unwrap(),
    )
    .unwrap();
    let mut written = Vec::new();
    for (split, dir, count) in [("train", "training", train), ("eval", "evaluation", eval)] {
        std::fs::create_dir_all(d.join("tasks").join(dir)).unwrap();
        for (id, task) in bundle[split].as_object().unwrap().iter().take(count) {
            std::fs::write(d.join("tasks").join(dir).join(format!("{id}.json")), task.to_string()).unwrap();
            if split == "eval" {
                written.push(task.clone());
            }
        }
    }
    let data = d.join("data");
    let (ok, t) = run(&[
        "data",
        "arc",
        "--from",
        d.join("tasks").to_str().unwrap(),
        "--aug",
        "1",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    let test = trm_gpu::data::dataset::Dataset::load(&data.join("test.trmd")).unwrap();
    let mut cfg = trm_gpu::model::Config::preset("tiny-maze-att").unwrap();
    cfg.model.vocab_size = 12;
    cfg.model.halt_max_steps = 2;
    cfg.model.puzzle_emb_ndim = 32;
    cfg.model.puzzle_emb_len = 1;
    cfg.model.num_puzzle_identifiers = test.num_puzzle_identifiers;
    let ck = untrained(d, &cfg);
    (written, data, ck)
}

/// `trm-gpu parity DIR --device cpu` on both official fixtures, and on the GPU (lavapipe) for one: a table, all
/// within tolerance, and a dump under the reference keys (tests/model_fixtures.rs checks both on both devices).
#[test]
fn parity_command_on_the_fixtures() {
    for (fixture, device) in [("sudoku-att", "gpu"), ("sudoku-att", "cpu"), ("sudoku-mlp", "cpu")] {
        let dir = format!("{}/tests/fixtures/trm-official/{fixture}", env!("CARGO_MANIFEST_DIR"));
        {
            let dump = tmp(&format!("parity-{fixture}-{device}")).join("dump.safetensors");
            let (ok, t) = run(&["parity", &dir, "--device", device, "--dump", dump.to_str().unwrap()]);
            assert!(
                ok && t.contains("all 72 tensors within tolerance") && t.contains("grad.inner.lm_head.weight"),
                "{fixture} on {device}: {t}"
            );
            assert!(t.contains(&format!("device: {device}:")), "{t}");
            let bytes = std::fs::read(&dump).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            assert!(st.tensor("eval.step3.logits").is_ok() && st.tensor("trainhalt.step2.halted").is_ok());
            // Each tensor in the reference's shape, e.g. logits (4, 81, 11), not flattened.
            let want_bytes = std::fs::read(format!("{dir}/reference.safetensors")).unwrap();
            let want = safetensors::SafeTensors::deserialize(&want_bytes).unwrap();
            for (name, got) in st.tensors() {
                assert_eq!(got.shape(), want.tensor(&name).unwrap().shape(), "{name}");
            }
            assert_eq!(st.tensor("eval.step3.logits").unwrap().shape(), [4, 81, 11]);
        }
    }
}

/// `--device`: a name that does not exist lists the ones that do; `auto` without a real GPU takes the native CPU.
#[test]
fn device_choice() {
    let (ok, t) = run(&["bench", "--device", "tpu", "--step", "none"]);
    assert!(!ok && t.contains("tpu") && t.contains("auto") && t.contains("gpu") && t.contains("cpu"), "{t}");
    let (ok, t) = run(&["bench", "--reps", "1", "--filter", "ema", "--step", "none"]);
    assert!(ok && t.contains("device: "), "{t}");
    let (ok, t) =
        run(&["bench", "--device", "cpu", "--threads", "1", "--reps", "1", "--filter", "ema", "--step", "none"]);
    assert!(ok && t.contains("device: cpu: native executor (gemm and 1 thread)"), "{t}");
    // A plan larger than the machine is refused before anything is allocated, with both figures.
    let (ok, t) = run(&["bench", "--device", "cpu", "--filter", "ema", "--step", "sudoku-mlp:100000"]);
    assert!(
        !ok && t.contains("this step's plan needs") && t.contains("TiB but the machine has") && t.contains("available"),
        "{t}"
    );
}

/// The ablation plumbing in miniature: two variants, a few steps, a table.
#[test]
fn ablate_miniature() {
    let png = tmp("ablate").join("ablate.png");
    let (ok, t) = run(&[
        "ablate",
        "--budget",
        "2",
        "--batch",
        "4",
        "--eval-limit",
        "8",
        "--variants",
        "base,one-step-grad",
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    assert!(t.contains("base") && t.contains("one-step-grad") && t.contains("budget: 2 steps"), "{t}");
    assert!(png.exists());
    let (ok, t) = run(&["ablate", "--variants", "bogus"]);
    assert!(!ok && t.contains("unknown variant \"bogus\""), "{t}");
}

/// A model checkpoint with random weights for `cfg` (the plumbing is what these tests check).
fn untrained(dir: &std::path::Path, cfg: &trm_gpu::model::Config) -> String {
    let ck = dir.join("model.safetensors");
    trm_gpu::train::checkpoint::save_weights(&ck, cfg, &trm_gpu::model::Weights::init(&cfg.model, 0)).unwrap();
    ck.to_str().unwrap().to_string()
}

/// `solve` on a Sudoku: every step printed, an honest verdict, the JSON and PNG outputs, and bad puzzles refused.
#[test]
fn solve_sudoku_steps_verdict_and_bad_puzzles() {
    let d = tmp("solve-sudoku");
    let ck = untrained(&d, &trm_gpu::model::Config::preset("tiny-sudoku4-mlp").unwrap());
    let (json, png) = (d.join("steps.json"), d.join("answer.png"));
    let (ok, t) = run(&[
        "solve",
        "--checkpoint",
        &ck,
        "1..4.4...3.1.1..",
        "--all-steps",
        "--json",
        json.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    assert!(t.contains("step 1 (sigmoid(q_halt)") && t.contains("step 8 (sigmoid(q_halt)"), "{t}");
    // An untrained model does not solve it, and says so.
    assert!(t.contains("NOT solved:"), "{t}");
    let steps: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(steps.as_array().unwrap().len(), 8);
    assert!(image::open(&png).is_ok());
    // The CPU twins give the same first answer as the GPU.
    let (ok, c) = run(&["solve", "--checkpoint", &ck, "1..4.4...3.1.1..", "--device", "reference"]);
    let first = |t: &str| t.lines().skip_while(|l| !l.starts_with("step 1 ")).nth(1).map(String::from);
    assert!(ok && first(&c).is_some() && first(&c) == first(&t), "{c}\n{t}");
    for (puzzle, want) in [
        ("1..4.4...3.1.1.", "15 cells, expected 16 or 81"),
        ("1..4.4...3.1.1.x", "unexpected character 'x'"),
        ("11..............", "the givens already conflict at r1c1, r1c2"),
        (&".".repeat(81), "this model solves 4x4 Sudoku (16 cells), but the puzzle has 81 cells"),
    ] {
        let (ok, t) = run(&["solve", "--checkpoint", &ck, puzzle]);
        assert!(!ok && t.contains(want), "{puzzle}: {t}");
    }
}

/// `solve` on a maze text: the maze after each step and a shortest-path verdict; a wrong-size maze is refused.
#[test]
fn solve_maze_text() {
    let d = tmp("solve-maze");
    let mut cfg = trm_gpu::model::Config::preset("tiny-maze-att").unwrap();
    cfg.model.seq_len = 36;
    cfg.model.halt_max_steps = 2;
    let ck = untrained(&d, &cfg);
    let maze = "######\n#S   #\n# ## #\n#  # #\n# #G #\n######\n";
    let (ok, t) = run(&["solve", "--checkpoint", &ck, maze, "--all-steps"]);
    assert!(ok, "{t}");
    assert!(
        t.contains("step 2 (sigmoid(q_halt)") && (t.contains("NOT solved:") || t.contains("solved: a shortest path")),
        "{t}"
    );
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "#####\n#S  #\n# # #\n#  G#\n#####\n"]);
    assert!(!ok && t.contains("this model reads 36 tokens"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "######\n#S   #\n# ## #\n#  # #\n# #  #\n######\n"]);
    assert!(!ok && t.contains("the maze"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "######\n#S   #\n# ## \n"]);
    assert!(!ok && t.contains("maze row 1 has 6 characters"), "{t}");
}

/// `solve` on an ARC task JSON: its test inputs with the puzzle embedding found in the dataset, the cropped
/// answer grid per step and a verdict against the task's test output.
#[test]
fn solve_arc_task_json() {
    let d = tmp("solve-arc");
    let (tasks, data, ck) = arc_fixture(&d, 0, 1);
    let task = &tasks[0];
    let (ok, t) = run(&["solve", "--checkpoint", &ck, &task.to_string(), "--data", data.to_str().unwrap()]);
    assert!(ok, "{t}");
    assert!(t.contains("step 1 (sigmoid(q_halt)") && !t.contains("blank puzzle identifier"), "{t}");
    assert!(t.contains("NOT correct:") || t.contains("correct: the answer equals"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "{\"train\": []}"]);
    assert!(!ok && t.contains("the ARC task"), "{t}");
}

/// Ctrl-C (SIGINT) during `train` saves a checkpoint at the current step and exits cleanly; `--resume` then
/// carries on from exactly that step.
#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let d = tmp("ctrlc");
    let out = d.to_str().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_trm-gpu"))
        .args(["train", "--steps", "100000", "--batch", "4", "--quiet", "--log-every", "1", "--eval-every", "100000"])
        .args(["--checkpoint-every", "100000", "--out", out])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = d.join("metrics.jsonl");
    let lines = || std::fs::read_to_string(&metrics).map(|t| t.lines().count()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while lines() < 3 {
        assert!(std::time::Instant::now() < deadline, "training logged no steps in 300 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr).to_string();
    assert!(done.status.success(), "exit {:?}: {err}", done.status);
    let step: u64 = err
        .split("interrupted at step ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no interruption message: {err}"));
    assert!(step >= 3 && lines() as u64 == step, "stopped at {step} with {} metric lines", lines());
    assert!(d.join("checkpoint/model.safetensors").exists() && d.join("checkpoint/state.safetensors").exists());
    let (ok, t) = run(&[
        "train",
        "--resume",
        out,
        "--out",
        out,
        "--reschedule",
        "--steps",
        &(step + 1).to_string(),
        "--quiet",
        "--log-every",
        "1",
        "--eval-limit",
        "8",
    ]);
    assert!(
        ok && t.contains(&format!("resumed at step {step}")) && t.contains(&format!("step {} loss", step + 1)),
        "{t}"
    );
}

/// Puzzle files all the way: `data sudoku --csv` by clue range and rating, `eval --data FILE` grouped by a
/// level column (with --unseen and --limit per row), `solve --data FILE --index K`, and their bad input.
#[test]
fn puzzle_files_for_data_eval_and_solve() {
    let d = tmp("puzzle-files");
    let csv = d.join("singles.csv");
    let (ok, t) = run(&[
        "data",
        "sudoku",
        "--generate",
        "6",
        "--clues",
        "30-35",
        "--rating",
        "singles",
        "--seed",
        "3",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(ok && t.contains("6 puzzles; ratings singles:6"), "{t}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("puzzle,solution,clues,rating\n") && text.lines().count() == 7, "{text}");
    // A kaidoku-like file with a level column, and a training set that holds its first puzzle.
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let levelled = d.join("levelled.csv");
    let body: String = rows
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{},{}\n", 1 + i % 2, r.split(',').take(2).collect::<Vec<_>>().join(",")))
        .collect();
    std::fs::write(&levelled, format!("level,puzzle,solution\n{body}")).unwrap();
    let first = d.join("first.csv");
    std::fs::write(&first, format!("puzzle,solution\n{}\n", rows[0].split(',').take(2).collect::<Vec<_>>().join(",")))
        .unwrap();
    let train = d.join("train");
    let (ok, t) =
        run(&["data", "sudoku", "--from", first.to_str().unwrap(), "--holdout", "0", "--out", train.to_str().unwrap()]);
    assert!(ok, "{t}");

    let ck = untrained(&d, &trm_gpu::model::Config::preset("tiny-sudoku-mlp").unwrap());
    let (ok, t) = run(&[
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        levelled.to_str().unwrap(),
        "--unseen",
        train.to_str().unwrap(),
        "--limit",
        "2",
        "--device",
        "cpu",
    ]);
    assert!(ok, "{t}");
    assert!(t.contains("level 1: 2 of 3 test examples never occur") && t.contains("level 2: 3 of 3"), "{t}");
    let row =
        |name: &str| t.lines().find(|l| l.starts_with(name)).map(|l| l.split_whitespace().nth(2).unwrap().to_string());
    assert_eq!(row("level 1 ").as_deref(), Some("2"), "{t}");
    assert_eq!(row("level 2 ").as_deref(), Some("2"), "--limit is per row: {t}");
    // Without a level column: one table over the whole file.
    // An untrained model solves none, so halting recall is undefined: '-' in the table, null in the JSON.
    let json = d.join("eval.json");
    let (ok, t) = run(&[
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        csv.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok && t.contains("6 examples") && t.contains("halting at tau 0.5"), "{t}");
    assert!(!t.contains("NaN") && t.lines().any(|l| l.trim_start().starts_with("1 ") && l.ends_with(" -")), "{t}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["steps"][0]["halt_recall"].is_null(), "{report}");

    let (ok, t) =
        run(&["solve", "--checkpoint", &ck, "--data", csv.to_str().unwrap(), "--index", "2", "--device", "cpu"]);
    assert!(ok && t.contains("step 1 (sigmoid(q_halt)"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "--data", csv.to_str().unwrap(), "--index", "7"]);
    assert!(!ok && t.contains("--index 7") && t.contains("puzzles 1 to 6"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "--data", csv.to_str().unwrap(), &".".repeat(81)]);
    assert!(!ok && t.contains("not both"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "--data", "/nonexistent/puzzles.csv"]);
    assert!(!ok && t.contains("/nonexistent/puzzles.csv: cannot read"), "{t}");
    let (ok, t) = run(&["solve", "--checkpoint", &ck, "--index", "2", &".".repeat(81)]);
    assert!(!ok && t.contains("--index picks a puzzle"), "{t}");
    let (ok, t) = run(&["eval", "--task", "arc", "--checkpoint", &ck, "--data", csv.to_str().unwrap()]);
    assert!(!ok && t.contains("not a puzzle file"), "{t}");

    for (args, want) in [
        (vec!["--clues", "35-30"], "the range is empty"),
        (vec!["--clues", "many"], "not N or A-B"),
        (vec!["--clues", "82"], "has 81 cells"),
        (vec!["--rating", "easy"], "unknown rating \"easy\""),
    ] {
        let mut a = vec!["data", "sudoku", "--generate", "2", "--csv", "/tmp/never-written.csv"];
        a.extend(args);
        let (ok, t) = run(&a);
        assert!(!ok && t.contains(want), "{a:?}: {t}");
    }
    let bad = d.join("bad.csv");
    std::fs::write(&bad, "level,puzzle,solution\n1,123,456\n").unwrap();
    let (ok, t) = run(&["eval", "--checkpoint", &ck, "--data", bad.to_str().unwrap()]);
    assert!(!ok && t.contains("bad.csv:2"), "{t}");
    // Out-of-domain flags are refused by name (they used to panic or run with nonsense).
    for (args, want) in [
        (vec!["eval", "--batch", "0"], "--batch"),
        (vec!["eval", "--limit", "0"], "--limit"),
        (vec!["eval", "--halt", "1.5"], "not strictly between 0 and 1"),
        (vec!["eval", "--halt", "NaN"], "not strictly between 0 and 1"),
        (vec!["solve", "--halt=-1"], "not strictly between 0 and 1"),
    ] {
        let mut a = args.clone();
        a.extend(["--checkpoint", &ck, "--data", csv.to_str().unwrap()]);
        let (ok, t) = run(&a);
        assert!(!ok && t.contains(want), "{a:?}: {t}");
    }
}

/// Values out of their domain are refused with the field, the value and the range, before anything runs.
#[test]
fn out_of_range_values_are_refused() {
    let d = tmp("ranges");
    for (args, says) in [
        (vec!["plan", "--batch", "0"], "--batch"),
        (vec!["bench", "--reps", "0"], "--reps"),
        (vec!["bench", "--peak-gflops", "0", "--step", "none"], "--peak-gflops 0"),
        (vec!["bench", "--filter", "no-such-kernel", "--step", "none"], "matches no kernel"),
        (vec!["bench", "--step", "tiny-sudoku4-mlp:0"], "at least 1"),
        (vec!["eval", "--checkpoint", "x", "--data", "y", "--task", "bogus"], "possible values"),
        (vec!["eval", "--checkpoint", "x", "--data", "y", "--halt", "1.5"], "strictly between 0 and 1"),
        (vec!["data", "arc", "--from", "x", "--aug", "1000000000", "--out", "y"], "more than 100000"),
    ] {
        let (ok, t) = run(&args);
        assert!(!ok && t.contains(says), "{args:?}: {t}");
    }
    let empty = tmp("ranges-empty-arc");
    let (ok, t) = run(&["data", "arc", "--from", empty.to_str().unwrap(), "--out", d.join("a").to_str().unwrap()]);
    assert!(!ok && t.contains("no ARC tasks found"), "{t}");
    // The official flat layout: types are checked with their line and column, sizes against their bounds.
    let flat = |extra: &str| {
        format!("{{\"hidden_size\": 32, \"L_layers\": 1, \"H_cycles\": 2, \"L_cycles\": 2, \"halt_max_steps\": 2, \"vocab_size\": 6, \"seq_len\": 16, \"mlp_t\": true{extra}}}")
    };
    let mut own = trm_gpu::model::Config::preset("tiny-sudoku4-mlp").unwrap();
    own.train.halt_tau = 2.0;
    let mut ema = trm_gpu::model::Config::preset("tiny-sudoku4-mlp").unwrap();
    ema.train.ema_rate = 2.0;
    for (text, says) in [
        (flat(", \"expansion\": 0"), "expansion 0 is out of range"),
        (flat(", \"vocab_size\": 0").replacen("\"vocab_size\": 6, ", "", 1), "vocab_size 0 is out of range"),
        (flat(", \"lr\": 1e30"), "lr 1000000015047466200000000000000 is out of range"),
        (flat("").replace("\"hidden_size\": 32", "\"hidden_size\": 1e20"), "expected usize at line 1 column"),
        (flat("").replace("\"hidden_size\": 32", "\"hidden_size\": 1000000"), "hidden_size 1000000 is out of range"),
        (flat("").replace("\"L_layers\": 1", "\"L_layers\": 1000000"), "L_layers 1000000 is out of range"),
        (flat("").replace("\"halt_max_steps\": 2", "\"halt_max_steps\": 1000000000"), "halt_max_steps 1000000000"),
        (serde_json::to_string(&own).unwrap(), "halt_tau 2 is out of range"),
        (serde_json::to_string(&ema).unwrap(), "ema_rate 2 is out of range"),
    ] {
        let path = d.join("config.json");
        std::fs::write(&path, &text).unwrap();
        let (ok, t) = run(&["plan", "--config", path.to_str().unwrap()]);
        assert!(!ok && t.contains("config.json") && t.contains(says), "{text}: {t}");
    }
}

fn tiny_data(name: &str, seed: &str) -> std::path::PathBuf {
    let data = tmp(name).join("data");
    let out = data.to_str().unwrap();
    let (ok, t) =
        run(&["data", "sudoku", "--generate", "40", "--size", "4", "--holdout", "8", "--seed", seed, "--out", out]);
    assert!(ok, "{t}");
    data
}

/// A run directory is never overwritten or mixed: a second run into it is refused, a resume continues in it
/// with its own schedule, data and batch, its metrics are cut back to the checkpoint (a torn line too), and a
/// live trainer's lock keeps others out while a dead one's is taken over.
#[test]
fn runs_are_never_overwritten_or_mixed() {
    let data = tiny_data("runs", "0");
    let other = tiny_data("runs-other", "1");
    let out = tmp("runs").join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let train = |extra: &[&str]| {
        let mut args = vec![
            "--device",
            "cpu",
            "train",
            "--preset",
            "tiny-sudoku4-mlp",
            "--data",
            d,
            "--quiet",
            "--eval-limit",
            "8",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (ok, t) = train(&["--steps", "3", "--batch", "4", "--out", o]);
    assert!(ok, "{t}");
    let (ok, t) = train(&["--steps", "3", "--batch", "4", "--out", o]);
    assert!(!ok && t.contains("already holds a run") && t.contains("--resume"), "{t}");
    let (ok, t) = train(&["--steps", "5", "--resume", o]);
    assert!(!ok && t.contains("planned for 3 steps") && t.contains("--reschedule"), "{t}");
    let (ok, t) = train(&["--resume", o, "--reschedule", "--steps", "5", "--batch", "2"]);
    assert!(!ok && t.contains("batch 4"), "{t}");
    let (ok, t) = run(&[
        "--device",
        "cpu",
        "train",
        "--data",
        other.to_str().unwrap(),
        "--resume",
        o,
        "--reschedule",
        "--steps",
        "5",
    ]);
    assert!(!ok && t.contains("was trained on other data"), "{t}");
    let (ok, t) = train(&["--epochs", "368934881474191033", "--batch", "4", "--out", &format!("{o}-epochs")]);
    assert!(!ok && t.contains("use fewer --steps or --epochs"), "{t}");
    // A torn last line, then a resume without --out: the run continues in its own directory.
    let metrics = out.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"step\": 4, \"loss\": 1.0, \"to");
    std::fs::write(&metrics, text).unwrap();
    let (ok, t) = train(&["--resume", o, "--reschedule", "--steps", "5", "--log-every", "1"]);
    assert!(ok && t.contains("resumed at step 3") && t.contains(&format!("run directory: {o}")), "{t}");
    let steps: Vec<u64> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [3, 4, 5], "one line per logged step, none twice");
    // metrics.csv holds the same lines: a header, then one row per step, cells empty where a metric is absent.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][..3], ["step", "lr", "loss"], "{csv}");
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{csv}");
    let csv_steps: Vec<u64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(csv_steps, steps, "{csv}");
    // Locks: this test process is alive, so its pid keeps the trainer out; a dead pid's lock is taken over.
    std::fs::write(out.join(".lock"), std::process::id().to_string()).unwrap();
    let (ok, t) = train(&["--resume", o, "--reschedule", "--steps", "6"]);
    assert!(!ok && t.contains("in use by another trainer"), "{t}");
    std::fs::write(out.join(".lock"), "4000000000").unwrap();
    let (ok, t) = train(&["--resume", o, "--reschedule", "--steps", "6"]);
    assert!(ok, "{t}");
    assert!(!out.join(".lock").exists(), "the lock is released at exit");
}

/// A checkpoint whose model file is older than its state (a kill between the two writes) is repaired from
/// the state on resume; weights holding NaN are refused by name.
#[test]
fn checkpoints_stay_consistent_and_finite() {
    let data = tiny_data("consistent", "0");
    let out = tmp("consistent").join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let base =
        ["--device", "cpu", "train", "--preset", "tiny-sudoku4-mlp", "--data", d, "--quiet", "--eval-limit", "8"];
    let (ok, t) = run(&[&base[..], &["--steps", "2", "--batch", "4", "--out", o]].concat());
    assert!(ok, "{t}");
    let model = out.join("checkpoint").join("model.safetensors");
    let old = std::fs::read(&model).unwrap();
    let (ok, t) = run(&[&base[..], &["--resume", o, "--reschedule", "--steps", "3"]].concat());
    assert!(ok, "{t}");
    std::fs::write(&model, &old).unwrap();
    let (ok, t) = run(&[&base[..], &["--resume", o, "--reschedule", "--steps", "4"]].concat());
    assert!(ok && t.contains("rewrote") && t.contains("resumed at step 3"), "{t}");
    // ARC evaluation on a Sudoku dataset says what the dataset is.
    let (ok, t) = run(&["--device", "cpu", "eval", "--checkpoint", o, "--data", d, "--task", "arc"]);
    assert!(!ok && t.contains("a sudoku dataset; --task arc needs one built by"), "{t}");
    // NaN in a weights file: named, refused.
    let (cfg, mut w) = trm_gpu::train::checkpoint::load_weights(&model).unwrap();
    w.tensors.get_mut("inner.lm_head.weight").unwrap().1[5] = f32::NAN;
    let bad = out.join("nan.safetensors");
    trm_gpu::train::checkpoint::save_weights(&bad, &cfg, &w).unwrap();
    let e = format!("{:#}", trm_gpu::train::checkpoint::load_weights(&bad).unwrap_err());
    assert!(e.contains("inner.lm_head.weight") && e.contains("NaN"), "{e}");
}

/// Output into a pipe that closes early ends the process quietly, as Unix tools do, instead of a panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trm-gpu"))
        .args(["plan", "--verbose"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success() || out.status.signal() == Some(13), "{:?}: {err}", out.status);
}

/// kill -9 at ten points of a run that checkpoints every step: the last checkpoint always loads and resumes,
/// and the next save clears what the killed writer left.
#[cfg(unix)]
#[test]
fn kill_9_during_checkpoint_writes_never_loses_the_checkpoint() {
    let data = tiny_data("kill", "0");
    let out = tmp("kill").join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let base =
        ["--device", "cpu", "train", "--preset", "tiny-sudoku4-mlp", "--data", d, "--quiet", "--eval-limit", "8"];
    let (ok, t) = run(&[&base[..], &["--steps", "2", "--batch", "4", "--out", o]].concat());
    assert!(ok, "{t}");
    let mut last = 2;
    for i in 0..10u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trm-gpu"))
            .args(base)
            .args(["--resume", o, "--reschedule", "--steps", "1000000", "--checkpoint-every", "1", "--eval-every", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300 + (i * 137) % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let saved = trm_gpu::train::checkpoint::Saved::load(&out.join("checkpoint"))
            .unwrap_or_else(|e| panic!("kill {i}: the checkpoint does not load: {e:#}"));
        assert!(saved.state.step >= last, "kill {i}: the checkpoint went back from step {last}");
        last = saved.state.step;
        trm_gpu::train::checkpoint::load_weights(&out.join("checkpoint/model.safetensors")).unwrap();
    }
    let (ok, t) = run(&[&base[..], &["--resume", o, "--reschedule", "--steps", &(last + 1).to_string()]].concat());
    assert!(ok && t.contains(&format!("resumed at step {last}")), "{t}");
    let left: Vec<String> = std::fs::read_dir(out.join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "stale temporary files: {left:?}");
    eprintln!("kill -9 ten times; the checkpoint advanced to step {last}");
}

/// `trm-gpu import` on checkpoints written by the official code (tests/fixtures/official-checkpoints): MLP and
/// attention, with and without puzzle embeddings. Every tensor comes out with the bits PyTorch's own float32
/// conversion gives, the config is the run's all_config.yaml, and eval and solve take the model file as it is.
/// What trm-gpu cannot run is refused by name.
#[test]
fn official_checkpoints_import() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/official-checkpoints");
    let d = tmp("import");
    let data = tiny_data("import-data", "0");
    for (variant, seq_len) in
        [("mlp-emb", None), ("mlp-noemb", None), ("att-emb", Some("16")), ("att-noemb", Some("16"))]
    {
        let ck = format!("{root}/{variant}/step_40");
        let out = d.join(format!("{variant}.safetensors"));
        let o = out.to_str().unwrap();
        if seq_len.is_some() {
            let (ok, t) = run(&["import", &ck, "--out", o]);
            assert!(!ok && t.contains("--seq-len") && t.contains("RoPE"), "{variant}: {t}");
        }
        let mut args = vec!["import", &ck, "--out", o];
        args.extend(seq_len.iter().flat_map(|s| ["--seq-len", *s]));
        let (ok, t) = run(&args);
        assert!(ok && t.contains("all_config.yaml") && t.contains("sequence length 16"), "{variant}: {t}");
        let (ok, t) = run(&args);
        assert!(!ok && t.contains("--overwrite"), "an existing --out is kept: {t}");

        let (cfg, w) = trm_gpu::train::checkpoint::load_weights(&out).unwrap();
        let m = &cfg.model;
        assert_eq!((m.hidden_size, m.layers, m.h_cycles, m.l_cycles, m.halt_max_steps), (32, 2, 2, 2, 4));
        assert_eq!((m.vocab_size, m.seq_len, m.mlp_t), (6, 16, variant.starts_with("mlp")));
        assert_eq!(m.num_puzzle_identifiers, if variant.ends_with("-emb") { 3 } else { 1 });
        let want_bytes = std::fs::read(format!("{root}/{variant}/expected.safetensors")).unwrap();
        let want = safetensors::SafeTensors::deserialize(&want_bytes).unwrap();
        assert_eq!(w.tensors.len(), want.len(), "{variant}: every tensor, no more");
        for (name, view) in want.tensors() {
            let (shape, got) = &w.tensors[&name];
            assert_eq!(shape, view.shape(), "{variant}: {name}");
            let expected: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
            let same = got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{variant}: {name} differs from PyTorch's float32 conversion");
        }

        let (ok, t) = run(&["eval", "--checkpoint", o, "--data", data.to_str().unwrap(), "--device", "cpu"]);
        assert!(ok && t.contains("8 examples") && t.contains("halting at tau"), "{variant}: {t}");
        let (ok, t) = run(&["solve", "--checkpoint", o, "1.3...2.2..3..4.", "--device", "cpu"]);
        assert!(ok && t.contains("step 1 (sigmoid(q_halt)"), "{variant}: {t}");
    }

    // Refused: learned positions, another architecture, no all_config.yaml, and a file that is not torch's.
    let out = d.join("refused.safetensors");
    let o = out.to_str().unwrap();
    let (ok, t) = run(&["import", &format!("{root}/att-learned-pos/step_40"), "--out", o]);
    assert!(!ok && t.contains("pos_encodings \"learned\" is not supported"), "{t}");
    let lone = d.join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(format!("{root}/mlp-noemb/step_40"), lone.join("step_40")).unwrap();
    let step = lone.join("step_40");
    let (ok, t) = run(&["import", step.to_str().unwrap(), "--out", o]);
    assert!(!ok && t.contains("all_config.yaml: not found") && t.contains("--config"), "{t}");
    let yaml = std::fs::read_to_string(format!("{root}/mlp-noemb/all_config.yaml")).unwrap();
    let hrm = lone.join("hrm.yaml");
    std::fs::write(&hrm, yaml.replace("recursive_reasoning.trm@", "hrm.hrm_act_v1@")).unwrap();
    let (ok, t) = run(&["import", step.to_str().unwrap(), "--config", hrm.to_str().unwrap(), "--out", o]);
    assert!(!ok && t.contains("hrm.yaml") && t.contains("is not supported"), "{t}");
    let wide = lone.join("wide.yaml");
    std::fs::write(&wide, yaml.replace("hidden_size: 32", "hidden_size: 64")).unwrap();
    let (ok, t) = run(&["import", step.to_str().unwrap(), "--config", wide.to_str().unwrap(), "--out", o]);
    assert!(!ok && t.contains("do not match") && t.contains("inner.H_init"), "{t}");
    let broken = lone.join("broken.yaml");
    std::fs::write(&broken, "arch: [1, 2\n").unwrap();
    let (ok, t) = run(&["import", step.to_str().unwrap(), "--config", broken.to_str().unwrap(), "--out", o]);
    assert!(!ok && t.contains("broken.yaml") && t.contains("not valid YAML"), "{t}");
    let (ok, t) = run(&["import", hrm.to_str().unwrap(), "--out", o]);
    assert!(!ok && t.contains("hrm.yaml: not a PyTorch checkpoint"), "{t}");
    assert!(!out.exists(), "nothing is written when the import is refused");
}
