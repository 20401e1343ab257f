//! PNG chart of a plan: one row per buffer with its tensors as bars over dispatch index (coloured
//! by role), a role legend, and live bytes over time with the peak marked by a vertical line.

use std::path::Path;

use anyhow::ensure;
use image::{Rgb, RgbImage};

use super::font;
use crate::plan::{report::human_bytes, Plan, Role, Schedule};

const BG: Rgb<u8> = Rgb([255, 255, 255]);
const ROW_SHADE: Rgb<u8> = Rgb([240, 240, 244]);
const INK: Rgb<u8> = Rgb([40, 40, 40]);
const LIVE: Rgb<u8> = Rgb([150, 170, 200]);
const ACT_LIVE: Rgb<u8> = Rgb([30, 90, 170]);
const PEAK: Rgb<u8> = Rgb([230, 0, 120]);

pub fn role_color(r: Role) -> Rgb<u8> {
    Rgb(match r {
        Role::Parameter => [31, 119, 180],
        Role::Gradient => [255, 127, 14],
        Role::OptimizerState => [140, 86, 75],
        Role::Ema => [148, 103, 189],
        Role::Carry => [214, 39, 40],
        Role::Input => [127, 127, 127],
        Role::Output => [188, 189, 34],
        Role::Activation => [44, 160, 44],
        Role::Checkpoint => [188, 189, 34],
        Role::Scratch => [23, 190, 207],
    })
}

/// Fills [x0, x1) x [y0, y1), clipped to the image.
fn fill(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}

/// Draws `s` with its top-left at (x, y), each font pixel `k` x `k`; returns the x after it.
fn text(img: &mut RgbImage, x: i64, y: i64, k: i64, s: &str, c: Rgb<u8>) -> i64 {
    font::draw(img, x.max(0) as u32, y.max(0) as u32, k as u32, s, c);
    x + 4 * k * s.chars().count() as i64
}

/// Renders the chart to `path` (PNG, written atomically).
pub fn draw_png(s: &Schedule, p: &Plan, path: &Path, width: u32, height: u32) -> anyhow::Result<()> {
    ensure!(width >= 64 && height >= 64, "chart size {width}x{height} too small (min 64x64)");
    let mut img = RgbImage::from_pixel(width, height, BG);
    let (w, h) = (width as i64, height as i64);
    let k = if h >= 400 && w >= 600 { 2 } else { 1 }; // font / swatch scale
    let m = 4 * k; // margin
    let line = 7 * k; // legend line height

    // Legend: swatch + name for each role present, wrapping lines.
    let (mut lx, mut ly) = (m, m);
    for r in Role::ALL.into_iter().filter(|&r| s.tensors.iter().any(|t| t.role == r)) {
        let label_w = 4 * k * r.name().len() as i64;
        if lx + 7 * k + label_w > w - m && lx > m {
            lx = m;
            ly += line;
        }
        fill(&mut img, lx, ly, lx + 5 * k, ly + 5 * k, role_color(r));
        lx = text(&mut img, lx + 7 * k, ly, k, r.name(), INK) + 3 * k;
    }

    // Regions: bars on top, live-bytes curve below (a quarter of the height).
    let (x0, x1) = (m, w - m);
    let bars_top = ly + line + m;
    let curve_bottom = h - m;
    let curve_top = curve_bottom - (h / 4).max(8);
    let bars_bottom = curve_top - m;
    ensure!(bars_bottom > bars_top, "chart height {height} too small for the legend");

    let nd = p.num_dispatches.max(1) as i64;
    let xat = |d: usize| x0 + (d as i64) * (x1 - x0) / nd;
    let nb = p.buffers.len().max(1) as i64;
    let yat = |row: usize| bars_top + (row as i64) * (bars_bottom - bars_top) / nb;

    // One row per buffer; its tensors are disjoint in time, so they sit side by side.
    for (b, buf) in p.buffers.iter().enumerate() {
        let (ya, yb) = (yat(b), yat(b + 1).max(yat(b) + 1));
        if b % 2 == 1 && yb - ya >= 3 {
            fill(&mut img, x0, ya, x1, yb, ROW_SHADE);
        }
        let pad = if yb - ya >= 4 { 1 } else { 0 };
        for &t in &buf.tensors {
            let (a, z) = p.lifetimes[t];
            let (xa, xb) = (xat(a), xat(z + 1).max(xat(a) + 1));
            fill(&mut img, xa, ya + pad, xb, yb - pad, role_color(s.tensors[t].role));
            if xb - xa >= 3 {
                fill(&mut img, xa, ya + pad, xa + 1, yb - pad, INK); // tensor boundary
            }
        }
    }

    // Live bytes (all buffers, light) and activation-only live bytes (dark line), as steps.
    let live = p.live_bytes();
    let act = p.activation_live_bytes();
    let (peak_d, peak) = p.peak();
    let ch = curve_bottom - curve_top;
    let yof = |v: u64| curve_bottom - if peak == 0 { 0 } else { (v as f64 / peak as f64 * ch as f64).round() as i64 };
    for (d, (&v, &a)) in live.iter().zip(&act).enumerate() {
        let (xa, xb) = (xat(d), xat(d + 1).max(xat(d) + 1));
        fill(&mut img, xa, yof(v), xb, curve_bottom, LIVE);
        fill(&mut img, xa, yof(a), xb, yof(a) + 1, ACT_LIVE);
    }
    fill(&mut img, x0, curve_bottom, x1, curve_bottom + 1, INK);

    // Peak: vertical line through bars and curve at the peak dispatch's centre, with its size.
    let px = (xat(peak_d) + xat(peak_d + 1)) / 2;
    fill(&mut img, px, bars_top, px + k, curve_bottom, PEAK);
    let label = format!("peak {}", human_bytes(peak));
    let lw = 4 * k * label.len() as i64;
    let tx = if px + 2 * k + lw <= x1 { px + 2 * k } else { (px - 2 * k - lw).max(x0) };
    text(&mut img, tx, curve_top, k, &label, PEAK);

    super::save_png(&img, path)
}
