//! ARC-AGI bundle files ({"train": {id: task}, "eval": {...}}).
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = common::file("bundle.json", data);
    let _ = trm_gpu::data::arc::read(&path, false);
    let _ = trm_gpu::data::arc::read(&path, true);
});
