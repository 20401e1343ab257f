//! The 8 dihedral symmetries of a row-major `h x w` grid, numbered as the official builders number them:
//! 0 identity, 1 rot90 (counter-clockwise), 2 rot180, 3 rot270, 4 flip left-right, 5 flip up-down,
//! 6 transpose, 7 anti-transpose.

/// `DIHEDRAL_INVERSE[t]` undoes transform `t`.
pub const DIHEDRAL_INVERSE: [u8; 8] = [0, 3, 2, 1, 4, 5, 6, 7];

/// Where cell `(r, c)` of an `h x w` grid lands under transform `t`.
fn dest(t: u8, r: usize, c: usize, h: usize, w: usize) -> (usize, usize) {
    match t {
        0 => (r, c),
        1 => (w - 1 - c, r),
        2 => (h - 1 - r, w - 1 - c),
        3 => (c, h - 1 - r),
        4 => (r, w - 1 - c),
        5 => (h - 1 - r, c),
        6 => (c, r),
        7 => (w - 1 - c, h - 1 - r),
        _ => panic!("dihedral transform {t} out of range 0..8"),
    }
}

/// Shape `(h, w)` after transform `t`.
pub fn dihedral_shape(t: u8, h: usize, w: usize) -> (usize, usize) {
    if matches!(t, 1 | 3 | 6 | 7) {
        (w, h)
    } else {
        (h, w)
    }
}

/// Applies transform `t` to a row-major `h x w` grid; returns the new grid (shape from [`dihedral_shape`]).
pub fn dihedral<T: Copy + Default>(grid: &[T], h: usize, w: usize, t: u8) -> Vec<T> {
    assert_eq!(grid.len(), h * w, "grid is not {h}x{w}");
    let (_, w2) = dihedral_shape(t, h, w);
    let mut out = vec![T::default(); grid.len()];
    for r in 0..h {
        for c in 0..w {
            let (r2, c2) = dest(t, r, c, h, w);
            out[r2 * w2 + c2] = grid[r * w + c];
        }
    }
    out
}
