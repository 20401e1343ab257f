//! Parity with a reference dump laid out like ../shared/fixtures/trm-official/* (config.json, weights.safetensors,
//! reference.safetensors): run the reference inputs through every supervision step (eval mode; each step k ≥ 1
//! starts from the reference's own carry of step k−1, because f32 rounding grows through the recursion), the
//! train-mode halting run when the dump has one, and train step 0 with gradients; compare every output and
//! gradient.

use super::exec::{Device, Exec};
use super::trm::{build_step, Checkpoint, Handles, StepOptions};
use super::{Config, Weights};
use crate::ops::loss::LossStats;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One compared tensor: its reference key, the largest absolute and relative errors, and whether it is within
/// `atol + rtol·|ref|` everywhere.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub key: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub atol: f64,
    pub rtol: f64,
    pub ok: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ParityReport {
    pub rows: Vec<Row>,
}

impl ParityReport {
    pub fn ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }
    pub fn failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| !r.ok).collect()
    }
    pub fn to_text(&self) -> String {
        let mut s = format!("{:<62} {:>11} {:>11} {:>9}\n", "tensor", "max |abs|", "max rel", "status");
        for r in &self.rows {
            let status = if r.ok { "ok" } else { "FAIL" };
            s += &format!("{:<62} {:>11.3e} {:>11.3e} {:>9}\n", r.key, r.max_abs, r.max_rel, status);
        }
        s
    }
}

/// The reference tensors, converted to f32 (f64, i32 and u8 included).
pub struct Reference {
    pub tensors: BTreeMap<String, Vec<f32>>,
    pub shapes: BTreeMap<String, Vec<usize>>,
}

impl Reference {
    pub fn load(path: &Path) -> Result<Reference> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let st =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (mut tensors, mut shapes) = (BTreeMap::new(), BTreeMap::new());
        for (k, v) in st.tensors() {
            shapes.insert(k.clone(), v.shape().to_vec());
            let d = v.data();
            let data: Vec<f32> = match v.dtype() {
                safetensors::Dtype::F32 => bytemuck::pod_collect_to_vec(d),
                safetensors::Dtype::F64 => {
                    bytemuck::pod_collect_to_vec::<u8, f64>(d).iter().map(|&v| v as f32).collect()
                }
                safetensors::Dtype::I32 => {
                    bytemuck::pod_collect_to_vec::<u8, i32>(d).iter().map(|&v| v as f32).collect()
                }
                safetensors::Dtype::U8 => d.iter().map(|&b| b as f32).collect(),
                t => bail!("{}: {k} has unsupported dtype {t:?}", path.display()),
            };
            tensors.insert(k, data);
        }
        Ok(Reference { tensors, shapes })
    }
    pub fn get(&self, key: &str) -> Result<&[f32]> {
        self.tensors.get(key).map(|v| v.as_slice()).with_context(|| format!("reference has no {key:?}"))
    }
    fn ints(&self, key: &str) -> Result<Vec<i32>> {
        Ok(self.get(key)?.iter().map(|&x| x as i32).collect())
    }
}

fn compare(
    rows: &mut Vec<Row>,
    dump: &mut Vec<(String, Vec<f32>)>,
    key: &str,
    got: &[f32],
    want: &[f32],
    atol: f64,
    rtol: f64,
) {
    let (mut max_abs, mut max_rel, mut ok) = (0f64, 0f64, got.len() == want.len());
    for (&g, &w) in got.iter().zip(want) {
        let (g, w) = (g as f64, w as f64);
        let d = (g - w).abs();
        ok &= g.is_finite() && d <= atol + rtol * w.abs();
        max_abs = max_abs.max(d);
        max_rel = max_rel.max(d / w.abs().max(1e-12));
    }
    rows.push(Row { key: key.to_string(), max_abs, max_rel, atol, rtol, ok });
    dump.push((key.to_string(), got.to_vec()));
}

struct Session<'d> {
    ex: Box<dyn Exec + 'd>,
    h: Handles,
}

fn session<'d>(
    dev: &'d Device,
    cfg: &Config,
    w: &Weights,
    batch: usize,
    train: bool,
    checkpoint: Checkpoint,
) -> Result<Session<'d>> {
    let o = StepOptions {
        batch,
        train,
        checkpoint,
        loss: cfg.train.loss,
        grad_scale: 1.0,
        record: !train,
        one_step_grad: false,
        update: None,
    };
    let (prog, h) = build_step(&cfg.model, &o);
    let p = dev.plan(&prog)?;
    let mut ex = dev.exec(&prog, &p)?;
    ex.load_weights(&h, w);
    Ok(Session { ex, h })
}

/// Tolerances: outputs and carries 1e-4 + 1e-4·|ref|; losses 1e-4 relative; gradients 1e-3 + 1e-3·|ref|.
pub const OUT_TOL: (f64, f64) = (1e-4, 1e-4);
pub const GRAD_TOL: (f64, f64) = (1e-3, 1e-3);

/// Tensors by name and shape, as a dump holds them.
pub type Named = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Check a dump directory; also returns trm-gpu's own tensors under the reference's key names.
pub fn check(dev: &Device, dir: &Path) -> Result<(ParityReport, Named)> {
    let cfg = Config::from_json_file(&dir.join("config.json"))?;
    let w = Weights::load(&dir.join("weights.safetensors"), &cfg.model)?;
    let r = Reference::load(&dir.join("reference.safetensors"))?;
    let inputs = r.ints("inputs")?;
    let batch = inputs.len() / cfg.model.seq_len;
    let (mut rows, mut dump) = (Vec::new(), Vec::new());
    let (oa, or) = OUT_TOL;
    let scalar = |x: f64| vec![x as f32];

    // Eval: every supervision step.
    let mut s = session(dev, &cfg, &w, batch, false, Checkpoint::PerCall)?;
    s.ex.write_i32(s.h.tokens, &inputs);
    s.ex.write_i32(s.h.labels, &r.ints("labels")?);
    s.ex.write_i32(s.h.ids, &r.ints("puzzle_identifiers")?);
    for k in 0..cfg.model.halt_max_steps {
        let key = |t: &str| format!("eval.step{k}.{t}");
        if !r.tensors.contains_key(&key("logits")) {
            break;
        }
        s.ex.write_i32(s.h.reset, &vec![(k == 0) as i32; batch]);
        if k > 0 {
            s.ex.write(s.h.z_h, r.get(&format!("eval.step{}.z_H", k - 1))?);
            s.ex.write(s.h.z_l, r.get(&format!("eval.step{}.z_L", k - 1))?);
        }
        s.ex.run();
        if k == 0 {
            let rec = s.h.recorded.clone();
            if let Ok(want) = r.get("eval.step0.input_embeddings") {
                compare(&mut rows, &mut dump, "eval.step0.input_embeddings", &s.ex.read(rec[0]), want, oa, or);
            }
            for (i, &t) in rec[1..].iter().enumerate() {
                let k = format!("eval.step0.L_level_call{i}");
                if let Ok(want) = r.get(&k) {
                    compare(&mut rows, &mut dump, &k, &s.ex.read(t), want, oa, or);
                }
            }
        }
        compare(&mut rows, &mut dump, &key("logits"), &s.ex.read(s.h.logits), r.get(&key("logits"))?, oa, or);
        let q = s.ex.read(s.h.q);
        let (qh, qc): (Vec<f32>, Vec<f32>) = q.chunks(2).map(|c| (c[0], c[1])).unzip();
        compare(&mut rows, &mut dump, &key("q_halt_logits"), &qh, r.get(&key("q_halt_logits"))?, oa, or);
        compare(&mut rows, &mut dump, &key("q_continue_logits"), &qc, r.get(&key("q_continue_logits"))?, oa, or);
        compare(&mut rows, &mut dump, &key("z_H"), &s.ex.read(s.h.z_h), r.get(&key("z_H"))?, oa, or);
        compare(&mut rows, &mut dump, &key("z_L"), &s.ex.read(s.h.z_l), r.get(&key("z_L"))?, oa, or);
        let st = LossStats::from_rows(&s.ex.read(s.h.stats), None);
        for (name, v) in [("loss", st.total()), ("lm_loss", st.lm_loss), ("q_halt_loss", st.halt_loss)] {
            if let Ok(want) = r.get(&key(name)) {
                compare(&mut rows, &mut dump, &key(name), &scalar(v), want, 0.0, 1e-4);
            }
        }
    }

    // Train step 0 from a fresh carry: the gradients of the raw summed loss.
    let mut t = session(dev, &cfg, &w, batch, true, Checkpoint::PerCall)?;
    t.ex.write_i32(t.h.tokens, &inputs);
    t.ex.write_i32(t.h.labels, &r.ints("labels")?);
    t.ex.write_i32(t.h.ids, &r.ints("puzzle_identifiers")?);
    t.ex.write_i32(t.h.reset, &vec![1; batch]);
    t.ex.run();
    if let Ok(want) = r.get("train.step0.logits") {
        compare(&mut rows, &mut dump, "train.step0.logits", &t.ex.read(t.h.logits), want, oa, or);
    }
    let (ga, gr) = GRAD_TOL;
    for (name, &g) in &t.h.grads {
        let key = if name == "puzzle_emb.local" {
            "grad.inner.puzzle_emb.local_weights".to_string()
        } else {
            format!("grad.{name}")
        };
        if let Ok(want) = r.get(&key) {
            compare(&mut rows, &mut dump, &key, &t.ex.read(g), want, ga, gr);
        }
    }

    // Train-mode halting with the shifted q_head bias: halted slots restart from the initial carry.
    if let Ok(bias) = r.get("trainhalt.q_head.bias") {
        let mut wh = w.clone();
        wh.tensors.get_mut("inner.q_head.bias").unwrap().1 = bias.to_vec();
        let mut s = session(dev, &cfg, &wh, batch, false, Checkpoint::PerCall)?;
        s.ex.write_i32(s.h.tokens, &inputs);
        s.ex.write_i32(s.h.labels, &r.ints("labels")?);
        s.ex.write_i32(s.h.ids, &r.ints("puzzle_identifiers")?);
        let mut halted = vec![true; batch];
        let mut steps = vec![0usize; batch];
        for k in 0..cfg.model.halt_max_steps {
            let key = |t: &str| format!("trainhalt.step{k}.{t}");
            let reset: Vec<i32> = halted.iter().map(|&h| h as i32).collect();
            s.ex.write_i32(s.h.reset, &reset);
            if k > 0 {
                s.ex.write(s.h.z_h, r.get(&format!("trainhalt.step{}.z_H", k - 1))?);
                s.ex.write(s.h.z_l, r.get(&format!("trainhalt.step{}.z_L", k - 1))?);
            }
            s.ex.run();
            let q = s.ex.read(s.h.q);
            for b in 0..batch {
                if halted[b] {
                    steps[b] = 0;
                }
                steps[b] += 1;
                // halt_exploration_prob is 0 in the dumps: no minimum step count applies.
                halted[b] = super::infer::halts(steps[b], q[2 * b], cfg.model.halt_max_steps, 0.5, 0);
            }
            compare(&mut rows, &mut dump, &key("logits"), &s.ex.read(s.h.logits), r.get(&key("logits"))?, oa, or);
            compare(&mut rows, &mut dump, &key("z_H"), &s.ex.read(s.h.z_h), r.get(&key("z_H"))?, oa, or);
            let h: Vec<f32> = halted.iter().map(|&x| x as u8 as f32).collect();
            compare(&mut rows, &mut dump, &key("halted"), &h, r.get(&key("halted"))?, 0.0, 0.0);
            let st: Vec<f32> = steps.iter().map(|&x| x as f32).collect();
            compare(&mut rows, &mut dump, &key("steps"), &st, r.get(&key("steps"))?, 0.0, 0.0);
        }
    }
    // In the reference's shapes, so numpy and PyTorch compare them as they are.
    let dump = dump
        .into_iter()
        .map(|(k, v)| {
            let shape = r.shapes.get(&k).filter(|s| s.iter().product::<usize>() == v.len());
            let shape = shape.cloned().unwrap_or_else(|| vec![v.len()]);
            (k, shape, v)
        })
        .collect();
    Ok((ParityReport { rows }, dump))
}

/// Write tensors (f32) to a safetensors file under the given keys.
pub fn write_dump(path: &Path, dump: &Named) -> Result<()> {
    let named: Vec<(String, Vec<usize>, &[f32])> =
        dump.iter().map(|(k, shape, v)| (k.clone(), shape.clone(), v.as_slice())).collect();
    let bytes = super::params::to_safetensors(&named, Default::default())?;
    crate::files::write_atomic(path, &bytes)
}
