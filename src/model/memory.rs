//! Memory plans of a training step, for `trm-gpu plan` and the planner's tests.

use super::config::Config;
use super::trm::{build_step, Checkpoint, StepOptions};
use crate::plan::{self, Plan, Report, Schedule};
use anyhow::{ensure, Result};

/// The schedule of one training step, the program the trainer runs (the optimizer moments and the EMA
/// included), and its plan.
pub fn plan_step(c: &Config, batch: usize, checkpoint: Checkpoint, max_binding: u64) -> Result<(Schedule, Plan)> {
    let (prog, _) = build_step(&c.model, &StepOptions::trainer(&c.train, batch, checkpoint));
    prog.schedule.validate()?;
    let p = plan::plan(&prog.schedule, max_binding)?;
    plan::check_plan(&prog.schedule, &p)?;
    Ok((prog.schedule, p))
}

/// The report for `checkpoint`, with the `none` policy's peak filled in for comparison.
pub fn plan_report(c: &Config, batch: usize, checkpoint: Checkpoint, max_binding: u64) -> Result<Report> {
    let (s, p) = plan_step(c, batch, checkpoint, max_binding)?;
    let (_, none) = plan_step(c, batch, Checkpoint::None, max_binding)?;
    let mut r = Report::new(&s, &p);
    r.none_peak_bytes = Some(none.peak_bytes());
    Ok(r)
}

/// Refuse, before anything is allocated, `bytes` of host memory for `what` that this machine does not have.
pub fn check_host(what: &str, bytes: u128) -> Result<()> {
    if let Some(avail) = super::native::available_memory() {
        ensure!(
            bytes <= avail as u128,
            "{what} needs {} of memory; this machine has {} available",
            crate::plan::report::human_bytes(bytes.min(u64::MAX as u128) as u64),
            crate::plan::report::human_bytes(avail)
        );
    }
    Ok(())
}
