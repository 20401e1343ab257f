//! Buffer-lifetime planner: given the static schedule of one step, decide which tensors can share a
//! GPU buffer (disjoint lifetimes), and report memory and recompute costs. Pure Rust, no wgpu.

pub mod assign;
pub mod report;
pub mod schedule;

pub use assign::{check_plan, plan, BufferPlan, Plan, BUFFER_ALIGN};
pub use report::Report;
pub use schedule::{DispatchDesc, Role, TensorDesc, TensorId};

use anyhow::bail;
use serde::Serialize;

/// A step as an ordered list of dispatches over declared tensors.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Schedule {
    pub tensors: Vec<TensorDesc>,
    pub dispatches: Vec<DispatchDesc>,
}

impl Schedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares an f32/i32/u32 tensor (4 bytes per element) and returns its id.
    pub fn tensor(&mut self, name: impl Into<String>, role: Role, shape: &[usize]) -> TensorId {
        let elems: u64 = shape.iter().map(|&d| d as u64).product();
        self.tensors.push(TensorDesc { name: name.into(), role, shape: shape.to_vec(), bytes: 4 * elems });
        self.tensors.len() - 1
    }

    /// Appends a dispatch and returns its index.
    pub fn dispatch(
        &mut self,
        name: impl Into<String>,
        reads: &[TensorId],
        writes: &[TensorId],
        flops: u64,
        recompute: bool,
    ) -> usize {
        self.dispatches.push(DispatchDesc {
            name: name.into(),
            reads: reads.to_vec(),
            writes: writes.to_vec(),
            flops,
            recompute,
        });
        self.dispatches.len() - 1
    }

    /// Checks ids are in range, every non-persistent read was written by an earlier dispatch,
    /// and every non-persistent tensor is written at least once (else it has no lifetime).
    pub fn validate(&self) -> anyhow::Result<()> {
        let n = self.tensors.len();
        let mut written = vec![false; n];
        for d in &self.dispatches {
            for &t in d.reads.iter().chain(&d.writes) {
                if t >= n {
                    bail!("dispatch '{}' uses tensor id {t}, but only {n} tensors are declared", d.name);
                }
            }
            for &t in &d.reads {
                let td = &self.tensors[t];
                if !td.role.is_persistent() && !written[t] {
                    bail!(
                        "dispatch '{}' reads {} tensor '{}' before any earlier dispatch writes it",
                        d.name,
                        td.role.name(),
                        td.name
                    );
                }
            }
            for &t in &d.writes {
                written[t] = true;
            }
        }
        if let Some(t) = (0..n).find(|&t| !self.tensors[t].role.is_persistent() && !written[t]) {
            let td = &self.tensors[t];
            bail!("{} tensor '{}' is declared but never written", td.role.name(), td.name);
        }
        Ok(())
    }

    /// Inclusive dispatch intervals. Persistent tensors span the whole schedule; the others run from
    /// their first write to their last access (last read, or a later dead write so it is not clobbered).
    /// Call after `validate` (a never-written non-persistent tensor gets a meaningless (0, 0)).
    pub fn lifetimes(&self) -> Vec<(usize, usize)> {
        let end = self.dispatches.len().saturating_sub(1);
        let mut span: Vec<Option<(usize, usize)>> = vec![None; self.tensors.len()];
        for (i, d) in self.dispatches.iter().enumerate() {
            for &t in &d.writes {
                let s = span[t].get_or_insert((i, i));
                s.1 = i;
            }
            for &t in &d.reads {
                // validate() guarantees a prior write for non-persistent reads
                if let Some(s) = span[t].as_mut() {
                    s.1 = i;
                }
            }
        }
        self.tensors
            .iter()
            .zip(span)
            .map(|(td, s)| if td.role.is_persistent() { (0, end) } else { s.unwrap_or((0, 0)) })
            .collect()
    }

    /// Flops of all dispatches, and of those that only recompute checkpointed activations.
    pub fn flops(&self) -> (u64, u64) {
        let step = self.dispatches.iter().map(|d| d.flops).sum();
        let re = self.dispatches.iter().filter(|d| d.recompute).map(|d| d.flops).sum();
        (step, re)
    }

    pub fn tensor_by_name(&self, name: &str) -> Option<TensorId> {
        self.tensors.iter().position(|t| t.name == name)
    }
}
