//! PNG chart of a plan: one row per buffer with its tensors as bars over the dispatch index (coloured by
//! role), a role legend, and the live bytes over the dispatches with the peak marked.

use super::{font, plot_error, render, Area};
use crate::plan::{report::human_bytes, Plan, Role, Schedule};
use anyhow::{ensure, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const LIVE: RGBColor = RGBColor(160, 180, 210);
const ACTIVATIONS: RGBColor = RGBColor(30, 90, 170);
const PEAK: RGBColor = RGBColor(230, 0, 120);

pub fn role_color(r: Role) -> RGBColor {
    let [r, g, b] = match r {
        Role::Parameter => [31, 119, 180],
        Role::Gradient => [255, 127, 14],
        Role::OptimizerState => [140, 86, 75],
        Role::Ema => [148, 103, 189],
        Role::Carry => [214, 39, 40],
        Role::Input => [127, 127, 127],
        Role::Output => [188, 189, 34],
        Role::Activation => [44, 160, 44],
        Role::Checkpoint => [227, 119, 194],
        Role::Scratch => [23, 190, 207],
    };
    RGBColor(r, g, b)
}

/// Renders the chart to `path` (PNG, written atomically).
pub fn draw_png(s: &Schedule, p: &Plan, path: &Path, width: u32, height: u32) -> Result<()> {
    ensure!(width >= 480 && height >= 320, "chart size {width}x{height} too small (at least 480x320)");
    let img = render(width, height, |root| {
        let (peak_at, peak) = p.peak();
        let title = format!(
            "{} tensors in {} buffers over {} dispatches; peak {} at dispatch {peak_at}",
            s.tensors.len(),
            p.buffers.len(),
            p.num_dispatches,
            human_bytes(peak)
        );
        let root = root.titled(&title, font(17.0)).map_err(plot_error)?;
        let (legend, rest) = root.split_vertically(28);
        draw_legend(&legend, s)?;
        let (bars, curve) = rest.split_vertically(rest.dim_in_pixel().1 * 2 / 3);
        draw_buffers(&bars, s, p)?;
        draw_live_bytes(&curve, p)?;
        Ok(())
    })?;
    super::save_png(&img, path)
}

/// A swatch and name for each role present, in one line.
fn draw_legend(area: &Area, s: &Schedule) -> Result<()> {
    let mut x = 70;
    for r in Role::ALL.into_iter().filter(|&r| s.tensors.iter().any(|t| t.role == r)) {
        area.draw(&Rectangle::new([(x, 8), (x + 14, 22)], role_color(r).filled())).map_err(plot_error)?;
        let label = Text::new(r.name(), (x + 19, 15), font(13.0).pos(Pos::new(HPos::Left, VPos::Center)));
        area.draw(&label).map_err(plot_error)?;
        x += 19 + area.estimate_text_size(r.name(), &font(13.0)).map_err(plot_error)?.0 as i32 + 16;
    }
    Ok(())
}

/// One row per buffer, top to bottom; its tensors are disjoint in time, so they sit side by side.
fn draw_buffers(area: &Area, s: &Schedule, p: &Plan) -> Result<()> {
    let nd = p.num_dispatches.max(1) as f64;
    let nb = p.buffers.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin_right(16)
        .margin_left(6)
        .x_label_area_size(0)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..nd, nb..0.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .y_desc("buffer")
        .y_labels(10.min(p.buffers.len()))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .draw()
        .map_err(plot_error)?;
    let bars = p.buffers.iter().enumerate().flat_map(|(b, buf)| {
        buf.tensors.iter().map(move |&t| {
            let (first, last) = p.lifetimes[t];
            let (y0, y1) = (b as f64 + 0.1, b as f64 + 0.9);
            Rectangle::new([(first as f64, y0), (last as f64 + 1.0, y1)], role_color(s.tensors[t].role).filled())
        })
    });
    chart.draw_series(bars).map_err(plot_error)?;
    Ok(())
}

/// Live bytes over the dispatches: all buffers (filled) and activations only (line), the peak as a vertical line.
fn draw_live_bytes(area: &Area, p: &Plan) -> Result<()> {
    let (live, act) = (p.live_bytes(), p.activation_live_bytes());
    let (peak_at, peak) = p.peak();
    let nd = p.num_dispatches.max(1) as f64;
    // In the largest binary unit the peak fills, so the ticks fall on round values of it.
    let (unit, unit_name) = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B")]
        .into_iter()
        .find(|&(u, _)| peak >= u)
        .unwrap_or((1, "B"));
    let unit = unit as f64;
    let top = (peak as f64 * 1.15 / unit).max(1.0);
    let mut chart = ChartBuilder::on(area)
        .margin_right(16)
        .margin_left(6)
        .margin_top(8)
        .x_label_area_size(36)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..nd, 0.0..top)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("dispatch")
        .y_desc(format!("live {unit_name}"))
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_error)?;
    // Steps: each dispatch's value held over [d, d + 1).
    let steps = |v: &[u64]| -> Vec<(f64, f64)> {
        let at = |b: u64| b as f64 / unit;
        v.iter().enumerate().flat_map(|(d, &b)| [(d as f64, at(b)), (d as f64 + 1.0, at(b))]).collect()
    };
    chart
        .draw_series(AreaSeries::new(steps(&live), 0.0, LIVE.mix(0.8)))
        .map_err(plot_error)?
        .label("live bytes, all buffers")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], LIVE.filled()));
    chart
        .draw_series(LineSeries::new(steps(&act), ACTIVATIONS.stroke_width(2)))
        .map_err(plot_error)?
        .label("activations only")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], ACTIVATIONS.stroke_width(2)));
    let px = peak_at as f64 + 0.5;
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(px, 0.0), (px, top)], PEAK.stroke_width(2))))
        .map_err(plot_error)?
        .label(format!("peak {}", human_bytes(peak)))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PEAK.stroke_width(2)));
    super::draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 12.0)?;
    Ok(())
}
