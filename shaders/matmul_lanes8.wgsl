// matmul.wgsl's contract (C[z] = alpha · op(A[z]) · op(B[z]) (+ C[z])) for adapters whose subgroups are exactly
// 8 lanes and that have 64-bit integers: CPU SIMD adapters such as llvmpipe. There every load costs about as much
// per component as dozens of FMAs, so this kernel minimises load components per FMA:
// - each 8-lane subgroup owns a 64×128 tile of C, each lane 64 rows × 16 columns (64 mat4x4 accumulators);
// - per step of 4 along k, a lane loads only 8 rows of A and its 16 columns of B, as vec2<u64> (4 floats in
//   2 components), and takes the other 56 rows from its neighbours with subgroupBroadcast: 48 load components
//   for 4096 FMAs, where matmul.wgsl needs 96 for 512. Results are stored as vec2<u64> too.
// The launcher uses it only when m, n, k and the batch strides are multiples of 4 and each binding is 16-byte
// aligned. Rows and columns past m and n are clamped on reads (whole groups of 4, so nothing is mixed in) and
// skipped on writes.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    stride_a: u32, stride_b: u32, stride_c: u32, alpha: f32,
}

// A storage buffer, not a uniform: lavapipe inlines uniforms that ifs and loop bounds read and, for this
// kernel, recompiled it on every dispatch (about 100 ms each).
@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec2<u64>>;
@group(0) @binding(2) var<storage, read> b: array<vec2<u64>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec2<u64>>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

// p's sizes, read once: every read of a storage buffer costs a bounds-checked load on CPU adapters.
var<private> m: u32;
var<private> n: u32;
var<private> k: u32;
var<private> base_a: u32;
var<private> base_b: u32;
// The lane's 16 columns of B at the current 4 k: b{q} column kk is B[k0 + kk, col0 + 4q .. col0 + 4q + 4].
var<private> b0: mat4x4<f32>;
var<private> b1: mat4x4<f32>;
var<private> b2: mat4x4<f32>;
var<private> b3: mat4x4<f32>;

// Four floats from their bits, and back.
fn f4(v: vec2<u64>) -> vec4<f32> {
    return vec4<f32>(
        bitcast<f32>(u32(v.x & 0xfffffffflu)), bitcast<f32>(u32(v.x >> 32u)),
        bitcast<f32>(u32(v.y & 0xfffffffflu)), bitcast<f32>(u32(v.y >> 32u)),
    );
}
fn pack(v: vec4<f32>) -> vec2<u64> {
    let u = bitcast<vec4<u32>>(v);
    return vec2<u64>(u64(u.x) | (u64(u.y) << 32u), u64(u.z) | (u64(u.w) << 32u));
}
// Four consecutive floats of `a` or `b` from float offset `i` (a multiple of 4) within the batch entry.
fn a4(i: u32) -> vec4<f32> { return f4(a[(base_a + i) / 4u]); }
fn b4(i: u32) -> vec4<f32> { return f4(b[(base_b + i) / 4u]); }

// Rows row .. row+4 of op(A) at k0 .. k0+4: column j holds row j's four k values.
fn load_a(row: u32, k0: u32) -> mat4x4<f32> {
    if (TRANS_A) {
        // A is stored k×m: one load per k gives the four rows.
        let r = min(row, m - 4u);
        return transpose(mat4x4<f32>(a4(k0 * m + r), a4((k0 + 1u) * m + r), a4((k0 + 2u) * m + r), a4((k0 + 3u) * m + r)));
    }
    let last = m - 1u;
    return mat4x4<f32>(a4(min(row, last) * k + k0), a4(min(row + 1u, last) * k + k0), a4(min(row + 2u, last) * k + k0), a4(min(row + 3u, last) * k + k0));
}

// Columns col .. col+4 of op(B) at k0 .. k0+4: column kk holds B[k0 + kk, col .. col+4].
fn load_b(col: u32, k0: u32) -> mat4x4<f32> {
    if (TRANS_B) {
        // B is stored n×k: one load per column gives its four k values.
        let last = n - 1u;
        return transpose(mat4x4<f32>(b4(min(col, last) * k + k0), b4(min(col + 1u, last) * k + k0), b4(min(col + 2u, last) * k + k0), b4(min(col + 3u, last) * k + k0)));
    }
    let cl = min(col, n - 4u);
    return mat4x4<f32>(b4(k0 * n + cl), b4((k0 + 1u) * n + cl), b4((k0 + 2u) * n + cl), b4((k0 + 3u) * n + cl));
}

// One row's 16 accumulators (column q holds columns 4q .. 4q+4) += that row's 4 k values times B.
fn fma(acc: ptr<function, mat4x4<f32>>, x: vec4<f32>) {
    *acc += mat4x4<f32>(b0 * x, b1 * x, b2 * x, b3 * x);
}

var<private> base_c: u32;
var<private> col0: u32;

fn store(row: u32, v: mat4x4<f32>) {
    if (row >= m) { return; }
    for (var q = 0u; q < 4u; q++) {
        let col = col0 + 4u * q;
        if (col < n) {
            let i = (base_c + row * n + col) / 4u;
            var x = p.alpha * v[q];
            if (p.accumulate != 0u) { x += f4(c[i]); }
            c[i] = pack(x);
        }
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    m = p.m;
    n = p.n;
    k = p.k;
    base_a = wid.z * p.stride_a;
    base_b = wid.z * p.stride_b;
    base_c = wid.z * p.stride_c;
    col0 = (wid.x * 8u + lane) * 16u;
    let row0 = wid.y * 64u;
    var c0: mat4x4<f32>; var c1: mat4x4<f32>; var c2: mat4x4<f32>; var c3: mat4x4<f32>;
    var c4: mat4x4<f32>; var c5: mat4x4<f32>; var c6: mat4x4<f32>; var c7: mat4x4<f32>;
    var c8: mat4x4<f32>; var c9: mat4x4<f32>; var c10: mat4x4<f32>; var c11: mat4x4<f32>;
    var c12: mat4x4<f32>; var c13: mat4x4<f32>; var c14: mat4x4<f32>; var c15: mat4x4<f32>;
    var c16: mat4x4<f32>; var c17: mat4x4<f32>; var c18: mat4x4<f32>; var c19: mat4x4<f32>;
    var c20: mat4x4<f32>; var c21: mat4x4<f32>; var c22: mat4x4<f32>; var c23: mat4x4<f32>;
    var c24: mat4x4<f32>; var c25: mat4x4<f32>; var c26: mat4x4<f32>; var c27: mat4x4<f32>;
    var c28: mat4x4<f32>; var c29: mat4x4<f32>; var c30: mat4x4<f32>; var c31: mat4x4<f32>;
    var c32: mat4x4<f32>; var c33: mat4x4<f32>; var c34: mat4x4<f32>; var c35: mat4x4<f32>;
    var c36: mat4x4<f32>; var c37: mat4x4<f32>; var c38: mat4x4<f32>; var c39: mat4x4<f32>;
    var c40: mat4x4<f32>; var c41: mat4x4<f32>; var c42: mat4x4<f32>; var c43: mat4x4<f32>;
    var c44: mat4x4<f32>; var c45: mat4x4<f32>; var c46: mat4x4<f32>; var c47: mat4x4<f32>;
    var c48: mat4x4<f32>; var c49: mat4x4<f32>; var c50: mat4x4<f32>; var c51: mat4x4<f32>;
    var c52: mat4x4<f32>; var c53: mat4x4<f32>; var c54: mat4x4<f32>; var c55: mat4x4<f32>;
    var c56: mat4x4<f32>; var c57: mat4x4<f32>; var c58: mat4x4<f32>; var c59: mat4x4<f32>;
    var c60: mat4x4<f32>; var c61: mat4x4<f32>; var c62: mat4x4<f32>; var c63: mat4x4<f32>;
    for (var k0 = 0u; k0 < k; k0 += 4u) {
        b0 = load_b(col0, k0);
        b1 = load_b(col0 + 4u, k0);
        b2 = load_b(col0 + 8u, k0);
        b3 = load_b(col0 + 12u, k0);
        // Lane l holds rows 4l .. 4l+4 of each half of the tile; row 4l + j comes from lane l's column j.
        let x0 = load_a(row0 + 4u * lane, k0);
        fma(&c0, subgroupBroadcast(x0[0], 0u)); fma(&c1, subgroupBroadcast(x0[1], 0u)); fma(&c2, subgroupBroadcast(x0[2], 0u)); fma(&c3, subgroupBroadcast(x0[3], 0u));
        fma(&c4, subgroupBroadcast(x0[0], 1u)); fma(&c5, subgroupBroadcast(x0[1], 1u)); fma(&c6, subgroupBroadcast(x0[2], 1u)); fma(&c7, subgroupBroadcast(x0[3], 1u));
        fma(&c8, subgroupBroadcast(x0[0], 2u)); fma(&c9, subgroupBroadcast(x0[1], 2u)); fma(&c10, subgroupBroadcast(x0[2], 2u)); fma(&c11, subgroupBroadcast(x0[3], 2u));
        fma(&c12, subgroupBroadcast(x0[0], 3u)); fma(&c13, subgroupBroadcast(x0[1], 3u)); fma(&c14, subgroupBroadcast(x0[2], 3u)); fma(&c15, subgroupBroadcast(x0[3], 3u));
        fma(&c16, subgroupBroadcast(x0[0], 4u)); fma(&c17, subgroupBroadcast(x0[1], 4u)); fma(&c18, subgroupBroadcast(x0[2], 4u)); fma(&c19, subgroupBroadcast(x0[3], 4u));
        fma(&c20, subgroupBroadcast(x0[0], 5u)); fma(&c21, subgroupBroadcast(x0[1], 5u)); fma(&c22, subgroupBroadcast(x0[2], 5u)); fma(&c23, subgroupBroadcast(x0[3], 5u));
        fma(&c24, subgroupBroadcast(x0[0], 6u)); fma(&c25, subgroupBroadcast(x0[1], 6u)); fma(&c26, subgroupBroadcast(x0[2], 6u)); fma(&c27, subgroupBroadcast(x0[3], 6u));
        fma(&c28, subgroupBroadcast(x0[0], 7u)); fma(&c29, subgroupBroadcast(x0[1], 7u)); fma(&c30, subgroupBroadcast(x0[2], 7u)); fma(&c31, subgroupBroadcast(x0[3], 7u));
        let x1 = load_a(row0 + 32u + 4u * lane, k0);
        fma(&c32, subgroupBroadcast(x1[0], 0u)); fma(&c33, subgroupBroadcast(x1[1], 0u)); fma(&c34, subgroupBroadcast(x1[2], 0u)); fma(&c35, subgroupBroadcast(x1[3], 0u));
        fma(&c36, subgroupBroadcast(x1[0], 1u)); fma(&c37, subgroupBroadcast(x1[1], 1u)); fma(&c38, subgroupBroadcast(x1[2], 1u)); fma(&c39, subgroupBroadcast(x1[3], 1u));
        fma(&c40, subgroupBroadcast(x1[0], 2u)); fma(&c41, subgroupBroadcast(x1[1], 2u)); fma(&c42, subgroupBroadcast(x1[2], 2u)); fma(&c43, subgroupBroadcast(x1[3], 2u));
        fma(&c44, subgroupBroadcast(x1[0], 3u)); fma(&c45, subgroupBroadcast(x1[1], 3u)); fma(&c46, subgroupBroadcast(x1[2], 3u)); fma(&c47, subgroupBroadcast(x1[3], 3u));
        fma(&c48, subgroupBroadcast(x1[0], 4u)); fma(&c49, subgroupBroadcast(x1[1], 4u)); fma(&c50, subgroupBroadcast(x1[2], 4u)); fma(&c51, subgroupBroadcast(x1[3], 4u));
        fma(&c52, subgroupBroadcast(x1[0], 5u)); fma(&c53, subgroupBroadcast(x1[1], 5u)); fma(&c54, subgroupBroadcast(x1[2], 5u)); fma(&c55, subgroupBroadcast(x1[3], 5u));
        fma(&c56, subgroupBroadcast(x1[0], 6u)); fma(&c57, subgroupBroadcast(x1[1], 6u)); fma(&c58, subgroupBroadcast(x1[2], 6u)); fma(&c59, subgroupBroadcast(x1[3], 6u));
        fma(&c60, subgroupBroadcast(x1[0], 7u)); fma(&c61, subgroupBroadcast(x1[1], 7u)); fma(&c62, subgroupBroadcast(x1[2], 7u)); fma(&c63, subgroupBroadcast(x1[3], 7u));
    }
    store(row0, c0); store(row0 + 1u, c1); store(row0 + 2u, c2); store(row0 + 3u, c3);
    store(row0 + 4u, c4); store(row0 + 5u, c5); store(row0 + 6u, c6); store(row0 + 7u, c7);
    store(row0 + 8u, c8); store(row0 + 9u, c9); store(row0 + 10u, c10); store(row0 + 11u, c11);
    store(row0 + 12u, c12); store(row0 + 13u, c13); store(row0 + 14u, c14); store(row0 + 15u, c15);
    store(row0 + 16u, c16); store(row0 + 17u, c17); store(row0 + 18u, c18); store(row0 + 19u, c19);
    store(row0 + 20u, c20); store(row0 + 21u, c21); store(row0 + 22u, c22); store(row0 + 23u, c23);
    store(row0 + 24u, c24); store(row0 + 25u, c25); store(row0 + 26u, c26); store(row0 + 27u, c27);
    store(row0 + 28u, c28); store(row0 + 29u, c29); store(row0 + 30u, c30); store(row0 + 31u, c31);
    store(row0 + 32u, c32); store(row0 + 33u, c33); store(row0 + 34u, c34); store(row0 + 35u, c35);
    store(row0 + 36u, c36); store(row0 + 37u, c37); store(row0 + 38u, c38); store(row0 + 39u, c39);
    store(row0 + 40u, c40); store(row0 + 41u, c41); store(row0 + 42u, c42); store(row0 + 43u, c43);
    store(row0 + 44u, c44); store(row0 + 45u, c45); store(row0 + 46u, c46); store(row0 + 47u, c47);
    store(row0 + 48u, c48); store(row0 + 49u, c49); store(row0 + 50u, c50); store(row0 + 51u, c51);
    store(row0 + 52u, c52); store(row0 + 53u, c53); store(row0 + 54u, c54); store(row0 + 55u, c55);
    store(row0 + 56u, c56); store(row0 + 57u, c57); store(row0 + 58u, c58); store(row0 + 59u, c59);
    store(row0 + 60u, c60); store(row0 + 61u, c61); store(row0 + 62u, c62); store(row0 + 63u, c63);
}
