//! Sudoku files: CSV with a header naming the puzzle column (`question` or `puzzle`) and optionally the
//! solution column (`answer` or `solution`), e.g. Sudoku-Extreme's `source,question,answer,rating` or
//! kaidoku's `level,puzzle,solution`; headerless `puzzle,solution` CSV; or one puzzle per line.
//! Puzzles without a solution are solved (and must have exactly one).

use super::{check_digits, count_solutions, is_valid_solution, parse_cells, Puzzle};
use crate::data::input::{column, csv_records, read_text, Loaded};
use anyhow::{anyhow, bail, Result};
use csv::StringRecord;
use std::path::Path;

/// Reads a puzzle file; errors name the file and 1-based line (with `skip_bad`, bad lines are counted).
pub fn read_file(path: &Path, skip_bad: bool) -> Result<Loaded<Puzzle>> {
    parse_text(&read_text(path)?, &path.display().to_string(), skip_bad)
}

/// Columns of the puzzle and (optional) solution in a CSV line.
type Columns = (usize, Option<usize>);

/// Parses the text of a puzzle file; `name` is used in error messages.
pub fn parse_text(text: &str, name: &str, skip_bad: bool) -> Result<Loaded<Puzzle>> {
    let mut out = Loaded::default();
    let mut columns: Option<Columns> = None;
    let mut cells: Option<usize> = None;
    let mut first = true;
    for record in csv_records(text, name, true) {
        let (line, rec) = record?;
        if std::mem::take(&mut first) && rec.iter().any(|f| f.chars().any(|c| c.is_ascii_alphabetic())) {
            let puzzle = column(&rec, &["question", "puzzle", "quizzes", "quiz"]);
            let solution = column(&rec, &["answer", "solution", "solutions"]);
            let Some(puzzle) = puzzle else {
                let header: Vec<&str> = rec.iter().collect();
                bail!("{name}:{line}: header {:?} has no puzzle column (question or puzzle)", header.join(","));
            };
            columns = Some((puzzle, solution));
            continue;
        }
        let record = parse_record(&rec, columns, &mut cells).map_err(|e| anyhow!("{name}:{line}: {e:#}"));
        out.push(record, skip_bad)?;
    }
    Ok(out)
}

/// The puzzle and solution fields of a record: by header columns, else its long fields (puzzle then solution),
/// else its only field (one puzzle per line).
fn fields(rec: &StringRecord, columns: Option<Columns>) -> Result<(&str, Option<&str>)> {
    match columns {
        Some((p, s)) => {
            let need = p.max(s.unwrap_or(0)) + 1;
            if rec.len() < need {
                bail!("line has {} fields, expected {need}", rec.len());
            }
            Ok((&rec[p], s.map(|s| &rec[s])))
        }
        None if rec.len() > 1 => {
            let mut long = rec.iter().filter(|f| f.len() >= 16);
            let puzzle = long.next().ok_or_else(|| anyhow!("no puzzle field in CSV line"))?;
            Ok((puzzle, long.next()))
        }
        None => Ok((&rec[0], None)),
    }
}

fn parse_record(rec: &StringRecord, columns: Option<Columns>, cells: &mut Option<usize>) -> Result<Puzzle> {
    let (puzzle_text, solution_text) = fields(rec, columns)?;
    let puzzle = parse_cells(puzzle_text).map_err(|e| anyhow!("puzzle: {e}"))?;
    // The first puzzle fixes the size for the whole file.
    let expected = cells.unwrap_or(if puzzle.len() == 16 { 16 } else { 81 });
    if puzzle.len() != expected {
        bail!("puzzle has {} cells, expected {expected}", puzzle.len());
    }
    check_digits(&puzzle).map_err(|e| anyhow!("puzzle: {e}"))?;
    *cells = Some(expected);
    let solution = match solution_text {
        Some(text) => {
            let s = parse_cells(text).map_err(|e| anyhow!("solution: {e}"))?;
            if s.len() != expected {
                bail!("solution has {} cells, expected {expected}", s.len());
            }
            if !is_valid_solution(&puzzle, &s) {
                bail!("solution does not solve the puzzle");
            }
            s
        }
        None => {
            let r = count_solutions(&puzzle, 2);
            match r.count {
                0 => bail!("puzzle has no solution"),
                1 => r.solution.expect("one solution"),
                _ => bail!("puzzle has more than one solution"),
            }
        }
    };
    Ok(Puzzle { puzzle, solution })
}

/// The puzzles of a file (as [`read_file`], bad lines are errors) and, when its header has a column `name`
/// (such as kaidoku's `level`), that column's value for every puzzle.
pub fn read_file_column(path: &Path, name: &str) -> Result<(Vec<Puzzle>, Option<Vec<String>>)> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    let puzzles = parse_text(&text, &file, false)?.items;
    let mut records = csv_records(&text, &file, true).map(|r| r.map(|(_, rec)| rec));
    let header = records.next().transpose()?;
    let header = header.filter(|h| h.iter().any(|f| f.chars().any(|c| c.is_ascii_alphabetic())));
    let Some(at) = header.and_then(|h| column(&h, &[name])) else {
        return Ok((puzzles, None));
    };
    let values: Vec<String> =
        records.map(|r| r.map(|rec| rec.get(at).unwrap_or("").to_string())).collect::<Result<_>>()?;
    if values.len() != puzzles.len() {
        bail!("{}: {} puzzles but {} values of column {name:?}", path.display(), puzzles.len(), values.len());
    }
    Ok((puzzles, Some(values)))
}
