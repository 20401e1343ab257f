//! Small ops (shaders/elementwise.wgsl): add, accumulate, scale, fill, transpose, sequence slices, carry reset,
//! bias add and column sums.

use super::{Real, WG};
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// One launch over `n` invocations; `p` holds the entry's parameters besides `n`.
fn run(gpu: &Gpu, entry: &'static str, p: Params, n: usize, t: &[(u32, &GpuTensor)]) -> Result<Launch> {
    gpu.launch(&crate::shader!("elementwise"), entry, &[], &p.u("n", n), t, gpu.grid(n, WG))
}

/// out = x + y
pub fn add(gpu: &Gpu, x: &GpuTensor, y: &GpuTensor, out: &GpuTensor) -> Result<Launch> {
    let n = out.len;
    run(gpu, "add", Params::new(), n, &[(1, x), (2, y), (3, out)])
}
/// out += s · x
pub fn accumulate(gpu: &Gpu, x: &GpuTensor, out: &GpuTensor, s: f32) -> Result<Launch> {
    let n = out.len;
    run(gpu, "accumulate", Params::new().f("s", s), n, &[(1, x), (3, out)])
}
/// out = s · x
pub fn scale(gpu: &Gpu, x: &GpuTensor, out: &GpuTensor, s: f32) -> Result<Launch> {
    let n = out.len;
    run(gpu, "scale", Params::new().f("s", s), n, &[(1, x), (3, out)])
}
/// out = s
pub fn fill(gpu: &Gpu, out: &GpuTensor, s: f32) -> Result<Launch> {
    let n = out.len;
    run(gpu, "fill", Params::new().f("s", s), n, &[(3, out)])
}
/// out (batch, cols, rows) = x (batch, rows, cols) transposed
pub fn transpose(gpu: &Gpu, x: &GpuTensor, out: &GpuTensor, batch: usize, rows: usize, cols: usize) -> Result<Launch> {
    let n = batch * rows * cols;
    run(gpu, "transpose", Params::new().u("rows", rows).u("cols", cols).u("batch", batch), n, &[(1, x), (3, out)])
}
fn seq_params(batch: usize, seq: usize, cols: usize, s0: usize, len: usize) -> Params {
    Params::new().u("batch", batch).u("seq", seq).u("cols", cols).u("s0", s0).u("len", len)
}
/// out (batch, len, cols) = x[:, s0..s0+len, :], x (batch, seq, cols)
pub fn slice_seq(
    gpu: &Gpu,
    x: &GpuTensor,
    out: &GpuTensor,
    batch: usize,
    seq: usize,
    cols: usize,
    s0: usize,
    len: usize,
) -> Result<Launch> {
    let n = batch * len * cols;
    run(gpu, "slice_seq", seq_params(batch, seq, cols, s0, len), n, &[(1, x), (3, out)])
}
/// out[:, s0..s0+len, :] += x: the gradient of `slice_seq`
pub fn unslice_seq(
    gpu: &Gpu,
    x: &GpuTensor,
    out: &GpuTensor,
    batch: usize,
    seq: usize,
    cols: usize,
    s0: usize,
    len: usize,
) -> Result<Launch> {
    let n = batch * len * cols;
    run(gpu, "unslice_seq", seq_params(batch, seq, cols, s0, len), n, &[(1, x), (3, out)])
}
/// Rows of out (batch, seq, cols) whose mask is non-zero become init (cols).
pub fn reset_carry(
    gpu: &Gpu,
    init: &GpuTensor,
    mask: &GpuTensor,
    out: &GpuTensor,
    seq: usize,
    cols: usize,
) -> Result<Launch> {
    let n = out.len;
    run(gpu, "reset_carry", Params::new().u("cols", cols).u("seq", seq), n, &[(1, init), (3, out), (4, mask)])
}
/// out (rows, cols) += bias (cols)
pub fn bias_add(gpu: &Gpu, bias: &GpuTensor, out: &GpuTensor, cols: usize) -> Result<Launch> {
    let n = out.len;
    run(gpu, "bias_add", Params::new().u("cols", cols), n, &[(1, bias), (3, out)])
}
/// out (cols) += Σ_rows x (rows, cols): the gradient of `bias_add`
pub fn col_sum(gpu: &Gpu, x: &GpuTensor, out: &GpuTensor, rows: usize, cols: usize) -> Result<Launch> {
    run(gpu, "col_sum", Params::new().u("rows", rows).u("cols", cols), cols, &[(1, x), (3, out)])
}

/// Native paths of the ops that move enough data to matter; the others run their f32 twins.
pub mod native {
    use crate::ops::native::for_rows;

    pub fn add(x: &[f32], y: &[f32], out: &mut [f32]) {
        for_rows(out, 1, |i, o| super::cpu::add(&x[i..][..o.len()], &y[i..][..o.len()], o));
    }
    pub fn accumulate(x: &[f32], out: &mut [f32], s: f32) {
        for_rows(out, 1, |i, o| crate::ops::native::axpy(s, &x[i..][..o.len()], o));
    }
    pub fn fill(out: &mut [f32], s: f32) {
        for_rows(out, 1, |_, o| o.fill(s));
    }
    /// One batch entry per task, in 8×8 blocks so that both sides stay in cache lines.
    pub fn transpose(x: &[f32], out: &mut [f32], batch: usize, rows: usize, cols: usize) {
        const B: usize = 8;
        let n = rows * cols;
        for_rows(&mut out[..batch * n], n, |b0, out| {
            for (z, o) in out.chunks_exact_mut(n).enumerate() {
                let x = &x[(b0 + z) * n..][..n];
                for r0 in (0..rows).step_by(B) {
                    for c0 in (0..cols).step_by(B) {
                        for c in c0..(c0 + B).min(cols) {
                            for r in r0..(r0 + B).min(rows) {
                                o[c * rows + r] = x[r * cols + c];
                            }
                        }
                    }
                }
            }
        });
    }
}

/// CPU twins.
pub mod cpu {
    use super::Real;

    pub fn add<F: Real>(x: &[F], y: &[F], out: &mut [F]) {
        for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
            *o = a + b;
        }
    }
    pub fn accumulate<F: Real>(x: &[F], out: &mut [F], s: F) {
        for (o, &a) in out.iter_mut().zip(x) {
            *o += s * a;
        }
    }
    pub fn transpose<F: Real>(x: &[F], out: &mut [F], batch: usize, rows: usize, cols: usize) {
        for b in 0..batch {
            for r in 0..rows {
                for c in 0..cols {
                    out[(b * cols + c) * rows + r] = x[(b * rows + r) * cols + c];
                }
            }
        }
    }
    pub fn slice_seq<F: Real>(x: &[F], out: &mut [F], batch: usize, seq: usize, cols: usize, s0: usize, len: usize) {
        for b in 0..batch {
            let src = &x[(b * seq + s0) * cols..(b * seq + s0 + len) * cols];
            out[b * len * cols..(b + 1) * len * cols].copy_from_slice(src);
        }
    }
    pub fn unslice_seq<F: Real>(x: &[F], out: &mut [F], batch: usize, seq: usize, cols: usize, s0: usize, len: usize) {
        for b in 0..batch {
            for i in 0..len * cols {
                out[(b * seq + s0) * cols + i] += x[b * len * cols + i];
            }
        }
    }
    pub fn reset_carry<F: Real>(init: &[F], mask: &[i32], out: &mut [F], seq: usize, cols: usize) {
        for (b, &m) in mask.iter().enumerate() {
            if m != 0 {
                for s in 0..seq {
                    out[(b * seq + s) * cols..(b * seq + s + 1) * cols].copy_from_slice(init);
                }
            }
        }
    }
    pub fn bias_add<F: Real>(bias: &[F], out: &mut [F], cols: usize) {
        for (i, o) in out.iter_mut().enumerate() {
            *o += bias[i % cols];
        }
    }
    pub fn col_sum<F: Real>(x: &[F], out: &mut [F], rows: usize, cols: usize) {
        for c in 0..cols {
            let mut acc = F::zero();
            for r in 0..rows {
                acc += x[r * cols + c];
            }
            out[c] += acc;
        }
    }
}
