// Batched matmul with optional transposes: C[z] = alpha * op(A[z]) · op(B[z]) (+ C[z] when accumulating).
// op(A) is m×k (A stored m×k, or k×m when TRANS_A); op(B) is k×n (B stored k×n, or n×k when TRANS_B).
// Linear layers use it three ways: Y = X·Wᵀ (TRANS_B), dX = dY·W, dW += dYᵀ·X (TRANS_A).
//
// Register tiling: each invocation owns a 16×8 tile of C in 32 named vec4 registers (not an array, which
// CPU adapters spill) and walks k four at a time. Per step it loads 16 4-vectors of A and 8 of B (whole vec4
// loads when the layout is 16-byte aligned, VEC4; four clamped scalar loads otherwise) for 512 FMAs. No workgroup
// memory or barriers: on llvmpipe every load with a computed address is a per-lane gather, so the design
// minimises load instructions per FMA; on GPUs the tiles stream through the caches.
// Rows and columns past m and n are clamped on reads and skipped on writes; k past its end reads zeros of A.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    stride_a: u32, stride_b: u32, stride_c: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> a_vec: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b_vec: array<vec4<f32>>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// Whether rows of A and B (and batch strides) are multiples of 4, so whole vec4 loads are aligned.
override VEC4: bool = false;
// Invocations along the columns (each 8 wide) and along the rows (each 16 high).
override WX: u32 = 8u;
override WY: u32 = 8u;

var<private> base_a: u32;
var<private> base_b: u32;
var<private> base_c: u32;

// A[row, k0 .. k0+4] (zeros past k). With TRANS_A, A is stored k×m.
fn load_a(row: u32, k0: u32) -> vec4<f32> {
    if (TRANS_A) {
        let k1 = min(k0 + 1u, p.k - 1u);
        let k2 = min(k0 + 2u, p.k - 1u);
        let k3 = min(k0 + 3u, p.k - 1u);
        let v = vec4<f32>(a[base_a + k0 * p.m + row], a[base_a + k1 * p.m + row], a[base_a + k2 * p.m + row], a[base_a + k3 * p.m + row]);
        return select(vec4<f32>(0.0), v, vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(p.k));
    }
    if (VEC4) {
        return a_vec[(base_a + row * p.k + k0) / 4u];
    }
    let o = base_a + row * p.k;
    let v = vec4<f32>(a[o + k0], a[o + min(k0 + 1u, p.k - 1u)], a[o + min(k0 + 2u, p.k - 1u)], a[o + min(k0 + 3u, p.k - 1u)]);
    return select(vec4<f32>(0.0), v, vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(p.k));
}

// B[kk, col0 .. col0+4] for one kk (clamped to the last row of B and the last column).
fn load_b_row(kk: u32, col0: u32) -> vec4<f32> {
    let kc = min(kk, p.k - 1u);
    if (VEC4) {
        return b_vec[(base_b + kc * p.n + min(col0, p.n - 4u)) / 4u];
    }
    let o = base_b + kc * p.n;
    return vec4<f32>(b[o + min(col0, p.n - 1u)], b[o + min(col0 + 1u, p.n - 1u)], b[o + min(col0 + 2u, p.n - 1u)], b[o + min(col0 + 3u, p.n - 1u)]);
}

// With TRANS_B: B[col, k0 .. k0+4] for one column (B stored n×k; clamped).
fn load_b_col(col: u32, k0: u32) -> vec4<f32> {
    let o = base_b + min(col, p.n - 1u) * p.k;
    if (VEC4) {
        return b_vec[(o + k0) / 4u];
    }
    return vec4<f32>(b[o + min(k0, p.k - 1u)], b[o + min(k0 + 1u, p.k - 1u)], b[o + min(k0 + 2u, p.k - 1u)], b[o + min(k0 + 3u, p.k - 1u)]);
}

var<private> col0: u32;

fn store(r: u32, v0: vec4<f32>, v1: vec4<f32>) {
    if (r >= p.m) { return; }
    for (var j = 0u; j < 8u; j++) {
        let col = col0 + j;
        if (col < p.n) {
            let idx = base_c + r * p.n + col;
            var x = p.alpha * select(v1[j - 4u], v0[min(j, 3u)], j < 4u);
            if (p.accumulate != 0u) { x += c[idx]; }
            c[idx] = x;
        }
    }
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let z = wid.z;
    base_a = z * p.stride_a;
    base_b = z * p.stride_b;
    base_c = z * p.stride_c;
    col0 = (wid.x * WX + lid.x) * 8u;
    let row0 = (wid.y * WY + lid.y) * 16u;
    let r0 = min(row0 + 0u, p.m - 1u);
    let r1 = min(row0 + 1u, p.m - 1u);
    let r2 = min(row0 + 2u, p.m - 1u);
    let r3 = min(row0 + 3u, p.m - 1u);
    let r4 = min(row0 + 4u, p.m - 1u);
    let r5 = min(row0 + 5u, p.m - 1u);
    let r6 = min(row0 + 6u, p.m - 1u);
    let r7 = min(row0 + 7u, p.m - 1u);
    let r8 = min(row0 + 8u, p.m - 1u);
    let r9 = min(row0 + 9u, p.m - 1u);
    let r10 = min(row0 + 10u, p.m - 1u);
    let r11 = min(row0 + 11u, p.m - 1u);
    let r12 = min(row0 + 12u, p.m - 1u);
    let r13 = min(row0 + 13u, p.m - 1u);
    let r14 = min(row0 + 14u, p.m - 1u);
    let r15 = min(row0 + 15u, p.m - 1u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        // b{kk}{h}: B[k0 + kk, col0 + 4h .. col0 + 4h + 4]
        var b00: vec4<f32>; var b01: vec4<f32>; var b10: vec4<f32>; var b11: vec4<f32>;
        var b20: vec4<f32>; var b21: vec4<f32>; var b30: vec4<f32>; var b31: vec4<f32>;
        if (TRANS_B) {
            let t0 = load_b_col(col0, k0); let t1 = load_b_col(col0 + 1u, k0);
            let t2 = load_b_col(col0 + 2u, k0); let t3 = load_b_col(col0 + 3u, k0);
            let t4 = load_b_col(col0 + 4u, k0); let t5 = load_b_col(col0 + 5u, k0);
            let t6 = load_b_col(col0 + 6u, k0); let t7 = load_b_col(col0 + 7u, k0);
            b00 = vec4<f32>(t0.x, t1.x, t2.x, t3.x); b01 = vec4<f32>(t4.x, t5.x, t6.x, t7.x);
            b10 = vec4<f32>(t0.y, t1.y, t2.y, t3.y); b11 = vec4<f32>(t4.y, t5.y, t6.y, t7.y);
            b20 = vec4<f32>(t0.z, t1.z, t2.z, t3.z); b21 = vec4<f32>(t4.z, t5.z, t6.z, t7.z);
            b30 = vec4<f32>(t0.w, t1.w, t2.w, t3.w); b31 = vec4<f32>(t4.w, t5.w, t6.w, t7.w);
        } else {
            b00 = load_b_row(k0, col0); b01 = load_b_row(k0, col0 + 4u);
            b10 = load_b_row(k0 + 1u, col0); b11 = load_b_row(k0 + 1u, col0 + 4u);
            b20 = load_b_row(k0 + 2u, col0); b21 = load_b_row(k0 + 2u, col0 + 4u);
            b30 = load_b_row(k0 + 3u, col0); b31 = load_b_row(k0 + 3u, col0 + 4u);
        }
        var a0: vec4<f32>; var a1: vec4<f32>; var a2: vec4<f32>; var a3: vec4<f32>; var a4: vec4<f32>; var a5: vec4<f32>; var a6: vec4<f32>; var a7: vec4<f32>; var a8: vec4<f32>; var a9: vec4<f32>; var a10: vec4<f32>; var a11: vec4<f32>; var a12: vec4<f32>; var a13: vec4<f32>; var a14: vec4<f32>; var a15: vec4<f32>;
        if (TRANS_A && VEC4) {
            // A is k×m: four rows at a time are one aligned vec4 per k; transpose them into per-row k-vectors.
            let q0_0 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 0u, p.k - 1u) * p.m + min(row0 + 0u, p.m - 4u)) / 4u], k0 + 0u < p.k);
            let q0_1 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 1u, p.k - 1u) * p.m + min(row0 + 0u, p.m - 4u)) / 4u], k0 + 1u < p.k);
            let q0_2 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 2u, p.k - 1u) * p.m + min(row0 + 0u, p.m - 4u)) / 4u], k0 + 2u < p.k);
            let q0_3 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 3u, p.k - 1u) * p.m + min(row0 + 0u, p.m - 4u)) / 4u], k0 + 3u < p.k);
            let q1_0 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 0u, p.k - 1u) * p.m + min(row0 + 4u, p.m - 4u)) / 4u], k0 + 0u < p.k);
            let q1_1 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 1u, p.k - 1u) * p.m + min(row0 + 4u, p.m - 4u)) / 4u], k0 + 1u < p.k);
            let q1_2 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 2u, p.k - 1u) * p.m + min(row0 + 4u, p.m - 4u)) / 4u], k0 + 2u < p.k);
            let q1_3 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 3u, p.k - 1u) * p.m + min(row0 + 4u, p.m - 4u)) / 4u], k0 + 3u < p.k);
            let q2_0 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 0u, p.k - 1u) * p.m + min(row0 + 8u, p.m - 4u)) / 4u], k0 + 0u < p.k);
            let q2_1 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 1u, p.k - 1u) * p.m + min(row0 + 8u, p.m - 4u)) / 4u], k0 + 1u < p.k);
            let q2_2 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 2u, p.k - 1u) * p.m + min(row0 + 8u, p.m - 4u)) / 4u], k0 + 2u < p.k);
            let q2_3 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 3u, p.k - 1u) * p.m + min(row0 + 8u, p.m - 4u)) / 4u], k0 + 3u < p.k);
            let q3_0 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 0u, p.k - 1u) * p.m + min(row0 + 12u, p.m - 4u)) / 4u], k0 + 0u < p.k);
            let q3_1 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 1u, p.k - 1u) * p.m + min(row0 + 12u, p.m - 4u)) / 4u], k0 + 1u < p.k);
            let q3_2 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 2u, p.k - 1u) * p.m + min(row0 + 12u, p.m - 4u)) / 4u], k0 + 2u < p.k);
            let q3_3 = select(vec4<f32>(0.0), a_vec[(base_a + min(k0 + 3u, p.k - 1u) * p.m + min(row0 + 12u, p.m - 4u)) / 4u], k0 + 3u < p.k);
            a0 = vec4<f32>(q0_0.x, q0_1.x, q0_2.x, q0_3.x);
            a1 = vec4<f32>(q0_0.y, q0_1.y, q0_2.y, q0_3.y);
            a2 = vec4<f32>(q0_0.z, q0_1.z, q0_2.z, q0_3.z);
            a3 = vec4<f32>(q0_0.w, q0_1.w, q0_2.w, q0_3.w);
            a4 = vec4<f32>(q1_0.x, q1_1.x, q1_2.x, q1_3.x);
            a5 = vec4<f32>(q1_0.y, q1_1.y, q1_2.y, q1_3.y);
            a6 = vec4<f32>(q1_0.z, q1_1.z, q1_2.z, q1_3.z);
            a7 = vec4<f32>(q1_0.w, q1_1.w, q1_2.w, q1_3.w);
            a8 = vec4<f32>(q2_0.x, q2_1.x, q2_2.x, q2_3.x);
            a9 = vec4<f32>(q2_0.y, q2_1.y, q2_2.y, q2_3.y);
            a10 = vec4<f32>(q2_0.z, q2_1.z, q2_2.z, q2_3.z);
            a11 = vec4<f32>(q2_0.w, q2_1.w, q2_2.w, q2_3.w);
            a12 = vec4<f32>(q3_0.x, q3_1.x, q3_2.x, q3_3.x);
            a13 = vec4<f32>(q3_0.y, q3_1.y, q3_2.y, q3_3.y);
            a14 = vec4<f32>(q3_0.z, q3_1.z, q3_2.z, q3_3.z);
            a15 = vec4<f32>(q3_0.w, q3_1.w, q3_2.w, q3_3.w);
        } else {
            a0 = load_a(r0, k0);
            a1 = load_a(r1, k0);
            a2 = load_a(r2, k0);
            a3 = load_a(r3, k0);
            a4 = load_a(r4, k0);
            a5 = load_a(r5, k0);
            a6 = load_a(r6, k0);
            a7 = load_a(r7, k0);
            a8 = load_a(r8, k0);
            a9 = load_a(r9, k0);
            a10 = load_a(r10, k0);
            a11 = load_a(r11, k0);
            a12 = load_a(r12, k0);
            a13 = load_a(r13, k0);
            a14 = load_a(r14, k0);
            a15 = load_a(r15, k0);
        }
        c0_0 += a0.x * b00 + a0.y * b10 + a0.z * b20 + a0.w * b30;
        c0_1 += a0.x * b01 + a0.y * b11 + a0.z * b21 + a0.w * b31;
        c1_0 += a1.x * b00 + a1.y * b10 + a1.z * b20 + a1.w * b30;
        c1_1 += a1.x * b01 + a1.y * b11 + a1.z * b21 + a1.w * b31;
        c2_0 += a2.x * b00 + a2.y * b10 + a2.z * b20 + a2.w * b30;
        c2_1 += a2.x * b01 + a2.y * b11 + a2.z * b21 + a2.w * b31;
        c3_0 += a3.x * b00 + a3.y * b10 + a3.z * b20 + a3.w * b30;
        c3_1 += a3.x * b01 + a3.y * b11 + a3.z * b21 + a3.w * b31;
        c4_0 += a4.x * b00 + a4.y * b10 + a4.z * b20 + a4.w * b30;
        c4_1 += a4.x * b01 + a4.y * b11 + a4.z * b21 + a4.w * b31;
        c5_0 += a5.x * b00 + a5.y * b10 + a5.z * b20 + a5.w * b30;
        c5_1 += a5.x * b01 + a5.y * b11 + a5.z * b21 + a5.w * b31;
        c6_0 += a6.x * b00 + a6.y * b10 + a6.z * b20 + a6.w * b30;
        c6_1 += a6.x * b01 + a6.y * b11 + a6.z * b21 + a6.w * b31;
        c7_0 += a7.x * b00 + a7.y * b10 + a7.z * b20 + a7.w * b30;
        c7_1 += a7.x * b01 + a7.y * b11 + a7.z * b21 + a7.w * b31;
        c8_0 += a8.x * b00 + a8.y * b10 + a8.z * b20 + a8.w * b30;
        c8_1 += a8.x * b01 + a8.y * b11 + a8.z * b21 + a8.w * b31;
        c9_0 += a9.x * b00 + a9.y * b10 + a9.z * b20 + a9.w * b30;
        c9_1 += a9.x * b01 + a9.y * b11 + a9.z * b21 + a9.w * b31;
        c10_0 += a10.x * b00 + a10.y * b10 + a10.z * b20 + a10.w * b30;
        c10_1 += a10.x * b01 + a10.y * b11 + a10.z * b21 + a10.w * b31;
        c11_0 += a11.x * b00 + a11.y * b10 + a11.z * b20 + a11.w * b30;
        c11_1 += a11.x * b01 + a11.y * b11 + a11.z * b21 + a11.w * b31;
        c12_0 += a12.x * b00 + a12.y * b10 + a12.z * b20 + a12.w * b30;
        c12_1 += a12.x * b01 + a12.y * b11 + a12.z * b21 + a12.w * b31;
        c13_0 += a13.x * b00 + a13.y * b10 + a13.z * b20 + a13.w * b30;
        c13_1 += a13.x * b01 + a13.y * b11 + a13.z * b21 + a13.w * b31;
        c14_0 += a14.x * b00 + a14.y * b10 + a14.z * b20 + a14.w * b30;
        c14_1 += a14.x * b01 + a14.y * b11 + a14.z * b21 + a14.w * b31;
        c15_0 += a15.x * b00 + a15.y * b10 + a15.z * b20 + a15.w * b30;
        c15_1 += a15.x * b01 + a15.y * b11 + a15.z * b21 + a15.w * b31;
    }
    store(row0 + 0u, c0_0, c0_1);
    store(row0 + 1u, c1_0, c1_1);
    store(row0 + 2u, c2_0, c2_1);
    store(row0 + 3u, c3_0, c3_1);
    store(row0 + 4u, c4_0, c4_1);
    store(row0 + 5u, c5_0, c5_1);
    store(row0 + 6u, c6_0, c6_1);
    store(row0 + 7u, c7_0, c7_1);
    store(row0 + 8u, c8_0, c8_1);
    store(row0 + 9u, c9_0, c9_1);
    store(row0 + 10u, c10_0, c10_1);
    store(row0 + 11u, c11_0, c11_1);
    store(row0 + 12u, c12_0, c12_1);
    store(row0 + 13u, c13_0, c13_1);
    store(row0 + 14u, c14_0, c14_1);
    store(row0 + 15u, c15_0, c15_1);
}
