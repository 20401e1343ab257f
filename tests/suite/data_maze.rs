//! Mazes: generator labels are shortest paths (checked by an independent BFS), the checker, dihedral
//! augmentation, the CSV reader and the builder.

use std::collections::VecDeque;
use trm_gpu::data::maze::{self, MazeBuild, MazeGen};
use trm_gpu::data::{Source, Sources};
use trm_gpu::rng::SplitMix64;

/// Independent BFS over a maze drawn in "# SGo": steps from S to G through non-wall cells.
fn bfs_distance(text: &[u8], n: usize, pass: &dyn Fn(u8) -> bool) -> Option<usize> {
    let s = text.iter().position(|&c| c == b'S')?;
    let mut dist = vec![usize::MAX; text.len()];
    dist[s] = 0;
    let mut queue = VecDeque::from([s]);
    while let Some(c) = queue.pop_front() {
        if text[c] == b'G' {
            return Some(dist[c]);
        }
        let (r, k) = ((c / n) as i64, (c % n) as i64);
        for (dr, dk) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
            let (r2, k2) = (r + dr, k + dk);
            if r2 < 0 || k2 < 0 || r2 >= n as i64 || k2 >= n as i64 {
                continue;
            }
            let d = (r2 * n as i64 + k2) as usize;
            if dist[d] == usize::MAX && pass(text[d]) {
                dist[d] = dist[c] + 1;
                queue.push_back(d);
            }
        }
    }
    None
}

/// The label is the question plus 'o' marks on open cells forming a shortest S..G path.
fn is_shortest_path_label(question: &str, answer: &str) -> bool {
    let n = (question.len() as f64).sqrt() as usize;
    let (q, a) = (question.as_bytes(), answer.as_bytes());
    let same_elsewhere = q.iter().zip(a).all(|(&x, &y)| x == y || (x == b' ' && y == b'o'));
    let marks = a.iter().filter(|&&c| c == b'o').count();
    let shortest = bfs_distance(q, n, &|c| c != b'#');
    let along_marks = bfs_distance(a, n, &|c| c == b'o' || c == b'G');
    same_elsewhere && shortest.is_some() && shortest == along_marks && marks + 1 == shortest.unwrap()
}

/// A 7x7 maze with a 4-step route along the top and a 8-step route below.
const SMALL: &str = concat!("#######", "#S   G#", "# ### #", "#     #", "#######", "#######", "#######");

/// The first rows of a 7x7 grid; the rest are walls.
fn tokens(rows: &[&str]) -> Vec<u8> {
    maze::to_tokens(&(rows.concat() + &"#".repeat(49 - 7 * rows.len()))).unwrap()
}

#[test]
fn generated_labels_are_shortest_paths() {
    for hard in [false, true] {
        let opts = MazeGen::new(30, hard);
        let mazes = maze::generate_many(60, &opts, 9, &Default::default(), &mut |_, _| {}).unwrap();
        let mut loops = 0;
        for m in &mazes {
            let (q, a) = (maze::to_text(&m.question), maze::to_text(&m.answer));
            assert_eq!(q.len(), 900);
            assert!(is_shortest_path_label(&q, &a), "bad label:\n{a}");
            assert!(maze::check_path(&m.question, &m.answer).is_ok());
            let len = bfs_distance(q.as_bytes(), 30, &|c| c != b'#').unwrap();
            if hard {
                assert!(len >= 112, "hard maze with a {len}-step path");
            }
            // Several routes: more open cells than a tree of corridors would leave.
            let open: Vec<usize> = (0..900).filter(|&c| q.as_bytes()[c] != b'#').collect();
            let edges = open.iter().filter(|&&c| c % 30 < 29 && q.as_bytes()[c + 1] != b'#').count()
                + open.iter().filter(|&&c| c < 870 && q.as_bytes()[c + 30] != b'#').count();
            loops += (edges >= open.len()) as usize;
        }
        assert!(loops > 50, "only {loops} of 60 mazes have a loop");
        let again = maze::generate_many(60, &opts, 9, &Default::default(), &mut |_, _| {}).unwrap();
        assert_eq!(mazes, again, "not deterministic");
    }
}

#[test]
fn checker_rejects_broken_longer_and_extra_paths() {
    let q = maze::to_tokens(SMALL).unwrap();
    let label = maze::solve(&q).unwrap();
    assert_eq!(label, tokens(&["#######", "#SoooG#", "# ### #", "#     #"]));
    assert!(maze::check_path(&q, &label).is_ok());
    let longer = tokens(&["#######", "#S   G#", "#o###o#", "#ooooo#", "#######"]);
    let e = maze::check_path(&q, &longer).unwrap_err().to_string();
    assert!(e.contains("7 cells") && e.contains("3"), "{e}");
    let broken = tokens(&["#######", "#So oG#", "# ### #", "#  o  #", "#######"]);
    assert!(maze::check_path(&q, &broken).unwrap_err().to_string().contains("connect"));
    let extra = tokens(&["#######", "#SoooG#", "# ### #", "#o    #", "#######"]);
    assert!(maze::check_path(&q, &extra).is_err());
    let on_wall = tokens(&["#######", "#SoooG#", "# #o# #", "#     #", "#######"]);
    assert!(maze::check_path(&q, &on_wall).is_err());
    let unmarked = q.clone();
    assert!(maze::check_path(&q, &unmarked).is_err());
    // Independent check agrees.
    assert!(is_shortest_path_label(SMALL, &maze::to_text(&label)));
    assert!(!is_shortest_path_label(SMALL, &maze::to_text(&longer)));
}

#[test]
fn dihedral_augmentation_is_invertible_and_keeps_labels_valid() {
    let m = maze::generate(&MazeGen::new(30, false), &mut SplitMix64::new(4)).unwrap();
    let mut images = std::collections::HashSet::new();
    for t in 0..8 {
        let (q, a) = (maze::dihedral(&m.question, t), maze::dihedral(&m.answer, t));
        assert!(maze::check_path(&q, &a).is_ok(), "transform {t}");
        assert_eq!(maze::inverse_dihedral(&q, t), m.question, "transform {t}");
        images.insert(q);
    }
    assert_eq!(images.len(), 8);
}

#[test]
fn reads_the_official_csv_layout() {
    let mazes = maze::generate_many(3, &MazeGen::new(30, false), 1, &Default::default(), &mut |_, _| {}).unwrap();
    let mut text = String::from("source,question,answer,rating\n");
    for m in &mazes {
        text += &format!("gen,{},{},0\n", maze::to_text(&m.question), maze::to_text(&m.answer));
    }
    let bad_answer = maze::to_text(&mazes[0].question); // no path marked
    text += &format!("gen,{},{},0\n", maze::to_text(&mazes[1].question), bad_answer);
    text += &format!("gen,{}x,{},0\n", &maze::to_text(&mazes[1].question)[1..], bad_answer);
    let dir = std::env::temp_dir().join(format!("trm-data-maze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("maze.csv");
    std::fs::write(&path, text).unwrap();
    let e = format!("{:#}", maze::read_file(&path, false).unwrap_err());
    assert!(e.contains("maze.csv:5:") && e.contains("shortest path"), "{e}");
    let got = maze::read_file(&path, true).unwrap();
    assert_eq!(got.items, mazes);
    assert_eq!(got.skipped.len(), 2);
    assert!(got.skipped[1].contains("maze.csv:6:") && got.skipped[1].contains("'x'"), "{}", got.skipped[1]);
    // A maze of another size, and one without S, are named as what they are, with their line.
    let small = maze::generate_many(1, &MazeGen::new(5, false), 1, &Default::default(), &mut |_, _| {}).unwrap();
    let (q, a) = (maze::to_text(&mazes[0].question), maze::to_text(&mazes[0].answer));
    let (sq, sa) = (maze::to_text(&small[0].question), maze::to_text(&small[0].answer));
    let text = format!("question,answer\n{q},{a}\n{sq},{sa}\n{},{a}\n", q.replace('S', " "));
    std::fs::write(&path, text).unwrap();
    let got = maze::read_file(&path, true).unwrap();
    assert!(got.skipped[0].contains("maze.csv:3: maze has 25 cells, the file's first has 900"), "{:?}", got.skipped);
    assert!(got.skipped[1].contains("maze.csv:4: question:"), "{:?}", got.skipped);
}

#[test]
fn builds_datasets() {
    let gen = |count| Source::Generate { count, options: MazeGen::new(12, true) };
    let sources =
        Sources { train: vec![gen(10)], test: Some(gen(5)), holdout: 0, max_train: None, seed: 2, skip_bad: false };
    let built = maze::build(&MazeBuild { sources, augment: true }, &mut |_, _| {}).unwrap();
    assert_eq!((built.train.len(), built.train.num_groups(), built.test.len()), (80, 10, 5));
    assert_eq!((built.train.seq_len, built.train.vocab_size), (144, 6));
    assert_eq!(built.train.augmentations[..8], [0, 1, 2, 3, 4, 5, 6, 7]);
    for ds in [&built.train, &built.test] {
        for i in 0..ds.len() {
            let ex = ds.example(i);
            assert!(is_shortest_path_label(&maze::to_text(ex.input), &maze::to_text(ex.label)));
        }
    }
    let lengths = &built.summary.histograms[0].1;
    assert!(lengths.keys().all(|&l| l >= 12 * 12 / 8));
}
