//! Model and training configuration: presets, JSON files, and the official config dict's keys.

use crate::ops::loss::LossKind;
use crate::ops::optim::OptimizerKind;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// The network and its recursion, named as in the official config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    pub expansion: f64,
    #[serde(rename = "L_layers")]
    pub layers: usize,
    /// T: recursion passes per supervision step (the first T−1 without gradient).
    #[serde(rename = "H_cycles")]
    pub h_cycles: usize,
    /// n: z-updates per pass.
    #[serde(rename = "L_cycles")]
    pub l_cycles: usize,
    /// N_sup: supervision steps per sample.
    pub halt_max_steps: usize,
    pub halt_exploration_prob: f64,
    /// Attention-free MLP token mixer (Sudoku) instead of self-attention.
    pub mlp_t: bool,
    /// "rope" or "none".
    pub pos_encodings: String,
    pub rope_theta: f32,
    pub puzzle_emb_ndim: usize,
    pub puzzle_emb_len: usize,
    pub num_puzzle_identifiers: usize,
    pub vocab_size: usize,
    pub seq_len: usize,
}

impl ModelConfig {
    /// P: positions of the puzzle-embedding prefix.
    pub fn prefix(&self) -> usize {
        if self.puzzle_emb_ndim == 0 {
            0
        } else if self.puzzle_emb_len > 0 {
            self.puzzle_emb_len
        } else {
            self.puzzle_emb_ndim.div_ceil(self.hidden_size)
        }
    }
    /// S' = P + L.
    pub fn seq(&self) -> usize {
        self.prefix() + self.seq_len
    }
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
    pub fn rope(&self) -> bool {
        self.pos_encodings == "rope"
    }
    /// Every field against its domain: sizes positive and bounded (so that no product of them overflows and a
    /// typo cannot ask for terabytes), rates in range, heads dividing the hidden size. Errors name the field,
    /// the value and the range.
    pub fn validate(&self) -> Result<()> {
        let sizes: [(&str, usize, usize, usize); 11] = [
            ("hidden_size", self.hidden_size, 4, 1 << 16),
            ("L_layers", self.layers, 1, 256),
            ("H_cycles", self.h_cycles, 1, 256),
            ("L_cycles", self.l_cycles, 1, 256),
            ("halt_max_steps", self.halt_max_steps, 1, 4096),
            ("num_heads", self.num_heads, 1, 1 << 12),
            ("vocab_size", self.vocab_size, 2, 1 << 16),
            ("seq_len", self.seq_len, 1, 1 << 20),
            ("puzzle_emb_ndim", self.puzzle_emb_ndim, 0, 1 << 16),
            ("puzzle_emb_len", self.puzzle_emb_len, 0, 1 << 12),
            ("num_puzzle_identifiers", self.num_puzzle_identifiers, 1, 1 << 26),
        ];
        for (name, v, lo, hi) in sizes {
            ensure!((lo..=hi).contains(&v), "{name} {v} is out of range ({lo} to {hi})");
        }
        let real = |name: &str, v: f64, lo: f64, hi: f64| {
            ensure!(v.is_finite() && v >= lo && v <= hi, "{name} {v} is out of range ({lo} to {hi})");
            Ok(())
        };
        real("expansion", self.expansion, 0.25, 64.0)?;
        real("halt_exploration_prob", self.halt_exploration_prob, 0.0, 1.0)?;
        real("rope_theta", self.rope_theta as f64, 1.0, 1e9)?;
        if !self.mlp_t && (!self.hidden_size.is_multiple_of(self.num_heads) || !self.head_dim().is_multiple_of(4)) {
            bail!(
                "hidden_size {} must split into num_heads {} heads of a multiple of 4",
                self.hidden_size,
                self.num_heads
            );
        }
        if !matches!(self.pos_encodings.as_str(), "rope" | "none") {
            bail!("pos_encodings {:?} is not supported (use \"rope\" or \"none\")", self.pos_encodings);
        }
        if self.puzzle_emb_ndim > self.prefix() * self.hidden_size {
            bail!(
                "puzzle_emb_ndim {} does not fit in puzzle_emb_len {} × hidden_size",
                self.puzzle_emb_ndim,
                self.puzzle_emb_len
            );
        }
        // Kernels index with 32-bit integers: one batch row's activations must fit (S' × D × the MLP width).
        let widest = self.seq() as u128 * self.hidden_size as u128 * (2.0 * self.expansion).ceil() as u128;
        ensure!(
            widest < 1 << 31,
            "seq_len {} with hidden_size {} is too large for one batch row",
            self.seq_len,
            self.hidden_size
        );
        Ok(())
    }
}

/// The training recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub global_batch_size: usize,
    pub lr: f32,
    pub lr_warmup_steps: u64,
    pub lr_min_ratio: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub optimizer: OptimizerKind,
    pub puzzle_emb_lr: f32,
    pub puzzle_emb_weight_decay: f32,
    pub ema: bool,
    pub ema_rate: f32,
    pub loss: LossKind,
    /// Halting threshold τ: halt when q_halt > log(τ / (1 − τ)).
    pub halt_tau: f64,
    /// Ablation: the 1-step gradient approximation instead of the full unroll of the last pass.
    pub one_step_grad: bool,
}

impl TrainConfig {
    /// Every field against its domain; errors name the field, the value and the range.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=1 << 20).contains(&self.global_batch_size),
            "global_batch_size {} is out of range (1 to {})",
            self.global_batch_size,
            1 << 20
        );
        let checks: [(&str, f64, f64, f64); 9] = [
            ("lr", self.lr as f64, 0.0, 10.0),
            ("lr_min_ratio", self.lr_min_ratio as f64, 0.0, 1.0),
            ("weight_decay", self.weight_decay as f64, 0.0, 100.0),
            ("beta1", self.beta1 as f64, 0.0, 0.9999999),
            ("beta2", self.beta2 as f64, 0.0, 0.9999999),
            ("puzzle_emb_lr", self.puzzle_emb_lr as f64, 0.0, 10.0),
            ("puzzle_emb_weight_decay", self.puzzle_emb_weight_decay as f64, 0.0, 100.0),
            ("ema_rate", self.ema_rate as f64, 0.0, 0.9999999),
            ("halt_tau", self.halt_tau, 1e-9, 1.0 - 1e-9),
        ];
        for (name, v, lo, hi) in checks {
            ensure!(v.is_finite() && v >= lo && v <= hi, "{name} {v} is out of range ({lo} to {hi})");
        }
        Ok(())
    }
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        self.model.validate().context("model config")?;
        self.train.validate().context("train config")
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            global_batch_size: 768,
            lr: 1e-4,
            lr_warmup_steps: 2000,
            lr_min_ratio: 1.0,
            weight_decay: 1.0,
            beta1: 0.9,
            beta2: 0.95,
            optimizer: OptimizerKind::AdamAtan2,
            puzzle_emb_lr: 1e-4,
            puzzle_emb_weight_decay: 1.0,
            ema: true,
            ema_rate: 0.999,
            loss: LossKind::Stablemax,
            halt_tau: 0.5,
            one_step_grad: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model: ModelConfig,
    pub train: TrainConfig,
}

pub const PRESETS: &[&str] = &[
    "sudoku-mlp",
    "sudoku-att",
    "maze-att",
    "arc-att",
    "tiny-sudoku-mlp",
    "tiny-sudoku-att",
    "tiny-sudoku4-mlp",
    "tiny-maze-att",
    "cpu-sudoku-mlp",
];

fn paper(mlp_t: bool, seq_len: usize, vocab: usize, n: usize) -> ModelConfig {
    ModelConfig {
        hidden_size: 512,
        num_heads: 8,
        expansion: 4.0,
        layers: 2,
        h_cycles: 3,
        l_cycles: n,
        halt_max_steps: 16,
        halt_exploration_prob: 0.1,
        mlp_t,
        pos_encodings: if mlp_t { "none" } else { "rope" }.into(),
        rope_theta: 10000.0,
        puzzle_emb_ndim: 512,
        puzzle_emb_len: 16,
        num_puzzle_identifiers: 1,
        vocab_size: vocab,
        seq_len,
    }
}

fn tiny(m: ModelConfig, hidden: usize, heads: usize, t: usize, n: usize) -> ModelConfig {
    ModelConfig {
        hidden_size: hidden,
        num_heads: heads,
        h_cycles: t,
        l_cycles: n,
        halt_max_steps: 8,
        puzzle_emb_ndim: 0,
        puzzle_emb_len: 0,
        ..m
    }
}

impl Config {
    pub fn preset(name: &str) -> Result<Config> {
        let train = TrainConfig::default();
        // Short CPU-adapter runs: a larger lr, a short warmup and an EMA horizon of ~50 steps (0.999 would keep the
        // evaluated weights near their initial values for the first thousand steps).
        let small = TrainConfig {
            global_batch_size: 32,
            lr: 1e-3,
            lr_warmup_steps: 20,
            weight_decay: 0.1,
            puzzle_emb_weight_decay: 0.1,
            ema_rate: 0.98,
            ..train.clone()
        };
        let (model, train) = match name {
            "sudoku-mlp" => (paper(true, 81, 11, 6), train),
            "sudoku-att" => (paper(false, 81, 11, 6), train),
            "maze-att" => (paper(false, 900, 6, 4), train),
            "arc-att" => (
                paper(false, 900, 12, 4),
                TrainConfig { weight_decay: 0.1, puzzle_emb_lr: 1e-2, puzzle_emb_weight_decay: 0.1, ..train },
            ),
            "tiny-sudoku-mlp" => (tiny(paper(true, 81, 11, 6), 64, 1, 2, 2), small),
            "tiny-sudoku-att" => (tiny(paper(false, 81, 11, 6), 64, 4, 2, 2), small),
            "tiny-sudoku4-mlp" => (tiny(paper(true, 16, 6, 6), 32, 1, 2, 2), small),
            "tiny-maze-att" => {
                (tiny(paper(false, 900, 6, 4), 32, 2, 2, 2), TrainConfig { global_batch_size: 4, ..small })
            }
            // 9×9 Sudoku in about 90 minutes on two CPU cores (native executor, ~80 samples/s): the shipped
            // demo model. D 128 and T 2, n 2 were chosen by measured throughput (T 3, n 3 runs at 0.64× the
            // samples/s, D 192 at 0.69×); the lr decays by cosine to a tenth over the short run.
            "cpu-sudoku-mlp" => (
                ModelConfig { halt_max_steps: 16, ..tiny(paper(true, 81, 11, 6), 128, 1, 2, 2) },
                TrainConfig {
                    global_batch_size: 64,
                    lr_warmup_steps: 200,
                    lr_min_ratio: 0.1,
                    ema_rate: 0.995,
                    ..small
                },
            ),
            _ => bail!("unknown preset {name:?}; presets: {}", PRESETS.join(", ")),
        };
        Ok(Config { model, train })
    }

    /// Read a config file: trm-gpu's own {"model": …, "train": …} layout, or the official flat config dict
    /// (keys such as hidden_size, H_cycles, L_cycles, mlp_t, puzzle_emb_ndim, global_batch_size, lr, …).
    pub fn from_json_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("config {}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Config> {
        let v: serde_json::Value = serde_json::from_str(text).context("not valid JSON")?;
        if v.get("model").is_some() {
            let c: Config = serde_json::from_value(v)?;
            c.validate()?;
            return Ok(c);
        }
        ensure!(v.is_object(), "config must be a JSON object");
        official(text)
    }
}

/// The official config dict (as passed to TinyRecursiveReasoningModel_ACTV1, optionally with the trainer's
/// keys): unknown keys are ignored, as the official code ignores them; a key of the wrong type is an error.
#[derive(Deserialize)]
struct Official {
    hidden_size: usize,
    #[serde(default = "one")]
    num_heads: usize,
    #[serde(default = "four")]
    expansion: f64,
    #[serde(rename = "L_layers")]
    layers: usize,
    #[serde(rename = "H_cycles")]
    h_cycles: usize,
    #[serde(rename = "L_cycles")]
    l_cycles: usize,
    halt_max_steps: usize,
    #[serde(default = "exploration")]
    halt_exploration_prob: f64,
    #[serde(default)]
    mlp_t: bool,
    #[serde(default = "rope")]
    pos_encodings: String,
    #[serde(default = "theta")]
    rope_theta: f32,
    #[serde(default)]
    puzzle_emb_ndim: usize,
    #[serde(default)]
    puzzle_emb_len: usize,
    #[serde(default = "one")]
    num_puzzle_identifiers: usize,
    vocab_size: usize,
    seq_len: usize,
    rms_norm_eps: Option<f64>,
    forward_dtype: Option<String>,
    #[serde(rename = "no_ACT_continue", default = "yes")]
    no_act_continue: bool,
    global_batch_size: Option<usize>,
    batch_size: Option<usize>,
    lr: Option<f32>,
    lr_warmup_steps: Option<u64>,
    lr_min_ratio: Option<f32>,
    weight_decay: Option<f32>,
    beta1: Option<f32>,
    beta2: Option<f32>,
    puzzle_emb_lr: Option<f32>,
    puzzle_emb_weight_decay: Option<f32>,
}

fn one() -> usize {
    1
}
fn four() -> f64 {
    4.0
}
fn exploration() -> f64 {
    0.1
}
fn rope() -> String {
    "rope".into()
}
fn theta() -> f32 {
    10000.0
}
fn yes() -> bool {
    true
}

fn official(text: &str) -> Result<Config> {
    let o: Official = serde_json::from_str(text)?;
    let model = ModelConfig {
        hidden_size: o.hidden_size,
        num_heads: o.num_heads,
        expansion: o.expansion,
        layers: o.layers,
        h_cycles: o.h_cycles,
        l_cycles: o.l_cycles,
        halt_max_steps: o.halt_max_steps,
        halt_exploration_prob: o.halt_exploration_prob,
        mlp_t: o.mlp_t,
        pos_encodings: o.pos_encodings,
        rope_theta: o.rope_theta,
        puzzle_emb_ndim: o.puzzle_emb_ndim,
        puzzle_emb_len: o.puzzle_emb_len,
        num_puzzle_identifiers: o.num_puzzle_identifiers,
        vocab_size: o.vocab_size,
        seq_len: o.seq_len,
    };
    if let Some(e) = o.rms_norm_eps.filter(|e| (e - 1e-5).abs() > 1e-12) {
        bail!("rms_norm_eps {e} is not supported (trm-gpu uses 1e-5)");
    }
    if o.forward_dtype.is_some_and(|d| d != "float32" && d != "bfloat16") {
        bail!("forward_dtype must be float32 or bfloat16 (trm-gpu computes in float32)");
    }
    if !o.no_act_continue {
        bail!("no_ACT_continue = false (the Q-continue loss) is not supported");
    }
    let d = TrainConfig::default();
    let train = TrainConfig {
        global_batch_size: o.global_batch_size.or(o.batch_size).unwrap_or(d.global_batch_size),
        lr: o.lr.unwrap_or(d.lr),
        lr_warmup_steps: o.lr_warmup_steps.unwrap_or(d.lr_warmup_steps),
        lr_min_ratio: o.lr_min_ratio.unwrap_or(d.lr_min_ratio),
        weight_decay: o.weight_decay.unwrap_or(d.weight_decay),
        beta1: o.beta1.unwrap_or(d.beta1),
        beta2: o.beta2.unwrap_or(d.beta2),
        puzzle_emb_lr: o.puzzle_emb_lr.unwrap_or(d.puzzle_emb_lr),
        puzzle_emb_weight_decay: o.puzzle_emb_weight_decay.unwrap_or(d.puzzle_emb_weight_decay),
        ..d
    };
    let c = Config { model, train };
    c.validate()?;
    Ok(c)
}
