//! Parameters under the official state_dict names: shapes, the official initialisation, and safetensors I/O.

use super::config::ModelConfig;
use crate::ops::swiglu::inner_width;
use crate::rng::SplitMix64;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};

/// How a tensor is updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Trained by Adam(ATan2/W), averaged by the EMA.
    Trained,
    /// A fixed buffer (H_init, L_init).
    Fixed,
    /// The puzzle-embedding table, trained by sign-SGD.
    PuzzleEmb,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
    /// Truncated-normal std of the official init (0 = zeros); q_head is special-cased.
    pub std: f64,
}

/// Every tensor of the model's state_dict, in the official order.
pub fn specs(c: &ModelConfig) -> Vec<Spec> {
    let d = c.hidden_size;
    let s = c.seq();
    let v = c.vocab_size;
    let lin = |name: String, out: usize, inp: usize| Spec {
        name,
        shape: vec![out, inp],
        kind: Kind::Trained,
        std: 1.0 / (inp as f64).sqrt(),
    };
    let mut out = vec![
        Spec { name: "inner.H_init".into(), shape: vec![d], kind: Kind::Fixed, std: 1.0 },
        Spec { name: "inner.L_init".into(), shape: vec![d], kind: Kind::Fixed, std: 1.0 },
        Spec {
            name: "inner.embed_tokens.embedding_weight".into(),
            shape: vec![v, d],
            kind: Kind::Trained,
            std: 1.0 / (d as f64).sqrt(),
        },
        lin("inner.lm_head.weight".into(), v, d),
        Spec { name: "inner.q_head.weight".into(), shape: vec![2, d], kind: Kind::Trained, std: 0.0 },
        Spec { name: "inner.q_head.bias".into(), shape: vec![2], kind: Kind::Trained, std: 0.0 },
    ];
    if c.puzzle_emb_ndim > 0 {
        out.push(Spec {
            name: "inner.puzzle_emb.weights".into(),
            shape: vec![c.num_puzzle_identifiers, c.puzzle_emb_ndim],
            kind: Kind::PuzzleEmb,
            std: 0.0,
        });
    }
    let (id, is) = (inner_width(d, c.expansion), inner_width(s, c.expansion));
    for l in 0..c.layers {
        let p = format!("inner.L_level.layers.{l}");
        if c.mlp_t {
            out.push(lin(format!("{p}.mlp_t.gate_up_proj.weight"), 2 * is, s));
            out.push(lin(format!("{p}.mlp_t.down_proj.weight"), s, is));
        } else {
            out.push(lin(format!("{p}.self_attn.qkv_proj.weight"), 3 * d, d));
            out.push(lin(format!("{p}.self_attn.o_proj.weight"), d, d));
        }
        out.push(lin(format!("{p}.mlp.gate_up_proj.weight"), 2 * id, d));
        out.push(lin(format!("{p}.mlp.down_proj.weight"), d, id));
    }
    out
}

/// Host copies of every tensor, by official name.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Truncated normal at ±2σ rescaled so the true std is `std` (JAX-style, as the official init).
fn trunc_normal(rng: &mut SplitMix64, n: usize, std: f64) -> Vec<f32> {
    const C: f64 = 1.1368472;
    (0..n)
        .map(|_| loop {
            let (u, v) = (rng.f64().max(1e-300), rng.f64());
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            if z.abs() <= 2.0 {
                break (z * C * std) as f32;
            }
        })
        .collect()
}

impl Weights {
    /// The official initialisation (seeded): linear weights std 1/sqrt(fan_in), embeddings std 1/sqrt(D),
    /// q_head weight 0 and bias −5, puzzle embeddings 0, H_init and L_init std 1.
    pub fn init(c: &ModelConfig, seed: u64) -> Weights {
        let mut rng = SplitMix64::new(seed);
        let mut tensors = BTreeMap::new();
        for s in specs(c) {
            let n: usize = s.shape.iter().product();
            let data = if s.name == "inner.q_head.bias" {
                vec![-5.0; n]
            } else if s.std == 0.0 {
                vec![0.0; n]
            } else {
                trunc_normal(&mut rng, n, s.std)
            };
            tensors.insert(s.name, (s.shape, data));
        }
        Weights { tensors }
    }

    pub fn get(&self, name: &str) -> &[f32] {
        &self.tensors[name].1
    }

    /// Bytes of every tensor of `c` (trained or not), computed without overflow before anything is allocated.
    pub fn bytes(c: &ModelConfig) -> u128 {
        specs(c).iter().map(|s| 4 * s.shape.iter().map(|&d| d as u128).product::<u128>()).sum()
    }

    pub fn num_parameters(&self, c: &ModelConfig) -> usize {
        specs(c).iter().filter(|s| s.kind == Kind::Trained).map(|s| s.shape.iter().product::<usize>()).sum()
    }

    /// Check names and shapes against the config; the error lists every difference.
    pub fn check(&self, c: &ModelConfig) -> Result<()> {
        let mut diffs = Vec::new();
        let specs = specs(c);
        for s in &specs {
            match self.tensors.get(&s.name) {
                None => diffs.push(format!("missing {} {:?}", s.name, s.shape)),
                Some((shape, _)) if shape != &s.shape => {
                    diffs.push(format!("{}: shape {:?}, expected {:?}", s.name, shape, s.shape))
                }
                _ => {}
            }
        }
        for name in self.tensors.keys() {
            if !specs.iter().any(|s| &s.name == name) {
                diffs.push(format!("unexpected {name}"));
            }
        }
        if !diffs.is_empty() {
            bail!("weights do not match the config:\n  {}", diffs.join("\n  "));
        }
        Ok(())
    }

    /// Read f32 tensors from safetensors bytes. Names may carry the `_orig_mod.model.` prefix of official
    /// training checkpoints; `prefix` selects a namespace inside trm-gpu checkpoints (e.g. "ema.").
    pub fn from_safetensors(bytes: &[u8], prefix: &str) -> Result<Weights> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| anyhow::anyhow!("not a valid safetensors file: {e}"))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let name = name.strip_prefix("_orig_mod.model.").unwrap_or(&name).to_string();
            let Some(name) = name.strip_prefix(prefix) else { continue };
            if !name.starts_with("inner.") {
                continue;
            }
            if view.dtype() != safetensors::Dtype::F32 {
                bail!("{name}: dtype {:?}, expected F32", view.dtype());
            }
            let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
            let bad = data.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                bail!(
                    "{name}: {bad} of {} values are NaN or infinite (the weights are from a diverged run)",
                    data.len()
                );
            }
            tensors.insert(name.to_string(), (view.shape().to_vec(), data));
        }
        Ok(Weights { tensors })
    }

    /// A trm-gpu weights file (bytes of a model.safetensors) and the config in its metadata; `name` labels errors.
    pub fn from_checkpoint(bytes: &[u8], name: &str) -> Result<(super::Config, Weights)> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| anyhow::anyhow!("{name}: not a valid safetensors file ({e})"))?;
        let cfg_text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .with_context(|| format!("{name}: no \"config\" in the safetensors metadata"))?;
        let cfg = super::Config::from_json(cfg_text).with_context(|| format!("{name}: config metadata"))?;
        let w = Weights::from_safetensors(bytes, "").with_context(|| name.to_string())?;
        w.check(&cfg.model).with_context(|| name.to_string())?;
        Ok((cfg, w))
    }

    pub fn load(path: &std::path::Path, c: &ModelConfig) -> Result<Weights> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let w = Weights::from_safetensors(&bytes, "").with_context(|| format!("{}", path.display()))?;
        w.check(c).with_context(|| format!("{}", path.display()))?;
        Ok(w)
    }
}

/// Serialise named f32 tensors (with string metadata) to safetensors bytes.
pub fn to_safetensors(named: &[(String, Vec<usize>, &[f32])], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = named.iter().map(|(_, _, d)| bytemuck::cast_slice(d).to_vec()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = named
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            Ok((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    Ok(safetensors::serialize(views, Some(metadata))?)
}
