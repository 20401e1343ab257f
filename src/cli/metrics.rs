//! A run's metrics: metrics.jsonl, one JSON object per logged step, and metrics.csv beside it with the layout of
//! Lightning's CSVLogger (a header, one column per metric, an empty cell where a step has none), so spreadsheets
//! and pandas read a run as it is.

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Every metric a line may hold, in column order.
pub const COLUMNS: [&str; 12] = [
    "step",
    "lr",
    "loss",
    "lm_loss",
    "halt_loss",
    "token_accuracy",
    "exact_accuracy",
    "halted",
    "avg_steps",
    "samples_per_s",
    "eval_exact_accuracy",
    "eval_token_accuracy",
];

pub struct MetricsLog {
    pub jsonl_path: PathBuf,
    jsonl: std::fs::File,
    csv: std::fs::File,
}

impl MetricsLog {
    /// The logs of a new run in `dir` (replacing any there), or of a run resumed in `dir` at step `resumed_at`:
    /// lines after that step (they will be logged again) and a torn last line are dropped, atomically, and
    /// metrics.csv is rebuilt from what is kept.
    pub fn open(dir: &Path, resumed_at: Option<u64>) -> Result<Self> {
        let jsonl_path = dir.join("metrics.jsonl");
        let csv_path = dir.join("metrics.csv");
        let kept: Vec<Value> = match resumed_at {
            None => Vec::new(),
            Some(step) => std::fs::read_to_string(&jsonl_path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["step"].as_u64().is_some_and(|s| s <= step))
                .collect(),
        };
        let jsonl_text: String = kept.iter().map(|v| format!("{v}\n")).collect();
        let csv_text: String = std::iter::once(COLUMNS.join(",") + "\n").chain(kept.iter().map(csv_row)).collect();
        trm_gpu::files::write_atomic(&jsonl_path, jsonl_text.as_bytes())?;
        trm_gpu::files::write_atomic(&csv_path, csv_text.as_bytes())?;
        let append = |p: &Path| {
            std::fs::OpenOptions::new().append(true).open(p).with_context(|| format!("opening {}", p.display()))
        };
        Ok(MetricsLog { jsonl: append(&jsonl_path)?, csv: append(&csv_path)?, jsonl_path })
    }

    pub fn write(&mut self, line: &Value) -> Result<()> {
        writeln!(self.jsonl, "{line}")?;
        self.csv.write_all(csv_row(line).as_bytes())?;
        Ok(())
    }
}

/// One CSV line: each column's number as JSON writes it (the shortest that reads back exactly), empty where the
/// line has no such metric or it is undefined (null).
fn csv_row(line: &Value) -> String {
    let cells: Vec<String> = COLUMNS
        .iter()
        .map(|c| match &line[*c] {
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        })
        .collect();
    cells.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_leave_missing_and_undefined_metrics_empty() {
        let line = serde_json::json!({"step": 3, "loss": 0.25, "exact_accuracy": null, "lr": 1e-4});
        assert_eq!(csv_row(&line), "3,0.0001,0.25,,,,,,,,,\n");
    }
}
