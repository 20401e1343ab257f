//! PNG charts, drawn with the image crate and one 3×5 pixel font: a plan's buffer lifetimes (`trm-gpu plan
//! --png`), a run's curves (`train`, `plot`) and bar charts (`ablate --png`). Every file is written atomically.

pub mod bars;
pub mod curves;
pub mod font;
pub mod plan;

use anyhow::{Context, Result};
use image::RgbImage;
use std::path::Path;

/// Encode `img` as PNG and write it to `path` atomically (a temporary file beside it, then a rename).
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).with_context(|| format!("encoding {}", path.display()))?;
    crate::files::write_atomic(path, png.get_ref())
}
