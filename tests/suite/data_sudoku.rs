//! Sudoku: reading, solver, generator, augmentation and the dataset builder.

use std::path::PathBuf;
use trm_gpu::data::sudoku::{self, Augment, GenOptions, SudokuBuild};
use trm_gpu::data::{Dataset, Source, Sources};
use trm_gpu::rng::SplitMix64;

const KAIDOKU: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sudoku/kaidoku25k.csv");

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trm-data-sudoku-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Independent rule check: every row, column and box holds each digit once; givens kept.
fn valid_pair(puzzle: &[u8], solution: &[u8]) -> bool {
    let n = if solution.len() == 16 { 4 } else { 9 };
    let b = if n == 4 { 2 } else { 3 };
    let all_once = |cells: Vec<u8>| {
        let mut seen = vec![false; n + 1];
        cells.iter().all(|&d| (1..=n as u8).contains(&d) && !std::mem::replace(&mut seen[d as usize], true))
    };
    let rows = (0..n).all(|r| all_once((0..n).map(|c| solution[r * n + c]).collect()));
    let cols = (0..n).all(|c| all_once((0..n).map(|r| solution[r * n + c]).collect()));
    let boxes =
        (0..n).all(|k| all_once((0..n).map(|i| solution[(k / b * b + i / b) * n + k % b * b + i % b]).collect()));
    let givens = puzzle.iter().zip(solution).all(|(&p, &s)| p == 0 || p == s);
    rows && cols && boxes && givens
}

fn kaidoku() -> Vec<sudoku::Puzzle> {
    sudoku::read_file(KAIDOKU.as_ref(), false).unwrap().items
}

#[test]
fn solver_agrees_with_all_of_kaidoku() {
    let start = std::time::Instant::now();
    let puzzles = kaidoku();
    assert_eq!(puzzles.len(), 25_000);
    for (i, p) in puzzles.iter().enumerate() {
        let r = sudoku::count_solutions(&p.puzzle, 2);
        assert_eq!(r.count, 1, "puzzle {i} is not unique");
        assert_eq!(r.solution.as_ref(), Some(&p.solution), "puzzle {i}");
    }
    eprintln!("read + solved 25k kaidoku puzzles in {:?}", start.elapsed());
}

#[test]
fn augmentations_keep_pairs_valid() {
    let nine = &kaidoku()[..50];
    let mut rng = SplitMix64::new(7);
    let four: Vec<_> = (0..20).map(|_| sudoku::generate(&GenOptions::new(4, false), &mut rng).unwrap()).collect();
    for (n, pairs) in [(9, nine), (4, &four[..])] {
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..200u64 {
            let p = &pairs[seed as usize % pairs.len()];
            let aug = Augment::random(n, &mut SplitMix64::new(seed));
            let (q, s) = (aug.apply(&p.puzzle), aug.apply(&p.solution));
            assert!(valid_pair(&q, &s), "{n}x{n} seed {seed}");
            assert_eq!(sudoku::clues(&q), sudoku::clues(&p.puzzle));
            assert_eq!(sudoku::count_solutions(&q, 2).count, 1);
            distinct.insert((q, s));
        }
        assert!(distinct.len() > 120, "{n}x{n}: only {} distinct augmentations", distinct.len());
    }
    assert_eq!(Augment::identity(9).apply(&nine[0].puzzle), nine[0].puzzle);
}

#[test]
fn generated_puzzles_are_unique_and_hard_ones_need_guessing() {
    for (size, hard, count) in [(4, false, 200), (4, true, 200), (9, false, 20), (9, true, 20)] {
        let opts = GenOptions::new(size, hard);
        let puzzles = sudoku::generate_many(count, &opts, 42, &Default::default(), &mut |_, _| {}).unwrap();
        assert_eq!(puzzles.len(), count);
        for p in &puzzles {
            let r = sudoku::count_solutions(&p.puzzle, 2);
            assert_eq!(r.count, 1);
            assert_eq!(r.solution.as_ref(), Some(&p.solution));
            assert!(valid_pair(&p.puzzle, &p.solution));
            if hard && size == 9 {
                assert!(sudoku::needs_guessing(&p.puzzle), "hard puzzle solved by singles");
            }
            if hard && size == 4 {
                assert_eq!(sudoku::clues(&p.puzzle), 4); // no 4x4 puzzle needs a guess; hard = fewest clues
            }
        }
        let again = sudoku::generate_many(count, &opts, 42, &Default::default(), &mut |_, _| {}).unwrap();
        assert_eq!(puzzles, again, "not deterministic");
    }
    // Difficulty by clue count.
    let opts = GenOptions { clues: Some((30, 30)), ..GenOptions::new(9, false) };
    let p = sudoku::generate(&opts, &mut SplitMix64::new(1)).unwrap();
    assert_eq!(sudoku::clues(&p.puzzle), 30);
    assert_eq!(sudoku::count_solutions(&p.puzzle, 2).count, 1);
}

#[test]
fn generator_is_fast() {
    let start = std::time::Instant::now();
    sudoku::generate_many(2000, &GenOptions::new(4, false), 1, &Default::default(), &mut |_, _| {}).unwrap();
    sudoku::generate_many(200, &GenOptions::new(9, true), 1, &Default::default(), &mut |_, _| {}).unwrap();
    assert!(start.elapsed().as_secs_f64() < 10.0, "generator took {:?}", start.elapsed());
}

#[test]
fn solver_counts_and_reports_effort() {
    let empty = vec![0u8; 81];
    assert_eq!(sudoku::count_solutions(&empty, 5).count, 5);
    let p = &kaidoku()[0];
    assert_eq!(sudoku::count_solutions(&p.puzzle, 2).guesses, 0); // level 1: singles suffice
    let mut clash = p.puzzle.clone();
    let (a, b) = (0, (1..9).find(|&c| clash[c] != 0).unwrap());
    clash[a] = clash[b];
    assert_eq!(sudoku::count_solutions(&clash, 2).count, 0);
    assert_eq!(sudoku::solve(&p.puzzle), Some(p.solution.clone()));
    // 4x4
    let four = sudoku::parse_grid("1... ..2. .3.. ...4").unwrap();
    assert!(sudoku::count_solutions(&four, 10).count >= 1);
}

#[test]
fn parse_conflicts_and_validity() {
    let p = &kaidoku()[3];
    let text = sudoku::pretty(&p.puzzle);
    assert!(text.contains('|') && text.contains('+'));
    assert_eq!(sudoku::parse_grid(&text).unwrap(), p.puzzle);
    assert_eq!(sudoku::parse_grid(&sudoku::format_grid(&p.puzzle)).unwrap(), p.puzzle);
    let zeros: String = p.puzzle.iter().map(|d| (b'0' + d) as char).collect();
    assert_eq!(sudoku::parse_grid(&zeros).unwrap(), p.puzzle);
    assert_eq!(sudoku::parse_grid("12.. 34.. .... ....").unwrap().len(), 16);
    let e = sudoku::parse_grid(&zeros[..80]).unwrap_err().to_string();
    assert!(e.contains("80 cells"), "{e}");
    assert!(sudoku::parse_grid(&"x".repeat(81)).unwrap_err().to_string().contains("'x'"));
    assert!(sudoku::parse_grid("5...............").unwrap_err().to_string().contains("out of range"));

    assert!(sudoku::conflicts(&p.solution).is_empty());
    assert!(sudoku::is_valid_solution(&p.puzzle, &p.solution));
    let mut bad = p.solution.clone();
    bad[0] = bad[1]; // a row clash
    assert!(!sudoku::is_valid_solution(&[0; 81], &bad));
    assert_eq!(sudoku::conflicts(&bad)[..2], [0, 1]);
    let mut clash = vec![0u8; 81];
    clash[0] = 5;
    clash[8] = 5; // same row
    clash[80] = 5; // same box as nothing, same column as 8
    assert_eq!(sudoku::conflicts(&clash), vec![0, 8, 80]);
    assert!(!sudoku::is_valid_solution(&[0; 81], &[0; 81]));
}

#[test]
fn reads_all_layouts() {
    let k = &kaidoku()[..3];
    let dots = |g: &[u8]| sudoku::format_grid(g);
    let digits = |g: &[u8]| g.iter().map(|d| (b'0' + d) as char).collect::<String>();
    let extreme: String = std::iter::once("source,question,answer,rating".to_string())
        .chain(k.iter().map(|p| format!("puzzles0_kaggle,{},{},12", dots(&p.puzzle), digits(&p.solution))))
        .collect::<Vec<_>>()
        .join("\n");
    let plain: String = k.iter().map(|p| format!("{},{}\n", digits(&p.puzzle), digits(&p.solution))).collect();
    let lines: String = k.iter().map(|p| format!("{}\n\n", dots(&p.puzzle))).collect();
    let pretty: String = k.iter().map(|p| sudoku::pretty(&p.puzzle).replace('\n', " ") + "\n").collect();
    // Windows line ends, blank lines and a quoted field holding a comma.
    let quoted: String = std::iter::once("source,question,answer\r\n".to_string())
        .chain(k.iter().map(|p| format!("\"kaggle, part 1\",\"{}\",{}\r\n\r\n", dots(&p.puzzle), digits(&p.solution))))
        .collect();
    let layouts = [
        ("extreme.csv", extreme),
        ("plain.csv", plain),
        ("lines.txt", lines),
        ("pretty.txt", pretty),
        ("quoted.csv", quoted),
    ];
    for (name, text) in layouts {
        let got = sudoku::read_file(&temp_file(name, &text), false).unwrap();
        assert_eq!(got.items, k, "{name}");
        assert!(got.skipped.is_empty());
    }
}

#[test]
fn malformed_lines_name_file_and_line() {
    let p = &kaidoku()[0];
    let digits = |g: &[u8]| g.iter().map(|d| (b'0' + d) as char).collect::<String>();
    let (q, s) = (digits(&p.puzzle), digits(&p.solution));
    let mut wrong = p.solution.clone();
    wrong.swap(0, 9);
    let text = format!(
        "level,puzzle,solution\n1,{q},{s}\n1,{},{s}\n1,{}x,{s}\n1,{q},{}\n1,{q}\n",
        &q[..80],
        &q[..80],
        digits(&wrong)
    );
    let path = temp_file("kaidoku.csv", &text);
    let e = format!("{:#}", sudoku::read_file(&path, false).unwrap_err());
    assert!(e.contains("kaidoku.csv:3: puzzle has 80 cells, expected 81"), "{e}");
    let got = sudoku::read_file(&path, true).unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.skipped.len(), 4);
    for (msg, (line, what)) in
        got.skipped.iter().zip([(3, "80 cells"), (4, "'x'"), (5, "does not solve"), (6, "fields")])
    {
        assert!(msg.contains(&format!("kaidoku.csv:{line}: ")) && msg.contains(what), "{msg}");
    }
    // Without a solution column the puzzle is solved, and must be unique.
    let got = sudoku::read_file(&temp_file("one.txt", &format!("{q}\n{}\n", ".".repeat(81))), true).unwrap();
    assert_eq!(got.items[0].solution, p.solution);
    assert!(got.skipped[0].contains("one.txt:2: puzzle has more than one solution"), "{:?}", got.skipped);
    // Lines are counted as the file has them, blank ones and CRLF included; an unclosed quote is named too.
    let e = format!(
        "{:#}",
        sudoku::read_file(&temp_file("crlf.csv", &format!("puzzle\r\n\r\n{q}\r\n{}\r\n", &q[..80])), false)
            .unwrap_err()
    );
    assert!(e.contains("crlf.csv:4: puzzle has 80 cells"), "{e}");
    let text = format!("puzzle,solution\n{q},{s}\n\"{q},{s}\n");
    assert!(sudoku::read_file(&temp_file("quote.csv", &text), false).is_err());
}

#[test]
fn builds_datasets() {
    let gen = |count| Source::Generate { count, options: GenOptions::new(4, false) };
    let sources =
        Sources { train: vec![gen(30)], test: Some(gen(10)), holdout: 0, max_train: None, seed: 3, skip_bad: false };
    let mut calls = 0;
    let mut built = sudoku::build(&SudokuBuild { sources, augmentations: 4, ratings: Vec::new() }, &mut |_, total| {
        calls += 1;
        assert_eq!(total, 40);
    })
    .unwrap();
    assert_eq!(calls, 40);
    let (train, test) = (&built.train, &built.test);
    assert_eq!((train.len(), train.num_puzzles(), train.num_groups()), (150, 150, 30));
    assert_eq!((test.len(), test.num_groups()), (10, 10));
    assert_eq!((train.seq_len, train.vocab_size, train.num_puzzle_identifiers), (16, 6, 1));
    for i in 0..train.len() {
        let ex = train.example(i);
        let (q, s) = (sudoku::from_tokens(ex.input), sudoku::from_tokens(ex.label));
        assert!(valid_pair(&q, &s));
    }
    let train_q: std::collections::HashSet<_> =
        (0..train.len()).step_by(5).map(|i| train.example(i).input.to_vec()).collect();
    assert!((0..test.len()).all(|i| !train_q.contains(test.example(i).input)), "test puzzle in train");
    let hist: usize = built.summary.histograms[0].1.values().sum();
    assert_eq!(hist, 30);
    assert!(built.summary.to_string().contains("train clues"));

    let dir = std::env::temp_dir().join(format!("trm-data-sudoku-build-{}", std::process::id()));
    built.save(&dir).unwrap();
    assert_eq!(built.summary.files.len(), 2);
    assert_eq!(Dataset::load(&dir.join("train.trmd")).unwrap(), built.train);
    assert_eq!(built.summary.files[0].1, std::fs::metadata(dir.join("train.trmd")).unwrap().len());

    // From a file, holding out a test split and keeping a subset for training.
    let sources = Sources {
        train: vec![Source::File(KAIDOKU.into())],
        test: None,
        holdout: 100,
        max_train: Some(200),
        seed: 1,
        skip_bad: false,
    };
    let built = sudoku::build(&SudokuBuild { sources, augmentations: 2, ratings: Vec::new() }, &mut |_, _| {}).unwrap();
    assert_eq!((built.train.len(), built.test.len()), (600, 100));
    assert_eq!(built.train.vocab_size, 11);
}

/// The rater against an independent implementation (the solver's propagation) and against kaidoku's human
/// levels: levels 1-3 need singles alone, levels 7-9 more than any technique the rater knows.
#[test]
fn rater_agrees_with_the_solver_and_with_kaidoku_levels() {
    let mut rng = SplitMix64::new(11);
    for _ in 0..200 {
        let p = sudoku::generate(&GenOptions::new(9, false), &mut rng).unwrap();
        let singles = sudoku::rate(&p.puzzle) == sudoku::Rating::Singles;
        assert_eq!(singles, sudoku::solved_by_singles(&p.puzzle), "{}", sudoku::format_grid(&p.puzzle));
        assert_eq!(singles, !sudoku::needs_guessing(&p.puzzle));
    }
    let text = std::fs::read_to_string(KAIDOKU).unwrap();
    let mut by_level = std::collections::BTreeMap::<u32, [usize; 3]>::new();
    for line in text.lines().skip(1).step_by(25) {
        let f: Vec<&str> = line.split(',').collect();
        let grid = sudoku::parse_grid(f[1]).unwrap();
        by_level.entry(f[0].parse().unwrap()).or_default()[sudoku::rate(&grid) as usize] += 1;
    }
    for (level, [s, m, g]) in &by_level {
        match level {
            1..=3 => assert!(*m == 0 && *g == 0, "level {level}: {s} singles, {m} more, {g} guess"),
            7..=9 => assert!(*s == 0 && *m == 0, "level {level}: {s} singles, {m} more, {g} guess"),
            5 => assert!(*m > 0 && *g > 0, "level 5 mixes more and guess: {s} {m} {g}"),
            _ => {}
        }
    }
    assert_eq!(
        sudoku::rate(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        sudoku::Rating::Guess,
        "clashing givens"
    );
}

/// Generation by clue range and rating: every puzzle unique, in range, and of the rating asked.
#[test]
fn generates_by_clue_range_and_rating() {
    for (rating, clues) in
        [(sudoku::Rating::Singles, (24, 30)), (sudoku::Rating::More, (26, 34)), (sudoku::Rating::Guess, (22, 30))]
    {
        let opts = GenOptions { clues: Some(clues), rating: vec![rating], ..GenOptions::new(9, false) };
        let mut rng = SplitMix64::new(3);
        let mut counts = std::collections::BTreeSet::new();
        for _ in 0..12 {
            let p = sudoku::generate(&opts, &mut rng).unwrap();
            let k = sudoku::clues(&p.puzzle);
            assert!((clues.0..=clues.1).contains(&k), "{rating}: {k} clues");
            assert_eq!(sudoku::rate(&p.puzzle), rating);
            assert_eq!(sudoku::count_solutions(&p.puzzle, 2).count, 1);
            assert!(valid_pair(&p.puzzle, &p.solution));
            counts.insert(k);
        }
        assert!(counts.len() > 1, "{rating}: the clue count should vary within the range, got {counts:?}");
    }
    // Impossible: 4x4 puzzles never need more than singles.
    let opts = GenOptions { rating: vec![sudoku::Rating::More], max_attempts: 50, ..GenOptions::new(4, false) };
    let e = sudoku::generate(&opts, &mut SplitMix64::new(1)).unwrap_err();
    assert!(e.to_string().contains("rated") && e.to_string().contains("50 attempts"), "{e}");
}

/// Several sources form one pool; --rating keeps only matching puzzles read from files; CSV round trip.
#[test]
fn pools_files_and_generated_puzzles_and_writes_csv() {
    let singles =
        GenOptions { clues: Some((30, 40)), rating: vec![sudoku::Rating::Singles], ..GenOptions::new(9, false) };
    let sources = Sources {
        train: vec![Source::File(KAIDOKU.into()), Source::Generate { count: 20, options: singles }],
        test: None,
        holdout: 0,
        max_train: None,
        seed: 4,
        skip_bad: false,
    };
    let pool = sudoku::pool(&sources, &[sudoku::Rating::Singles], &mut |_, _| {}).unwrap();
    let kept_kaidoku = kaidoku().into_iter().filter(|p| sudoku::rate(&p.puzzle) == sudoku::Rating::Singles).count();
    assert_eq!(pool.len(), kept_kaidoku + 20);
    assert!(pool.iter().all(|p| sudoku::rate(&p.puzzle) == sudoku::Rating::Singles));
    let keys: std::collections::HashSet<&Vec<u8>> = pool.iter().map(|p| &p.puzzle).collect();
    assert_eq!(keys.len(), pool.len(), "generated puzzles never repeat a file's");
    let csv = temp_file("pool.csv", "");
    sudoku::write_csv(&csv, &pool[pool.len() - 20..]).unwrap();
    let back = sudoku::read_file(&csv, false).unwrap().items;
    assert_eq!(back, pool[pool.len() - 20..]);
    let (_, ratings) = sudoku::read_file_column(&csv, "rating").unwrap();
    assert_eq!(ratings.unwrap(), vec!["singles".to_string(); 20]);
    let (_, none) = sudoku::read_file_column(&csv, "level").unwrap();
    assert!(none.is_none());
}

/// A puzzle repeated across (or within) the training files is kept once, so the holdout cannot put one copy in
/// each split; the summary says how many were dropped.
#[test]
fn repeated_puzzles_are_kept_once() {
    let lines: Vec<String> = std::fs::read_to_string(KAIDOKU).unwrap().lines().take(6).map(String::from).collect();
    let a = temp_file("a.csv", &(lines[..4].join("\n") + "\n"));
    let b = temp_file("b.csv", &(format!("{}\n{}\n{}\n", lines[0], lines[3], lines[5])));
    let sources = Sources {
        train: vec![Source::File(a), Source::File(b)],
        test: None,
        holdout: 2,
        max_train: None,
        seed: 1,
        skip_bad: false,
    };
    let built = sudoku::build(&SudokuBuild { sources, augmentations: 0, ratings: Vec::new() }, &mut |_, _| {}).unwrap();
    assert_eq!(built.train.len() + built.test.len(), 4, "3 + 2 distinct puzzles less the repeat: 4");
    let train: std::collections::HashSet<&[u8]> =
        (0..built.train.len()).map(|i| built.train.example(i).input).collect();
    assert!((0..built.test.len()).all(|i| !train.contains(built.test.example(i).input)));
    assert!(built.summary.skipped.iter().any(|s| s.contains("1 repeated puzzles")), "{:?}", built.summary.skipped);
}
