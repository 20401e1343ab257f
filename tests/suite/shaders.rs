//! naga validates every WGSL file in shaders/, and every file is listed in SHADER_NAMES.

#[test]
fn every_shader_parses_and_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let src = std::fs::read_to_string(&path).unwrap();
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
            // matmul_lanes8 needs subgroups and 64-bit integers; the runtime picks it only where both exist.
            let caps = naga::valid::Capabilities::SUBGROUP | naga::valid::Capabilities::SHADER_INT64;
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
                .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
                .subgroup_operations(naga::valid::SubgroupOperationSet::all())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
            names.push(path.file_stem().unwrap().to_string_lossy().to_string());
        }
    }
    names.sort();
    let mut listed: Vec<String> = trm_gpu::gpu::SHADER_NAMES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(names, listed, "shaders/ and SHADER_NAMES disagree");
}

/// The launch-time reading of each shader (its Params members and bindings) agrees with naga's reflection.
#[test]
fn shader_layouts_match_naga_reflection() {
    use trm_gpu::gpu::{Access, Binding, Scalar, ShaderLayout};
    for name in trm_gpu::gpu::SHADER_NAMES {
        let src = std::fs::read_to_string(format!("{}/shaders/{name}.wgsl", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let module = naga::front::wgsl::parse_str(&src).unwrap();
        let mut bindings: Vec<Binding> = module
            .global_variables
            .iter()
            .filter_map(|(_, g)| {
                let slot = g.binding.as_ref()?.binding;
                let access = match g.space {
                    naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE) => {
                        Access::ReadWrite
                    }
                    _ => Access::Read,
                };
                (slot != 0).then(|| Binding { slot, name: g.name.clone().unwrap(), access })
            })
            .collect();
        let mut params = Vec::new();
        if let Some((_, ty)) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some("Params")) {
            let naga::TypeInner::Struct { members, .. } = &ty.inner else { panic!("{name}: Params is not a struct") };
            for (i, m) in members.iter().enumerate() {
                assert_eq!(m.offset as usize, 4 * i, "{name}: Params.{:?} is not word {i}", m.name);
                let scalar = match module.types[m.ty].inner {
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Uint, width: 4 }) => Scalar::U32,
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Sint, width: 4 }) => Scalar::I32,
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Float, width: 4 }) => Scalar::F32,
                    ref t => panic!("{name}: Params.{:?} is {t:?}", m.name),
                };
                params.push((m.name.clone().unwrap(), scalar));
            }
        }
        let mut ours = ShaderLayout::parse(&src).unwrap();
        bindings.sort_by_key(|b| b.slot);
        ours.bindings.sort_by_key(|b| b.slot);
        assert_eq!(ours, ShaderLayout { params, bindings }, "{name}");
    }
}

/// Parameters are laid out by name: unknown, repeated or mistyped names are refused, and what is not given
/// (padding, other entries' fields) is zero.
#[test]
fn params_are_laid_out_by_name() {
    use trm_gpu::gpu::{Params, ShaderLayout};
    let l = ShaderLayout::parse(
        "struct Params { n: u32, _pad: u32, s: f32 }\n@group(0) @binding(0) var<uniform> p: Params;",
    )
    .unwrap();
    assert_eq!(Params::new().f("s", 2.0).u("n", 7).words(&l).unwrap(), vec![7, 0, 2f32.to_bits(), 0]);
    for bad in [Params::new().u("m", 1), Params::new().u("s", 1), Params::new().u("n", 1).u("n", 2)] {
        assert!(bad.words(&l).is_err(), "{bad:?}");
    }
}

/// naga translates every pipeline trm-gpu's programs build (both kernel sets, with their override constants) to
/// the three native languages wgpu feeds drivers: SPIR-V, which `spirv-val` (Debian's spirv-tools, installed by
/// .ci/run) must accept for Vulkan 1.1, MSL 2.3 for Metal and HLSL shader model 6.0 for DX12.
#[test]
fn every_pipeline_translates_to_spirv_msl_and_hlsl() {
    use naga::back::{hlsl, msl, spv};
    use trm_gpu::gpu::GpuOptions;
    let mut used = [false, true]
        .map(|gpu_kernels| crate::common::pipelines_of_every_program(&GpuOptions { gpu_kernels, ..Default::default() }))
        .concat();
    used.sort();
    used.dedup();
    let dir = std::env::temp_dir().join(format!("trm-gpu-spirv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let caps = naga::valid::Capabilities::SUBGROUP | naga::valid::Capabilities::SHADER_INT64;
    for (i, (shader, entry, constants)) in used.iter().enumerate() {
        let what = format!("{shader}::{entry} {constants:?}");
        let src = std::fs::read_to_string(format!("{}/shaders/{shader}.wgsl", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let module = naga::front::wgsl::parse_str(&src).unwrap();
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let values = constants.iter().map(|&(k, v)| (k.to_string(), v as f64)).collect();
        let stage = naga::ShaderStage::Compute;
        let (module, info) =
            naga::back::pipeline_constants::process_overrides(&module, &info, Some((stage, entry)), &values)
                .unwrap_or_else(|e| panic!("{what}: overrides: {e:?}"));

        let spv_options = spv::Options { lang_version: (1, 3), ..Default::default() };
        let pipeline = spv::PipelineOptions { shader_stage: stage, entry_point: entry.to_string() };
        let words = spv::write_vec(&module, &info, &spv_options, Some(&pipeline))
            .unwrap_or_else(|e| panic!("{what}: SPIR-V: {e:?}"));
        let path = dir.join(format!("{i}.spv"));
        std::fs::write(&path, bytemuck::cast_slice::<u32, u8>(&words)).unwrap();
        let out = std::process::Command::new("spirv-val")
            .args(["--target-env", "vulkan1.1"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("spirv-val could not start ({e}); .ci/run installs spirv-tools"));
        assert!(out.status.success(), "{what}: spirv-val: {}", String::from_utf8_lossy(&out.stderr));

        let msl_options = msl::Options { lang_version: (2, 3), ..Default::default() };
        let msl_pipeline = msl::PipelineOptions { entry_point: Some((stage, entry.to_string())), ..Default::default() };
        msl::write_string(&module, &info, &msl_options, &msl_pipeline).unwrap_or_else(|e| panic!("{what}: MSL: {e:?}"));

        let hlsl_options = hlsl::Options { shader_model: hlsl::ShaderModel::V6_0, ..Default::default() };
        let hlsl_pipeline = hlsl::PipelineOptions { entry_point: Some((stage, entry.to_string())) };
        let mut text = String::new();
        hlsl::Writer::new(&mut text, &hlsl_options, &hlsl_pipeline)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{what}: HLSL: {e:?}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!("{} pipelines translate to SPIR-V (spirv-val), MSL and HLSL", used.len());
}
