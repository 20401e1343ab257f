//! Checkpoints: model.safetensors with its config metadata, and a run's state.safetensors.
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = trm_gpu::model::Weights::from_checkpoint(data, "fuzz.safetensors");
    let path = common::file("state.safetensors", data);
    let _ = trm_gpu::train::checkpoint::Saved::load(path.parent().unwrap());
});
