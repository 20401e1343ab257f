//! Commands: info, train, eval, solve, ablate, bench, plan, data, parity, import, plot.

mod ablate;
mod bench;
mod data;
mod metrics;
mod solve;
mod train;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use trm_gpu::gpu::{Gpu, GpuOptions};
use trm_gpu::model::{Checkpoint, Config, Device, Native};

#[derive(Parser)]
#[command(
    name = "trm-gpu",
    version,
    about = "Train and run the Tiny Recursive Model on any GPU (WGSL kernels on wgpu)"
)]
struct Cli {
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    /// A real GPU (discrete or integrated) when there is one, else the native CPU executor
    Auto,
    /// The WGSL kernels on whatever adapter exists, software ones (lavapipe) included
    Gpu,
    /// The native CPU executor (gemm and threads)
    Cpu,
    /// The CPU twins in f32, one thread: the reference, slow
    Reference,
}

#[derive(Args, Clone)]
pub struct GpuArgs {
    /// Where to run: auto, gpu, cpu or reference
    #[arg(long, global = true, value_enum, default_value = "auto")]
    device: DeviceKind,
    /// Threads of the native CPU executor (0: one per core)
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    /// Backends to use: vulkan, metal, dx12, gl (comma-separated) [env: WGPU_BACKEND]
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Adapter name substring [env: WGPU_ADAPTER_NAME]
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Choose the kernels a real GPU gets even on a CPU adapter such as lavapipe (to test or bench them there)
    #[arg(long, global = true)]
    gpu_kernels: bool,
}

impl GpuArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            gpu_kernels: self.gpu_kernels,
            ..Default::default()
        }
    }
    /// The device `--device` names, announced on stderr.
    pub fn open(&self) -> Result<Device> {
        let dev = match self.device {
            DeviceKind::Gpu => Device::Gpu(Gpu::new_blocking(&self.options())?),
            DeviceKind::Cpu => Device::Native(Native::new(self.threads)?),
            DeviceKind::Reference => Device::Reference,
            DeviceKind::Auto => {
                let adapters = pollster::block_on(trm_gpu::gpu::list_adapters(&self.options())).unwrap_or_default();
                let real = adapters.iter().any(|a| {
                    matches!(a.get_info().device_type, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
                });
                if real {
                    Device::Gpu(Gpu::new_blocking(&self.options())?)
                } else {
                    Device::Native(Native::new(self.threads)?)
                }
            }
        };
        eprintln!("device: {}", dev.describe());
        Ok(dev)
    }
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A preset: sudoku-mlp, sudoku-att, maze-att, arc-att, tiny-sudoku-mlp, tiny-sudoku-att, tiny-sudoku4-mlp, tiny-maze-att
    #[arg(long)]
    preset: Option<String>,
    /// A config JSON: trm-gpu's {"model", "train"} layout or the official config dict
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Override n (L_cycles)
    #[arg(long = "n")]
    n: Option<usize>,
    /// Override T (H_cycles)
    #[arg(long = "T")]
    t: Option<usize>,
}

impl ModelArgs {
    pub fn load(&self, default: &str) -> Result<Config> {
        let mut c = match (&self.config, &self.preset) {
            (Some(p), _) => Config::from_json_file(p)?,
            (None, Some(p)) => Config::preset(p)?,
            (None, None) => Config::preset(default)?,
        };
        if let Some(n) = self.n {
            c.model.l_cycles = n;
        }
        if let Some(t) = self.t {
            c.model.h_cycles = t;
        }
        c.validate()?;
        // The host copy of the weights and the executor's own: refused here, before either is allocated.
        trm_gpu::model::memory::check_host("the model's weights", 2 * trm_gpu::model::Weights::bytes(&c.model))?;
        Ok(c)
    }
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter with its limits and features
    Info,
    /// Train TRM with deep supervision (no arguments: a small generated Sudoku set and a tiny model)
    Train(train::TrainArgs),
    /// Evaluate a checkpoint on a dataset, per supervision step
    Eval(train::EvalArgs),
    /// Run the paper's ablations against the same base and budget
    Ablate(ablate::AblateArgs),
    /// Solve one Sudoku step by step with a trained model
    Solve(solve::SolveArgs),
    /// Time every kernel on TRM's shapes and whole training steps
    Bench(bench::BenchArgs),
    /// Print the buffer-lifetime plan of a training step
    Plan(PlanArgs),
    /// Build dataset files
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Check a model against a reference dump (config.json, weights.safetensors, reference.safetensors)
    Parity {
        dir: PathBuf,
        /// Write trm-gpu's own outputs and gradients under the reference's key names
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Convert an official TRM training checkpoint (pretrain.py's step_N, all_config.yaml beside it) into a
    /// trm-gpu model file that eval, solve and the browser demo load
    Import {
        /// The official checkpoint file (torch.save of the state_dict, e.g. checkpoints/.../step_1000)
        path: PathBuf,
        /// The trm-gpu model file to write (safetensors)
        #[arg(long)]
        out: PathBuf,
        /// The run's all_config.yaml (default: the one beside PATH)
        #[arg(long)]
        config: Option<PathBuf>,
        /// The puzzle length, which RoPE attention weights do not fix (81 for 9x9 Sudoku, 900 for mazes and ARC)
        #[arg(long, value_parser = parse_positive)]
        seq_len: Option<usize>,
        /// Replace --out if it exists
        #[arg(long)]
        overwrite: bool,
    },
    /// Draw loss and accuracy curves of a run to PNG
    Plot {
        /// The run directory (holding metrics.jsonl)
        run: PathBuf,
    },
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 64, value_parser = parse_positive)]
    batch: usize,
    /// none or per-call
    #[arg(long, default_value = "per-call")]
    checkpoint: Checkpoint,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Draw the lifetime chart to this PNG
    #[arg(long)]
    png: Option<PathBuf>,
    /// List every tensor
    #[arg(long)]
    verbose: bool,
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            print!("{}", pollster::block_on(trm_gpu::gpu::adapter_report(&cli.gpu.options()))?);
            Ok(())
        }
        Command::Train(a) => train::train(&cli.gpu, a),
        Command::Eval(a) => train::eval(&cli.gpu, a),
        Command::Plan(a) => plan(a),
        Command::Bench(a) => bench::bench(&cli.gpu, a),
        Command::Solve(a) => solve::solve(&cli.gpu, a),
        Command::Ablate(a) => ablate::ablate(&cli.gpu, a),
        Command::Data(d) => data::run(d),
        Command::Parity { dir, dump } => {
            let dev = cli.gpu.open()?;
            let (report, tensors) = trm_gpu::model::parity::check(&dev, &dir)?;
            print!("{}", report.to_text());
            if let Some(path) = dump {
                trm_gpu::model::parity::write_dump(&path, &tensors)?;
                eprintln!("wrote {}", path.display());
            }
            let failed = report.failures().len();
            if failed > 0 {
                anyhow::bail!("{failed} of {} tensors are outside tolerance", report.rows.len());
            }
            println!("all {} tensors within tolerance", report.rows.len());
            Ok(())
        }
        Command::Import { path, out, config, seq_len, overwrite } => {
            anyhow::ensure!(
                overwrite || !out.exists(),
                "{} exists: choose another --out, or pass --overwrite to replace it",
                out.display()
            );
            let o = trm_gpu::model::import::ImportOptions { config, seq_len };
            let imported = trm_gpu::model::import::import_official(&path, &o)?;
            for n in &imported.notes {
                println!("{n}");
            }
            let m = &imported.config.model;
            println!(
                "model: {} parameters, D {}, {} layers, {}, T {}, n {}, N_sup {}, S' {}",
                imported.weights.num_parameters(m),
                m.hidden_size,
                m.layers,
                if m.mlp_t { "MLP token mixer" } else { "attention" },
                m.h_cycles,
                m.l_cycles,
                m.halt_max_steps,
                m.seq()
            );
            trm_gpu::train::checkpoint::save_weights(&out, &imported.config, &imported.weights)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Plot { run } => {
            let out = trm_gpu::charts::curves::plot_run(&run)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}

fn plan(a: PlanArgs) -> Result<()> {
    let cfg = a.model.load("sudoku-mlp")?;
    let r = trm_gpu::model::memory::plan_report(&cfg, a.batch, a.checkpoint, u64::MAX)?;
    if let Some(png) = &a.png {
        let (s, p) = trm_gpu::model::memory::plan_step(&cfg, a.batch, a.checkpoint, u64::MAX)?;
        trm_gpu::charts::plan::draw_png(&s, &p, png, 1200, 700)?;
        eprintln!("wrote {}", png.display());
    }
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.to_text(a.verbose));
        println!("peak for checkpoint none: {}", trm_gpu::plan::report::human_bytes(r.none_peak_bytes.unwrap_or(0)));
        println!(
            "naive (every tensor its own buffer, all kept): {}",
            trm_gpu::plan::report::human_bytes(r.naive_peak_bytes)
        );
    }
    Ok(())
}

/// A halting threshold τ: strictly between 0 and 1 (q_halt is compared with log(τ/(1−τ))).
pub fn parse_tau(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t < 1.0 => Ok(t),
        Ok(t) => Err(format!("{t} is not strictly between 0 and 1")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

/// A count of at least 1.
pub fn parse_positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A metric for a table: its value to `digits` places, or '-' where it is undefined.
pub fn or_dash(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}
