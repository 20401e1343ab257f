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

// matmul.wgsl's tile of C per invocation.
const TM: usize = 16;
const TN: usize = 8;
/// The most memory split-K partials take (in the GPU's one shared workspace).
pub const SPLIT_K_BYTES: usize = 64 << 20;

/// Which shader computes a matmul.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// matmul.wgsl: register tiles, no workgroup memory (CPU adapters).
    Register,
    /// matmul_lanes8.wgsl: 8-lane subgroup tiles (llvmpipe).
    Lanes8,
    /// matmul_tiled.wgsl: workgroup-memory tiles (GPUs).
    Tiled(Tiles),
}

/// A tile shape of matmul_tiled.wgsl: wx×wy invocations, each tm×tn outputs; k slices of bk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tiles {
    pub wx: u32,
    pub wy: u32,
    pub tm: u32,
    pub tn: u32,
    pub bk: u32,
}

impl Tiles {
    /// What the autotune tries: 64×64 tiles of 256 or 128 invocations, 128×128 for large outputs, 32×32 for
    /// small ones. Each stages at most 1024 floats of A and of B.
    pub const CANDIDATES: [Tiles; 4] = [
        Tiles { wx: 16, wy: 16, tm: 4, tn: 4, bk: 16 },
        Tiles { wx: 16, wy: 8, tm: 8, tn: 4, bk: 16 },
        Tiles { wx: 16, wy: 16, tm: 8, tn: 8, bk: 8 },
        Tiles { wx: 8, wy: 8, tm: 4, tn: 4, bk: 16 },
    ];
    pub fn bm(&self) -> usize {
        (self.wy * self.tm) as usize
    }
    pub fn bn(&self) -> usize {
        (self.wx * self.tn) as usize
    }
    /// Within the shader's arrays (TILE floats per operand, 8 registers per row and column) and the adapter's
    /// invocation and workgroup-memory limits.
    pub fn fits(&self, gpu: &Gpu) -> bool {
        let l = &gpu.limits;
        let tile = 1024;
        self.tm <= 8
            && self.tn <= 8
            && self.bm() * self.bk as usize <= tile
            && self.bk as usize * self.bn() <= tile
            && self.wx * self.wy <= l.max_compute_invocations_per_workgroup
            && self.wx <= l.max_compute_workgroup_size_x
            && self.wy <= l.max_compute_workgroup_size_y
            && 2 * tile as u32 * 4 <= l.max_compute_workgroup_storage_size
    }
    /// Loop iterations one invocation runs for `depth` steps of k (llvmpipe caps them).
    fn loop_iterations(&self, depth: usize) -> usize {
        let (tm, tn, bk) = (self.tm as usize, self.tn as usize, self.bk as usize);
        let threads = (self.wx * self.wy) as usize;
        let per_slice =
            (self.bm() * bk).div_ceil(threads) + (bk * self.bn()).div_ceil(threads) + bk * (1 + 2 * tm + tn);
        depth.div_ceil(bk) * per_slice + 3 * tm * tn
    }
}

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

    /// The kernel this adapter runs for this shape: matmul_lanes8 on 8-lane CPU adapters (llvmpipe), the
    /// register-tiled matmul.wgsl on other CPU adapters (SwiftShader), and on GPUs matmul_tiled.wgsl with the
    /// tile shape that timed fastest here for this shape (one autotune per adapter and shape; every tile
    /// shape gives the same bits, so the choice never changes results).
    pub fn kernel(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor) -> Result<Kernel> {
        if self.fits_lanes8() && gpu.has_lanes8() {
            return Ok(Kernel::Lanes8);
        }
        if gpu.cpu_kernels {
            return Ok(Kernel::Register);
        }
        Ok(Kernel::Tiled(self.autotune(gpu, a, b)?))
    }

    /// The launches computing C (one, or two for split-K) with the kernel this adapter runs.
    pub fn launch(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor, c: &GpuTensor) -> Result<Vec<Launch>> {
        let kernel = self.kernel(gpu, a, b)?;
        self.launch_with(gpu, kernel, a, b, c)
    }

    /// The launches computing C with a given kernel.
    pub fn launch_with(
        &self,
        gpu: &Gpu,
        kernel: Kernel,
        a: &GpuTensor,
        b: &GpuTensor,
        c: &GpuTensor,
    ) -> Result<Vec<Launch>> {
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
        let loops = match kernel {
            Kernel::Tiled(t) => t.loop_iterations(self.k.div_ceil(self.splits())),
            _ => self.k / 4 + 400, // the k loop, plus the stores' loops
        };
        anyhow::ensure!(
            loops < gpu.loop_budget(),
            "matmul depth {} exceeds what this adapter runs in one invocation; use a smaller batch",
            self.k
        );
        match kernel {
            Kernel::Lanes8 => {
                anyhow::ensure!(self.fits_lanes8(), "matmul_lanes8 needs every dimension a multiple of 4: {self:?}");
                Ok(vec![self.launch_lanes8(gpu, a, b, c)?])
            }
            Kernel::Register => Ok(vec![self.launch_register(gpu, a, b, c)?]),
            Kernel::Tiled(t) => self.launch_tiled(gpu, t, a, b, c),
        }
    }

    fn launch_register(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor, c: &GpuTensor) -> Result<Launch> {
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

    /// How many slices k is split into for the tiled kernel, from the shape alone (so the bits do not depend
    /// on the adapter or on timing): when the output gives fewer than 128 tiles of 64×64, enough splits for
    /// about 256 workgroups, each at least 512 deep, with the partials within `SPLIT_K_BYTES`.
    pub fn splits(&self) -> usize {
        let tiles = self.m.div_ceil(64) * self.n.div_ceil(64) * self.batch;
        if tiles >= 128 || tiles == 0 {
            return 1;
        }
        let by_memory = SPLIT_K_BYTES / (4 * self.batch * self.m * self.n);
        let splits = 256usize.div_ceil(tiles).min(self.k / 512).min(by_memory).max(1);
        // Whole chunks of 16, with no empty split.
        let chunk = self.k.div_ceil(splits).next_multiple_of(16);
        self.k.div_ceil(chunk).max(1)
    }

    fn launch_tiled(&self, gpu: &Gpu, t: Tiles, a: &GpuTensor, b: &GpuTensor, c: &GpuTensor) -> Result<Vec<Launch>> {
        anyhow::ensure!(t.fits(gpu), "matmul tiles {t:?} do not fit this adapter's limits");
        let splits = self.splits();
        let chunk = if splits > 1 { self.k.div_ceil(splits).next_multiple_of(16) } else { self.k };
        let params = self.params().u("batch", self.batch).u("splits", splits).u("chunk", chunk);
        let consts = [
            ("TRANS_A", self.trans_a as u32),
            ("TRANS_B", self.trans_b as u32),
            ("WX", t.wx),
            ("WY", t.wy),
            ("TM", t.tm),
            ("TN", t.tn),
            ("BK", t.bk),
        ];
        let grid = [self.n.div_ceil(t.bn()) as u32, self.m.div_ceil(t.bm()) as u32, (self.batch * splits) as u32];
        let shader = crate::shader!("matmul_tiled", trusted);
        if splits == 1 {
            return Ok(vec![gpu.launch(&shader, "main", &consts, &params, &[(1, a), (2, b), (3, c)], grid)?]);
        }
        let partial = gpu.workspace(splits * self.batch * self.m * self.n)?;
        let outputs = self.batch * self.m * self.n;
        Ok(vec![
            gpu.launch(&shader, "split_k", &consts, &params, &[(1, a), (2, b), (4, &partial)], grid)?,
            gpu.launch(
                &shader,
                "reduce",
                &[("REDUCE_WG", 256)],
                &params,
                &[(3, c), (4, &partial)],
                gpu.grid(outputs, 256),
            )?,
        ])
    }

    /// The fastest of `Tiles::CANDIDATES` that fit this adapter, timed on this shape with the real operands
    /// (and a scratch C) the first time, then cached for the adapter. Native only; the browser takes the first.
    pub fn autotune(&self, gpu: &Gpu, a: &GpuTensor, b: &GpuTensor) -> Result<Tiles> {
        let fitting: Vec<usize> = (0..Tiles::CANDIDATES.len()).filter(|&i| Tiles::CANDIDATES[i].fits(gpu)).collect();
        anyhow::ensure!(!fitting.is_empty(), "no matmul tile shape fits this adapter's limits");
        let best = gpu.tuned(self.tune_key(), || {
            #[cfg(target_arch = "wasm32")]
            {
                let _ = (a, b); // no timer for a blocking autotune in the browser
                Ok(fitting[0])
            }
            #[cfg(not(target_arch = "wasm32"))]
            {
                let c = gpu.zeros("autotune C", self.lens()[2])?;
                let mut times = Vec::new();
                for &i in &fitting {
                    let launches = self.launch_with(gpu, Kernel::Tiled(Tiles::CANDIDATES[i]), a, b, &c)?;
                    let launches: Vec<&Launch> = launches.iter().collect();
                    gpu.time(&launches); // compiles and warms up
                    times.push((0..3).map(|_| gpu.time(&launches)).fold(f64::INFINITY, f64::min));
                }
                let fastest = (0..times.len()).min_by(|&i, &j| times[i].total_cmp(&times[j])).unwrap_or(0);
                Ok(fitting[fastest])
            }
        })?;
        Ok(Tiles::CANDIDATES[best])
    }

    /// The autotune's cache key: the whole shape.
    pub fn tune_key(&self) -> String {
        format!("matmul_tiled {self:?}")
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
