//! PNG charts drawn with plotters, their text set in one embedded TrueType font (no system font needed): a
//! plan's buffer lifetimes (`trm-gpu plan --png`), a run's curves (`train`, `plot`), bar charts (`ablate --png`)
//! and solved puzzles (`solve --png`). Every file is written atomically.

pub mod bars;
pub mod curves;
pub mod plan;
pub mod puzzle;

use anyhow::{anyhow, ensure, Context, Result};
use image::RgbImage;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The family every chart's text uses: DejaVu Sans, cut down to the characters charts need (fonts/README.md).
pub const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans-subset.ttf");

/// A drawing area over an RGB pixel buffer.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draw a `width` × `height` picture on white with `draw`, and return it.
pub fn render(width: u32, height: u32, draw: impl FnOnce(&Area) -> Result<()>) -> Result<RgbImage> {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("the embedded font parses"));
    });
    ensure!((16..=16384).contains(&width) && (16..=16384).contains(&height), "picture size {width}x{height}");
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&area)?;
        area.present().map_err(plot_error)?;
    }
    Ok(RgbImage::from_raw(width, height, pixels).expect("the buffer has width × height pixels"))
}

/// plotters' errors borrow the backend's error type; charts report them as text.
pub fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Encode `img` as PNG and write it to `path` atomically (a temporary file beside it, then a rename).
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).with_context(|| format!("encoding {}", path.display()))?;
    crate::files::write_atomic(path, png.get_ref())
}

/// The series legend every chart draws: the charts' font at `size`, on a translucent white box at `at`.
pub fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
    size: f64,
) -> Result<()>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .label_font(font(size))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(at)
        .draw()
        .map_err(plot_error)
}

/// A style in the charts' font.
pub fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}
