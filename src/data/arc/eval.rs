//! ARC evaluation as the official evaluator: crop every prediction at its EOS border, map it back to the
//! original frame, vote per test input (rank distinct answers by count, then by mean sigmoid(q_halt)),
//! score pass@k per task (fraction of its test inputs solved within the top k) and overall (mean over
//! tasks), and write the top 2 answers in the ARC-prize submission layout.

use super::{crop, ArcAug, Grid, Task, PAD, SEQ_LEN};
use crate::data::dataset::Dataset;
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const PASS_KS: [usize; 6] = [1, 2, 5, 10, 100, 1000];

/// The expected output of every test input, per task (`None` when hidden).
pub type Answers = BTreeMap<String, Vec<Option<Grid>>>;

/// One model output for one test input, in the augmented frame of its puzzle.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub task_id: String,
    pub test_index: usize,
    /// The puzzle's augmentation code (`Dataset::augmentations`).
    pub augmentation: u32,
    /// 30x30 predicted tokens.
    pub tokens: Vec<u8>,
    pub q_halt: f32,
}

/// A distinct answer and its votes.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub grid: Grid,
    pub count: usize,
    /// Mean of sigmoid(q_halt) over its votes.
    pub mean_q: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    /// pass@k for k in [`PASS_KS`], averaged over the tasks with known answers.
    pub pass: Vec<f64>,
    /// pass@k per task (fraction of its test inputs solved).
    pub per_task: BTreeMap<String, Vec<f64>>,
    /// Ranked candidates per task and test input.
    pub ranked: BTreeMap<String, Vec<Vec<Candidate>>>,
}

/// Answers from tasks read with [`super::read`].
pub fn answers(tasks: &[Task]) -> Answers {
    tasks.iter().map(|t| (t.id.clone(), t.test.iter().map(|p| p.output.clone()).collect())).collect()
}

fn group_names(ds: &Dataset) -> Result<Vec<String>> {
    let names = ds
        .meta
        .get("group_names")
        .and_then(|v| v.as_array())
        .ok_or_else(|| anyhow!("dataset meta has no group_names"))?;
    let names: Vec<String> = names.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect();
    ensure!(names.len() == ds.num_groups(), "{} group names for {} groups", names.len(), ds.num_groups());
    Ok(names)
}

/// Answers recovered from an ARC test split: the labels of each group's original (untranslated) puzzle.
pub fn answers_from_dataset(test: &Dataset) -> Result<Answers> {
    let names = group_names(test)?;
    let mut out = Answers::new();
    for (g, name) in names.into_iter().enumerate() {
        let p = test.group_indices[g] as usize;
        ensure!(test.augmentations[p] == 0, "group {name} does not start with its original puzzle");
        let examples = test.puzzle_indices[p] as usize..test.puzzle_indices[p + 1] as usize;
        let grids = examples.map(|i| test.example(i).label).map(|l| (!l.iter().all(|&t| t == PAD)).then(|| crop(l)));
        out.insert(name, grids.collect());
    }
    Ok(out)
}

/// Where an example of an ARC test split comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub task_id: String,
    pub test_index: usize,
    pub augmentation: u32,
}

/// The origin of every example of an ARC test split, in example order.
pub fn origins(test: &Dataset) -> Result<Vec<Origin>> {
    let names = group_names(test)?;
    let mut out = Vec::with_capacity(test.len());
    for (g, name) in names.iter().enumerate() {
        for p in test.group_indices[g] as usize..test.group_indices[g + 1] as usize {
            let first = test.puzzle_indices[p] as usize;
            for i in first..test.puzzle_indices[p + 1] as usize {
                out.push(Origin { task_id: name.clone(), test_index: i - first, augmentation: test.augmentations[p] });
            }
        }
    }
    Ok(out)
}

/// The votes of one test input: distinct answers in first-seen order with their count and sum of
/// sigmoid(q_halt), and where each answer sits in that list.
#[derive(Default)]
struct Tally {
    answers: Vec<(Grid, usize, f64)>,
    index: HashMap<Grid, usize>,
}

/// Votes and scores the predictions against `answers`.
pub fn evaluate(answers: &Answers, predictions: &[Prediction]) -> Result<Report> {
    let mut votes: HashMap<(&str, usize), Tally> = HashMap::new();
    for pred in predictions {
        let context = || format!("prediction for task {} test {}", pred.task_id, pred.test_index);
        let Some(truths) = answers.get(&pred.task_id) else { bail!("{}: unknown task", context()) };
        if pred.test_index >= truths.len() {
            bail!("{}: the task has {} test inputs", context(), truths.len());
        }
        ensure!(pred.tokens.len() == SEQ_LEN, "{}: {} tokens, expected {SEQ_LEN}", context(), pred.tokens.len());
        let aug = ArcAug::from_code(pred.augmentation).with_context(context)?;
        let grid = crop(&pred.tokens);
        if grid.h == 0 {
            continue; // no grid at the top-left: not an answer
        }
        let grid = aug.invert(&grid);
        let q = 1.0 / (1.0 + (-(pred.q_halt as f64)).exp());
        let tally = votes.entry((pred.task_id.as_str(), pred.test_index)).or_default();
        let list = &mut tally.answers;
        let k = *tally.index.entry(grid.clone()).or_insert_with(|| {
            list.push((grid, 0, 0.0));
            list.len() - 1
        });
        list[k].1 += 1;
        list[k].2 += q;
    }

    let mut report = Report::default();
    let mut totals = vec![0.0; PASS_KS.len()];
    let mut scored = 0;
    for (task, truths) in answers {
        let mut solved = vec![0usize; PASS_KS.len()];
        let mut ranked_task = Vec::new();
        for (t, truth) in truths.iter().enumerate() {
            let mut ranked: Vec<Candidate> = votes
                .remove(&(task.as_str(), t))
                .map(|tally| tally.answers)
                .unwrap_or_default()
                .into_iter()
                .map(|(grid, count, sum)| Candidate { grid, count, mean_q: sum / count as f64 })
                .collect();
            ranked.sort_by(|a, b| b.count.cmp(&a.count).then(b.mean_q.total_cmp(&a.mean_q)));
            if let Some(truth) = truth {
                let rank = ranked.iter().position(|c| &c.grid == truth);
                for (s, &k) in solved.iter_mut().zip(&PASS_KS) {
                    *s += rank.is_some_and(|r| r < k) as usize;
                }
            }
            ranked_task.push(ranked);
        }
        let known = truths.iter().filter(|t| t.is_some()).count();
        if known > 0 {
            let pass: Vec<f64> = solved.iter().map(|&s| s as f64 / known as f64).collect();
            totals.iter_mut().zip(&pass).for_each(|(t, p)| *t += p);
            report.per_task.insert(task.clone(), pass);
            scored += 1;
        }
        report.ranked.insert(task.clone(), ranked_task);
    }
    report.pass = totals.iter().map(|t| if scored > 0 { t / scored as f64 } else { 0.0 }).collect();
    Ok(report)
}

impl Report {
    /// `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`: the top two answers per test input
    /// (the best twice when there is one, `[[0]]` when there is none).
    pub fn submission(&self) -> serde_json::Value {
        let blank = Grid { h: 1, w: 1, cells: vec![0] };
        let tasks = self.ranked.iter().map(|(task, inputs)| {
            let attempts = inputs.iter().map(|ranked| {
                let first = ranked.first().map_or(&blank, |c| &c.grid);
                let second = ranked.get(1).map_or(first, |c| &c.grid);
                json!({ "attempt_1": first.rows(), "attempt_2": second.rows() })
            });
            (task.clone(), serde_json::Value::Array(attempts.collect()))
        });
        serde_json::Value::Object(tasks.collect())
    }

    pub fn write_submission(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(&self.submission())?;
        crate::files::write_atomic(path, text.as_bytes())
    }
}
