//! The puzzle text `solve` and the browser demo take, for the 9×9 and 4×4 models.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for preset in ["tiny-sudoku-mlp", "tiny-sudoku4-mlp"] {
            let cfg = trm_gpu::model::Config::preset(preset).unwrap();
            let _ = trm_gpu::solve::parse_puzzle(text, &cfg);
        }
    }
});
