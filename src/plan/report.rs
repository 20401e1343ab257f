//! Memory / recompute report of a plan, as JSON (stable field names) or a readable text table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{Plan, Role, Schedule};

/// Above this many rows, non-verbose text collapses tensors by name pattern and truncates buffers.
const COLLAPSE_ROWS: usize = 40;
/// Tensor names shown per buffer in non-verbose text.
const NAMES_PER_BUFFER: usize = 3;

#[derive(Clone, Debug, Serialize)]
pub struct BufferReport {
    pub bytes: u64,
    pub tensors: Vec<String>,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub role: Role,
    pub shape: Vec<usize>,
    pub bytes: u64,
    /// Inclusive lifetime in dispatch indices.
    pub first: usize,
    pub last: usize,
    pub buffer: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Max over dispatches of the bytes of live buffers.
    pub peak_bytes: u64,
    /// Sum of buffer sizes: what the executor allocates.
    pub total_bytes: u64,
    /// Peak without parameter/gradient/optimizer_state/ema/carry buffers.
    pub activation_peak_bytes: u64,
    /// Every tensor in its own buffer.
    pub naive_peak_bytes: u64,
    /// Peak of the same model planned without checkpointing; set by the caller from a second plan.
    pub none_peak_bytes: Option<u64>,
    pub recompute_flops: u64,
    pub step_flops: u64,
    pub num_dispatches: usize,
    /// Index of the dispatch where the peak occurs.
    pub peak_dispatch: usize,
    pub bytes_by_role: BTreeMap<String, u64>,
    pub buffers: Vec<BufferReport>,
    pub tensors: Vec<TensorReport>,
}

/// Bytes as B / KiB / MiB / GiB.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

/// FLOP count with a decimal prefix.
pub fn human_flops(f: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)];
    match UNITS.iter().find(|(_, s)| f as f64 >= *s) {
        Some((u, s)) => format!("{:.2} {u}", f as f64 / s),
        None => format!("{f} FLOP"),
    }
}

/// Name with every digit run replaced by '#', so replicated layers/passes collapse into one row.
fn name_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

impl Report {
    pub fn new(s: &Schedule, p: &Plan) -> Self {
        let (step_flops, recompute_flops) = s.flops();
        let (peak_dispatch, peak_bytes) = p.peak();
        let tensors = s
            .tensors
            .iter()
            .enumerate()
            .map(|(t, td)| TensorReport {
                name: td.name.clone(),
                role: td.role,
                shape: td.shape.clone(),
                bytes: td.bytes,
                first: p.lifetimes[t].0,
                last: p.lifetimes[t].1,
                buffer: p.buffer_of[t],
            })
            .collect();
        let buffers = p
            .buffers
            .iter()
            .map(|b| BufferReport {
                bytes: b.bytes,
                tensors: b.tensors.iter().map(|&t| s.tensors[t].name.clone()).collect(),
                role: b.role,
            })
            .collect();
        Report {
            peak_bytes,
            total_bytes: p.total_bytes(),
            activation_peak_bytes: p.activation_peak_bytes(),
            naive_peak_bytes: Plan::naive_bytes(s),
            none_peak_bytes: None,
            recompute_flops,
            step_flops,
            num_dispatches: s.dispatches.len(),
            peak_dispatch,
            bytes_by_role: p.bytes_by_role().into_iter().map(|(r, b)| (r.name().to_string(), b)).collect(),
            buffers,
            tensors,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Readable summary. With `verbose`, every tensor and buffer is listed; otherwise long lists are
    /// collapsed (tensors grouped by role and name pattern, buffers truncated).
    pub fn to_text(&self, verbose: bool) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "schedule: {} dispatches, {} tensors in {} buffers",
            self.num_dispatches,
            self.tensors.len(),
            self.buffers.len()
        );
        self.write_tensors(&mut o, verbose);
        self.write_buffers(&mut o, verbose);

        let _ = writeln!(o, "\nallocated bytes by role:");
        for r in Role::ALL {
            if let Some(&b) = self.bytes_by_role.get(r.name()) {
                let _ = writeln!(o, "  {:<16} {:>12}", r.name(), human_bytes(b));
            }
        }
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        let _ = writeln!(o, "\nmemory:");
        let _ = writeln!(
            o,
            "  total allocated   {:>12}  ({:.1}% of naive {})",
            human_bytes(self.total_bytes),
            pct(self.total_bytes, self.naive_peak_bytes),
            human_bytes(self.naive_peak_bytes)
        );
        let _ = writeln!(
            o,
            "  peak live         {:>12}  (at dispatch {})",
            human_bytes(self.peak_bytes),
            self.peak_dispatch
        );
        let _ = writeln!(o, "  activation peak   {:>12}", human_bytes(self.activation_peak_bytes));
        if let Some(none) = self.none_peak_bytes {
            let _ = writeln!(o, "  peak w/o ckpt     {:>12}", human_bytes(none));
        }
        let _ = writeln!(
            o,
            "\nrecompute: {} ({:.1}% of the step's {})",
            human_flops(self.recompute_flops),
            pct(self.recompute_flops, self.step_flops),
            human_flops(self.step_flops)
        );
        o
    }

    fn write_tensors(&self, o: &mut String, verbose: bool) {
        let _ = writeln!(o, "\ntensors:");
        let _ = writeln!(o, "  {:<16} {:>12} {:>13} {:>7}  name", "role", "size", "lifetime", "buffer");
        if verbose || self.tensors.len() <= COLLAPSE_ROWS {
            for t in &self.tensors {
                let life = format!("{}..={}", t.first, t.last);
                let _ = writeln!(
                    o,
                    "  {:<16} {:>12} {:>13} {:>7}  {}",
                    t.role.name(),
                    human_bytes(t.bytes),
                    life,
                    t.buffer,
                    t.name
                );
            }
            return;
        }
        // Group by (role, name pattern) in order of first appearance.
        let mut groups: Vec<(Role, String, Vec<&TensorReport>)> = Vec::new();
        for t in &self.tensors {
            let pat = name_pattern(&t.name);
            match groups.iter_mut().find(|g| g.0 == t.role && g.1 == pat) {
                Some(g) => g.2.push(t),
                None => groups.push((t.role, pat, vec![t])),
            }
        }
        for (role, pat, ts) in &groups {
            let lo = ts.iter().map(|t| t.bytes).min().unwrap_or(0);
            let hi = ts.iter().map(|t| t.bytes).max().unwrap_or(0);
            let size = if lo == hi { human_bytes(lo) } else { format!("<={}", human_bytes(hi)) };
            let first = ts.iter().map(|t| t.first).min().unwrap_or(0);
            let last = ts.iter().map(|t| t.last).max().unwrap_or(0);
            let mut bufs: Vec<usize> = ts.iter().map(|t| t.buffer).collect();
            bufs.sort_unstable();
            bufs.dedup();
            let buf = if bufs.len() == 1 { bufs[0].to_string() } else { format!("{} bufs", bufs.len()) };
            let name = if ts.len() == 1 { ts[0].name.clone() } else { format!("{pat}  (x{})", ts.len()) };
            let _ = writeln!(
                o,
                "  {:<16} {:>12} {:>13} {:>7}  {}",
                role.name(),
                size,
                format!("{first}..={last}"),
                buf,
                name
            );
        }
        let _ = writeln!(o, "  ({} tensors in {} groups; verbose lists each)", self.tensors.len(), groups.len());
    }

    fn write_buffers(&self, o: &mut String, verbose: bool) {
        let _ = writeln!(o, "\nbuffers:");
        let _ = writeln!(o, "  {:>5} {:>12}  {:<16} tensors", "#", "size", "role");
        let shown = if verbose { self.buffers.len() } else { self.buffers.len().min(COLLAPSE_ROWS) };
        for (i, b) in self.buffers.iter().enumerate().take(shown) {
            let k = if verbose { b.tensors.len() } else { b.tensors.len().min(NAMES_PER_BUFFER) };
            let mut names = b.tensors[..k].join(", ");
            if k < b.tensors.len() {
                let _ = write!(names, ", ... (+{} more)", b.tensors.len() - k);
            }
            let _ = writeln!(o, "  {:>5} {:>12}  {:<16} {}", i, human_bytes(b.bytes), b.role.name(), names);
        }
        if shown < self.buffers.len() {
            let rest: u64 = self.buffers[shown..].iter().map(|b| b.bytes).sum();
            let _ = writeln!(o, "  ... {} more buffers, {}", self.buffers.len() - shown, human_bytes(rest));
        }
    }
}
