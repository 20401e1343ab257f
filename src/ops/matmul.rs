//! Batched matmul with optional transposes (shaders/matmul.wgsl).

use super::Real;
use crate::gpu::{Gpu, GpuTensor, Launch, Params};
use anyhow::Result;

/// C[z] = alpha · op(A[z]) · op(B[z]) (+ C[z]), z < batch. op(A) is m×k, op(B) is k×n, C is m×n, row-major.
/// A stride of 0 shares that operand across the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub alpha: f32,
    pub stride_a: usize,
    pub stride_b: usize,
    pub stride_c: usize,
}

const TM: usize = 16;
const TN: usize = 8;

impl Matmul {
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Matmul {
            m,
            n,
            k,
            batch: 1,
            trans_a: false,
            trans_b: false,
            accumulate: false,
            alpha: 1.0,
            stride_a: m * k,
            stride_b: k * n,
            stride_c: m * n,
        }
    }
    /// Linear layer forward: Y (rows×out) = X (rows×in) · Wᵀ, W shaped (out, in).
    pub fn linear(rows: usize, inp: usize, out: usize) -> Self {
        Matmul { trans_b: true, ..Self::new(rows, out, inp) }
    }
    /// Its input gradient: dX (rows×in) = dY (rows×out) · W.
    pub fn linear_dx(rows: usize, inp: usize, out: usize) -> Self {
        Self::new(rows, inp, out)
    }
    /// Its weight gradient, accumulated: dW (out×in) += dYᵀ · X.
    pub fn linear_dw(rows: usize, inp: usize, out: usize) -> Self {
        Matmul { trans_a: true, accumulate: true, ..Self::new(out, inp, rows) }
    }
    pub fn batched(self, batch: usize) -> Self {
        Matmul { batch, ..self }
    }
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k * self.batch) as u64
    }

    /// Elements that A, B and C must hold.
    pub fn lens(&self) -> [usize; 3] {
        let last = self.batch.saturating_sub(1);
        [
            last * self.stride_a + self.m * self.k,
            last * self.stride_b + self.k * self.n,
            last * self.stride_c + self.m * self.n,
        ]
    }

    pub fn launch(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor, c: &GpuTensor) -> Result<Launch> {
        for (t, need) in [a, b, c].into_iter().zip(self.lens()) {
            anyhow::ensure!(
                t.len >= need,
                "matmul {}x{}x{}: tensor {} holds {} elements, {need} needed",
                self.m,
                self.k,
                self.n,
                t.name,
                t.len
            );
        }
        anyhow::ensure!(
            self.k / 4 + 400 < gpu.loop_budget(), // the k loop, plus the stores' loops
            "matmul depth {} exceeds what this adapter runs in one invocation; use a smaller batch",
            self.k
        );
        if self.fits_lanes8() && gpu.has_lanes8() {
            return self.launch_lanes8(gpu, a, b, c);
        }
        let params = self.params();
        // Up to 64 invocations per workgroup (at least one SIMD width of 8), shaped to the output so that small
        // outputs do not compute clamped duplicates.
        // Small outputs are split into at least 8 workgroups where possible, so every core gets work.
        let wx = self.n.div_ceil(TN).next_power_of_two().clamp(1, 8);
        let mut wy = self.m.div_ceil(TM).next_power_of_two().clamp(8usize.div_ceil(wx), 64 / wx);
        let groups = |wy: usize| self.n.div_ceil(TN * wx) * self.m.div_ceil(TM * wy) * self.batch;
        while groups(wy) < 8 && wx * wy > 8 {
            wy /= 2;
        }
        let grid = [self.n.div_ceil(TN * wx) as u32, self.m.div_ceil(TM * wy) as u32, self.batch as u32];
        // Whole vec4 loads need 16-byte-aligned rows and batch strides.
        let a_ok = self.stride_a.is_multiple_of(4)
            && if self.trans_a { self.m.is_multiple_of(4) } else { self.k.is_multiple_of(4) };
        let b_ok = self.stride_b.is_multiple_of(4)
            && if self.trans_b { self.k.is_multiple_of(4) } else { self.n.is_multiple_of(4) && self.n >= 4 };
        let consts = [
            ("TRANS_A", self.trans_a as u32),
            ("TRANS_B", self.trans_b as u32),
            ("VEC4", (a_ok && b_ok) as u32),
            ("WX", wx as u32),
            ("WY", wy as u32),
        ];
        gpu.launch(
            &crate::shader!("matmul", trusted),
            "main",
            &consts,
            &params,
            &[(1, a), (2, b), (3, c), (4, a), (5, b)],
            grid,
        )
    }

    fn params(&self) -> Params {
        Params::new()
            .u("m", self.m)
            .u("n", self.n)
            .u("k", self.k)
            .u("accumulate", self.accumulate as usize)
            .u("stride_a", self.stride_a)
            .u("stride_b", self.stride_b)
            .u("stride_c", self.stride_c)
            .f("alpha", self.alpha)
    }

    /// Whether matmul_lanes8.wgsl takes this shape: every dimension and batch stride a multiple of 4.
    fn fits_lanes8(&self) -> bool {
        [self.m, self.n, self.k, self.stride_a, self.stride_b, self.stride_c].iter().all(|d| d.is_multiple_of(4))
            && self.m >= 4
            && self.n >= 4
    }

    /// The kernel for 8-lane subgroups: 64×128 tiles of C, one 8-lane workgroup each.
    fn launch_lanes8(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor, c: &GpuTensor) -> Result<Launch> {
        let grid = [self.n.div_ceil(128) as u32, self.m.div_ceil(64) as u32, self.batch as u32];
        let consts = [("TRANS_A", self.trans_a as u32), ("TRANS_B", self.trans_b as u32)];
        gpu.launch(
            &crate::shader!("matmul_lanes8", trusted),
            "main",
            &consts,
            &self.params(),
            &[(1, a), (2, b), (3, c)],
            grid,
        )
    }

    /// The native path: every batch entry through `gemm` (threads split the output, never k, so the bits do
    /// not depend on the thread count). Operand lengths are checked as for the GPU.
    pub fn native(&self, a: &[f32], b: &[f32], c: &mut [f32]) {
        for (len, need) in [a.len(), b.len(), c.len()].into_iter().zip(self.lens()) {
            assert!(
                len >= need,
                "matmul {}x{}x{}: an operand holds {len} elements, {need} needed",
                self.m,
                self.k,
                self.n
            );
        }
        let (m, n, k) = (self.m, self.n, self.k);
        if m == 0 || n == 0 {
            return;
        }
        // Row-major C; A is (m, k) or, transposed, (k, m); B is (k, n) or, transposed, (n, k).
        let (a_rs, a_cs) = if self.trans_a { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if self.trans_b { (1, k as isize) } else { (n as isize, 1) };
        let threads = super::native::threads();
        let parallelism = if threads > 1 && m * n * k >= 1 << 18 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        for z in 0..self.batch {
            let (a, b) = (&a[z * self.stride_a..], &b[z * self.stride_b..]);
            let c = &mut c[z * self.stride_c..][..m * n];
            // SAFETY: the strides above address only the first m·k, k·n and m·n elements of a, b and c, whose
            // lengths were checked, and c does not overlap a or b (distinct slices).
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    self.accumulate,
                    a.as_ptr(),
                    a_cs,
                    a_rs,
                    b.as_ptr(),
                    b_cs,
                    b_rs,
                    1.0,
                    self.alpha,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        }
    }

    /// The CPU twin.
    pub fn cpu<F: Real>(&self, a: &[F], b: &[F], c: &mut [F]) {
        let (m, n, k) = (self.m, self.n, self.k);
        let alpha = F::from_f64(self.alpha as f64);
        for z in 0..self.batch {
            let (a, b) = (&a[z * self.stride_a..], &b[z * self.stride_b..]);
            let c = &mut c[z * self.stride_c..];
            for i in 0..m {
                for j in 0..n {
                    let mut acc = F::zero();
                    for kk in 0..k {
                        let av = if self.trans_a { a[kk * m + i] } else { a[i * k + kk] };
                        let bv = if self.trans_b { b[j * k + kk] } else { b[kk * n + j] };
                        acc += av * bv;
                    }
                    let v = alpha * acc;
                    c[i * n + j] = if self.accumulate { c[i * n + j] + v } else { v };
                }
            }
        }
    }
}
