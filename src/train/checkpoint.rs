//! Checkpoints: `model.safetensors` holds the evaluation weights (EMA) under the official state_dict names with
//! the config as metadata, so it loads into the official code; `state.safetensors` holds what an exact resume
//! needs (raw weights, optimizer moments, EMA, carries, RNG and data position). Each file is written to a
//! temporary name and renamed, so a partly written checkpoint never replaces a good one.

use super::{Trainer, TrainerState};
use crate::files::write_atomic;
use crate::model::params::to_safetensors;
use crate::model::{Config, Weights};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

pub const MODEL_FILE: &str = "model.safetensors";
pub const STATE_FILE: &str = "state.safetensors";

/// Save the weights alone (official names, config metadata).
pub fn save_weights(path: &Path, cfg: &Config, w: &Weights) -> Result<()> {
    let named: Vec<(String, Vec<usize>, &[f32])> =
        w.tensors.iter().map(|(n, (s, d))| (n.clone(), s.clone(), d.as_slice())).collect();
    let meta =
        HashMap::from([("config".to_string(), serde_json::to_string(cfg)?), ("format".to_string(), "pt".to_string())]);
    write_atomic(path, &to_safetensors(&named, meta)?)
}

/// Load a weights file and the config stored in its metadata.
pub fn load_weights(path: &Path) -> Result<(Config, Weights)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    Weights::from_checkpoint(&bytes, &path.display().to_string())
}

/// Write both checkpoint files into `dir`.
pub fn save(dir: &Path, t: &mut Trainer) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg = t.cfg.clone();
    save_weights(&dir.join(MODEL_FILE), &cfg, &t.eval_weights())?;
    let raw = t.raw_weights();
    let extra = t.state_tensors();
    let mut named: Vec<(String, Vec<usize>, &[f32])> =
        raw.tensors.iter().map(|(n, (s, d))| (format!("raw.{n}"), s.clone(), d.as_slice())).collect();
    for (n, d) in &extra {
        named.push((n.clone(), vec![d.len()], d.as_slice()));
    }
    let meta = HashMap::from([
        ("config".to_string(), serde_json::to_string(&cfg)?),
        ("trainer".to_string(), serde_json::to_string(&t.state)?),
        ("batch".to_string(), t.batch.to_string()),
    ]);
    write_atomic(&dir.join(STATE_FILE), &to_safetensors(&named, meta)?)
}

/// What `save` wrote: config, batch, raw weights, trainer state, and the other tensors by name.
pub struct Saved {
    pub cfg: Config,
    pub batch: usize,
    pub raw: Weights,
    pub state: TrainerState,
    bytes: Vec<u8>,
}

impl Saved {
    pub fn load(dir: &Path) -> Result<Saved> {
        let path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: not a valid safetensors file ({e})", path.display()))?;
        let m = meta.metadata().clone().with_context(|| format!("{}: no metadata", path.display()))?;
        let get = |k: &str| m.get(k).with_context(|| format!("{}: no {k:?} metadata", path.display()));
        let cfg = Config::from_json(get("config")?)?;
        let state: TrainerState =
            serde_json::from_str(get("trainer")?).with_context(|| format!("{}: trainer state", path.display()))?;
        let batch: usize = get("batch")?.parse().with_context(|| format!("{}: batch", path.display()))?;
        let raw = Weights::from_safetensors(&bytes, "raw.").with_context(|| format!("{}", path.display()))?;
        raw.check(&cfg.model).with_context(|| format!("{}", path.display()))?;
        Ok(Saved { cfg, batch, raw, state, bytes })
    }

    /// A tensor saved under `name`.
    pub fn tensor(&self, name: &str) -> Result<Vec<f32>> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let v = st.tensor(name).map_err(|_| anyhow::anyhow!("checkpoint state lacks {name}"))?;
        if v.dtype() != safetensors::Dtype::F32 {
            bail!("checkpoint state's {name} is {:?}, expected F32", v.dtype());
        }
        Ok(bytemuck::pod_collect_to_vec(v.data()))
    }

    /// Bring a freshly built trainer to this state.
    pub fn restore(&self, t: &mut Trainer) -> Result<()> {
        t.restore_tensors(&|n| self.tensor(n))?;
        t.state = self.state.clone();
        Ok(())
    }
}
