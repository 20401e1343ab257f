//! A 3×5 pixel font for labels on the PNG charts (the image crate draws no text).

use image::{Rgb, RgbImage};

/// Rows of 3 bits, top to bottom, for a character (letters are drawn upper case; unknown ones as blanks).
fn glyph(c: char) -> [u8; 5] {
    const DIGITS: [[u8; 5]; 10] = [
        [7, 5, 5, 5, 7],
        [2, 6, 2, 2, 7],
        [7, 1, 7, 4, 7],
        [7, 1, 7, 1, 7],
        [5, 5, 7, 1, 1],
        [7, 4, 7, 1, 7],
        [7, 4, 7, 5, 7],
        [7, 1, 1, 1, 1],
        [7, 5, 7, 5, 7],
        [7, 5, 7, 1, 7],
    ];
    const LETTERS: [[u8; 5]; 26] = [
        [2, 5, 7, 5, 5],
        [6, 5, 6, 5, 6],
        [3, 4, 4, 4, 3],
        [6, 5, 5, 5, 6],
        [7, 4, 6, 4, 7],
        [7, 4, 6, 4, 4],
        [3, 4, 5, 5, 3],
        [5, 5, 7, 5, 5],
        [7, 2, 2, 2, 7],
        [1, 1, 1, 5, 2],
        [5, 5, 6, 5, 5],
        [4, 4, 4, 4, 7],
        [5, 7, 7, 5, 5],
        [6, 5, 5, 5, 5],
        [2, 5, 5, 5, 2],
        [6, 5, 6, 4, 4],
        [2, 5, 5, 6, 3],
        [6, 5, 6, 5, 5],
        [3, 4, 2, 1, 6],
        [7, 2, 2, 2, 2],
        [5, 5, 5, 5, 7],
        [5, 5, 5, 5, 2],
        [5, 5, 7, 7, 5],
        [5, 5, 2, 5, 5],
        [5, 5, 2, 2, 2],
        [7, 1, 2, 4, 7],
    ];
    match c.to_ascii_uppercase() {
        d @ '0'..='9' => DIGITS[d as usize - '0' as usize],
        l @ 'A'..='Z' => LETTERS[l as usize - 'A' as usize],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        ':' => [0, 2, 0, 2, 0],
        '-' => [0, 0, 7, 0, 0],
        '=' => [0, 7, 0, 7, 0],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '/' => [1, 1, 2, 4, 4],
        '%' => [5, 1, 2, 4, 5],
        _ => [0; 5],
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * 4).saturating_sub(1) * scale
}

/// Draw `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` square; clipped to the image.
pub fn draw(img: &mut RgbImage, x: u32, y: u32, scale: u32, text: &str, color: Rgb<u8>) {
    for (k, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3u32 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) = (x + (k as u32 * 4 + col) * scale + dx, y + row as u32 * scale + dy);
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
    }
}
