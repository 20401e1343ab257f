//! Config JSON in both layouts: trm-gpu's {"model", "train"} and the official flat dict.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = trm_gpu::model::Config::from_json(text) {
            // Whatever is accepted is in range: its sizes multiply without overflow.
            let _ = trm_gpu::model::Weights::bytes(&c.model);
        }
    }
});
