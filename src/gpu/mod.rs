//! The GPU runtime: adapter choice, limits, pipeline cache, buffers, launches, readback and timing.
//! It knows nothing about TRM: ops describe launches, the model strings them into a schedule.

mod adapter;
mod layout;
pub use adapter::{adapter_report, list_adapters, GpuOptions};
pub use layout::{Access, Binding, Params, Scalar, ShaderLayout};

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A WGSL source file embedded in the binary.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Compiled without runtime bounds checks: only for kernels whose every index is provably in range
    /// (clamped in the shader, with tensor lengths checked by the launcher).
    pub trusted: bool,
}

/// Embed `shaders/<name>.wgsl`.
#[macro_export]
macro_rules! shader {
    ($name:literal) => {
        $crate::gpu::Shader {
            name: $name,
            source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")),
            trusted: false,
        }
    };
    ($name:literal, trusted) => {
        $crate::gpu::Shader {
            name: $name,
            source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")),
            trusted: true,
        }
    };
}

/// Every shader the crate ships, for validation and benches.
pub const SHADER_NAMES: &[&str] = &[
    "matmul",
    "matmul_lanes8",
    "matmul_tiled",
    "norm",
    "swiglu",
    "elementwise",
    "rope",
    "attention",
    "attention_tiled",
    "embed",
    "loss",
    "optim",
];

/// A device buffer holding `len` 32-bit elements (f32, i32 or u32). `buf` may be larger when it is shared
/// between tensors by the planner; bindings use exactly `len * 4` bytes from offset 0.
#[derive(Clone, Debug)]
pub struct GpuTensor {
    pub buf: Arc<wgpu::Buffer>,
    pub len: usize,
    pub name: Arc<str>,
}

impl GpuTensor {
    pub fn bytes(&self) -> u64 {
        (self.len.max(1) * 4) as u64
    }
}

/// One recorded compute dispatch: a cached pipeline, its bind group and its grid. Built once, replayed often.
pub struct Launch {
    pub label: String,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    /// Kept with the launch that reads it.
    _params: Option<wgpu::Buffer>,
    /// Each bound tensor's name with the access its shader declares, for checking against the planner's view.
    pub bound: Vec<(Arc<str>, Access)>,
}

/// Whether matmul_lanes8.wgsl suits an adapter: a CPU adapter (llvmpipe's SIMD lanes) with subgroups of exactly
/// 8 lanes and 64-bit integers. On a real GPU with 8-lane subgroups its 1024 accumulators per lane would spill.
pub fn lanes8_suits(info: &wgpu::AdapterInfo, features: wgpu::Features) -> bool {
    let f = wgpu::Features::SUBGROUP | wgpu::Features::SHADER_INT64;
    info.device_type == wgpu::DeviceType::Cpu
        && features.contains(f)
        && info.subgroup_min_size == 8
        && info.subgroup_max_size == 8
}

/// The name of the GPU's shared scratch tensor (`Gpu::workspace`), which no program tensor may take.
pub const WORKSPACE: &str = "gpu workspace";

/// Key of the pipeline cache: shader, entry point and pipeline-overridable constants.
pub type PipelineKey = (&'static str, &'static str, Vec<(&'static str, u32)>);

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Whether kernels are chosen for a CPU adapter (see `GpuOptions::gpu_kernels`).
    pub cpu_kernels: bool,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<&'static str, Arc<ShaderLayout>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    allocated: AtomicU64,
    workspace: Mutex<Option<GpuTensor>>,
    tuned: Mutex<HashMap<String, usize>>,
}

/// Storage buffers live for the whole run; all are readable, writable and copyable.
const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// Open the adapter chosen by `opts` (and the WGPU_BACKEND / WGPU_ADAPTER_NAME environment variables).
    pub async fn new(opts: &GpuOptions) -> Result<Gpu> {
        let adapter = adapter::choose(opts).await?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(max) = opts.max_workgroups_per_dimension {
            limits.max_compute_workgroups_per_dimension = limits.max_compute_workgroups_per_dimension.min(max);
        }
        let mut wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP | wgpu::Features::SHADER_INT64;
        if opts.webgpu_features_only {
            wanted.remove(wgpu::Features::SHADER_INT64);
        }
        let features = adapter.features() & wanted;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("trm-gpu"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .with_context(|| format!("could not open a device on adapter {:?}", info.name))?;
        let cpu_kernels = info.device_type == wgpu::DeviceType::Cpu && !opts.gpu_kernels;
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            features,
            cpu_kernels,
            modules: Mutex::default(),
            layouts: Mutex::default(),
            pipelines: Mutex::default(),
            allocated: AtomicU64::new(0),
            workspace: Mutex::default(),
            tuned: Mutex::default(),
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(opts: &GpuOptions) -> Result<Gpu> {
        pollster::block_on(Self::new(opts))
    }

    /// One line naming the adapter: name, backend, device type and driver.
    pub fn describe(&self) -> String {
        let i = &self.info;
        format!("{} ({:?}, {:?}, driver {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
    }

    /// llvmpipe (Mesa's software rasteriser) stops any invocation after 65535 loop iterations in total, so
    /// launchers whose loops scale with a tensor dimension check it against this budget.
    pub fn loop_budget(&self) -> usize {
        if self.info.driver.to_lowercase().contains("llvmpipe") || self.info.name.to_lowercase().contains("llvmpipe") {
            65_000
        } else {
            usize::MAX
        }
    }

    /// Whether matmul_lanes8.wgsl runs here (see `lanes8_suits`).
    pub fn has_lanes8(&self) -> bool {
        self.cpu_kernels && lanes8_suits(&self.info, self.features)
    }

    /// Bytes of storage this runtime has allocated so far.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// An uninitialised-to-zero storage buffer of `bytes` (rounded up to 256).
    // On wasm, wgpu's handles are neither Send nor Sync; the Arc only shares a buffer between tensors.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn buffer(&self, name: &str, bytes: u64) -> Result<Arc<wgpu::Buffer>> {
        let bytes = bytes.max(4).div_ceil(256) * 256;
        if bytes > self.limits.max_buffer_size {
            bail!(
                "buffer {name} needs {bytes} bytes, more than this adapter's max_buffer_size {}",
                self.limits.max_buffer_size
            );
        }
        self.allocated.fetch_add(bytes, Ordering::Relaxed);
        Ok(Arc::new(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes,
            usage: STORAGE,
            mapped_at_creation: false,
        })))
    }

    /// Scratch that launches use only within their own dispatches (matmul's split-K partials): one buffer
    /// shared by every caller, grown when a caller needs more. Dispatches run in order, so sharing is safe.
    pub fn workspace(&self, len: usize) -> Result<GpuTensor> {
        let mut ws = self.workspace.lock().unwrap();
        if ws.as_ref().is_none_or(|t| t.len < len) {
            *ws = Some(self.zeros(WORKSPACE, len)?);
        }
        let t = ws.as_ref().expect("just allocated");
        Ok(GpuTensor { buf: t.buf.clone(), len, name: t.name.clone() })
    }

    /// The choice cached under `key` for this adapter, made by `choose` the first time (an autotune).
    pub fn tuned(&self, key: String, choose: impl FnOnce() -> Result<usize>) -> Result<usize> {
        if let Some(&c) = self.tuned.lock().unwrap().get(&key) {
            return Ok(c);
        }
        let c = choose()?;
        self.tuned.lock().unwrap().insert(key, c);
        Ok(c)
    }

    /// A zero-filled tensor of `len` elements with its own buffer.
    pub fn zeros(&self, name: &str, len: usize) -> Result<GpuTensor> {
        Ok(GpuTensor { buf: self.buffer(name, (len * 4) as u64)?, len, name: name.into() })
    }

    /// A tensor holding `data` (f32, i32 or u32).
    pub fn upload<T: bytemuck::Pod>(&self, name: &str, data: &[T]) -> Result<GpuTensor> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        let t = self.zeros(name, data.len())?;
        self.write(&t, data);
        Ok(t)
    }

    /// Overwrite a tensor's contents from the host.
    pub fn write<T: bytemuck::Pod>(&self, t: &GpuTensor, data: &[T]) {
        assert_eq!(data.len(), t.len, "write to {}: length mismatch", t.name);
        if !data.is_empty() {
            self.queue.write_buffer(&t.buf, 0, bytemuck::cast_slice(data));
        }
    }

    fn module(&self, shader: &Shader) -> wgpu::ShaderModule {
        let mut modules = self.modules.lock().unwrap();
        modules
            .entry(shader.name)
            .or_insert_with(|| {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                };
                if shader.trusted {
                    // SAFETY: trusted shaders clamp every index in range; see `Shader::trusted`.
                    unsafe { self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
                } else {
                    self.device.create_shader_module(desc)
                }
            })
            .clone()
    }

    /// What `shader` declares (its Params members and bindings), read once.
    pub fn layout(&self, shader: &Shader) -> Result<Arc<ShaderLayout>> {
        let mut layouts = self.layouts.lock().unwrap();
        if let Some(l) = layouts.get(shader.name) {
            return Ok(l.clone());
        }
        let l = Arc::new(ShaderLayout::parse(shader.source).with_context(|| format!("shaders/{}.wgsl", shader.name))?);
        layouts.insert(shader.name, l.clone());
        Ok(l)
    }

    /// The compiled pipeline for `shader::entry` with the given override constants, compiled once and cached.
    pub fn pipeline(
        &self,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, u32)],
    ) -> Arc<wgpu::ComputePipeline> {
        let key = (shader.name, entry, constants.to_vec());
        if let Some(p) = self.pipelines.lock().unwrap().get(&key) {
            return p.clone();
        }
        let module = self.module(shader);
        let consts: Vec<(&str, f64)> = constants.iter().map(|&(k, v)| (k, v as f64)).collect();
        let pipeline = Arc::new(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&format!("{}::{}", shader.name, entry)),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &consts,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        }));
        self.pipelines.lock().unwrap().insert(key, pipeline.clone());
        pipeline
    }

    /// Every pipeline compiled so far (shader, entry point, override constants), sorted.
    pub fn compiled_pipelines(&self) -> Vec<PipelineKey> {
        let mut keys: Vec<PipelineKey> = self.pipelines.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Build a launch: binding 0 holds `params`, laid out by the shader's Params struct (omitted when it has
    /// none), then each `(binding, tensor)`. Checks every binding against the shader's declarations and the
    /// storage binding limit, that no buffer is bound writable beside another binding of it, and the grid
    /// against the workgroup limits.
    pub fn launch(
        &self,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, u32)],
        params: &Params,
        tensors: &[(u32, &GpuTensor)],
        workgroups: [u32; 3],
    ) -> Result<Launch> {
        let label = format!("{}::{}", shader.name, entry);
        let layout = self.layout(shader)?;
        let words = if layout.params.is_empty() && params.is_empty() {
            None
        } else {
            Some(params.words(&layout).with_context(|| label.clone())?)
        };
        let mut bound = Vec::new();
        for &(slot, t) in tensors {
            let Some(decl) = layout.binding(slot) else {
                bail!("{label}: binds tensor {} to slot {slot}, which the shader does not declare", t.name);
            };
            let aliased = tensors.iter().any(|&(s, u)| s != slot && Arc::ptr_eq(&u.buf, &t.buf));
            if aliased && decl.access == Access::ReadWrite {
                bail!(
                    "{label}: tensor {} is bound writable ({}) and shares its buffer with another binding",
                    t.name,
                    decl.name
                );
            }
            bound.push((t.name.clone(), decl.access));
        }
        for (_, t) in tensors {
            if t.bytes() > self.limits.max_storage_buffer_binding_size {
                bail!(
                    "{label}: tensor {} is {} bytes, over this adapter's max_storage_buffer_binding_size {}",
                    t.name,
                    t.bytes(),
                    self.limits.max_storage_buffer_binding_size
                );
            }
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&w| w > max) {
            bail!("{label}: grid {workgroups:?} exceeds max_compute_workgroups_per_dimension {max}");
        }
        let pipeline = self.pipeline(shader, entry, constants);
        let group_layout = pipeline.get_bind_group_layout(0);
        let params_buf = words.map(|words| {
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&label),
                size: (words.len() * 4) as u64,
                // STORAGE too: a shader may read its parameters as a storage buffer (matmul_lanes8.wgsl).
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&words));
            buf
        });
        let mut entries = Vec::new();
        if let Some(b) = &params_buf {
            entries.push(wgpu::BindGroupEntry { binding: 0, resource: b.as_entire_binding() });
        }
        for &(binding, t) in tensors {
            entries.push(wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &t.buf,
                    offset: 0,
                    // Whole 16-byte units (buffers are 256-byte multiples), so vec4 views are valid too.
                    size: wgpu::BufferSize::new(t.bytes().div_ceil(16) * 16),
                }),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&label),
            layout: &group_layout,
            entries: &entries,
        });
        Ok(Launch { label, pipeline, bind_group, workgroups, _params: params_buf, bound })
    }

    /// Record launches into one compute pass of `encoder`.
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        launches: &[&Launch],
        timestamps: Option<(&wgpu::QuerySet, u32)>,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: timestamps.map(|(qs, i)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(i),
                end_of_pass_write_index: Some(i + 1),
            }),
        });
        for l in launches {
            pass.set_pipeline(&l.pipeline);
            pass.set_bind_group(0, &l.bind_group, &[]);
            let [x, y, z] = l.workgroups;
            if x > 0 && y > 0 && z > 0 {
                pass.dispatch_workgroups(x, y, z);
            }
        }
    }

    /// Submit launches in order (one pass, one submission).
    pub fn run(&self, launches: &[&Launch]) {
        let mut enc = self.device.create_command_encoder(&Default::default());
        self.record(&mut enc, launches, None);
        self.queue.submit([enc.finish()]);
    }

    /// Run one launch right away.
    pub fn run1(&self, launch: &Launch) {
        self.run(&[launch]);
    }

    /// Block until the queue is idle (native; a no-op in the browser).
    pub fn wait(&self) {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Read tensors back: each copied into one staging buffer, then one map, so a single wait covers them all
    /// (a training step's q and loss stats). Works in the browser and natively.
    pub async fn read_many_async<T: bytemuck::Pod>(&self, ts: &[&GpuTensor]) -> Result<Vec<Vec<T>>> {
        let sizes: Vec<u64> = ts.iter().map(|t| (t.len * 4) as u64).collect();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: sizes.iter().sum::<u64>().max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        let mut at = 0;
        for (t, &n) in ts.iter().zip(&sizes) {
            if n > 0 {
                enc.copy_buffer_to_buffer(&t.buf, 0, &staging, at, n);
            }
            at += n;
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.wait();
        let names = || ts.iter().map(|t| t.name.to_string()).collect::<Vec<_>>().join(", ");
        rx.await.context("readback cancelled")?.with_context(|| format!("reading back {}", names()))?;
        let out = {
            let view = staging.slice(..).get_mapped_range().context("mapping the readback buffer")?;
            let mut at = 0;
            sizes
                .iter()
                .map(|&n| {
                    let part = bytemuck::cast_slice::<u8, T>(&view[at as usize..(at + n) as usize]).to_vec();
                    at += n;
                    part
                })
                .collect()
        };
        staging.unmap();
        Ok(out)
    }

    /// Read a tensor back, awaiting the map (works in the browser and natively).
    pub async fn read_async<T: bytemuck::Pod>(&self, t: &GpuTensor) -> Result<Vec<T>> {
        Ok(self.read_many_async(&[t]).await?.pop().expect("one tensor read"))
    }

    /// Read tensors back with one wait, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_many<T: bytemuck::Pod>(&self, ts: &[&GpuTensor]) -> Vec<Vec<T>> {
        pollster::block_on(self.read_many_async(ts)).expect("GPU readback failed")
    }

    /// Read a tensor back, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read<T: bytemuck::Pod>(&self, t: &GpuTensor) -> Vec<T> {
        pollster::block_on(self.read_async(t)).expect("GPU readback failed")
    }

    /// Seconds the launches take on the device: GPU timestamps where the adapter has them, else wall clock
    /// around a blocking submit (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time(&self, launches: &[&Launch]) -> f64 {
        if self.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            let qs = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: None,
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let mut enc = self.device.create_command_encoder(&Default::default());
            self.record(&mut enc, launches, Some((&qs, 0)));
            enc.resolve_query_set(&qs, 0..2, &resolve, 0);
            self.queue.submit([enc.finish()]);
            let t = GpuTensor { buf: Arc::new(resolve), len: 4, name: "timestamps".into() };
            let ticks: Vec<u64> = self.read::<u32>(&t).chunks(2).map(|c| c[0] as u64 | (c[1] as u64) << 32).collect();
            let ns = ticks[1].saturating_sub(ticks[0]) as f64 * self.queue.get_timestamp_period() as f64;
            if ns > 0.0 {
                return ns * 1e-9;
            }
        }
        let start = std::time::Instant::now();
        self.run(launches);
        self.wait();
        start.elapsed().as_secs_f64()
    }

    /// A 1D grid of `n` invocations at workgroup size `wg`, folded into 2D when it exceeds the per-dimension limit.
    /// Kernels recover the linear index as `gid.x + gid.y * num_workgroups.x * wg`.
    pub fn grid(&self, n: usize, wg: usize) -> [u32; 3] {
        let groups = n.div_ceil(wg).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }
}
