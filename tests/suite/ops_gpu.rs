//! Every GPU kernel, forward and backward, against its CPU twin on odd shapes (1, 7, 81, 97 and 900 tokens;
//! hidden sizes 8, 64 and 96), to |gpu − cpu| ≤ 1e-4 + 1e-4·|cpu| in f32; and gradient kernels are bitwise
//! deterministic across runs.

use crate::common::*;
use trm_gpu::gpu::GpuTensor;
use trm_gpu::ops::*;
use trm_gpu::rng::SplitMix64;

const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-4;
const TOKENS: [usize; 5] = [1, 7, 81, 97, 900];
const HIDDEN: [usize; 3] = [8, 64, 96];

fn up(name: &str, data: &[f32]) -> GpuTensor {
    gpu().upload(name, data).unwrap()
}
fn up_i(name: &str, data: &[i32]) -> GpuTensor {
    gpu().upload(name, data).unwrap()
}
fn read(t: &GpuTensor) -> Vec<f32> {
    gpu().read(t)
}
fn run(launches: &[trm_gpu::gpu::Launch]) {
    gpu().run(&launches.iter().collect::<Vec<_>>());
}

/// The three uses of a linear layer (Y = X·Wᵀ, dX = dY·W, dW += dYᵀ·X) against the CPU twin; `kernel`, when
/// given, is the shader each launch must use.
fn check_linear(rng: &mut SplitMix64, rows: usize, d: usize, out: usize, kernel: Option<&str>) {
    let (x, w, dy) = (randn(rng, rows * d, 1.0), randn(rng, out * d, 0.2), randn(rng, rows * out, 1.0));
    let seed_dw = randn(rng, out * d, 1.0);
    let (gx, gw, gdy) = (up("x", &x), up("w", &w), up("dy", &dy));
    let (gy, gdx, gdw) =
        (gpu().zeros("y", rows * out).unwrap(), gpu().zeros("dx", rows * d).unwrap(), up("dw", &seed_dw));
    for (name, mm, a, b, c, ca, cb) in [
        ("linear", matmul::Matmul::linear(rows, d, out), &gx, &gw, &gy, &x, &w),
        ("linear_dx", matmul::Matmul::linear_dx(rows, d, out), &gdy, &gw, &gdx, &dy, &w),
        ("linear_dw", matmul::Matmul::linear_dw(rows, d, out), &gdy, &gx, &gdw, &dy, &x),
    ] {
        let what = format!("{name} rows={rows} d={d} out={out}");
        let l = mm.launch(gpu(), a, b, c).unwrap();
        if let Some(k) = kernel {
            assert_eq!(l[0].label, k, "{what}");
        }
        run(&l);
        let mut want = if mm.accumulate { seed_dw.clone() } else { vec![0.0; c.len] };
        mm.cpu(ca, cb, &mut want);
        assert_close(&what, &read(c), &want, ATOL, RTOL);
    }
}

/// A batched matmul whose B is shared across the batch (stride 0), scaled by alpha 0.5.
fn check_batched(rng: &mut SplitMix64, mm: matmul::Matmul, kernel: Option<&str>) {
    let mm = matmul::Matmul { alpha: 0.5, stride_b: 0, ..mm };
    let [la, lb, lc] = mm.lens();
    let (a, b) = (randn(rng, la, 1.0), randn(rng, lb, 1.0));
    let c = gpu().zeros("c", lc).unwrap();
    let l = mm.launch(gpu(), &up("a", &a), &up("b", &b), &c).unwrap();
    if let Some(k) = kernel {
        assert_eq!(l[0].label, k);
    }
    run(&l);
    let mut want = vec![0.0; lc];
    mm.cpu(&a, &b, &mut want);
    assert_close(&format!("batched {mm:?}"), &read(&c), &want, ATOL, RTOL);
}

#[test]
fn matmul_all_transposes_and_odd_shapes() {
    let mut rng = SplitMix64::new(1);
    for &t in &TOKENS {
        for &d in &HIDDEN {
            for out in [d, 3 * d + 5] {
                check_linear(&mut rng, 2 * t, d, out, None);
            }
        }
    }
}

#[test]
fn matmul_batched_strided_scaled() {
    let mut rng = SplitMix64::new(2);
    check_batched(&mut rng, matmul::Matmul { trans_b: true, ..matmul::Matmul::new(33, 17, 9).batched(3) }, None);
}

/// Shapes whose every dimension is a multiple of 4 but not of the tile run matmul_lanes8.wgsl on 8-lane CPU
/// adapters (llvmpipe in CI), matmul.wgsl on other CPU adapters and matmul_tiled.wgsl on GPUs.
#[test]
fn matmul_multiple_of_4_shapes() {
    let mut rng = SplitMix64::new(4);
    let kernel = Some(match (gpu().has_lanes8(), gpu().cpu_kernels) {
        (true, _) => "matmul_lanes8::main",
        (false, true) => "matmul::main",
        (false, false) => "matmul_tiled::main",
    });
    for (rows, d, out) in [(4, 4, 4), (36, 20, 132), (68, 12, 260), (100, 516, 8), (132, 64, 196)] {
        check_linear(&mut rng, rows, d, out, kernel);
    }
    for (trans_a, trans_b) in [(false, false), (false, true), (true, false), (true, true)] {
        check_batched(
            &mut rng,
            matmul::Matmul { trans_a, trans_b, ..matmul::Matmul::new(36, 20, 12).batched(3) },
            kernel,
        );
    }
}

/// C from one kernel, as bits, for `mm` on operands a and b, with C seeded by `c0`.
fn matmul_bits(mm: &matmul::Matmul, kernel: matmul::Kernel, a: &GpuTensor, b: &GpuTensor, c0: &[f32]) -> Vec<u32> {
    let c = up("c", c0);
    run(&mm.launch_with(gpu(), kernel, a, b, &c).unwrap());
    gpu().read::<u32>(&c)
}

/// The GPUs' kernel, matmul_tiled.wgsl, in every tile shape the autotune may pick: against the CPU twin on odd
/// shapes, every transpose, batched with a shared operand, scaled and accumulating; and the same bits from every
/// tile shape, which is what lets the autotune choose by time.
#[test]
fn matmul_tiled_every_tile_shape_odd_shapes() {
    let mut rng = SplitMix64::new(5);
    let shapes = [(1, 1, 1, 1), (7, 9, 5, 1), (81, 64, 33, 2), (97, 17, 130, 3), (130, 72, 19, 1)];
    for (m, n, k, batch) in shapes {
        for (trans_a, trans_b) in [(false, false), (false, true), (true, false), (true, true)] {
            let mm = matmul::Matmul {
                trans_a,
                trans_b,
                accumulate: true,
                alpha: 0.5,
                stride_b: 0,
                ..matmul::Matmul::new(m, n, k).batched(batch)
            };
            let [la, lb, lc] = mm.lens();
            let (a, b, c0) = (randn(&mut rng, la, 1.0), randn(&mut rng, lb, 1.0), randn(&mut rng, lc, 1.0));
            let (ga, gb) = (up("a", &a), up("b", &b));
            let mut want = c0.clone();
            mm.cpu(&a, &b, &mut want);
            let mut first: Option<Vec<u32>> = None;
            for t in matmul::Tiles::CANDIDATES {
                let got = matmul_bits(&mm, matmul::Kernel::Tiled(t), &ga, &gb, &c0);
                let what = format!("tiled {t:?} {mm:?}");
                assert_close(&what, &got.iter().map(|&u| f32::from_bits(u)).collect::<Vec<_>>(), &want, ATOL, RTOL);
                assert!(
                    first.get_or_insert_with(|| got.clone()) == &got,
                    "{what}: bits differ from the first tile shape"
                );
            }
        }
    }
}

/// Long k over a small output splits k (token-mixer weight gradients): partials reduced in a fixed order, so
/// the result matches the CPU twin, is the same in every run, and matches the unsplit sum to rounding.
#[test]
fn matmul_tiled_split_k() {
    let mut rng = SplitMix64::new(6);
    // m 19 × n 13 over k 4100 with k stored contiguously (a dW: Aᵀ·B), batch 2: 1 tile each, so 2 × 8 splits.
    let mm = matmul::Matmul { accumulate: true, ..matmul::Matmul::new(19, 13, 4100).batched(2) };
    let mm = matmul::Matmul { trans_a: true, ..mm };
    assert_eq!(mm.splits(), 8, "{mm:?}");
    let [la, lb, lc] = mm.lens();
    let (a, b, c0) = (randn(&mut rng, la, 1.0), randn(&mut rng, lb, 1.0), randn(&mut rng, lc, 1.0));
    let (ga, gb) = (up("a", &a), up("b", &b));
    let t = matmul::Tiles::CANDIDATES[0];
    let launches = mm.launch_with(gpu(), matmul::Kernel::Tiled(t), &ga, &gb, &up("c", &c0)).unwrap();
    let labels: Vec<&str> = launches.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["matmul_tiled::split_k", "matmul_tiled::reduce"]);
    let got = matmul_bits(&mm, matmul::Kernel::Tiled(t), &ga, &gb, &c0);
    assert_eq!(got, matmul_bits(&mm, matmul::Kernel::Tiled(t), &ga, &gb, &c0), "split-K is not deterministic");
    let mut want = c0.clone();
    mm.cpu(&a, &b, &mut want);
    let floats: Vec<f32> = got.iter().map(|&u| f32::from_bits(u)).collect();
    assert_close("split-K", &floats, &want, ATOL, 1e-3);
    // The same launches inside a program (whose binding check must accept the GPU's workspace).
    {
        use trm_gpu::model::{Op, Program};
        use trm_gpu::plan::Role;
        let mut prog = Program::default();
        let [ta, tb, tc] = [("a", la), ("b", lb), ("c", lc)].map(|(n, len)| prog.tensor(n, Role::Input, &[len]));
        prog.push(Op::Matmul { mm, a: ta, b: tb, c: tc }, false);
        let dev = gpu_kernels_dev();
        let plan = dev.plan(&prog).unwrap();
        let mut ex = dev.exec(&prog, &plan).unwrap();
        ex.write(ta, &a);
        ex.write(tb, &b);
        ex.write(tc, &c0);
        ex.run();
        let bits: Vec<u32> = ex.read(tc).iter().map(|f| f.to_bits()).collect();
        assert_eq!(bits, got, "split-K in a program");
    }
    // Shapes that fill a GPU, or whose k is short, are not split.
    assert_eq!(matmul::Matmul::linear(64 * 81, 512, 1536).splits(), 1);
    assert_eq!(matmul::Matmul::new(19, 13, 900).splits(), 1);
    // The token mixer's weight gradients at paper size, batch 64: 1024 × 97 over k 32768.
    assert_eq!(matmul::Matmul::linear_dw(64 * 512, 97, 1024).splits(), 8);
}

/// The autotune times every fitting tile shape on the real operands, picks one, and caches it per adapter
/// and shape; the pick computes the right C.
#[test]
fn matmul_autotune_picks_a_candidate_and_caches_it() {
    let mut rng = SplitMix64::new(7);
    let mm = matmul::Matmul::linear(37, 24, 41);
    let [la, lb, lc] = mm.lens();
    let (a, b) = (randn(&mut rng, la, 1.0), randn(&mut rng, lb, 1.0));
    let (ga, gb) = (up("a", &a), up("b", &b));
    let t = mm.autotune(gpu(), &ga, &gb).unwrap();
    assert!(matmul::Tiles::CANDIDATES.contains(&t), "{t:?}");
    let cached = gpu().tuned(mm.tune_key(), || anyhow::bail!("the autotune's choice was not cached"));
    assert_eq!(matmul::Tiles::CANDIDATES[cached.unwrap()], t);
    assert_eq!(mm.autotune(gpu(), &ga, &gb).unwrap(), t);
    let mut want = vec![0.0; lc];
    mm.cpu(&a, &b, &mut want);
    let got: Vec<f32> = matmul_bits(&mm, matmul::Kernel::Tiled(t), &ga, &gb, &vec![0.0; lc])
        .iter()
        .map(|&u| f32::from_bits(u))
        .collect();
    assert_close("autotuned", &got, &want, ATOL, RTOL);
}

/// Both norm kernels: one invocation per row (CPU adapters) and one workgroup per row (GPUs).
#[test]
fn norm_forward_backward() {
    let mut rng = SplitMix64::new(3);
    for g in [gpu(), gpu_kernels_dev().gpu().unwrap()] {
        for &t in &TOKENS {
            for &d in &HIDDEN {
                let n = norm::Norm { rows: 2 * t, dim: d };
                let (x, r, dy) = (
                    randn(&mut rng, n.rows * d, 2.0),
                    randn(&mut rng, n.rows * d, 1.0),
                    randn(&mut rng, n.rows * d, 1.0),
                );
                let [y, rstd, ds] = [x.len(), n.rows, x.len()].map(|len| g.zeros("out", len).unwrap());
                let [gx, gr, gdy] = [&x, &r, &dy].map(|v| g.upload("in", v).unwrap());
                let l = [n.forward(g, &gx, &gr, &y, &rstd).unwrap(), n.backward(g, &y, &gdy, &rstd, &ds).unwrap()];
                g.run(&l.iter().collect::<Vec<_>>());
                let (mut wy, mut wr, mut wds) = (vec![0.0; x.len()], vec![0.0; n.rows], vec![0.0; x.len()]);
                n.cpu_forward(&x, &r, &mut wy, &mut wr);
                n.cpu_backward(&wy, &dy, &wr, &mut wds);
                let what = format!("norm {} t={t} d={d}", l[0].label);
                assert_close(&what, &g.read(&y), &wy, ATOL, RTOL);
                assert_close(&what, &g.read(&rstd), &wr, ATOL, RTOL);
                assert_close(&what, &g.read(&ds), &wds, ATOL, RTOL);
            }
        }
    }
}

#[test]
fn swiglu_forward_backward() {
    let mut rng = SplitMix64::new(4);
    for &t in &TOKENS {
        for &inner in &[8usize, 256] {
            let s = swiglu::Swiglu { rows: t, inner };
            let (h, da) = (randn(&mut rng, t * 2 * inner, 2.0), randn(&mut rng, t * inner, 1.0));
            let (a, dh) = (gpu().zeros("a", t * inner).unwrap(), gpu().zeros("dh", h.len()).unwrap());
            let gh = up("h", &h);
            run(&[s.forward(gpu(), &gh, &a).unwrap(), s.backward(gpu(), &gh, &up("da", &da), &dh).unwrap()]);
            let (mut wa, mut wdh) = (vec![0.0; t * inner], vec![0.0; h.len()]);
            s.cpu_forward(&h, &mut wa);
            s.cpu_backward(&h, &da, &mut wdh);
            assert_close("swiglu fwd", &read(&a), &wa, ATOL, RTOL);
            assert_close("swiglu bwd", &read(&dh), &wdh, ATOL, RTOL);
        }
    }
    assert_eq!(swiglu::inner_width(64, 4.0), 256);
    assert_eq!(swiglu::inner_width(97, 4.0), 512);
    assert_eq!(swiglu::inner_width(81, 4.0), 256);
    assert_eq!(swiglu::inner_width(512, 4.0), 1536);
}

#[test]
fn small_ops() {
    use elementwise as ew;
    let mut rng = SplitMix64::new(5);
    for &t in &TOKENS {
        for &d in &HIDDEN {
            let (batch, n) = (2, 2 * t * d);
            let (x, y) = (randn(&mut rng, n, 1.0), randn(&mut rng, n, 1.0));
            let (gx, gy) = (up("x", &x), up("y", &y));
            let what = format!("t={t} d={d}");
            // add, accumulate, scale, fill
            let out = gpu().zeros("out", n).unwrap();
            run(&[ew::add(gpu(), &gx, &gy, &out).unwrap()]);
            let mut want = vec![0.0; n];
            ew::cpu::add(&x, &y, &mut want);
            assert_close(&format!("add {what}"), &read(&out), &want, ATOL, RTOL);
            run(&[ew::accumulate(gpu(), &gx, &out, -0.5).unwrap()]);
            ew::cpu::accumulate(&x, &mut want, -0.5);
            assert_close(&format!("accumulate {what}"), &read(&out), &want, ATOL, RTOL);
            run(&[ew::scale(gpu(), &gx, &out, 3.0).unwrap()]);
            assert_close("scale", &read(&out), &x.iter().map(|v| 3.0 * v).collect::<Vec<_>>(), ATOL, RTOL);
            run(&[ew::fill(gpu(), &out, 0.25).unwrap()]);
            assert_close("fill", &read(&out), &vec![0.25; n], 0.0, 0.0);
            // transpose (batch, t, d) → (batch, d, t)
            run(&[ew::transpose(gpu(), &gx, &out, batch, t, d).unwrap()]);
            ew::cpu::transpose(&x, &mut want, batch, t, d);
            assert_close(&format!("transpose {what}"), &read(&out), &want, 0.0, 0.0);
            // slice rows 1.. of each sequence, and its gradient
            if t > 1 {
                let len = t - 1;
                let sl = gpu().zeros("slice", batch * len * d).unwrap();
                run(&[ew::slice_seq(gpu(), &gx, &sl, batch, t, d, 1, len).unwrap()]);
                let mut ws = vec![0.0; batch * len * d];
                ew::cpu::slice_seq(&x, &mut ws, batch, t, d, 1, len);
                assert_close("slice_seq", &read(&sl), &ws, 0.0, 0.0);
                let acc = up("acc", &y);
                run(&[ew::unslice_seq(gpu(), &sl, &acc, batch, t, d, 1, len).unwrap()]);
                let mut wa = y.clone();
                ew::cpu::unslice_seq(&ws, &mut wa, batch, t, d, 1, len);
                assert_close("unslice_seq", &read(&acc), &wa, ATOL, RTOL);
            }
            // carry reset of batch row 1 only
            let init = randn(&mut rng, d, 1.0);
            let carry = up("carry", &x);
            run(&[ew::reset_carry(gpu(), &up("init", &init), &up_i("mask", &[0, 1]), &carry, t, d).unwrap()]);
            let mut wc = x.clone();
            ew::cpu::reset_carry(&init, &[0, 1], &mut wc, t, d);
            assert_close("reset_carry", &read(&carry), &wc, 0.0, 0.0);
            // bias add and its gradient
            let bias = randn(&mut rng, d, 1.0);
            let bo = up("bo", &x);
            run(&[ew::bias_add(gpu(), &up("bias", &bias), &bo, d).unwrap()]);
            let mut wb = x.clone();
            ew::cpu::bias_add(&bias, &mut wb, d);
            assert_close("bias_add", &read(&bo), &wb, ATOL, RTOL);
            let cs = up("cs", &bias);
            run(&[ew::col_sum(gpu(), &gx, &cs, batch * t, d).unwrap()]);
            let mut wcs = bias.clone();
            ew::cpu::col_sum(&x, &mut wcs, batch * t, d);
            assert_close("col_sum", &read(&cs), &wcs, ATOL, RTOL);
        }
    }
}

/// RoPE, and both attention kernel sets: one invocation per row (CPU adapters, attention.wgsl) and a workgroup
/// per block of 64 rows with staged tiles (GPUs, attention_tiled.wgsl), whose sequences here end mid-block
/// and mid-tile.
#[test]
fn rope_and_attention_forward_backward() {
    let mut rng = SplitMix64::new(6);
    for (g, shader) in [(gpu(), "attention::"), (gpu_kernels_dev().gpu().unwrap(), "attention_tiled::")] {
        for &t in &TOKENS {
            for &(d, heads) in &[(8usize, 2usize), (64, 2), (96, 3), (256, 2)] {
                let batch = if t == 900 { 1 } else { 2 };
                if (t == 900 && d != 64) || (d == 256 && t != 97) {
                    continue; // the longest sequence once, at the maze head size; the largest head once
                }
                let hd = d / heads;
                let rows = batch * t;
                let rope = rope::Rope { rows, seq: t, heads, hd };
                let att = attention::Attention { batch, seq: t, heads, hd };
                let table = rope::table(t, hd, 10000.0);
                let qkv = randn(&mut rng, rows * 3 * d, 1.0);
                let dout = randn(&mut rng, rows * d, 1.0);
                let z = |name: &str, len: usize| g.zeros(name, len).unwrap();
                let [gt, gqkv, gdout] = [&table, &qkv, &dout].map(|v| g.upload("in", v).unwrap());
                let (rot, o, lse) = (z("rot", qkv.len()), z("o", rows * d), z("lse", batch * heads * t));
                let (delta, drot, dqkv) = (z("delta", batch * heads * t), z("drot", qkv.len()), z("dqkv", qkv.len()));
                let mut l = vec![rope.forward(g, &gqkv, &gt, &rot).unwrap(), att.forward(g, &rot, &o, &lse).unwrap()];
                l.extend(att.backward(g, &rot, &o, &lse, &gdout, &delta, &drot).unwrap());
                l.push(rope.backward(g, &drot, &gt, &dqkv).unwrap());
                g.run(&l.iter().collect::<Vec<_>>());
                for k in [&l[1], &l[3], &l[4]] {
                    assert!(k.label.starts_with(shader), "{} on {shader}", k.label);
                }
                let (mut wrot, mut wo, mut wdrot, mut wdqkv) =
                    (vec![0.0; qkv.len()], vec![0.0; rows * d], vec![0.0; qkv.len()], vec![0.0; qkv.len()]);
                rope.cpu_forward(&qkv, &table, &mut wrot);
                att.cpu_forward(&wrot, &mut wo);
                att.cpu_backward(&wrot, &dout, &mut wdrot);
                rope.cpu_backward(&wdrot, &table, &mut wdqkv);
                let what = format!("{shader} t={t} d={d} heads={heads}");
                assert_close(&format!("rope {what}"), &g.read(&rot), &wrot, ATOL, RTOL);
                assert_close(&format!("attention fwd {what}"), &g.read(&o), &wo, ATOL, RTOL);
                assert_close(&format!("attention bwd {what}"), &g.read(&drot), &wdrot, ATOL, RTOL);
                assert_close(&format!("rope bwd {what}"), &g.read(&dqkv), &wdqkv, ATOL, RTOL);
            }
        }
    }
}

#[test]
fn embedding_with_puzzle_prefix() {
    let mut rng = SplitMix64::new(7);
    for &t in &TOKENS {
        for &d in &HIDDEN {
            for &(prefix, ndim) in &[(0usize, 0usize), (2, d + 3), (1, d)] {
                let (batch, vocab, ids_n) = (3, 11, 4);
                let e = embed::Embed { batch, len: t, prefix, dim: d, vocab, ndim, scale: (d as f32).sqrt() };
                let tokens: Vec<i32> = (0..batch * t).map(|_| rng.below(vocab) as i32).collect();
                let ids: Vec<i32> = vec![2, 0, 2];
                let table = randn(&mut rng, vocab * d, 1.0);
                let puzzle = randn(&mut rng, (ids_n * ndim).max(1), 1.0);
                let dx = randn(&mut rng, batch * e.seq() * d, 1.0);
                let seed = randn(&mut rng, vocab * d, 1.0);
                let (gtok, gdx) = (up_i("tokens", &tokens), up("dx", &dx));
                let x = gpu().zeros("x", batch * e.seq() * d).unwrap();
                let dtable = up("dtable", &seed);
                let dpuzzle = gpu().zeros("dpuzzle", (batch * ndim).max(1)).unwrap();
                let mut l = vec![
                    e.forward(gpu(), &gtok, &up_i("ids", &ids), &up("table", &table), &up("puzzle", &puzzle), &x)
                        .unwrap(),
                    e.backward_table(gpu(), &gtok, &gdx, &dtable).unwrap(),
                ];
                if ndim > 0 {
                    l.push(e.backward_puzzle(gpu(), &gdx, &dpuzzle).unwrap());
                }
                run(&l);
                let (mut wx, mut wt, mut wp) = (vec![0.0; x.len], seed.clone(), vec![0.0; dpuzzle.len]);
                e.cpu_forward(&tokens, &ids, &table, &puzzle, &mut wx);
                e.cpu_backward_table(&tokens, &dx, &mut wt);
                e.cpu_backward_puzzle(&dx, &mut wp);
                let what = format!("embed t={t} d={d} prefix={prefix} ndim={ndim}");
                assert_close(&what, &read(&x), &wx, ATOL, RTOL);
                assert_close(&what, &read(&dtable), &wt, ATOL, RTOL);
                if ndim > 0 {
                    assert_close(&what, &read(&dpuzzle), &wp, ATOL, RTOL);
                }
            }
        }
    }
}

#[test]
fn losses_stablemax_and_softmax() {
    let mut rng = SplitMix64::new(8);
    for &t in &TOKENS {
        for kind in [loss::LossKind::Stablemax, loss::LossKind::Softmax] {
            let (batch, vocab) = (3, 11);
            let l = loss::Loss { batch, len: t, vocab, kind, grad_scale: 0.25 };
            let logits = randn(&mut rng, batch * t * vocab, 3.0);
            // Row 0 is solved exactly, row 1 has ignored labels, row 2 is random.
            let mut labels: Vec<i32> = (0..batch * t).map(|_| 1 + rng.below(vocab - 1) as i32).collect();
            for i in 0..t {
                let x = &logits[i * vocab..(i + 1) * vocab];
                labels[i] = (0..vocab).fold(0, |b, j| if x[j] > x[b] { j } else { b }) as i32;
                if i % 3 == 0 {
                    labels[t + i] = if i % 2 == 0 { 0 } else { -100 };
                }
            }
            let q = randn(&mut rng, batch * 2, 2.0);
            let (dl, tok, dq, st) = (
                gpu().zeros("dlogits", logits.len()).unwrap(),
                gpu().zeros("tok", batch * t * 2).unwrap(),
                gpu().zeros("dq", batch * 2).unwrap(),
                gpu().zeros("stats", batch * loss::SEQ_STATS).unwrap(),
            );
            let launches = l
                .launch(gpu(), &up("logits", &logits), &up_i("labels", &labels), &up("q", &q), &dl, &tok, &dq, &st)
                .unwrap();
            run(&launches);
            let (mut wdl, mut wdq, mut wst) =
                (vec![0.0; logits.len()], vec![0.0; batch * 2], vec![0.0; batch * loss::SEQ_STATS]);
            l.cpu(&logits, &labels, &q, &mut wdl, &mut wdq, &mut wst);
            let what = format!("{kind:?} t={t}");
            assert_close(&what, &read(&dl), &wdl, ATOL, RTOL);
            assert_close(&what, &read(&dq), &wdq, ATOL, RTOL);
            assert_close(&what, &read(&st), &wst, ATOL, RTOL);
            assert_eq!(wst[2], 1.0, "row 0 predicted exactly");
        }
    }
}

#[test]
fn optimizers_ema_and_sign_sgd() {
    let mut rng = SplitMix64::new(9);
    for &n in &[1usize, 7, 97, 900 * 64] {
        for kind in [optim::OptimizerKind::AdamAtan2, optim::OptimizerKind::Adamw] {
            let (g, p0, m0) = (randn(&mut rng, n, 1.0), randn(&mut rng, n, 1.0), randn(&mut rng, n, 0.1));
            let v0: Vec<f32> = randn(&mut rng, n, 0.1).iter().map(|x| x * x).collect();
            let (gp, gm, gv) = (up("p", &p0), up("m", &m0), up("v", &v0));
            let gg = up("g", &g);
            let adam = optim::Adam { kind, wd: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8 };
            for t in 1..=3 {
                let hyper = up("hyper", &adam.hyper(1e-2, t));
                run(&[adam.launch(gpu(), &hyper, &gg, &gp, &gm, &gv).unwrap()]);
            }
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            for t in 1..=3 {
                adam.cpu(&adam.hyper(1e-2, t), &g, &mut p, &mut m, &mut v);
            }
            let what = format!("{kind:?} n={n}");
            assert_close(&what, &read(&gp), &p, ATOL, RTOL);
            assert_close(&what, &read(&gm), &m, ATOL, RTOL);
            assert_close(&what, &read(&gv), &v, ATOL, RTOL);
            let e0 = randn(&mut rng, n, 1.0);
            let ge = up("ema", &e0);
            run(&[optim::ema(gpu(), &gp, &ge, 0.999).unwrap()]);
            let mut e = e0.clone();
            optim::cpu_ema(&p, &mut e, 0.999);
            assert_close("ema", &read(&ge), &e, ATOL, RTOL);
        }
    }
    let (batch, ndim, rows) = (5, 7, 4);
    let s = optim::SignSgd { batch, ndim, lr: 0.01, wd: 0.1 };
    let ids = vec![3, 1, 3, 0, 3];
    let grad = randn(&mut rng, batch * ndim, 1.0);
    let w0 = randn(&mut rng, rows * ndim, 1.0);
    let gw = up("w", &w0);
    run(&[s.launch(gpu(), &up("g", &grad), &up_i("ids", &ids), &gw).unwrap()]);
    let mut w = w0.clone();
    s.cpu(&grad, &ids, &mut w);
    assert_close("sign_sgd", &read(&gw), &w, ATOL, RTOL);
    assert_eq!(&read(&gw)[2 * ndim..3 * ndim], &w0[2 * ndim..3 * ndim], "untouched row 2 unchanged");
}

/// Gradient kernels give bitwise-identical results when run twice.
#[test]
fn gradient_kernels_are_deterministic() {
    let mut rng = SplitMix64::new(10);
    let (batch, t, d, heads, vocab) = (2, 97, 64, 2, 11);
    let rows = batch * t;
    let x = up("x", &randn(&mut rng, rows * d, 1.0));
    let dy = up("dy", &randn(&mut rng, rows * 3 * d, 1.0));
    let qkv = up("qkv", &randn(&mut rng, rows * 3 * d, 1.0));
    let dout = up("dout", &randn(&mut rng, rows * d, 1.0));
    let tokens = up_i("tokens", &(0..rows).map(|i| (i % vocab) as i32).collect::<Vec<_>>());
    let att = attention::Attention { batch, seq: t, heads, hd: d / heads };
    let e = embed::Embed { batch, len: t, prefix: 0, dim: d, vocab, ndim: 0, scale: 8.0 };
    let run_once = || {
        let dw = gpu().zeros("dw", 3 * d * d).unwrap();
        let (o, lse, delta, dqkv) = (
            gpu().zeros("o", rows * d).unwrap(),
            gpu().zeros("lse", rows * heads).unwrap(),
            gpu().zeros("delta", rows * heads).unwrap(),
            gpu().zeros("dqkv", rows * 3 * d).unwrap(),
        );
        let dtable = gpu().zeros("dtable", vocab * d).unwrap();
        let cs = gpu().zeros("cs", 3 * d).unwrap();
        let mut l = matmul::Matmul::linear_dw(rows, d, 3 * d).launch(gpu(), &dy, &x, &dw).unwrap();
        l.push(att.forward(gpu(), &qkv, &o, &lse).unwrap());
        l.extend(att.backward(gpu(), &qkv, &o, &lse, &dout, &delta, &dqkv).unwrap());
        l.push(e.backward_table(gpu(), &tokens, &dout, &dtable).unwrap());
        l.push(elementwise::col_sum(gpu(), &dy, &cs, rows, 3 * d).unwrap());
        run(&l);
        [read(&dw), read(&dqkv), read(&dtable), read(&cs)].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
    };
    assert_eq!(run_once(), run_once());
}

/// Grids past the per-dimension workgroup limit fold into 2-D. A device asked for at most 8 workgroups per
/// dimension folds at small sizes: norm, attention (forward and the three backward kernels) and the
/// element-wise and optimizer kernels give the same bits there as on the unfolded device, in both kernel sets.
#[test]
fn folded_grids_give_the_same_bits() {
    use trm_gpu::gpu::{Gpu, GpuOptions, Launch};
    let mut rng = SplitMix64::new(11);
    let att = attention::Attention { batch: 5, seq: 97, heads: 2, hd: 8 };
    let (x, r, dy) = (randn(&mut rng, 13_000, 1.0), randn(&mut rng, 13_000, 1.0), randn(&mut rng, 13_000, 1.0));
    let qkv = randn(&mut rng, 5 * 97 * 3 * 16, 1.0);
    let dout = randn(&mut rng, 5 * 97 * 16, 1.0);
    let outputs = |g: &Gpu, folded: bool| {
        // The GPU set's norm takes a workgroup per row: 50 rows fold within 8 × 8.
        let n = norm::Norm { rows: if g.cpu_kernels { 1000 } else { 50 }, dim: 13 };
        let up = |name: &str, d: &[f32]| g.upload(name, d).unwrap();
        let (gx, gr, gdy, gqkv, gdout) = (up("x", &x), up("r", &r), up("dy", &dy), up("qkv", &qkv), up("dout", &dout));
        let z = |name: &str, len: usize| g.zeros(name, len).unwrap();
        let (y, rstd, ds, sum) = (z("y", 13_000), z("rstd", 1000), z("ds", 13_000), z("sum", 13_000));
        let (o, lse, delta, dqkv) = (z("o", 5 * 97 * 16), z("lse", 970), z("delta", 970), z("dqkv", qkv.len()));
        let (m, v, ema) = (z("m", 13_000), z("v", 13_000), up("ema", &r));
        let hyper = up("hyper", &[1e-3, 0.1, 0.05, 0.0]);
        let adam = optim::Adam { kind: optim::OptimizerKind::AdamAtan2, wd: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8 };
        let param = up("param", &x);
        let mut l: Vec<Launch> = vec![
            n.forward(g, &gx, &gr, &y, &rstd).unwrap(),
            n.backward(g, &y, &gdy, &rstd, &ds).unwrap(),
            att.forward(g, &gqkv, &o, &lse).unwrap(),
        ];
        l.extend(att.backward(g, &gqkv, &o, &lse, &gdout, &delta, &dqkv).unwrap());
        l.push(elementwise::add(g, &gx, &gr, &sum).unwrap());
        l.push(adam.launch(g, &hyper, &gdy, &param, &m, &v).unwrap());
        l.push(optim::ema(g, &param, &ema, 0.9).unwrap());
        if folded {
            assert!(l.iter().all(|k| k.workgroups[0] <= 8 && k.workgroups[1] <= 8), "grids within the limit");
            assert_eq!(l.iter().filter(|k| k.workgroups[1] > 1).count(), l.len(), "every grid folded");
        }
        g.run(&l.iter().collect::<Vec<_>>());
        [y, rstd, ds, o, lse, delta, dqkv, sum, param, m, v, ema].map(|t| g.read::<u32>(&t))
    };
    for gpu_kernels in [false, true] {
        let opts = GpuOptions { max_workgroups_per_dimension: Some(8), gpu_kernels, ..Default::default() };
        let folded = Gpu::new_blocking(&opts).unwrap();
        let unfolded = if gpu_kernels { gpu_kernels_dev().gpu().unwrap() } else { gpu() };
        let (a, b) = (outputs(unfolded, false), outputs(&folded, true));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!(a == b, "output {i} differs between the folded and the unfolded grid (gpu kernels: {gpu_kernels})");
        }
    }
}

/// The llvmpipe-only matmul kernel is chosen for CPU adapters with 8-lane subgroups and 64-bit integers, never
/// for a GPU with the same subgroup size.
#[test]
fn lanes8_kernel_is_for_cpu_adapters_only() {
    use trm_gpu::gpu::lanes8_suits;
    let f = wgpu::Features::SUBGROUP | wgpu::Features::SHADER_INT64;
    let mut info = gpu().info.clone();
    (info.subgroup_min_size, info.subgroup_max_size) = (8, 8);
    info.device_type = wgpu::DeviceType::Cpu;
    assert!(lanes8_suits(&info, f));
    assert!(!lanes8_suits(&info, wgpu::Features::SUBGROUP));
    for gpu_type in [wgpu::DeviceType::DiscreteGpu, wgpu::DeviceType::IntegratedGpu] {
        info.device_type = gpu_type;
        assert!(!lanes8_suits(&info, f), "{gpu_type:?}");
    }
    info.device_type = wgpu::DeviceType::Cpu;
    (info.subgroup_min_size, info.subgroup_max_size) = (4, 4);
    assert!(!lanes8_suits(&info, f), "SwiftShader's 4 lanes");
}

/// One readback for several tensors (a step's q and stats) gives what one readback each gives, empty ones too.
#[test]
fn read_many_equals_single_reads() {
    let g = gpu();
    let a = g.upload("a", &[1.5f32, -2.0, 3.25]).unwrap();
    let empty = g.upload::<f32>("empty", &[]).unwrap();
    let b = g.upload("b", &(0..1001).map(|i| i as f32 * 0.5).collect::<Vec<_>>()).unwrap();
    let many = g.read_many::<f32>(&[&a, &empty, &b]);
    assert_eq!(many, vec![g.read::<f32>(&a), Vec::new(), g.read::<f32>(&b)]);
}

/// Every test of this file, and the training step against the CPU reference, on wgpu's GL backend as well
/// (llvmpipe's OpenGL in CI): this test binary again, with WGPU_BACKEND=gl and one test thread, since wgpu's GL
/// context is not shared well between threads.
#[test]
fn every_gpu_test_passes_on_the_gl_backend() {
    let gl =
        trm_gpu::gpu::Gpu::new_blocking(&trm_gpu::gpu::GpuOptions { backend: Some("gl".into()), ..Default::default() })
            .expect("a GL adapter (llvmpipe in CI)");
    assert_eq!(gl.info.backend, wgpu::Backend::Gl);
    drop(gl);
    let me = "ops_gpu::every_gpu_test_passes_on_the_gl_backend";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["ops_gpu::", "model_cpu::gpu_and_native_steps_equal_cpu_step", "--test-threads", "1", "--skip", me])
        .env("WGPU_BACKEND", "gl")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "on GL:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let passed = text.lines().find(|l| l.starts_with("test result: ok")).unwrap_or_else(|| panic!("{text}"));
    println!("GL backend: {passed}");
}
