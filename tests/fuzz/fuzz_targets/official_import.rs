//! `trm-gpu import`: an official checkpoint file (torch.save's zip-pickle) beside a valid all_config.yaml, and
//! the same bytes as that YAML.
#![no_main]
mod common;
const YAML: &str = include_str!("../../fixtures/official-checkpoints/att-noemb/all_config.yaml");
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = trm_gpu::model::import::yaml_to_json(&String::from_utf8_lossy(data));
    let path = common::file("step_1", data);
    std::fs::write(path.with_file_name("all_config.yaml"), YAML).unwrap();
    let o = trm_gpu::model::import::ImportOptions { seq_len: Some(16), ..Default::default() };
    let _ = trm_gpu::model::import::import_official(&path, &o);
});
