//! A bar chart of values in 0..1 (`trm-gpu ablate --png`).

use super::font;
use image::{Rgb, RgbImage};

/// One bar per (name, value in 0..1), its value above and its name below.
pub fn draw(title: &str, bars: &[(&str, f64)]) -> RgbImage {
    let (slot, top, bar_h) = (120u32, 50u32, 200u32);
    let black = Rgb([0, 0, 0]);
    let mut img = RgbImage::from_pixel(
        (slot * bars.len() as u32 + 20).max(font::width(title, 2) + 20),
        top + bar_h + 40,
        Rgb([255, 255, 255]),
    );
    font::draw(&mut img, 10, 10, 2, title, black);
    for (i, &(name, value)) in bars.iter().enumerate() {
        let x0 = 10 + slot * i as u32;
        let h = (value.clamp(0.0, 1.0) * bar_h as f64).round() as u32;
        for x in x0 + 20..x0 + slot - 20 {
            for y in 0..h {
                img.put_pixel(x, top + bar_h - 1 - y, Rgb([40, 90, 200]));
            }
        }
        let value = format!("{:.3}", value);
        font::draw(&mut img, x0 + (slot - font::width(&value, 2)) / 2, top + bar_h - h - 14, 2, &value, black);
        font::draw(&mut img, x0 + (slot.saturating_sub(font::width(name, 2))) / 2, top + bar_h + 10, 2, name, black);
    }
    for x in 0..img.width() {
        img.put_pixel(x, top + bar_h, black);
    }
    img
}
