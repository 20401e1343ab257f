//! The `.trmd` dataset format: bit-identical round trips, clear errors on truncated or corrupt files.

use std::path::PathBuf;
use trm_gpu::data::Dataset;
use trm_gpu::rng::SplitMix64;

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trm-data-dataset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `groups` groups of up to 3 puzzles of up to 4 examples, random tokens below `vocab`.
fn random_dataset(seq_len: usize, vocab: usize, groups: usize, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let meta = serde_json::json!({"task": "test", "size": seq_len, "nested": {"list": [1, 2.5, "x"]}});
    let mut ds = Dataset::new(seq_len, vocab, meta);
    let mut id = 1;
    for _ in 0..groups {
        for _ in 0..1 + rng.below(3) {
            for _ in 0..1 + rng.below(4) {
                let input: Vec<u8> = (0..seq_len).map(|_| rng.below(vocab) as u8).collect();
                let label: Vec<u8> = (0..seq_len).map(|_| rng.below(vocab) as u8).collect();
                ds.push(&input, &label, id);
            }
            ds.end_puzzle(rng.below(1000) as u32);
            id += 1;
        }
        ds.end_group();
    }
    ds
}

#[test]
fn round_trip_is_bit_identical() {
    for (seq_len, vocab, groups) in [(81, 11, 50), (900, 12, 7), (5, 256, 3), (16, 6, 0)] {
        let ds = random_dataset(seq_len, vocab, groups, seq_len as u64);
        ds.validate().unwrap();
        let path = temp_path(&format!("rt-{seq_len}.trmd"));
        let size = ds.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(size, bytes.len() as u64);
        let back = Dataset::load(&path).unwrap();
        assert_eq!(back, ds);
        let again = temp_path(&format!("rt-{seq_len}-again.trmd"));
        back.save(&again).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), bytes, "re-saving changed the bytes");
    }
    let ds = random_dataset(81, 11, 20, 1);
    let i = ds.len() - 1;
    let p = ds.puzzle_of(i);
    assert_eq!(p, ds.num_puzzles() - 1);
    assert_eq!(ds.group_of(p), ds.num_groups() - 1);
    assert_eq!(ds.example(i).puzzle_identifier, ds.puzzle_identifiers[i]);
}

#[test]
fn truncated_files_are_reported() {
    let path = temp_path("whole.trmd");
    random_dataset(81, 11, 30, 2).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() - 1, bytes.len() - 8, bytes.len() / 2, 40, 10, 0] {
        let cut = temp_path("cut.trmd");
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let e = format!("{:#}", Dataset::load(&cut).unwrap_err());
        assert!(e.contains("cut.trmd"), "{e}");
        assert!(e.contains("truncated") || e.contains("corrupt"), "{keep} bytes: {e}");
        if keep > bytes.len() / 4 {
            assert!(e.contains("truncated") && e.contains(&bytes.len().to_string()), "{e}");
        }
    }
}

#[test]
fn corrupt_files_are_reported() {
    let path = temp_path("good.trmd");
    random_dataset(81, 11, 30, 3).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let load_with = |pos: usize, value: u8| {
        let mut b = bytes.clone();
        b[pos] ^= value;
        let bad = temp_path("bad.trmd");
        std::fs::write(&bad, &b).unwrap();
        format!("{:#}", Dataset::load(&bad).unwrap_err())
    };
    let e = load_with(0, 0x20);
    assert!(e.contains("bad.trmd") && e.contains("bad magic"), "{e}");
    // Every flipped byte past the magic is caught, whatever it hits.
    let mut rng = SplitMix64::new(9);
    for _ in 0..200 {
        let pos = 8 + rng.below(bytes.len() - 8);
        let e = load_with(pos, 1 << rng.below(8));
        assert!(e.contains("bad.trmd"), "{e}");
        assert!(e.contains("corrupt") || e.contains("truncated") || e.contains("unsupported"), "byte {pos}: {e}");
    }
    let e = load_with(bytes.len() - 100, 0x01);
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(format!("{:#}", Dataset::load(&temp_path("missing.trmd")).unwrap_err()).contains("missing.trmd"));
}

#[test]
fn inconsistent_datasets_are_not_saved() {
    let mut ds = random_dataset(9, 4, 3, 4);
    ds.inputs[0] = 7;
    let e = format!("{:#}", ds.save(&temp_path("never.trmd")).unwrap_err());
    assert!(e.contains("never.trmd") && e.contains("token 7 out of vocabulary of 4"), "{e}");
    let mut ds = random_dataset(9, 4, 3, 4);
    ds.group_indices.push(99);
    assert!(ds.validate().unwrap_err().to_string().contains("group_indices"));
}

/// A failed save changes nothing: a split that does not validate leaves the old pair of files as they were, and
/// no temporary file is left behind, even by a write dropped unfinished.
#[test]
fn failed_saves_leave_the_old_files() {
    use trm_gpu::data::dataset::Built;
    let dir = temp_path("atomic");
    let _ = std::fs::remove_dir_all(&dir);
    Built::new("test", random_dataset(9, 4, 3, 5), random_dataset(9, 4, 2, 6)).save(&dir).unwrap();
    let before: Vec<Vec<u8>> =
        ["train", "test"].iter().map(|s| std::fs::read(dir.join(format!("{s}.trmd"))).unwrap()).collect();
    let mut bad = random_dataset(9, 4, 2, 7);
    bad.inputs[0] = 9;
    let e = format!("{:#}", Built::new("test", random_dataset(9, 4, 4, 8), bad).save(&dir).unwrap_err());
    assert!(e.contains("test.trmd"), "{e}");
    let mut unfinished = trm_gpu::files::AtomicFile::create(&dir.join("train.trmd")).unwrap();
    std::io::Write::write_all(unfinished.file(), b"half a dataset").unwrap();
    drop(unfinished);
    let after: Vec<Vec<u8>> =
        ["train", "test"].iter().map(|s| std::fs::read(dir.join(format!("{s}.trmd"))).unwrap()).collect();
    assert!(before == after, "a failed save changed the files");
    // Written files get the mode std::fs::write gives, not a temporary file's private one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = dir.join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("train.trmd")), mode(&plain));
        std::fs::remove_file(plain).unwrap();
    }
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["test.trmd", "train.trmd"]);
}

#[test]
fn a_million_examples_load_in_seconds() {
    let n = 1_000_000;
    let mut ds = Dataset::new(81, 11, serde_json::json!({"task": "sudoku"}));
    ds.inputs = (0..n * 81).map(|i| (i % 11) as u8).collect();
    ds.labels = ds.inputs.iter().rev().copied().collect();
    ds.puzzle_identifiers = vec![0; n];
    ds.puzzle_indices = (0..=n as u32).collect();
    ds.group_indices = (0..=n as u32).step_by(1001).chain([n as u32]).collect();
    ds.augmentations = (0..n as u32).map(|i| i % 1001).collect();
    let path = temp_path("big.trmd");
    let start = std::time::Instant::now();
    ds.save(&path).unwrap();
    let saved = start.elapsed();
    let back = Dataset::load(&path).unwrap();
    let loaded = start.elapsed() - saved;
    eprintln!("1M x 81: saved in {saved:?}, loaded in {loaded:?}");
    assert!(back == ds);
    assert!(loaded.as_secs_f64() < 10.0);
    std::fs::remove_file(&path).unwrap();
}

/// `unseen_in` keeps exactly the examples whose input does not occur in the other set, with their labels.
#[test]
fn unseen_in_drops_examples_seen_in_training() {
    let test = random_dataset(9, 5, 6, 1);
    let mut train = random_dataset(9, 5, 4, 2);
    let seen = [0, 3, test.len() - 1];
    for &i in &seen {
        let e = test.example(i);
        train.push(e.input, e.label, 0);
        train.end_puzzle(0);
        train.end_group();
    }
    let unseen = test.unseen_in(&train);
    unseen.validate().unwrap();
    let kept: Vec<usize> = (0..test.len()).filter(|i| !seen.contains(i)).collect();
    assert_eq!(unseen.len(), kept.len());
    for (k, &i) in kept.iter().enumerate() {
        assert_eq!(unseen.example(k).input, test.example(i).input);
        assert_eq!(unseen.example(k).label, test.example(i).label);
    }
}
