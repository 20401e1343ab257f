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
