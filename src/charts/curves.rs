//! A run's loss and accuracy curves from its metrics.jsonl: RUN/curves.png.

use super::{font, plot_error, render, Area};
use anyhow::{Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One line of a panel: its metrics.jsonl key, legend label and colour.
struct Series {
    key: &'static str,
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn series(key: &'static str, label: &'static str, color: RGBColor) -> Series {
    Series { key, label, color, points: Vec::new() }
}

/// Left: the training loss (total and LM), on a log scale when it spans a decade or more. Right, on 0..1:
/// training token accuracy and exact accuracy of the slots that halted, against held-out token and exact
/// accuracy. Writes RUN/curves.png.
pub fn plot_run(run: &Path) -> Result<PathBuf> {
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let mut loss =
        [series("loss", "loss (train)", RGBColor(214, 39, 40)), series("lm_loss", "LM loss (train)", orange)];
    let mut acc = [
        series("token_accuracy", "token (train)", blue),
        series("exact_accuracy", "exact (train, halted)", RGBColor(44, 160, 44)),
        series("eval_token_accuracy", "token (held-out)", RGBColor(148, 103, 189)),
        series("eval_exact_accuracy", "exact (held-out)", BLACK),
    ];
    for (i, l) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(l).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let step = v["step"].as_f64().with_context(|| format!("{}:{}: no step", path.display(), i + 1))?;
        for s in loss.iter_mut().chain(acc.iter_mut()) {
            if let Some(x) = v[s.key].as_f64().filter(|x| x.is_finite()) {
                s.points.push((step, x));
            }
        }
    }
    let steps = loss.iter().chain(&acc).flat_map(|s| &s.points).fold(1.0f64, |a, &(x, _)| a.max(x));
    let title = run.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let img = render(1200, 450, |root| {
        root.titled(&format!("run {title}"), font(20.0)).map_err(plot_error)?;
        let (left, right) = root.margin(28, 0, 0, 0).split_horizontally(600);
        loss_panel(&left, &loss, steps)?;
        panel(&right, "accuracy", &acc, steps, 0.0..1.0, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })?;
    let out = run.join("curves.png");
    super::save_png(&img, &out)?;
    Ok(out)
}

/// The loss panel: log-scaled when the largest loss is 10× the smallest or more.
fn loss_panel(area: &Area, lines: &[Series], steps: f64) -> Result<()> {
    let ys = lines.iter().flat_map(|s| &s.points).map(|p| p.1).filter(|&y| y > 0.0);
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if hi > 0.0 && hi >= 10.0 * lo {
        panel(area, "loss (log scale)", lines, steps, (lo * 0.8..hi * 1.25).log_scale(), UPPER)
    } else {
        panel(area, "loss", lines, steps, 0.0..(hi * 1.1).max(1e-6), UPPER)
    }
}

const UPPER: SeriesLabelPosition = SeriesLabelPosition::UpperRight;

fn panel<Y>(area: &Area, caption: &str, lines: &[Series], steps: f64, y: Y, legend: SeriesLabelPosition) -> Result<()>
where
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(17.0))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..steps, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .label_style(font(13.0))
        .axis_desc_style(font(14.0))
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(plot_error)?;
    for s in lines.iter().filter(|s| !s.points.is_empty()) {
        let color = s.color;
        let style = color.stroke_width(2);
        // Held-out points are few (one per evaluation): marked, so each one can be read off.
        if s.key.starts_with("eval_") || s.points.len() == 1 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(plot_error)?;
        }
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(plot_error)?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    super::draw_legend(&mut chart, legend, 13.0)?;
    Ok(())
}
