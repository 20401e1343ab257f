//! Checkpoints: `model.safetensors` holds the evaluation weights (EMA) under the official state_dict names with
//! the config as metadata, so it loads into the official code; `state.safetensors` holds what an exact resume
//! needs (raw weights, optimizer moments, EMA, carries, RNG and data position). Each file is written to a
//! temporary name and renamed, so a partly written checkpoint never replaces a good one.

use super::{Trainer, TrainerState};
use crate::files::write_atomic;
use crate::model::params::to_safetensors;
use crate::model::{Config, Weights};
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;

pub const MODEL_FILE: &str = "model.safetensors";
pub const STATE_FILE: &str = "state.safetensors";

/// Save the weights alone (official names, config metadata).
pub fn save_weights(path: &Path, cfg: &Config, w: &Weights) -> Result<()> {
    write_model(path, cfg, w, None)
}

/// The model file `path` names: the file itself, a checkpoint directory's, or a run directory's checkpoint's.
pub fn model_path(path: &Path) -> std::path::PathBuf {
    if !path.is_dir() {
        path.to_path_buf()
    } else if path.join("checkpoint").join(MODEL_FILE).exists() {
        path.join("checkpoint").join(MODEL_FILE)
    } else {
        path.join(MODEL_FILE)
    }
}

/// Load a weights file and the config stored in its metadata.
pub fn load_weights(path: &Path) -> Result<(Config, Weights)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    Weights::from_checkpoint(&bytes, &path.display().to_string())
}

/// Write both checkpoint files into `dir`: the state first, since it alone is what a resume reads and the model
/// file can be rebuilt from it (`Saved::repair_model`), so a kill between the two never loses a step.
/// Over several ranks every rank calls it (the carries are gathered) and rank 0 alone writes.
pub fn save(dir: &Path, t: &mut Trainer) -> Result<()> {
    let extra = t.state_tensors();
    if !t.is_root() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    remove_stale_temporaries(dir);
    let cfg = t.cfg.clone();
    let raw = t.raw_weights();
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
    write_atomic(&dir.join(STATE_FILE), &to_safetensors(&named, meta)?)?;
    write_model(&dir.join(MODEL_FILE), &cfg, &t.eval_weights(), Some(t.state.step))
}

/// Temporary files a killed writer left in a checkpoint directory. Only one trainer writes a run (its lock), so
/// every temporary file there is stale.
fn remove_stale_temporaries(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Weights under their official names with the config, and the training step they are from when known.
fn write_model(path: &Path, cfg: &Config, w: &Weights, step: Option<u64>) -> Result<()> {
    let named: Vec<(String, Vec<usize>, &[f32])> =
        w.tensors.iter().map(|(n, (s, d))| (n.clone(), s.clone(), d.as_slice())).collect();
    let mut meta =
        HashMap::from([("config".to_string(), serde_json::to_string(cfg)?), ("format".to_string(), "pt".to_string())]);
    if let Some(step) = step {
        meta.insert("step".to_string(), step.to_string());
    }
    write_atomic(path, &to_safetensors(&named, meta)?)
}

/// The step a model file's metadata names (None for weights saved outside a run).
fn model_step(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    meta.metadata().as_ref()?.get("step")?.parse().ok()
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

    /// Rewrite `dir`'s model file from a trainer restored from this state when the file is missing or from
    /// another step (a kill after the state was written); returns whether it did.
    pub fn repair_model(&self, dir: &Path, t: &mut Trainer) -> Result<bool> {
        let path = dir.join(MODEL_FILE);
        if model_step(&path) == Some(self.state.step) {
            return Ok(false);
        }
        write_model(&path, &t.cfg.clone(), &t.eval_weights(), Some(self.state.step))?;
        Ok(true)
    }

    /// Bring a freshly built trainer to this state, once the state is checked against the trainer's batch and
    /// the training data (a state from another dataset would index past its end).
    pub fn restore(&self, t: &mut Trainer, data: &crate::data::Dataset) -> Result<()> {
        let s = &self.state;
        ensure!(
            s.slots.len() == self.batch && t.batch == self.batch,
            "the checkpoint's state holds {} slots for batch {}; the trainer has batch {}",
            s.slots.len(),
            self.batch,
            t.batch
        );
        let n = data.len();
        let fits = (s.stream.order.is_empty() || s.stream.order.len() == n)
            && s.stream.cursor <= s.stream.order.len()
            && s.stream.order.iter().chain(s.slots.iter().map(|slot| &slot.sample)).all(|&i| i < n.max(1));
        ensure!(
            fits && n > 0,
            "the checkpoint was trained on {} examples; this training data has {n}: resume with the same --data",
            if s.stream.order.is_empty() {
                "a different number of".to_string()
            } else {
                s.stream.order.len().to_string()
            }
        );
        t.restore_tensors(&|n| self.tensor(n))?;
        t.state = self.state.clone();
        Ok(())
    }
}
