//! Maze CSV files (the official layout and headerless ones).
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = common::file("maze.csv", data);
    let _ = trm_gpu::data::maze::read_file(&path, false);
    let _ = trm_gpu::data::maze::read_file(&path, true);
});
