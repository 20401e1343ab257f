//! Sudoku CSV and text files (every layout `data sudoku --from` reads): any input gives puzzles or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trm_gpu::data::sudoku::parse_text(text, "fuzz.csv", false);
        let _ = trm_gpu::data::sudoku::parse_text(text, "fuzz.csv", true);
    }
});
