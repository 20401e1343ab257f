// Batched matmul with optional transposes: C[z] = alpha * op(A[z]) · op(B[z]) (+ C[z] when accumulating).
// op(A) is m×k (A stored m×k, or k×m when TRANS_A); op(B) is k×n (B stored k×n, or n×k when TRANS_B).
// Linear layers use it three ways: Y = X·Wᵀ (TRANS_B), dX = dY·W, dW += dYᵀ·X (TRANS_A).
//
// Tiling: a workgroup of 64 invocations owns a 32×256 block of C; each invocation a 32×4 tile held in 32 vec4
// registers (named, not an array, so CPU adapters keep them in registers). Per 8-deep slice of k, the
// workgroup stages the 32×8 A slice in workgroup memory; the inner loop is unrolled so every read of it has a
// constant address: one broadcast load for all invocations (cheap on SIMD CPUs such as llvmpipe, where any
// per-invocation address is a gather). Each invocation gathers only its 4 columns of B per k, for 128 FMAs.
// Indices past m, n or k are clamped (reads) or skipped (writes), so every access is in range.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    stride_a: u32, stride_b: u32, stride_c: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
const TM: u32 = 32u;
const KT: u32 = 8u;
override WG: u32 = 64u;

var<workgroup> at: array<f32, 256>; // the A slice, [kk * TM + row]
var<private> c0: vec4<f32>;
var<private> c1: vec4<f32>;
var<private> c2: vec4<f32>;
var<private> c3: vec4<f32>;
var<private> c4: vec4<f32>;
var<private> c5: vec4<f32>;
var<private> c6: vec4<f32>;
var<private> c7: vec4<f32>;
var<private> c8: vec4<f32>;
var<private> c9: vec4<f32>;
var<private> c10: vec4<f32>;
var<private> c11: vec4<f32>;
var<private> c12: vec4<f32>;
var<private> c13: vec4<f32>;
var<private> c14: vec4<f32>;
var<private> c15: vec4<f32>;
var<private> c16: vec4<f32>;
var<private> c17: vec4<f32>;
var<private> c18: vec4<f32>;
var<private> c19: vec4<f32>;
var<private> c20: vec4<f32>;
var<private> c21: vec4<f32>;
var<private> c22: vec4<f32>;
var<private> c23: vec4<f32>;
var<private> c24: vec4<f32>;
var<private> c25: vec4<f32>;
var<private> c26: vec4<f32>;
var<private> c27: vec4<f32>;
var<private> c28: vec4<f32>;
var<private> c29: vec4<f32>;
var<private> c30: vec4<f32>;
var<private> c31: vec4<f32>;
var<private> base_b: u32;
var<private> cols: vec4<u32>;
var<private> base_c: u32;
var<private> col0: u32;

// This invocation's 4 values of op(B) at depth kk (clamped to the last row of B).
fn load_b(kk: u32) -> vec4<f32> {
    let kc = min(kk, p.k - 1u);
    if (TRANS_B) {
        let i = base_b + cols * p.k + vec4<u32>(kc);
        return vec4<f32>(b[i.x], b[i.y], b[i.z], b[i.w]);
    }
    let i = base_b + kc * p.n + cols;
    return vec4<f32>(b[i.x], b[i.y], b[i.z], b[i.w]);
}

fn fma_k(o: u32, bv: vec4<f32>) {
    c0 += at[o + 0u] * bv;
    c1 += at[o + 1u] * bv;
    c2 += at[o + 2u] * bv;
    c3 += at[o + 3u] * bv;
    c4 += at[o + 4u] * bv;
    c5 += at[o + 5u] * bv;
    c6 += at[o + 6u] * bv;
    c7 += at[o + 7u] * bv;
    c8 += at[o + 8u] * bv;
    c9 += at[o + 9u] * bv;
    c10 += at[o + 10u] * bv;
    c11 += at[o + 11u] * bv;
    c12 += at[o + 12u] * bv;
    c13 += at[o + 13u] * bv;
    c14 += at[o + 14u] * bv;
    c15 += at[o + 15u] * bv;
    c16 += at[o + 16u] * bv;
    c17 += at[o + 17u] * bv;
    c18 += at[o + 18u] * bv;
    c19 += at[o + 19u] * bv;
    c20 += at[o + 20u] * bv;
    c21 += at[o + 21u] * bv;
    c22 += at[o + 22u] * bv;
    c23 += at[o + 23u] * bv;
    c24 += at[o + 24u] * bv;
    c25 += at[o + 25u] * bv;
    c26 += at[o + 26u] * bv;
    c27 += at[o + 27u] * bv;
    c28 += at[o + 28u] * bv;
    c29 += at[o + 29u] * bv;
    c30 += at[o + 30u] * bv;
    c31 += at[o + 31u] * bv;
}

fn store(r: u32, v: vec4<f32>) {
    if (r >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        if (col0 + j < p.n) {
            let idx = base_c + r * p.n + col0 + j;
            var x = p.alpha * v[j];
            if (p.accumulate != 0u) { x += c[idx]; }
            c[idx] = x;
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let z = wid.z;
    let row0 = wid.y * TM;
    col0 = (wid.x * WG + li) * 4u;
    cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    base_b = z * p.stride_b;
    base_c = z * p.stride_c;
    let base_a = z * p.stride_a;
    for (var k0 = 0u; k0 < p.k; k0 += KT) {
        workgroupBarrier();
        // Stage A[row0 .. row0+TM, k0 .. k0+KT]: 256 values, 4 per invocation; zero past k.
        for (var e = li; e < TM * KT; e += WG) {
            let kk = e / TM;
            let r = min(row0 + e % TM, p.m - 1u);
            let kc = min(k0 + kk, p.k - 1u);
            let v = a[base_a + select(r * p.k + kc, kc * p.m + r, TRANS_A)];
            at[e] = select(0.0, v, k0 + kk < p.k);
        }
        workgroupBarrier();
        fma_k(0u, load_b(k0 + 0u));
        fma_k(32u, load_b(k0 + 1u));
        fma_k(64u, load_b(k0 + 2u));
        fma_k(96u, load_b(k0 + 3u));
        fma_k(128u, load_b(k0 + 4u));
        fma_k(160u, load_b(k0 + 5u));
        fma_k(192u, load_b(k0 + 6u));
        fma_k(224u, load_b(k0 + 7u));
    }
    store(row0 + 0u, c0);
    store(row0 + 1u, c1);
    store(row0 + 2u, c2);
    store(row0 + 3u, c3);
    store(row0 + 4u, c4);
    store(row0 + 5u, c5);
    store(row0 + 6u, c6);
    store(row0 + 7u, c7);
    store(row0 + 8u, c8);
    store(row0 + 9u, c9);
    store(row0 + 10u, c10);
    store(row0 + 11u, c11);
    store(row0 + 12u, c12);
    store(row0 + 13u, c13);
    store(row0 + 14u, c14);
    store(row0 + 15u, c15);
    store(row0 + 16u, c16);
    store(row0 + 17u, c17);
    store(row0 + 18u, c18);
    store(row0 + 19u, c19);
    store(row0 + 20u, c20);
    store(row0 + 21u, c21);
    store(row0 + 22u, c22);
    store(row0 + 23u, c23);
    store(row0 + 24u, c24);
    store(row0 + 25u, c25);
    store(row0 + 26u, c26);
    store(row0 + 27u, c27);
    store(row0 + 28u, c28);
    store(row0 + 29u, c29);
    store(row0 + 30u, c30);
    store(row0 + 31u, c31);
}
