//! ARC-AGI: augmentation inverses, canvas serialisation, both input layouts, the builder and the evaluator.

use std::path::{Path, PathBuf};
use trm_gpu::data::arc::{self, ArcAug, ArcBuild, Grid, Prediction, PASS_KS};
use trm_gpu::rng::SplitMix64;

const ARC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/arc");

fn grid(rows: &[&[u8]]) -> Grid {
    Grid::from_rows(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trm-data-arc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn augmentations_invert_for_every_dihedral_and_colour_case() {
    let g = grid(&[&[0, 1, 2, 3], &[4, 5, 6, 7], &[8, 9, 0, 1]]);
    let mut rng = SplitMix64::new(5);
    let mut perms = vec![ArcAug::IDENTITY.colours, [0, 9, 8, 7, 6, 5, 4, 3, 2, 1]];
    perms.extend((0..6).map(|_| ArcAug::random(&mut rng).colours));
    let mut images = std::collections::HashSet::new();
    for colours in perms {
        for dihedral in 0..8 {
            let aug = ArcAug { dihedral, colours };
            let out = aug.apply(&g);
            assert_eq!(out.h * out.w, 12);
            assert_eq!(out.cells.iter().filter(|&&c| c == 0).count(), 2, "black must stay black");
            assert_eq!(aug.invert(&out), g, "{aug:?}");
            assert_eq!(ArcAug::from_code(aug.code()).unwrap(), aug);
            images.insert(out);
        }
    }
    assert_eq!(images.len(), 64);
    assert_eq!(ArcAug::IDENTITY.code(), 0);
    // numpy conventions: rot90 is counter-clockwise, 6 is the transpose.
    let sq = grid(&[&[1, 2], &[3, 4]]);
    assert_eq!(ArcAug { dihedral: 1, ..ArcAug::IDENTITY }.apply(&sq), grid(&[&[2, 4], &[1, 3]]));
    assert_eq!(ArcAug { dihedral: 6, ..ArcAug::IDENTITY }.apply(&sq), grid(&[&[1, 3], &[2, 4]]));
    assert!(ArcAug::from_code(8 * 362_880).is_err());
}

#[test]
fn canvas_has_an_eos_border_and_crops_back() {
    let g = grid(&[&[1, 2, 3], &[4, 5, 6]]);
    let t = arc::to_canvas(&g, 1, 2);
    let at = |r: usize, c: usize| t[r * 30 + c];
    assert_eq!((at(1, 2), at(2, 4)), (3, 8)); // colour c -> c + 2
    assert_eq!((at(3, 2), at(3, 4), at(1, 5), at(2, 5)), (1, 1, 1, 1)); // EOS row below, column right
    assert_eq!((at(3, 5), at(0, 0), at(1, 1)), (0, 0, 0)); // corner and outside stay PAD
    assert_eq!(t.iter().filter(|&&x| x == 1).count(), 5);
    assert_eq!(arc::crop(&arc::to_canvas(&g, 0, 0)), g);
    let full = Grid { h: 30, w: 30, cells: vec![7; 900] };
    assert_eq!(arc::crop(&arc::to_canvas(&full, 0, 0)), full);
    assert_eq!(arc::crop(&vec![0; 900]).h, 0);
}

#[test]
fn reads_the_bundles() {
    for (file, train, eval) in [("arc-agi-1.json", 400, 400), ("arc-agi-2.json", 1000, 120)] {
        let data = arc::read(&Path::new(ARC_DIR).join(file), false).unwrap();
        assert_eq!((data.train.len(), data.eval.len()), (train, eval), "{file}");
        assert!(data.skipped.is_empty());
        assert!(data.eval.iter().all(|t| t.test.iter().all(|p| p.output.is_some())));
    }
}

const TASK: &str = r#"{"train": [{"input": [[1, 0], [0, 2]], "output": [[2, 0], [0, 1]]},
                                {"input": [[3, 3, 0]], "output": [[0, 3, 3]]}],
                      "test": [{"input": [[4, 0, 5]], "output": [[5, 0, 4]]}]}"#;

fn write_folder(dir: &Path, bad: bool) {
    for sub in ["data/training", "data/evaluation"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("data/training/aaa.json"), TASK).unwrap();
    std::fs::write(dir.join("data/training/bbb.json"), TASK.replace("[[4, 0, 5]]", "[[4, 0, 6]]")).unwrap();
    std::fs::write(dir.join("data/evaluation/ccc.json"), TASK.replace("[[3, 3, 0]]", "[[7, 7, 0]]")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a task").unwrap();
    if bad {
        std::fs::write(dir.join("data/training/zzz.json"), TASK.replace("[[1, 0], [0, 2]]", "[[1, 0], [0]]")).unwrap();
    }
}

#[test]
fn reads_a_task_folder() {
    let dir = temp_dir("folder");
    write_folder(&dir, true);
    let e = format!("{:#}", arc::read(&dir, false).unwrap_err());
    assert!(e.contains("task zzz") && e.contains("train pair 0 input") && e.contains("row 1 has 1 cells"), "{e}");
    let data = arc::read(&dir, true).unwrap();
    let ids = |ts: &[arc::Task]| ts.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    assert_eq!((ids(&data.train), ids(&data.eval)), (vec!["aaa".to_string(), "bbb".into()], vec!["ccc".to_string()]));
    assert_eq!(data.skipped.len(), 1);
    assert_eq!(data.train[0].test[0].output, Some(grid(&[&[5, 0, 4]])));
}

#[test]
fn builds_datasets_with_shared_identifiers() {
    let dir = temp_dir("build");
    write_folder(&dir, false);
    let opts = ArcBuild { path: dir.clone(), augmentations: 5, translate: true, seed: 1, skip_bad: false };
    let built = arc::build(&opts, &mut |_, _| {}).unwrap();
    let (train, test) = (&built.train, &built.test);
    // 3 tasks x 6 variants; training tasks give 3 examples each, the evaluation task 2 (train) + 1 (test).
    assert_eq!((train.num_groups(), train.num_puzzles(), train.len()), (3, 18, 6 * 3 + 6 * 3 + 6 * 2));
    assert_eq!((test.num_groups(), test.num_puzzles(), test.len()), (1, 6, 6));
    assert_eq!((train.seq_len, train.vocab_size, train.num_puzzle_identifiers), (900, 12, 19));
    let ids: Vec<u32> =
        (0..train.num_puzzles()).map(|p| train.puzzle_identifiers[train.puzzle_indices[p] as usize]).collect();
    assert_eq!(ids, (1..=18).collect::<Vec<_>>());
    assert_eq!(test.puzzle_identifiers, (13..=18).collect::<Vec<_>>());
    assert_eq!(test.augmentations, train.augmentations[12..]);
    assert!((0..train.len()).any(|i| train.example(i).input[0] == 0), "no translated example");
    // The test split holds the original answers and maps every example back to its task.
    let answers = arc::answers_from_dataset(test).unwrap();
    assert_eq!(answers, arc::answers(&arc::read(&dir, false).unwrap().eval));
    let origins = arc::origins(test).unwrap();
    assert_eq!(origins.len(), test.len());
    let preds: Vec<Prediction> = origins
        .into_iter()
        .enumerate()
        .map(|(i, o)| Prediction {
            task_id: o.task_id,
            test_index: o.test_index,
            augmentation: o.augmentation,
            tokens: test.example(i).label.to_vec(),
            q_halt: 1.0,
        })
        .collect();
    let report = arc::evaluate(&answers, &preds).unwrap();
    assert_eq!(report.pass, vec![1.0; 6]);
    assert_eq!(report.ranked["ccc"][0][0].count, 6);
}

#[test]
fn builds_from_the_arc_agi_1_bundle() {
    let opts = ArcBuild {
        path: Path::new(ARC_DIR).join("arc-agi-1.json"),
        augmentations: 1,
        translate: true,
        seed: 0,
        skip_bad: false,
    };
    let built = arc::build(&opts, &mut |_, _| {}).unwrap();
    assert_eq!((built.train.num_groups(), built.test.num_groups()), (800, 400));
    assert_eq!(built.train.num_puzzles(), 1600);
    assert_eq!(built.test.len(), 2 * 419); // 419 test inputs over the 400 evaluation tasks
}

/// Tokens of `answer` as a model would predict it for a puzzle augmented with `aug`.
fn predict(task: &str, test_index: usize, aug: ArcAug, answer: &Grid, q_halt: f32) -> Prediction {
    let tokens = arc::to_canvas(&aug.apply(answer), 0, 0);
    Prediction { task_id: task.into(), test_index, augmentation: aug.code(), tokens, q_halt }
}

#[test]
fn evaluator_votes_and_scores_pass_at_k() {
    let (a, b, c) = (grid(&[&[1, 2], &[3, 4]]), grid(&[&[5, 5, 6]]), grid(&[&[7]]));
    let (x, y, z, w) = (grid(&[&[1, 1]]), grid(&[&[2]]), grid(&[&[3]]), grid(&[&[4], &[4]]));
    let answers =
        [("t1".to_string(), vec![Some(a.clone()), Some(b.clone())]), ("t2".to_string(), vec![Some(c)])].into();
    let mut rng = SplitMix64::new(3);
    let mut aug = || ArcAug::random(&mut rng);
    let ln3 = 3f32.ln(); // sigmoid(ln 3) = 0.75
    let preds = vec![
        // t1 test 0: A 3 votes (mean q 0.75) beats X 3 votes (mean q 0.5); Y 1 vote.
        predict("t1", 0, aug(), &x, 0.0),
        predict("t1", 0, aug(), &a, ln3),
        predict("t1", 0, aug(), &x, 0.0),
        predict("t1", 0, aug(), &a, ln3),
        predict("t1", 0, aug(), &y, 5.0),
        predict("t1", 0, ArcAug::IDENTITY, &a, ln3),
        predict("t1", 0, aug(), &x, 0.0),
        // t1 test 1: W and Z tie on 2 votes, W has the higher mean q; the answer B comes third.
        predict("t1", 1, aug(), &z, 0.0),
        predict("t1", 1, aug(), &w, 2.0),
        predict("t1", 1, aug(), &b, 9.0),
        predict("t1", 1, aug(), &z, 0.0),
        predict("t1", 1, aug(), &w, 2.0),
        // Not an answer (nothing at the top-left): ignored.
        Prediction { task_id: "t1".into(), test_index: 1, augmentation: 0, tokens: vec![0; 900], q_halt: 9.0 },
        // t2: no predictions.
    ];
    let report = arc::evaluate(&answers, &preds).unwrap();
    let t1 = &report.ranked["t1"];
    assert_eq!(
        t1[0].iter().map(|c| (c.grid.clone(), c.count)).collect::<Vec<_>>(),
        vec![(a.clone(), 3), (x.clone(), 3), (y, 1)]
    );
    assert!((t1[0][0].mean_q - 0.75).abs() < 1e-6 && (t1[0][1].mean_q - 0.5).abs() < 1e-9);
    assert_eq!(t1[1].iter().map(|c| c.grid.clone()).collect::<Vec<_>>(), vec![w.clone(), z.clone(), b]);
    assert_eq!(PASS_KS, [1, 2, 5, 10, 100, 1000]);
    // t1: input 0 solved at rank 1, input 1 at rank 3 -> pass@1 = pass@2 = 1/2, pass@5.. = 1. t2: 0.
    assert_eq!(report.per_task["t1"], vec![0.5, 0.5, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(report.per_task["t2"], vec![0.0; 6]);
    assert_eq!(report.pass, vec![0.25, 0.25, 0.5, 0.5, 0.5, 0.5]);

    let sub = report.submission();
    assert_eq!(sub["t1"][0]["attempt_1"], serde_json::json!([[1, 2], [3, 4]]));
    assert_eq!(sub["t1"][0]["attempt_2"], serde_json::json!([[1, 1]]));
    assert_eq!(sub["t1"][1]["attempt_1"], serde_json::json!([[4], [4]]));
    assert_eq!(sub["t1"][1]["attempt_2"], serde_json::json!([[3]]));
    assert_eq!(sub["t2"][0]["attempt_1"], serde_json::json!([[0]]));
    let path = temp_dir("submission").join("submission.json");
    report.write_submission(&path).unwrap();
    let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, sub);

    let unknown = vec![predict("nope", 0, ArcAug::IDENTITY, &x, 0.0)];
    assert!(arc::evaluate(&answers, &unknown).unwrap_err().to_string().contains("unknown task"));
}
