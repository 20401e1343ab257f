//! Choosing an adapter on any backend, and explaining what to install when there is none.

use anyhow::{bail, Result};

/// How to pick the adapter. Empty fields fall back to WGPU_BACKEND / WGPU_ADAPTER_NAME.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Comma list of backends: vulkan, metal, dx12, gl, webgpu (default: all).
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name.
    pub adapter: Option<String>,
    /// Ask the device for at most this many workgroups per grid dimension, below the adapter's own limit: the
    /// tests fold grids at small sizes this way, as real sizes fold them at 65,535.
    pub max_workgroups_per_dimension: Option<u32>,
    /// Request only the features WebGPU also has (no 64-bit integers in shaders), so the kernels chosen are the
    /// ones a browser gets.
    pub webgpu_features_only: bool,
    /// Choose the kernels a real GPU gets even on a CPU adapter (llvmpipe, SwiftShader), so that tests and
    /// benches run them there.
    pub gpu_kernels: bool,
}

impl GpuOptions {
    fn backends(&self) -> Result<wgpu::Backends> {
        let text = self.backend.clone().or_else(|| std::env::var("WGPU_BACKEND").ok());
        match text {
            None => Ok(wgpu::Backends::all()),
            Some(t) => {
                let b = wgpu::Backends::from_comma_list(&t);
                if b.is_empty() {
                    bail!("unknown backend {t:?}: use vulkan, metal, dx12, gl or webgpu (comma-separated)");
                }
                Ok(b)
            }
        }
    }
    fn name_filter(&self) -> Option<String> {
        self.adapter
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty())
            .map(|s| s.to_lowercase())
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor { backends, ..wgpu::InstanceDescriptor::new_without_display_handle() })
}

const NO_ADAPTER_HELP: &str = "no GPU adapter found. trm-gpu needs a Vulkan, Metal, DX12 or GL driver. \
On Linux without a GPU, install Mesa's software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers` \
(Debian/Ubuntu) or `sudo dnf install mesa-vulkan-drivers` (Fedora); on a GPU machine, install its vendor's driver.";

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// All adapters on the chosen backends (native), or the browser's one adapter (wasm).
pub async fn list_adapters(opts: &GpuOptions) -> Result<Vec<wgpu::Adapter>> {
    let backends = opts.backends()?;
    let inst = instance(backends);
    #[cfg(not(target_arch = "wasm32"))]
    {
        Ok(inst.enumerate_adapters(backends).await)
    }
    #[cfg(target_arch = "wasm32")]
    {
        Ok(inst.request_adapter(&wgpu::RequestAdapterOptions::default()).await.into_iter().collect())
    }
}

pub(super) async fn choose(opts: &GpuOptions) -> Result<wgpu::Adapter> {
    let mut adapters = list_adapters(opts).await?;
    if adapters.is_empty() {
        bail!("{NO_ADAPTER_HELP}");
    }
    if let Some(name) = opts.name_filter() {
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&name));
        if adapters.is_empty() {
            bail!("no adapter matches {name:?}; available: {}", names.join(", "));
        }
    }
    // Prefer real GPUs, then Vulkan/Metal/DX12 over GL.
    adapters.sort_by_key(|a| {
        let i = a.get_info();
        (rank(i.device_type), i.backend == wgpu::Backend::Gl)
    });
    Ok(adapters.remove(0))
}

/// A readable report of every adapter: name, backend, driver, the limits trm-gpu cares about and features.
pub async fn adapter_report(opts: &GpuOptions) -> Result<String> {
    use std::fmt::Write;
    let adapters = list_adapters(opts).await?;
    if adapters.is_empty() {
        bail!("{NO_ADAPTER_HELP}");
    }
    let mut s = String::new();
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        writeln!(s, "adapter {i}: {}", info.name)?;
        writeln!(
            s,
            "  backend {:?}, type {:?}, driver {} {}",
            info.backend, info.device_type, info.driver, info.driver_info
        )?;
        writeln!(s, "  max_storage_buffer_binding_size {}", l.max_storage_buffer_binding_size)?;
        writeln!(s, "  max_buffer_size {}", l.max_buffer_size)?;
        writeln!(s, "  max_compute_workgroup_storage_size {}", l.max_compute_workgroup_storage_size)?;
        writeln!(s, "  max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup)?;
        writeln!(
            s,
            "  max_compute_workgroup_size {}x{}x{}",
            l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z
        )?;
        writeln!(s, "  max_compute_workgroups_per_dimension {}", l.max_compute_workgroups_per_dimension)?;
        writeln!(s, "  max_storage_buffers_per_shader_stage {}", l.max_storage_buffers_per_shader_stage)?;
        writeln!(s, "  min_storage_buffer_offset_alignment {}", l.min_storage_buffer_offset_alignment)?;
        writeln!(s, "  features: {:?}", a.features())?;
    }
    Ok(s)
}
