//! `.trmd` dataset files: a wrong magic, truncation, corruption or inconsistency is an error, never a panic or
//! an allocation the file's size does not justify.
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = common::file("train.trmd", data);
    if let Ok(ds) = trm_gpu::data::Dataset::load(&path) {
        let _ = ds.validate();
    }
});
