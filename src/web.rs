//! The browser build: a trained model solving one Sudoku step by step, on WebGPU when the page has it and on
//! the native CPU executor (gemm, one thread) when it does not. Same shaders, same program, same planner as the native solver.

use crate::data::sudoku::{format_grid, to_tokens};
use crate::gpu::{Gpu, GpuOptions, GpuTensor};
use crate::model::infer::{plan_for, Solver};
use crate::model::{Config, GpuRun, Native, NativeRun, Weights};
use crate::solve::{parse_puzzle, view};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn js_err(e: anyhow::Error) -> JsValue {
    js_sys::Error::new(&format!("{e:#}")).into()
}

thread_local! {
    /// The page's one WebGPU device, shared by every model it loads (with its pipeline cache).
    static DEVICE: std::cell::Cell<Option<&'static Gpu>> = const { std::cell::Cell::new(None) };
}

/// Open WebGPU's device on first use. It lives as long as the page, so it is leaked once for executors to borrow.
async fn device() -> Result<&'static Gpu, String> {
    if let Some(gpu) = DEVICE.with(|d| d.get()) {
        return Ok(gpu);
    }
    let gpu: &'static Gpu = Box::leak(Box::new(Gpu::new(&GpuOptions::default()).await.map_err(|e| format!("{e:#}"))?));
    DEVICE.with(|d| d.set(Some(gpu)));
    Ok(gpu)
}

enum Engine {
    Gpu(&'static Gpu, Solver<GpuRun<'static>>),
    Cpu(Solver<NativeRun<'static>>),
}

/// A loaded model and the puzzle it is working on.
#[wasm_bindgen]
pub struct WebSolver {
    cfg: Config,
    params: usize,
    /// Device memory of the planned inference step (bytes, buffers).
    plan: (u64, usize),
    backend: String,
    engine: Rc<RefCell<Engine>>,
    /// The current puzzle's digits (0 blank).
    puzzle: Rc<RefCell<Vec<u8>>>,
}

#[wasm_bindgen]
impl WebSolver {
    /// Load a model.safetensors. With `use_gpu`, open WebGPU's adapter; if there is none, or `use_gpu` is
    /// false, solve with the native CPU executor. `backend()` says which.
    pub async fn create(model: Vec<u8>, use_gpu: bool) -> Result<WebSolver, JsValue> {
        console_error_panic_hook::set_once();
        let (cfg, w) = Weights::from_checkpoint(&model, "model.safetensors").map_err(js_err)?;
        let params = w.num_parameters(&cfg.model);
        let gpu = if use_gpu { device().await } else { Err("WebGPU off".into()) };
        let max_binding = gpu.as_ref().map_or(u32::MAX as u64, |g| g.limits.max_storage_buffer_binding_size);
        let (prog, h, plan) = plan_for(&cfg, 1, max_binding).map_err(js_err)?;
        let plan_size = (plan.total_bytes(), plan.buffers.len());
        let (backend, engine) = match gpu {
            Ok(gpu) => {
                let run = GpuRun::new(gpu, &prog, &plan).map_err(js_err)?;
                let name = if gpu.info.name.is_empty() { "unnamed adapter".to_string() } else { gpu.info.name.clone() };
                (format!("WebGPU: {name} ({})", gpu.info.backend), Engine::Gpu(gpu, Solver::new(run, h, &cfg, &w)))
            }
            Err(why) => {
                // The page's one thread; lives as long as the page, like the GPU device.
                let native: &'static Native = Box::leak(Box::new(Native::new(1).map_err(js_err)?));
                let run = NativeRun::new(native, &prog, &plan).map_err(js_err)?;
                (
                    format!("CPU fallback ({why}): the native CPU executor in wasm"),
                    Engine::Cpu(Solver::new(run, h, &cfg, &w)),
                )
            }
        };
        Ok(WebSolver {
            cfg,
            params,
            plan: plan_size,
            backend,
            engine: Rc::new(RefCell::new(engine)),
            puzzle: Rc::default(),
        })
    }

    /// Where the model runs: the WebGPU adapter, or the CPU fallback and why.
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    pub fn on_gpu(&self) -> bool {
        matches!(*self.engine.borrow(), Engine::Gpu(..))
    }

    /// The model as JSON: grid side, parameters, D, layers, T, n, N_sup, token mixer.
    pub fn info(&self) -> String {
        let m = &self.cfg.model;
        serde_json::json!({
            "side": (m.seq_len as f64).sqrt() as usize,
            "parameters": self.params,
            "hidden_size": m.hidden_size,
            "layers": m.layers,
            "T": m.h_cycles,
            "n": m.l_cycles,
            "max_steps": m.halt_max_steps,
            "mixer": if m.mlp_t { "mlp" } else { "attention" },
            "plan_bytes": self.plan.0,
            "plan_buffers": self.plan.1,
        })
        .to_string()
    }

    /// Start on a pasted puzzle and return it as one line ('.' for blanks). Throws an Error with a readable
    /// message for a wrong length, an illegal character or givens that already conflict.
    pub fn start(&self, text: &str) -> Result<String, JsValue> {
        let puzzle = parse_puzzle(text, &self.cfg).map_err(js_err)?;
        let tokens = to_tokens(&puzzle);
        match &mut *self.engine.borrow_mut() {
            Engine::Gpu(_, s) => s.start(&tokens, 0),
            Engine::Cpu(s) => s.start(&tokens, 0),
        }
        .map_err(js_err)?;
        let line = format_grid(&puzzle);
        *self.puzzle.borrow_mut() = puzzle;
        Ok(line)
    }

    /// Run one supervision step; resolves to the step's answer as JSON (step, grid, q_halt, confidence,
    /// conflicts, changed_givens, solved). The GPU readback is awaited, so the page never blocks.
    pub fn step(&self) -> js_sys::Promise {
        let engine = self.engine.clone();
        let puzzle = self.puzzle.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (pending, step) = match &mut *engine.borrow_mut() {
                Engine::Gpu(gpu, s) => {
                    s.launch();
                    let t = &s.ex.exec.tensors;
                    (Readback::Gpu(gpu, t[s.h.logits].clone(), t[s.h.q].clone()), s.steps)
                }
                Engine::Cpu(s) => {
                    let (logits, q) = s.step();
                    (Readback::Done(logits, q), s.steps)
                }
            };
            let (logits, q) = match pending {
                Readback::Done(logits, q) => (logits, q),
                Readback::Gpu(gpu, logits, q) => {
                    let mut read = gpu.read_many_async::<f32>(&[&logits, &q]).await.map_err(js_err)?;
                    let q = read.pop().expect("q")[0];
                    (read.pop().expect("logits"), q)
                }
            };
            let v = view(step, &puzzle.borrow(), &logits, q);
            Ok(JsValue::from_str(&serde_json::to_string(&v).map_err(|e| js_err(e.into()))?))
        })
    }
}

/// A step's logits: already on the host (CPU), or still to be read back from these tensors (GPU).
enum Readback {
    Done(Vec<f32>, f32),
    Gpu(&'static Gpu, GpuTensor, GpuTensor),
}
