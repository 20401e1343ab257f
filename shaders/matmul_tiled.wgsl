// matmul.wgsl's contract (C[z] = alpha · op(A[z]) · op(B[z]) (+ C[z])) for GPUs, which have fast workgroup
// memory: each workgroup computes a BM×BN tile of C (BM = WY·TM, BN = WX·TN) and walks k in slices of BK,
// staging op(A) and op(B) for the slice in workgroup memory with loads that run along each operand's
// contiguous dimension (coalesced, whatever the transposes). Each invocation accumulates TM×TN outputs in
// registers; it owns rows ly + i·WY and columns lx + j·WX, so neighbouring lanes read neighbouring words of
// the staged tiles (no bank conflicts) and store neighbouring words of C.
//
// Every output is summed over k in increasing order, one product at a time, so every tile shape gives the
// same bits: the launcher may pick tiles per adapter by timing without changing results.
//
// Split-K, for long k over few output tiles: grid z runs over batch × splits, split s sums k in
// [s·chunk, min(k, (s+1)·chunk)) into `partial` (splits × batch × m × n, entry split_k), and `reduce` adds
// the partials in order of s. The result is deterministic and never uses atomics.
// Operands past m, n or the split's end of k are read as zeros and outputs past m or n are not written.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    stride_a: u32, stride_b: u32, stride_c: u32, alpha: f32,
    batch: u32, splits: u32, chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// Invocations along the columns and the rows, and outputs per invocation along each (TM, TN ≤ 8).
override WX: u32 = 16u;
override WY: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;
// The depth of a k slice. The launcher keeps BM·BK and BK·BN within TILE.
override BK: u32 = 16u;
override REDUCE_WG: u32 = 256u;

const TILE: u32 = 1024u; // floats per staged operand: 4 KiB each, 8 KiB of the 16 KiB WebGPU guarantees
var<workgroup> tile_a: array<f32, TILE>; // [BK][BM]
var<workgroup> tile_b: array<f32, TILE>; // [BK][BN]
var<private> acc: array<f32, 64>; // [TM][TN]

// A[row, kk] of op(A) for batch entry z (zero outside the matrix or past k_end).
fn read_a(z: u32, row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m || kk >= k_end) { return 0.0; }
    let base = z * p.stride_a;
    if (TRANS_A) { return a[base + kk * p.m + row]; }
    return a[base + row * p.k + kk];
}

fn read_b(z: u32, kk: u32, col: u32, k_end: u32) -> f32 {
    if (col >= p.n || kk >= k_end) { return 0.0; }
    let base = z * p.stride_b;
    if (TRANS_B) { return b[base + col * p.k + kk]; }
    return b[base + kk * p.n + col];
}

// Fill `acc` with this invocation's outputs of the tile at workgroup (x, y), summed over k in [k0, k_end).
fn tile(z: u32, wid: vec2<u32>, lid: vec2<u32>, k0: u32, k_end: u32) {
    let bm = WY * TM;
    let bn = WX * TN;
    let row0 = wid.y * bm;
    let col0 = wid.x * bn;
    let threads = WX * WY;
    let t = lid.y * WX + lid.x;
    for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
    for (var s = k0; s < k_end; s += BK) {
        // Consecutive t walk the operand's contiguous dimension: k for A, m for Aᵀ; n for B, k for Bᵀ.
        for (var e = t; e < bm * BK; e += threads) {
            var r: u32; var kk: u32;
            if (TRANS_A) { r = e % bm; kk = e / bm; } else { kk = e % BK; r = e / BK; }
            tile_a[kk * bm + r] = read_a(z, row0 + r, s + kk, k_end);
        }
        for (var e = t; e < BK * bn; e += threads) {
            var cc: u32; var kk: u32;
            if (TRANS_B) { kk = e % BK; cc = e / BK; } else { cc = e % bn; kk = e / bn; }
            tile_b[kk * bn + cc] = read_b(z, s + kk, col0 + cc, k_end);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var ra: array<f32, 8>;
            var rb: array<f32, 8>;
            for (var i = 0u; i < TM; i++) { ra[i] = tile_a[kk * bm + lid.y + i * WY]; }
            for (var j = 0u; j < TN; j++) { rb[j] = tile_b[kk * bn + lid.x + j * WX]; }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] += ra[i] * rb[j];
                }
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let z = wid.z;
    tile(z, wid.xy, lid.xy, 0u, p.k);
    for (var i = 0u; i < TM; i++) {
        let row = wid.y * WY * TM + lid.y + i * WY;
        for (var j = 0u; j < TN; j++) {
            let col = wid.x * WX * TN + lid.x + j * WX;
            if (row < p.m && col < p.n) {
                let idx = z * p.stride_c + row * p.n + col;
                var x = p.alpha * acc[i * TN + j];
                if (p.accumulate != 0u) { x += c[idx]; }
                c[idx] = x;
            }
        }
    }
}

@compute @workgroup_size(WX, WY)
fn split_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let z = wid.z % p.batch;
    let split = wid.z / p.batch;
    let k0 = split * p.chunk;
    tile(z, wid.xy, lid.xy, k0, min(p.k, k0 + p.chunk));
    let base = (split * p.batch + z) * p.m * p.n;
    for (var i = 0u; i < TM; i++) {
        let row = wid.y * WY * TM + lid.y + i * WY;
        for (var j = 0u; j < TN; j++) {
            let col = wid.x * WX * TN + lid.x + j * WX;
            if (row < p.m && col < p.n) {
                partial[base + row * p.n + col] = acc[i * TN + j];
            }
        }
    }
}

// One invocation per output: the partials in order of split, then alpha and the accumulation.
@compute @workgroup_size(REDUCE_WG)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * REDUCE_WG; // the grid folds into 2-D past 65,535 workgroups
    let mn = p.m * p.n;
    if (i >= p.batch * mn) { return; }
    var sum = partial[i];
    for (var s = 1u; s < p.splits; s++) { sum += partial[s * p.batch * mn + i]; }
    let z = i / mn;
    let idx = z * p.stride_c + i % mn;
    var x = p.alpha * sum;
    if (p.accumulate != 0u) { x += c[idx]; }
    c[idx] = x;
}
