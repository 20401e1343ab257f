//! Reading helpers shared by the task readers: file text with the path in errors, CSV fields, and the
//! `skip_bad` policy (a bad record is an error, or a counted warning that keeps its message).

use anyhow::{Context, Result};
use std::path::Path;

/// Records read from a source, plus one message per record that was skipped (`skip_bad`).
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    pub items: Vec<T>,
    pub skipped: Vec<String>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Loaded { items: Vec::new(), skipped: Vec::new() }
    }
}

impl<T> Loaded<T> {
    /// Keeps `item`, or handles its error: fail, or record it as skipped when `skip_bad`.
    pub fn push(&mut self, item: Result<T>, skip_bad: bool) -> Result<()> {
        match item {
            Ok(x) => self.items.push(x),
            Err(e) if skip_bad => self.skipped.push(format!("{e:#}")),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Splits a CSV line on commas, trimming blanks and surrounding quotes (the puzzle CSVs never quote commas).
pub fn csv_fields(line: &str) -> Vec<&str> {
    line.split(',').map(|f| f.trim().trim_matches('"')).collect()
}

/// Finds the column named one of `names` (case-insensitive) in a CSV header.
pub fn column(header: &[&str], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}
