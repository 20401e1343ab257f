//! `solve --png`: the puzzle (left) and the model's answer (right). Givens are black, the model's digits blue,
//! and cells that conflict or change a given sit on red.

use super::{font, plot_error, render};
use crate::solve::StepView;
use anyhow::{ensure, Result};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn draw(puzzle: &[u8], v: &StepView) -> Result<RgbImage> {
    let n = (puzzle.len() as f64).sqrt() as usize;
    ensure!(n * n == puzzle.len() && v.grid.len() == puzzle.len(), "a square Sudoku grid");
    let box_side = if n == 4 { 2 } else { 3 };
    let cell = 40i32;
    let side = cell * n as i32;
    let (pad, header, footer) = (20i32, 32i32, 56i32);
    let width = 2 * side + 3 * pad;
    let height = header + side + footer;
    let verdict = if v.solved {
        "solved".to_string()
    } else {
        let empty = v.grid.iter().filter(|&&d| d == 0).count();
        format!(
            "not solved: {empty} empty, {} conflicting, {} changed givens",
            v.conflicts.len(),
            v.changed_givens.len()
        )
    };
    render(width as u32, height as u32, |root| {
        let digits = font(cell as f64 * 0.7).pos(Pos::new(HPos::Center, VPos::Center));
        for (panel, grid, caption) in
            [(0, puzzle, "puzzle".to_string()), (1, v.grid.as_slice(), format!("answer after step {}", v.step))]
        {
            let x0 = pad + panel * (side + pad);
            let y0 = header;
            let label = Text::new(caption, (x0, header / 2), font(15.0).pos(Pos::new(HPos::Left, VPos::Center)));
            root.draw(&label).map_err(plot_error)?;
            for (i, &d) in grid.iter().enumerate() {
                let (x, y) = (x0 + (i % n) as i32 * cell, y0 + (i / n) as i32 * cell);
                if panel == 1 && (v.conflicts.contains(&i) || v.changed_givens.contains(&i)) {
                    root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(255, 200, 200).filled()))
                        .map_err(plot_error)?;
                }
                if d > 0 {
                    let color = if puzzle[i] != 0 { BLACK } else { RGBColor(20, 60, 220) };
                    let text = Text::new(d.to_string(), (x + cell / 2, y + cell / 2), digits.color(&color));
                    root.draw(&text).map_err(plot_error)?;
                }
            }
            for k in 0..=n as i32 {
                let w = if (k as usize).is_multiple_of(box_side) { 3 } else { 1 };
                let at = k * cell;
                let style = BLACK.stroke_width(w);
                root.draw(&PathElement::new(vec![(x0 + at, y0), (x0 + at, y0 + side)], style)).map_err(plot_error)?;
                root.draw(&PathElement::new(vec![(x0, y0 + at), (x0 + side, y0 + at)], style)).map_err(plot_error)?;
            }
        }
        let style = font(13.0).pos(Pos::new(HPos::Left, VPos::Center));
        let halting = format!("halting confidence sigmoid(q_halt) = {:.3}", v.confidence);
        for (k, line) in [verdict, halting].into_iter().enumerate() {
            let y = header + side + 16 + 18 * k as i32;
            root.draw(&Text::new(line, (pad, y), style.clone())).map_err(plot_error)?;
        }
        Ok(())
    })
}
