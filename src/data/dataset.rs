//! The dataset file format (`.trmd`), one file per split:
//!
//! ```text
//! bytes 0..8    magic b"TRMDSET\n"
//! bytes 8..16   header length H (u64 LE, a multiple of 8)
//! 16..16+H      JSON header (padded with spaces): magic, version, seq_len, vocab_size,
//!               num_puzzle_identifiers, token_dtype, counts, meta
//! then, each zero-padded to a multiple of 8 bytes:
//!   inputs              u8  [N * seq_len]
//!   labels              u8  [N * seq_len]   (0 = ignored)
//!   puzzle_identifiers  u32 [N]             (per example; 0 = blank identifier)
//!   puzzle_indices      u32 [P + 1]         (example offset of each puzzle)
//!   group_indices       u32 [G + 1]         (puzzle offset of each group: a puzzle and its augmentations)
//!   augmentations       u32 [P]             (augmentation code of each puzzle, 0 = none)
//! last 8 bytes  checksum: FNV-1a 64 over all preceding bytes taken as LE u64 words
//! ```
//! All integers are little-endian. Tokens are stored as u8, so the vocabulary must be at most 256.

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::files::AtomicFile;

const MAGIC: &[u8; 8] = b"TRMDSET\n";
const FORMAT: &str = "trm-dataset";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub seq_len: usize,
    pub vocab_size: usize,
    pub num_puzzle_identifiers: usize,
    /// N x seq_len input tokens.
    pub inputs: Vec<u8>,
    /// N x seq_len label tokens, 0 = ignored.
    pub labels: Vec<u8>,
    /// Puzzle identifier of every example.
    pub puzzle_identifiers: Vec<u32>,
    /// P + 1 offsets: the examples of puzzle p are `puzzle_indices[p]..puzzle_indices[p + 1]`.
    pub puzzle_indices: Vec<u32>,
    /// G + 1 offsets: the puzzles of group g are `group_indices[g]..group_indices[g + 1]`.
    pub group_indices: Vec<u32>,
    /// Augmentation code of every puzzle (task-specific; 0 = the original).
    pub augmentations: Vec<u32>,
    /// Free-form description: task kind, grid size, split, source, ...
    pub meta: serde_json::Value,
}

/// One example, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Example<'a> {
    pub input: &'a [u8],
    pub label: &'a [u8],
    pub puzzle_identifier: u32,
}

/// A batch of examples as the model reads them: tokens and labels (batch × seq_len) and puzzle identifiers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub tokens: Vec<i32>,
    pub labels: Vec<i32>,
    pub ids: Vec<i32>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    magic: String,
    version: u32,
    seq_len: usize,
    vocab_size: usize,
    num_puzzle_identifiers: usize,
    token_dtype: String,
    num_examples: usize,
    num_puzzles: usize,
    num_groups: usize,
    meta: serde_json::Value,
}

impl Dataset {
    /// An empty dataset; fill it with [`push`](Self::push), [`end_puzzle`](Self::end_puzzle) and
    /// [`end_group`](Self::end_group).
    pub fn new(seq_len: usize, vocab_size: usize, meta: serde_json::Value) -> Self {
        Dataset {
            seq_len,
            vocab_size,
            num_puzzle_identifiers: 1,
            inputs: Vec::new(),
            labels: Vec::new(),
            puzzle_identifiers: Vec::new(),
            puzzle_indices: vec![0],
            group_indices: vec![0],
            augmentations: Vec::new(),
            meta,
        }
    }

    /// Adds an example to the open puzzle.
    pub fn push(&mut self, input: &[u8], label: &[u8], puzzle_identifier: u32) {
        assert!(input.len() == self.seq_len && label.len() == self.seq_len, "example length != seq_len");
        self.inputs.extend_from_slice(input);
        self.labels.extend_from_slice(label);
        self.puzzle_identifiers.push(puzzle_identifier);
        self.num_puzzle_identifiers = self.num_puzzle_identifiers.max(puzzle_identifier as usize + 1);
    }

    /// Closes the open puzzle (the examples pushed since the last one) with its augmentation code.
    pub fn end_puzzle(&mut self, augmentation: u32) {
        self.puzzle_indices.push(self.len() as u32);
        self.augmentations.push(augmentation);
    }

    /// Closes the open group (the puzzles closed since the last one).
    pub fn end_group(&mut self) {
        self.group_indices.push(self.num_puzzles() as u32);
    }

    pub fn len(&self) -> usize {
        self.puzzle_identifiers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn num_puzzles(&self) -> usize {
        self.puzzle_indices.len() - 1
    }

    pub fn num_groups(&self) -> usize {
        self.group_indices.len() - 1
    }

    pub fn example(&self, i: usize) -> Example<'_> {
        let span = i * self.seq_len..(i + 1) * self.seq_len;
        Example {
            input: &self.inputs[span.clone()],
            label: &self.labels[span],
            puzzle_identifier: self.puzzle_identifiers[i],
        }
    }

    /// The examples `rows`, in order, as the executor's i32 inputs.
    pub fn batch(&self, rows: impl IntoIterator<Item = usize>) -> Batch {
        let mut b = Batch::default();
        for r in rows {
            let e = self.example(r);
            b.tokens.extend(e.input.iter().map(|&t| t as i32));
            b.labels.extend(e.label.iter().map(|&t| t as i32));
            b.ids.push(e.puzzle_identifier as i32);
        }
        b
    }

    /// The puzzle that example `i` belongs to.
    pub fn puzzle_of(&self, i: usize) -> usize {
        self.puzzle_indices.partition_point(|&s| s as usize <= i) - 1
    }

    /// The group that puzzle `p` belongs to.
    pub fn group_of(&self, p: usize) -> usize {
        self.group_indices.partition_point(|&s| s as usize <= p) - 1
    }

    /// The examples whose input never occurs in `other` (a training split, augmentations included), each as its
    /// own puzzle: an evaluation set free of anything the model saw.
    pub fn unseen_in(&self, other: &Dataset) -> Dataset {
        let seen: std::collections::HashSet<&[u8]> = (0..other.len()).map(|i| other.example(i).input).collect();
        let mut out = Dataset::new(self.seq_len, self.vocab_size, self.meta.clone());
        for i in (0..self.len()).filter(|&i| !seen.contains(self.example(i).input)) {
            let e = self.example(i);
            out.push(e.input, e.label, e.puzzle_identifier);
            out.end_puzzle(self.augmentations[self.puzzle_of(i)]);
            out.end_group();
        }
        out.num_puzzle_identifiers = self.num_puzzle_identifiers;
        out
    }

    /// Checks that sizes, offsets, tokens and identifiers are consistent.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        ensure!(self.vocab_size <= 256, "vocab_size {} does not fit u8 tokens", self.vocab_size);
        ensure!(
            self.inputs.len() == n * self.seq_len,
            "inputs hold {} tokens, expected {n} x {}",
            self.inputs.len(),
            self.seq_len
        );
        ensure!(
            self.labels.len() == n * self.seq_len,
            "labels hold {} tokens, expected {n} x {}",
            self.labels.len(),
            self.seq_len
        );
        ensure!(
            self.augmentations.len() == self.num_puzzles(),
            "{} augmentation codes for {} puzzles",
            self.augmentations.len(),
            self.num_puzzles()
        );
        check_offsets("puzzle_indices", &self.puzzle_indices, n)?;
        check_offsets("group_indices", &self.group_indices, self.num_puzzles())?;
        let v = self.vocab_size;
        if let Some(t) = self.inputs.iter().chain(&self.labels).find(|&&t| t as usize >= v) {
            bail!("token {t} out of vocabulary of {v}");
        }
        if let Some(id) = self.puzzle_identifiers.iter().find(|&&id| id as usize >= self.num_puzzle_identifiers) {
            bail!("puzzle identifier {id} >= num_puzzle_identifiers {}", self.num_puzzle_identifiers);
        }
        Ok(())
    }

    /// A hash of the examples (tokens, labels and identifiers), which a training checkpoint keeps so that a
    /// resume on other data is refused.
    pub fn fingerprint(&self) -> u64 {
        let words = bytemuck::cast_slice::<u32, u8>(&self.puzzle_identifiers);
        self.inputs
            .iter()
            .chain(&self.labels)
            .chain(words)
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    }

    /// Writes the dataset to `path` atomically; returns the file size in bytes.
    pub fn save(&self, path: &Path) -> Result<u64> {
        let mut f = AtomicFile::create(path)?;
        let size = self.write(f.file(), path)?;
        f.commit()?;
        Ok(size)
    }

    /// Writes the dataset to `file`, which becomes `path`; returns its size in bytes.
    fn write(&self, file: &mut std::fs::File, path: &Path) -> Result<u64> {
        self.validate().with_context(|| format!("{}: not saved", path.display()))?;
        let header = Header {
            magic: FORMAT.into(),
            version: VERSION,
            seq_len: self.seq_len,
            vocab_size: self.vocab_size,
            num_puzzle_identifiers: self.num_puzzle_identifiers,
            token_dtype: "u8".into(),
            num_examples: self.len(),
            num_puzzles: self.num_puzzles(),
            num_groups: self.num_groups(),
            meta: self.meta.clone(),
        };
        let mut json = serde_json::to_vec(&header)?;
        json.resize(json.len().next_multiple_of(8), b' ');
        let mut w = HashWriter { out: std::io::BufWriter::new(file), hash: Fnv::new(), size: 0 };
        let io = |e| anyhow!("{}: write failed: {e}", path.display());
        w.write(MAGIC).map_err(io)?;
        w.write(&(json.len() as u64).to_le_bytes()).map_err(io)?;
        w.write(&json).map_err(io)?;
        w.write(&self.inputs).map_err(io)?;
        w.write(&self.labels).map_err(io)?;
        for words in [&self.puzzle_identifiers, &self.puzzle_indices, &self.group_indices, &self.augmentations] {
            w.write(u32_bytes(words)).map_err(io)?;
        }
        let sum = w.hash.finish();
        w.out.write_all(&sum.to_le_bytes()).and_then(|_| w.out.flush()).map_err(io)?;
        Ok(w.size + 8)
    }

    /// Reads a dataset; a wrong magic, truncation, corruption or inconsistency is an error naming the file.
    pub fn load(path: &Path) -> Result<Dataset> {
        let name = path.display();
        let mut file = std::fs::File::open(path).with_context(|| format!("{name}: cannot open"))?;
        let file_len = file.metadata().with_context(|| format!("{name}: cannot stat"))?.len();
        if file_len < 24 {
            bail!("{name}: truncated: {file_len} bytes is too short for a dataset");
        }
        let mut r = HashReader { file: &mut file, name: name.to_string(), hash: Fnv::new() };
        let start = r.take(16)?;
        if &start[..8] != MAGIC {
            bail!("{name}: not a trm dataset (bad magic)");
        }
        let header_len = u64::from_le_bytes(start[8..16].try_into().unwrap());
        if header_len % 8 != 0 || header_len > file_len - 24 {
            bail!("{name}: corrupt: header length {header_len} does not fit a {file_len}-byte file");
        }
        let json = r.take(header_len as usize)?;
        let h: Header = serde_json::from_slice(&json).map_err(|e| anyhow!("{name}: corrupt header: {e}"))?;
        if h.magic != FORMAT || h.version != VERSION || h.token_dtype != "u8" {
            bail!(
                "{name}: unsupported format {:?} version {} tokens {:?} \
                 (this build reads {FORMAT:?} version {VERSION}, u8)",
                h.magic,
                h.version,
                h.token_dtype
            );
        }
        // u128: a corrupt header cannot overflow these sums.
        let (n, l, p, g) = (h.num_examples as u128, h.seq_len as u128, h.num_puzzles as u128, h.num_groups as u128);
        let sections = [n * l, n * l, 4 * n, 4 * (p + 1), 4 * (g + 1), 4 * p];
        let padded: u128 = sections.iter().map(|s| s.next_multiple_of(8)).sum();
        let expected = 16 + header_len as u128 + padded + 8;
        if file_len as u128 != expected {
            let what = if (file_len as u128) < expected { "truncated" } else { "corrupt" };
            bail!("{name}: {what}: header describes {expected} bytes, file has {file_len}");
        }
        let inputs = r.take(sections[0] as usize)?;
        let labels = r.take(sections[1] as usize)?;
        let puzzle_identifiers = bytes_u32(&r.take(sections[2] as usize)?);
        let puzzle_indices = bytes_u32(&r.take(sections[3] as usize)?);
        let group_indices = bytes_u32(&r.take(sections[4] as usize)?);
        let augmentations = bytes_u32(&r.take(sections[5] as usize)?);
        let sum = r.hash.finish();
        let mut tail = [0u8; 8];
        file.read_exact(&mut tail).with_context(|| format!("{name}: cannot read checksum"))?;
        let stored = u64::from_le_bytes(tail);
        if stored != sum {
            bail!("{name}: checksum mismatch (stored {stored:016x}, computed {sum:016x}): the file is corrupt");
        }
        let ds = Dataset {
            seq_len: h.seq_len,
            vocab_size: h.vocab_size,
            num_puzzle_identifiers: h.num_puzzle_identifiers,
            inputs,
            labels,
            puzzle_identifiers,
            puzzle_indices,
            group_indices,
            augmentations,
            meta: h.meta,
        };
        ds.validate().with_context(|| format!("{name}: inconsistent"))?;
        Ok(ds)
    }
}

fn check_offsets(what: &str, offsets: &[u32], end: usize) -> Result<()> {
    ensure!(offsets.first() == Some(&0), "{what} must start at 0");
    ensure!(offsets.windows(2).all(|w| w[0] <= w[1]), "{what} must not decrease");
    ensure!(*offsets.last().unwrap() as usize == end, "{what} must end at {end}, not {}", offsets.last().unwrap());
    Ok(())
}

fn u32_bytes(words: &[u32]) -> &[u8] {
    bytemuck::cast_slice(words)
}

fn bytes_u32(bytes: &[u8]) -> Vec<u32> {
    bytemuck::pod_collect_to_vec(bytes)
}

/// FNV-1a 64 over little-endian u64 words (8x faster than byte-wise; every section is 8-byte aligned).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len().is_multiple_of(8));
        for w in bytes.chunks_exact(8) {
            self.0 = (self.0 ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Writes sections zero-padded to 8 bytes, hashing them.
struct HashWriter<W: Write> {
    out: W,
    hash: Fnv,
    size: u64,
}

impl<W: Write> HashWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let whole = bytes.len() / 8 * 8;
        self.hash.update(&bytes[..whole]);
        self.out.write_all(bytes)?;
        if whole < bytes.len() {
            let mut last = [0u8; 8];
            last[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.hash.update(&last);
            self.out.write_all(&last[bytes.len() - whole..])?;
        }
        self.size += bytes.len().next_multiple_of(8) as u64;
        Ok(())
    }
}

/// Reads sections of known length (plus their padding), hashing them.
struct HashReader<'a> {
    file: &'a mut std::fs::File,
    name: String,
    hash: Fnv,
}

impl HashReader<'_> {
    fn take(&mut self, len: usize) -> Result<Vec<u8>> {
        let padded = len.next_multiple_of(8);
        let mut buf = vec![0u8; padded];
        self.file.read_exact(&mut buf).with_context(|| format!("{}: read failed", self.name))?;
        self.hash.update(&buf);
        buf.truncate(len);
        Ok(buf)
    }
}

/// What a builder made, for the CLI to print.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub kind: String,
    pub train_examples: usize,
    pub test_examples: usize,
    pub train_puzzles: usize,
    pub test_puzzles: usize,
    pub train_groups: usize,
    pub test_groups: usize,
    /// Named histograms, e.g. "train clues" -> {clue count: puzzles}.
    pub histograms: Vec<(String, BTreeMap<usize, usize>)>,
    /// Bad input records skipped under `skip_bad`, with their messages.
    pub skipped: Vec<String>,
    /// Files written by [`Built::save`] and their sizes in bytes.
    pub files: Vec<(PathBuf, u64)>,
}

impl std::fmt::Display for Summary {
    /// A few lines for the CLI: counts, histograms, skipped records, files written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: train {} examples ({} puzzles, {} groups), test {} examples ({} puzzles, {} groups)",
            self.kind,
            self.train_examples,
            self.train_puzzles,
            self.train_groups,
            self.test_examples,
            self.test_puzzles,
            self.test_groups
        )?;
        for (name, h) in &self.histograms {
            let bins: Vec<String> = h.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            writeln!(f, "{name}: {}", bins.join(" "))?;
        }
        if let Some(first) = self.skipped.first() {
            writeln!(f, "skipped {} bad records; first: {first}", self.skipped.len())?;
        }
        for (path, size) in &self.files {
            writeln!(f, "wrote {} ({size} bytes)", path.display())?;
        }
        Ok(())
    }
}

/// A train/test pair of datasets and the summary of how they were made.
#[derive(Clone, Debug)]
pub struct Built {
    pub train: Dataset,
    pub test: Dataset,
    pub summary: Summary,
}

impl Built {
    pub fn new(kind: &str, train: Dataset, test: Dataset) -> Self {
        let summary = Summary {
            kind: kind.into(),
            train_examples: train.len(),
            test_examples: test.len(),
            train_puzzles: train.num_puzzles(),
            test_puzzles: test.num_puzzles(),
            train_groups: train.num_groups(),
            test_groups: test.num_groups(),
            ..Summary::default()
        };
        Built { train, test, summary }
    }

    /// Writes `dir/train.trmd` and `dir/test.trmd` (creating `dir`) and records their sizes in the summary.
    /// Both splits are written in full before either replaces an old file, so a failed save leaves the old pair.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
        let mut written = Vec::new();
        for (split, ds) in [("train", &self.train), ("test", &self.test)] {
            let path = dir.join(format!("{split}.trmd"));
            let mut f = AtomicFile::create(&path)?;
            let size = ds.write(f.file(), &path)?;
            written.push((f, path, size));
        }
        self.summary.files.clear();
        for (f, path, size) in written {
            f.commit()?;
            self.summary.files.push((path, size));
        }
        Ok(())
    }
}

/// Counts values into a histogram.
pub(crate) fn histogram(values: impl IntoIterator<Item = usize>) -> BTreeMap<usize, usize> {
    let mut h = BTreeMap::new();
    for v in values {
        *h.entry(v).or_insert(0) += 1;
    }
    h
}
