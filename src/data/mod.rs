//! Puzzle data: readers, generators, augmentations and the dataset file format for Sudoku, mazes and ARC-AGI.

pub mod arc;
pub mod dataset;
pub mod grid;
pub mod input;
pub mod maze;
pub mod source;
pub mod sudoku;

pub use dataset::{Built, Dataset, Example, Summary};
pub use input::Loaded;
pub use source::{Source, Sources};
