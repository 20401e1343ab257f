//! Loss and accuracy curves from a run's metrics.jsonl, drawn with the image crate.

use super::font;
use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

const W: f64 = 440.0;
const H: f64 = 350.0;

/// Draw `pts` as a polyline in the panel at (x0, y0), x scaled by `xmax` and y by `ymax`.
fn polyline(img: &mut RgbImage, pts: &[(f64, f64)], color: [u8; 3], x0: f64, xmax: f64, ymax: f64) {
    let to = |(x, y): (f64, f64)| (x0 + x / xmax * W, 20.0 + H - (y / ymax).clamp(0.0, 1.0) * H);
    for pair in pts.windows(2) {
        let (a, b) = (to(pair[0]), to(pair[1]));
        let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) as usize).max(1);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
            if (x as u32) < img.width() && (y as u32) < img.height() {
                img.put_pixel(x as u32, y as u32, Rgb(color));
            }
        }
    }
}

/// Left panel: training loss (red, scaled to its maximum). Right panel on 0..1: token accuracy (blue), exact
/// accuracy of halted training samples (green), held-out exact accuracy (black). Writes RUN/curves.png.
pub fn plot_run(run: &Path) -> Result<PathBuf> {
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let keys = ["loss", "token_accuracy", "exact_accuracy", "eval_exact_accuracy"];
    let mut series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); keys.len()];
    for (i, l) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(l).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let step = v["step"].as_f64().unwrap_or(0.0);
        for (k, s) in keys.iter().zip(&mut series) {
            if let Some(x) = v[*k].as_f64().filter(|x| x.is_finite()) {
                s.push((step, x));
            }
        }
    }
    let xmax = series.iter().flatten().fold(1.0f64, |a, &(x, _)| a.max(x));
    let mut img = RgbImage::from_pixel(1000, 400, Rgb([255, 255, 255]));
    for x0 in [40u32, 540] {
        for x in x0..x0 + W as u32 {
            img.put_pixel(x, 20 + H as u32, Rgb([0, 0, 0]));
        }
        for y in 20..20 + H as u32 {
            img.put_pixel(x0, y, Rgb([0, 0, 0]));
        }
    }
    let lmax = series[0].iter().fold(1e-9f64, |a, &(_, y)| a.max(y));
    polyline(&mut img, &series[0], [220, 30, 30], 40.0, xmax, lmax);
    for (s, c) in series[1..].iter().zip([[30, 30, 220], [30, 160, 30], [0, 0, 0]]) {
        polyline(&mut img, s, c, 540.0, xmax, 1.0);
    }
    let black = Rgb([0, 0, 0]);
    font::draw(&mut img, 40, 4, 2, &format!("loss (top = {lmax:.3})"), Rgb([220, 30, 30]));
    let mut x = 540;
    for (label, c) in [("token", [30, 30, 220]), ("exact (train)", [30, 160, 30]), ("held-out exact", [0, 0, 0])] {
        font::draw(&mut img, x, 4, 2, label, Rgb(c));
        x += font::width(label, 2) + 20;
    }
    for x0 in [40u32, 540] {
        font::draw(&mut img, x0, 26 + H as u32, 2, "0", black);
        let end = format!("step {xmax:.0}");
        font::draw(&mut img, x0 + W as u32 - font::width(&end, 2), 26 + H as u32, 2, &end, black);
    }
    let out = run.join("curves.png");
    super::save_png(&img, &out)?;
    Ok(out)
}
