//! What the ops' native (fast CPU) paths share: row-parallel loops and a vectorisable exp.
//!
//! Every parallel loop splits its output into chunks of whole rows whose size depends only on the row length,
//! and no value is reduced across chunks, so the bits never depend on the number of threads. In wasm (one
//! thread) the same loops run sequentially.

/// Elements per parallel task: large enough that scheduling costs little, small enough to balance two cores.
const GRAIN: usize = 16 * 1024;

fn rows_per_task(row: usize) -> usize {
    (GRAIN / row.max(1)).max(1)
}

/// `f(first_row, rows)` over chunks of whole rows of `out` (rows of `row` elements), in parallel.
pub fn for_rows(out: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.is_empty() || row == 0 {
        return;
    }
    let per = rows_per_task(row);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(per * row).enumerate().for_each(|(i, c)| simd(|| f(i * per, c)));
    }
    #[cfg(target_arch = "wasm32")]
    out.chunks_mut(per * row).enumerate().for_each(|(i, c)| simd(|| f(i * per, c)));
}

/// `for_rows` over two outputs that share rows: `a` has `ra` elements per row, `b` has `rb`.
pub fn for_rows2(
    a: &mut [f32],
    ra: usize,
    b: &mut [f32],
    rb: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    if a.is_empty() || ra == 0 || rb == 0 {
        return;
    }
    let per = rows_per_task(ra);
    let rows = a.len() / ra;
    let b = &mut b[..rows * rb];
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(per * ra)
            .zip(b.par_chunks_mut(per * rb))
            .enumerate()
            .for_each(|(i, (x, y))| simd(|| f(i * per, x, y)));
    }
    #[cfg(target_arch = "wasm32")]
    a.chunks_mut(per * ra).zip(b.chunks_mut(per * rb)).enumerate().for_each(|(i, (x, y))| simd(|| f(i * per, x, y)));
}

/// `f(first, a, b, c)` over matching chunks of three equally long outputs, in parallel.
pub fn for_elems3(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    f: impl Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync + Send,
) {
    let n = a.len();
    let (b, c) = (&mut b[..n], &mut c[..n]);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(GRAIN)
            .zip(b.par_chunks_mut(GRAIN))
            .zip(c.par_chunks_mut(GRAIN))
            .enumerate()
            .for_each(|(i, ((a, b), c))| simd(|| f(i * GRAIN, a, b, c)));
    }
    #[cfg(target_arch = "wasm32")]
    a.chunks_mut(GRAIN)
        .zip(b.chunks_mut(GRAIN))
        .zip(c.chunks_mut(GRAIN))
        .enumerate()
        .for_each(|(i, ((a, b), c))| simd(|| f(i * GRAIN, a, b, c)));
}

/// Run `f` compiled for AVX-512 (or AVX2) where the CPU has it: `f` is inlined into a function with those target
/// features, so its loops vectorise 16 (or 8) wide. Rust never fuses a multiply and an add, and LLVM keeps the
/// order of float sums, so the bits are the same whichever path runs.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma,bmi1,bmi2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the features were just detected.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// The threads the native loops run on (the current rayon pool; 1 in wasm).
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    1
}

/// e^x in f32 without branches or calls, so loops over it vectorise: x = k·ln 2 + r with |r| ≤ ln 2 / 2
/// (Cody–Waite), e^r by its degree-7 Taylor polynomial (truncation below 1e-8) in Estrin's form (a dependency
/// chain of 4 steps instead of Horner's 8, so independent lanes overlap), 2^k built in the exponent bits.
/// Within 2 ulp of e^x for x in [−87, 88]; inputs beyond are clamped (e^−87 ≈ 1.6e−38, e^88 ≈ 1.7e38).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + SHIFT;
    let k = t - SHIFT;
    let r = x - k * LN2_HI - k * LN2_LO;
    let (r2, a0, a1) = (r * r, 1.0 + r, 0.5 + r * (1.0 / 6.0));
    let (a2, a3) = (1.0 / 24.0 + r * (1.0 / 120.0), 1.0 / 720.0 + r * (1.0 / 5040.0));
    let p = (a0 + r2 * a1) + (r2 * r2) * (a2 + r2 * a3);
    let ki = t.to_bits() as i32 - SHIFT.to_bits() as i32;
    p * f32::from_bits(((ki + 127) as u32) << 23)
}

/// 1 / (1 + e^−x), vectorisable.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// a · b with eight partial sums in a fixed order (so it vectorises and gives the same bits every time).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// One operand of `gemm_into`: a slice, the offset of element (0, 0), and its row and column strides.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub at: usize,
    pub rs: usize,
    pub cs: usize,
}

/// C (m×n at `c_at` with row stride `ldc`) = alpha · A · B (+ C with `accumulate`), on this thread (callers run
/// these inside their own parallel tasks). Every index the strides reach is checked against the slices first.
#[allow(clippy::too_many_arguments)]
pub fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    c_at: usize,
    ldc: usize,
    accumulate: bool,
    a: View,
    b: View,
    alpha: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |v: &View, rows: usize, cols: usize| v.at + (rows - 1) * v.rs + (cols.max(1) - 1) * v.cs;
    assert!(c_at + (m - 1) * ldc + n <= c.len(), "gemm_into: C out of range");
    if k > 0 {
        assert!(
            last(&a, m, k) < a.data.len() && last(&b, k, n) < b.data.len(),
            "gemm_into: an operand is out of range"
        );
    }
    // SAFETY: every element the strides address was bounds-checked above; c is borrowed mutably, a and b shared,
    // so they cannot overlap.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().add(c_at),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr().add(a.at),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr().add(b.at),
            b.cs as isize,
            b.rs as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// y += s · x, vectorisable.
#[inline]
pub fn axpy(s: f32, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += s * v;
    }
}
