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

/// The non-blank records of CSV `text`, each with its 1-based line (the csv crate: quoted fields, CRLF, rows of
/// any length). `trim` trims every field; mazes keep theirs, since a space is an open cell. `name` is the file,
/// for errors.
pub fn csv_records<'a>(
    text: &'a str,
    name: &'a str,
    trim: bool,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord)>> + 'a {
    // Lines are counted from byte offsets, forward only: csv's own count skips blank CRLF lines. A record's
    // offset may point at the previous line's terminator, so line ends there are skipped first.
    let (mut at, mut line) = (0usize, 1usize);
    let mut line_at = move |byte: u64| {
        let mut end = (byte as usize).min(text.len()).max(at);
        while end < text.len() && matches!(text.as_bytes()[end], b'\r' | b'\n') {
            end += 1;
        }
        line += text.as_bytes()[at..end].iter().filter(|&&b| b == b'\n').count();
        at = end;
        line
    };
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(if trim { csv::Trim::All } else { csv::Trim::None })
        .from_reader(text.as_bytes())
        .into_records()
        .filter_map(move |r| match r {
            Ok(rec) if rec.iter().all(|f| f.trim().is_empty()) => None,
            Ok(rec) => Some(Ok((rec.position().map_or(0, |p| line_at(p.byte())), rec))),
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(p.byte()));
                Some(Err(anyhow::anyhow!("{name}:{line}: not valid CSV: {e}")))
            }
        })
}

/// Finds the column named one of `names` (case-insensitive) in a CSV header.
pub fn column(header: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}
