//! Official TRM training checkpoints in: the file `step_N` that the official pretrain.py writes with
//! `torch.save(model.state_dict())` (torch's zip-pickle format, read by pytorch-reader), with all_config.yaml
//! beside it. Names lose the `_orig_mod.` (torch.compile) and `model.` (the loss head) prefixes, bfloat16 and
//! float16 tensors become f32, the architecture comes from all_config.yaml, and the sequence length, vocabulary
//! and puzzle count from the tensors' shapes.

use super::{Config, Weights};
use crate::ops::loss::LossKind;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The one architecture trm-gpu runs, as the official configs name it.
pub const ARCH: &str = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1";
const LOSS_HEAD: &str = "losses@ACTLossHead";

#[derive(Default)]
pub struct ImportOptions {
    /// The run's all_config.yaml, when it is not beside the checkpoint.
    pub config: Option<PathBuf>,
    /// The puzzle length, for RoPE attention models, whose weights do not fix it.
    pub seq_len: Option<usize>,
}

pub struct Imported {
    pub config: Config,
    pub weights: Weights,
    /// Where the config came from, and which sizes were read off the tensors.
    pub notes: Vec<String>,
}

pub fn import_official(path: &Path, o: &ImportOptions) -> Result<Imported> {
    let shown = path.display();
    let weights = read_state_dict(path)?;
    let yaml_path = o.config.clone().unwrap_or_else(|| path.with_file_name("all_config.yaml"));
    ensure!(
        yaml_path.exists(),
        "{}: not found; the architecture (T, n, heads, expansion, N_sup) is not in the weights, so pass the run's \
         all_config.yaml with --config",
        yaml_path.display()
    );
    let text = std::fs::read_to_string(&yaml_path).with_context(|| format!("reading {}", yaml_path.display()))?;
    let all = yaml_to_json(&text).with_context(|| format!("{}", yaml_path.display()))?;
    let arch = all["arch"].as_object().with_context(|| format!("{}: no arch section", yaml_path.display()))?;
    let name = arch.get("name").and_then(Value::as_str).unwrap_or("(none)");
    ensure!(name == ARCH, "{}: architecture {name:?} is not supported (trm-gpu runs {ARCH})", yaml_path.display());
    let loss = arch.get("loss").cloned().unwrap_or(Value::Null);
    let loss_name = loss["name"].as_str().unwrap_or("(none)");
    ensure!(loss_name == LOSS_HEAD, "{}: loss head {loss_name:?} is not supported ({LOSS_HEAD})", yaml_path.display());
    let loss_kind = match loss["loss_type"].as_str().unwrap_or("softmax_cross_entropy") {
        "stablemax_cross_entropy" => LossKind::Stablemax,
        "softmax_cross_entropy" => LossKind::Softmax,
        t => bail!("{}: loss_type {t:?} is not supported", yaml_path.display()),
    };

    // The constructor dict, as pretrain.create_model builds it: the arch keys, then the data's sizes.
    let mut dict: Map<String, Value> =
        arch.iter().filter(|(k, _)| *k != "name" && *k != "loss").map(|(k, v)| (k.clone(), v.clone())).collect();
    let trainer = ["global_batch_size", "lr", "lr_warmup_steps", "lr_min_ratio", "weight_decay", "beta1", "beta2"];
    for k in trainer.into_iter().chain(["puzzle_emb_lr", "puzzle_emb_weight_decay"]) {
        if let Some(v) = all.get(k) {
            dict.insert(k.into(), v.clone());
        }
    }
    let shape = |n: &str| weights.tensors.get(n).map(|t| t.0.clone());
    let mut notes = vec![format!("architecture from {}", yaml_path.display())];
    let vocab = shape("inner.embed_tokens.embedding_weight")
        .with_context(|| format!("{shown}: no inner.embed_tokens.embedding_weight: not a TRM checkpoint"))?[0];
    let (ids, ndim) = shape("inner.puzzle_emb.weights").map_or((1, 0), |s| (s[0], s[1]));
    if let Some(said) = dict.get("puzzle_emb_ndim").and_then(Value::as_u64).filter(|&n| n as usize != ndim) {
        bail!("{shown}: puzzle embeddings of width {ndim}, but {} says puzzle_emb_ndim {said}", yaml_path.display());
    }
    dict.insert("vocab_size".into(), json!(vocab));
    dict.insert("num_puzzle_identifiers".into(), json!(ids));
    dict.insert("puzzle_emb_ndim".into(), json!(ndim));
    let hidden = dict.get("hidden_size").and_then(Value::as_u64).context("arch has no hidden_size")? as usize;
    let emb_len = dict.get("puzzle_emb_len").and_then(Value::as_u64).unwrap_or(0) as usize;
    // The official prefix length: puzzle_emb_len, or ceil(ndim / hidden) when that is 0.
    let prefix = if ndim == 0 {
        0
    } else if emb_len > 0 {
        emb_len
    } else {
        ndim.div_ceil(hidden)
    };
    // S' = P + L is the token mixer's width (MLP models) or the learned position table's length.
    let from_shapes = shape("inner.L_level.layers.0.mlp_t.gate_up_proj.weight")
        .map(|s| s[1])
        .or_else(|| shape("inner.embed_pos.embedding_weight").map(|s| s[0]))
        .map(|s_prime| s_prime.saturating_sub(prefix));
    let seq_len = match (from_shapes, o.seq_len) {
        (Some(s), Some(given)) if s != given => {
            bail!("{shown}: the weights give sequence length {s}, not the --seq-len {given}")
        }
        (Some(s), _) => s,
        (None, Some(given)) => given,
        (None, None) => bail!(
            "{shown}: a RoPE attention model's weights do not fix the puzzle length: pass --seq-len (81 for 9x9 \
             Sudoku, 900 for 30x30 mazes and ARC)"
        ),
    };
    dict.insert("seq_len".into(), json!(seq_len));
    notes.push(format!(
        "from the tensors: vocabulary {vocab}, {ids} puzzle identifiers (embedding width {ndim}), sequence length \
         {seq_len}{}",
        if from_shapes.is_none() { " (from --seq-len)" } else { "" }
    ));
    let mut config = Config::from_json(&Value::Object(dict).to_string())
        .with_context(|| format!("{}: the arch section", yaml_path.display()))?;
    config.train.loss = loss_kind;
    weights.check(&config.model).with_context(|| format!("{shown} with {}", yaml_path.display()))?;
    Ok(Imported { config, weights, notes })
}

/// Every tensor of a state_dict file, as f32 under trm-gpu's (the model's own) names.
fn read_state_dict(path: &Path) -> Result<Weights> {
    let shown = path.display();
    let reader = pytorch_reader::PytorchReader::new(path)
        .map_err(|e| anyhow::anyhow!("{shown}: not a PyTorch checkpoint saved by torch.save ({e})"))?;
    // torch.save stores tensors uncompressed: none can hold more bytes than the file (checked before reading).
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut tensors = BTreeMap::new();
    let mut names: Vec<&String> = reader.tensors().keys().collect();
    names.sort();
    for key in names {
        let t = &reader.tensors()[key];
        let name = key.strip_prefix("_orig_mod.").unwrap_or(key);
        let name = name.strip_prefix("model.").unwrap_or(name);
        ensure!(
            name.starts_with("inner."),
            "{shown}: tensor {key:?} is not one of TinyRecursiveReasoningModel_ACTV1's (its names are \
             [_orig_mod.][model.]inner.*)"
        );
        ensure!(
            t.byte_len() as u64 <= file_len,
            "{shown}: {key} declares {} bytes, more than the file's {file_len}",
            t.byte_len()
        );
        let bytes = t.read().with_context(|| format!("{shown}: reading {key}"))?;
        use pytorch_reader::DType;
        let data: Vec<f32> = match t.dtype() {
            DType::F32 => bytemuck::pod_collect_to_vec(&bytes),
            DType::BF16 => bytemuck::pod_collect_to_vec::<u8, u16>(&bytes)
                .into_iter()
                .map(|b| f32::from_bits((b as u32) << 16))
                .collect(),
            DType::F16 => bytemuck::pod_collect_to_vec::<u8, u16>(&bytes).into_iter().map(f16_to_f32).collect(),
            d => bail!("{shown}: {key} is {d:?}; a TRM checkpoint holds float32, bfloat16 or float16 tensors"),
        };
        ensure!(data.len() == t.shape().iter().product::<usize>(), "{shown}: {key}: size disagrees with its shape");
        let bad = data.iter().filter(|v| !v.is_finite()).count();
        ensure!(bad == 0, "{shown}: {key}: {bad} of {} values are NaN or infinite", data.len());
        tensors.insert(name.to_string(), (t.shape().to_vec(), data));
    }
    ensure!(!tensors.is_empty(), "{shown}: the checkpoint holds no tensors");
    Ok(Weights { tensors })
}

/// IEEE half to single precision, exactly (every half is a single).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value f · 2^-24, normalised into single precision.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A YAML document (what `yaml.dump` writes) as JSON: mappings, sequences, numbers, strings, booleans, null.
pub fn yaml_to_json(text: &str) -> Result<Value> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn convert(y: &Yaml) -> Result<Value> {
        Ok(match y {
            Yaml::Real(s) => {
                let x: f64 = s.parse().with_context(|| format!("{s:?} is not a number"))?;
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
            Yaml::Integer(i) => json!(i),
            Yaml::String(s) => json!(s),
            Yaml::Boolean(b) => json!(b),
            Yaml::Null => Value::Null,
            Yaml::Array(a) => Value::Array(a.iter().map(convert).collect::<Result<_>>()?),
            Yaml::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| {
                        let k = match k {
                            Yaml::String(s) => s.clone(),
                            Yaml::Integer(i) => i.to_string(),
                            other => bail!("a mapping key {other:?} that is not a string"),
                        };
                        Ok((k, convert(v)?))
                    })
                    .collect::<Result<_>>()?,
            ),
            Yaml::Alias(_) | Yaml::BadValue => bail!("YAML aliases are not supported"),
        })
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| anyhow::anyhow!("not valid YAML: {e}"))?;
    ensure!(docs.len() == 1, "expected one YAML document, found {}", docs.len());
    convert(&docs[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_convert_exactly() {
        for (h, want) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x7bff, 65504.0),
            (0x0001, 2f32.powi(-24)),
            (0x03ff, 1023.0 * 2f32.powi(-24)),
            (0x0400, 2f32.powi(-14)),
            (0x8000, -0.0),
        ] {
            assert_eq!(f16_to_f32(h).to_bits(), want.to_bits(), "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan() && f16_to_f32(0x7c00) == f32::INFINITY);
    }

    #[test]
    fn yaml_as_json() {
        let v =
            yaml_to_json("arch:\n  hidden_size: 32\n  rms_norm_eps: 1.0e-05\n  name: x\ndata_paths:\n- a\nx: null\n")
                .unwrap();
        assert_eq!(
            v,
            json!({"arch": {"hidden_size": 32, "rms_norm_eps": 1e-5, "name": "x"}, "data_paths": ["a"], "x": null})
        );
        assert!(yaml_to_json("a: [1, 2\n").unwrap_err().to_string().contains("not valid YAML"));
    }
}
