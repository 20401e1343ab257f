//! Assigns tensors to whole GPU buffers so that tensors with disjoint lifetimes share one buffer.

use std::collections::BTreeMap;

use anyhow::{bail, ensure};

use super::{Role, Schedule, TensorId};

/// Every buffer size is a multiple of this (bytes).
pub const BUFFER_ALIGN: u64 = 256;

/// One GPU buffer; every tensor in it binds it whole, at offset 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferPlan {
    /// Allocation size: the largest tensor, rounded up to `BUFFER_ALIGN`.
    pub bytes: u64,
    /// Tensors sharing this buffer, ordered by lifetime start.
    pub tensors: Vec<TensorId>,
    /// Role of its largest tensor.
    pub role: Role,
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// Buffer index of each tensor.
    pub buffer_of: Vec<usize>,
    /// Persistent buffers first (in tensor order), then shared ones in creation order.
    pub buffers: Vec<BufferPlan>,
    /// Inclusive dispatch interval of each tensor.
    pub lifetimes: Vec<(usize, usize)>,
    pub num_dispatches: usize,
}

/// Size of a tensor's own buffer: rounded up to `BUFFER_ALIGN`, never zero.
pub fn aligned(bytes: u64) -> u64 {
    bytes.max(1).div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Plans buffers for `s`. Fails if the schedule is invalid or a tensor's buffer would exceed
/// `max_binding_bytes` (whole buffers are bound, so the limit applies to the rounded size).
pub fn plan(s: &Schedule, max_binding_bytes: u64) -> anyhow::Result<Plan> {
    s.validate()?;
    for t in &s.tensors {
        if aligned(t.bytes) > max_binding_bytes {
            bail!(
                "{} tensor '{}' {:?} needs {} bytes ({} rounded to {BUFFER_ALIGN}), over the max binding size {}",
                t.role.name(),
                t.name,
                t.shape,
                t.bytes,
                aligned(t.bytes),
                max_binding_bytes
            );
        }
    }
    let lifetimes = s.lifetimes();
    let n = s.tensors.len();
    let mut buffer_of = vec![usize::MAX; n];
    let mut buffers: Vec<BufferPlan> = Vec::new();

    // Persistent tensors carry state across replays: one buffer each.
    for (t, td) in s.tensors.iter().enumerate().filter(|(_, td)| td.role.is_persistent()) {
        buffer_of[t] = buffers.len();
        buffers.push(BufferPlan { bytes: aligned(td.bytes), tensors: vec![t], role: td.role });
    }

    // Greedy by size: largest first (ties: earlier start, then id), first-fit into a buffer none of
    // whose tensors overlap in time; the buffer grows to its largest tensor (the first one placed).
    let mut order: Vec<TensorId> = (0..n).filter(|&t| !s.tensors[t].role.is_persistent()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(s.tensors[t].bytes), lifetimes[t].0, t));
    let first_shared = buffers.len();
    for t in order {
        let lt = lifetimes[t];
        let fit =
            (first_shared..buffers.len()).find(|&b| buffers[b].tensors.iter().all(|&u| !overlaps(lifetimes[u], lt)));
        let b = fit.unwrap_or_else(|| {
            let role = s.tensors[t].role;
            buffers.push(BufferPlan { bytes: 0, tensors: Vec::new(), role });
            buffers.len() - 1
        });
        buffers[b].bytes = buffers[b].bytes.max(aligned(s.tensors[t].bytes));
        buffers[b].tensors.push(t);
        buffer_of[t] = b;
    }
    for b in &mut buffers {
        b.tensors.sort_by_key(|&t| (lifetimes[t].0, t));
    }

    let p = Plan { buffer_of, buffers, lifetimes, num_dispatches: s.dispatches.len() };
    check_plan(s, &p)?;
    Ok(p)
}

/// Invariants of a plan: consistent indices, aligned buffers large enough for their tensors,
/// persistent tensors alone, shared tensors disjoint in time, every access inside its tensor's
/// lifetime, and no dispatch that reads a buffer via one tensor while writing it via another
/// (which wgpu would reject as a read-only + writable binding of one buffer).
pub fn check_plan(s: &Schedule, p: &Plan) -> anyhow::Result<()> {
    let n = s.tensors.len();
    ensure!(p.buffer_of.len() == n && p.lifetimes.len() == n, "plan does not match the schedule's {n} tensors");
    for (b, buf) in p.buffers.iter().enumerate() {
        ensure!(
            buf.bytes > 0 && buf.bytes % BUFFER_ALIGN == 0,
            "buffer {b}: size {} not a positive multiple of {BUFFER_ALIGN}",
            buf.bytes
        );
        let mut spans: Vec<(usize, usize, TensorId)> = Vec::new();
        for &t in &buf.tensors {
            let td = s.tensors.get(t).ok_or_else(|| anyhow::anyhow!("buffer {b}: bad tensor id {t}"))?;
            ensure!(p.buffer_of[t] == b, "tensor '{}' listed in buffer {b} but mapped to {}", td.name, p.buffer_of[t]);
            ensure!(
                td.bytes <= buf.bytes,
                "tensor '{}' ({} bytes) does not fit buffer {b} ({} bytes)",
                td.name,
                td.bytes,
                buf.bytes
            );
            ensure!(
                !td.role.is_persistent() || buf.tensors.len() == 1,
                "persistent tensor '{}' shares buffer {b}",
                td.name
            );
            spans.push((p.lifetimes[t].0, p.lifetimes[t].1, t));
        }
        spans.sort();
        for w in spans.windows(2) {
            let (a, c) = (w[0], w[1]);
            ensure!(
                a.1 < c.0,
                "tensors '{}' {:?} and '{}' {:?} share buffer {b} with overlapping lifetimes",
                s.tensors[a.2].name,
                (a.0, a.1),
                s.tensors[c.2].name,
                (c.0, c.1)
            );
        }
    }
    for (t, &b) in p.buffer_of.iter().enumerate() {
        ensure!(
            b < p.buffers.len() && p.buffers[b].tensors.contains(&t),
            "tensor '{}' not in its buffer {b}",
            s.tensors[t].name
        );
    }
    for (i, d) in s.dispatches.iter().enumerate() {
        for &t in d.reads.iter().chain(&d.writes) {
            let (a, z) = p.lifetimes[t];
            ensure!(
                a <= i && i <= z,
                "dispatch {i} '{}' touches '{}' outside its lifetime {a}..={z}",
                d.name,
                s.tensors[t].name
            );
        }
        for &r in &d.reads {
            for &w in &d.writes {
                ensure!(
                    r == w || p.buffer_of[r] != p.buffer_of[w],
                    "dispatch {i} '{}' reads '{}' and writes '{}' through the same buffer {}",
                    d.name,
                    s.tensors[r].name,
                    s.tensors[w].name,
                    p.buffer_of[r]
                );
            }
        }
    }
    Ok(())
}

impl Plan {
    /// Bytes the executor allocates (every buffer up-front).
    pub fn total_bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.bytes).sum()
    }

    /// Inclusive interval during which buffer `b` holds live data (hull of its tensors' lifetimes).
    pub fn buffer_span(&self, b: usize) -> (usize, usize) {
        let ts = &self.buffers[b].tensors;
        let lo = ts.iter().map(|&t| self.lifetimes[t].0).min().unwrap_or(0);
        let hi = ts.iter().map(|&t| self.lifetimes[t].1).max().unwrap_or(0);
        (lo, hi)
    }

    /// Live buffer bytes at each dispatch, counting buffers whose role passes `keep`.
    fn live_bytes_where(&self, keep: impl Fn(Role) -> bool) -> Vec<u64> {
        // at least one slot, so a dispatch-free schedule still shows its persistent buffers
        let mut live = vec![0u64; self.num_dispatches.max(1)];
        for (b, buf) in self.buffers.iter().enumerate().filter(|(_, buf)| keep(buf.role)) {
            let (lo, hi) = self.buffer_span(b);
            for v in live.iter_mut().take(hi + 1).skip(lo) {
                *v += buf.bytes;
            }
        }
        live
    }

    /// Live buffer bytes at each dispatch (persistent buffers always live).
    pub fn live_bytes(&self) -> Vec<u64> {
        self.live_bytes_where(|_| true)
    }

    /// Live bytes per dispatch without parameters, gradients, optimizer state, EMA and carry.
    pub fn activation_live_bytes(&self) -> Vec<u64> {
        self.live_bytes_where(|r| {
            !matches!(r, Role::Parameter | Role::Gradient | Role::OptimizerState | Role::Ema | Role::Carry)
        })
    }

    /// Dispatch index of the (first) peak of live bytes, and that peak.
    pub fn peak(&self) -> (usize, u64) {
        let live = self.live_bytes();
        let peak = live.iter().copied().max().unwrap_or(0);
        (live.iter().position(|&v| v == peak).unwrap_or(0), peak)
    }

    pub fn peak_bytes(&self) -> u64 {
        self.peak().1
    }

    pub fn activation_peak_bytes(&self) -> u64 {
        self.activation_live_bytes().into_iter().max().unwrap_or(0)
    }

    /// Allocated bytes per role; a shared buffer counts under the role of its largest tensor.
    pub fn bytes_by_role(&self) -> BTreeMap<Role, u64> {
        let mut m = BTreeMap::new();
        for b in &self.buffers {
            *m.entry(b.role).or_insert(0) += b.bytes;
        }
        m
    }

    /// Bytes without sharing: every tensor its own (256-byte rounded) buffer.
    pub fn naive_bytes(s: &Schedule) -> u64 {
        s.tensors.iter().map(|t| aligned(t.bytes)).sum()
    }
}
