//! One ARC task file ({"train": [pairs], "test": [pairs]}), as in a task folder.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = trm_gpu::data::arc::parse_task("fuzz", value);
    }
});
