//! Data-parallel training: the processes (ranks) that train one model, each on its shard of the global batch,
//! and the two collectives the trainer needs. MPI provides them across GPUs and machines (`Mpi`, cargo feature
//! `mpi`); threads of one process provide them for tests (`ThreadRanks`).
//!
//! Determinism: the gradient sum adds the ranks' contributions in rank order, element by element, so every rank
//! gets the same bits, and the same bits on every run with the same rank count (MPI's own all-reduce may change
//! its summation tree with the message size and the number of ranks).

use anyhow::{bail, Result};
use std::sync::{Arc, Barrier, Mutex};

/// The ranks training one model together.
pub trait Ranks {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Every rank's `local` (all of one length), concatenated in rank order.
    fn all_gather(&self, local: &[u32]) -> Vec<u32>;
    /// The element-wise sum of every rank's `local` (all of one length), added in rank order.
    fn sum(&self, local: &[f32]) -> Vec<f32> {
        let all = self.all_gather(bytemuck::cast_slice(local));
        sum_in_rank_order(bytemuck::cast_slice(&all), local.len())
    }
}

/// `parts` (rank-major, `n` each) summed element-wise in rank order.
fn sum_in_rank_order(parts: &[f32], n: usize) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    let mut out = parts[..n].to_vec();
    for part in parts.chunks_exact(n).skip(1) {
        out.iter_mut().zip(part).for_each(|(o, &p)| *o += p);
    }
    out
}

/// Refuse to train when the ranks disagree on anything named in `what` (config, data, binary, weights): every
/// rank gets the same message, naming each rank that differs from rank 0.
pub fn check_agree(ranks: &dyn Ranks, what: &[(&str, u64)]) -> Result<()> {
    let words: Vec<u32> = what.iter().flat_map(|&(_, h)| [h as u32, (h >> 32) as u32]).collect();
    let all = ranks.all_gather(&words);
    let mut problems = Vec::new();
    for (i, &(name, _)) in what.iter().enumerate() {
        let of = |r: usize| all[r * words.len() + 2 * i..][..2].to_vec();
        let differ: Vec<String> = (1..ranks.size()).filter(|&r| of(r) != of(0)).map(|r| r.to_string()).collect();
        if !differ.is_empty() {
            problems.push(format!("rank {} has another {name} than rank 0", differ.join(", ")));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the ranks do not agree: {}; every rank must run the same binary on the same inputs",
            problems.join("; ")
        );
    }
    Ok(())
}

/// FNV-1a of some bytes: the hash the ranks compare.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The running executable's fingerprint (ranks must run the same build).
pub fn binary_fingerprint() -> Result<u64> {
    let exe = std::env::current_exe()?;
    let bytes = std::fs::read(&exe).map_err(|e| anyhow::anyhow!("reading {}: {e}", exe.display()))?;
    Ok(fingerprint(&bytes))
}

/// Ranks as threads of one process, meeting at a barrier: for tests of the sharded trainer without MPI.
pub struct ThreadRanks {
    rank: usize,
    shared: Arc<(Barrier, Mutex<Vec<Vec<u32>>>)>,
}

impl ThreadRanks {
    /// `n` ranks; give each to its own thread.
    pub fn new(n: usize) -> Vec<ThreadRanks> {
        let shared = Arc::new((Barrier::new(n), Mutex::new(vec![Vec::new(); n])));
        (0..n).map(|rank| ThreadRanks { rank, shared: shared.clone() }).collect()
    }
}

impl Ranks for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.1.lock().unwrap().len()
    }
    fn all_gather(&self, local: &[u32]) -> Vec<u32> {
        let (barrier, slots) = &*self.shared;
        slots.lock().unwrap()[self.rank] = local.to_vec();
        barrier.wait();
        let all = slots.lock().unwrap().concat();
        // Nobody overwrites a slot before everyone has read it.
        barrier.wait();
        all
    }
}

#[cfg(feature = "mpi")]
pub use mpi_ranks::Mpi;

#[cfg(feature = "mpi")]
mod mpi_ranks {
    use super::{sum_in_rank_order, Ranks};
    use anyhow::Result;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    /// The ranks of `mpirun`: MPI_COMM_WORLD, and this rank's place among those on its machine (which GPU it
    /// drives).
    pub struct Mpi {
        world: SimpleCommunicator,
        pub local_rank: usize,
        pub local_size: usize,
        _universe: mpi::environment::Universe,
    }

    impl Mpi {
        /// MPI, when this process was started by an MPI launcher; None otherwise (a plain single process).
        pub fn init() -> Result<Option<Mpi>> {
            if !super::launched_by_mpi() {
                return Ok(None);
            }
            let universe = mpi::initialize().ok_or_else(|| anyhow::anyhow!("MPI was already initialised"))?;
            let world = universe.world();
            // The ranks that share this machine's memory, in world order: the local rank picks the GPU.
            let node = world.split_shared(world.rank());
            let (local_rank, local_size) = (node.rank() as usize, node.size() as usize);
            Ok(Some(Mpi { world, local_rank, local_size, _universe: universe }))
        }

        /// Stop every rank (MPI_Abort): one rank's error must not leave the others waiting in a collective.
        pub fn abort(&self, code: i32) -> ! {
            self.world.abort(code)
        }
    }

    impl Ranks for Mpi {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }
        fn size(&self) -> usize {
            self.world.size() as usize
        }
        fn all_gather(&self, local: &[u32]) -> Vec<u32> {
            let mut all = vec![0u32; local.len() * self.size()];
            self.world.all_gather_into(local, &mut all[..]);
            all
        }
        /// Reduce-scatter then all-gather, each rank summing one chunk in rank order: 2(N−1)/N of the data in
        /// and out of each rank, as a ring all-reduce, with the same bits as `sum_in_rank_order` of everything.
        fn sum(&self, local: &[f32]) -> Vec<f32> {
            let n = self.size();
            let chunk = local.len().div_ceil(n);
            let mut padded = local.to_vec();
            padded.resize(chunk * n, 0.0);
            let mut mine = vec![0f32; chunk * n];
            self.world.all_to_all_into(&padded[..], &mut mine[..]);
            let reduced = sum_in_rank_order(&mine, chunk);
            let mut all = self.all_gather(bytemuck::cast_slice(&reduced));
            all.truncate(local.len());
            bytemuck::cast_vec(all)
        }
    }
}

/// Whether an MPI launcher (Open MPI, or MPICH's and Slurm's PMI) started this process as one of several ranks.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .any(|v| std::env::var(v).ok().and_then(|s| s.parse::<usize>().ok()).is_some_and(|n| n > 1))
}
