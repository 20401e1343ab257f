//! The integration tests, one binary: linked once, and one GPU and one native CPU device shared by all.

mod browser;
mod cli;
mod common;
mod data_arc;
mod data_dataset;
mod data_maze;
mod data_sudoku;
mod learning;
mod model_cpu;
mod model_fixtures;
mod ops_fd;
mod ops_gpu;
mod ops_native;
mod plan_basic;
mod plan_trm;
mod shaders;
mod train;
mod train_ranks;
