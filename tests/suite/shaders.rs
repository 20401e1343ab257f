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
