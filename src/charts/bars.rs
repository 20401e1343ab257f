//! Grouped bar charts of values in 0..1 (`trm-gpu ablate --png`).

use super::{font, plot_error, render};
use anyhow::{ensure, Result};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const COLORS: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44)];

/// One group of bars per name; `measures` are (legend label, one value in 0..1 per name). Each bar carries
/// its value above it.
pub fn draw(title: &str, y_label: &str, names: &[&str], measures: &[(&str, Vec<f64>)]) -> Result<RgbImage> {
    ensure!(!names.is_empty(), "a bar chart needs at least one group");
    ensure!(
        (1..=COLORS.len()).contains(&measures.len()) && measures.iter().all(|m| m.1.len() == names.len()),
        "a bar chart needs 1 to {} measures with one value per group",
        COLORS.len()
    );
    let width = (150 * names.len() as u32 + 140).max(520);
    render(width, 460, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(17.0))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..names.len() as f64, 0.0..1.1f64)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .label_style(font(14.0))
            .axis_desc_style(font(14.0))
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(215, 215, 215))
            .x_labels(0)
            .draw()
            .map_err(plot_error)?;
        let name_style = font(14.0).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, name) in names.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(name.to_string(), (x, y + 8), name_style.clone())).map_err(plot_error)?;
        }
        let slot = 0.8 / measures.len() as f64;
        let value_style = font(12.0).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (m, ((label, values), color)) in measures.iter().zip(COLORS).enumerate() {
            let x0 = |i: usize| i as f64 + 0.1 + slot * m as f64;
            let bars = values.iter().enumerate().map(|(i, &v)| {
                Rectangle::new([(x0(i) + 0.02, 0.0), (x0(i) + slot - 0.02, v.clamp(0.0, 1.0))], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_error)?
                .label(*label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
            let texts = values.iter().enumerate().map(|(i, &v)| {
                Text::new(format!("{v:.3}"), (x0(i) + slot / 2.0, v.clamp(0.0, 1.0) + 0.01), value_style.clone())
            });
            chart.draw_series(texts).map_err(plot_error)?;
        }
        super::draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 13.0)?;
        Ok(())
    })
}
