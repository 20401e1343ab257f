// attention.wgsl's contract (forward, backward_dq, backward_dkv; delta_rows stays there) for GPUs, which have
// fast workgroup memory: flash attention with FA2's backward. A workgroup owns a block of BR rows of one
// (batch, head), one row per invocation with its head vectors in registers, and walks the other side's rows in
// tiles of BT staged in workgroup memory, so each K, V, Q or dO row is read from global memory once per block
// rather than once per row. No S'×S' matrix is stored and no atomics are used:
// - forward: queries own the rows and K, V are staged; the online softmax rescales only when the running
//   maximum grows, so each key costs one exp.
// - backward_dq: queries own the rows, K, V are staged; dq_i = scale · Σ_j P_ij (dP_ij − delta_i) k_j.
// - backward_dkv: keys own the rows, Q, dO are staged; dk_j = scale · Σ_i dS_ij q_i, dv_j = Σ_i P_ij dO_i.
struct Params { batch: u32, seq: u32, heads: u32, hd: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> row_out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;

// The head dim in vec4s (hd / 4, at most MAX_HD4), and the rows per staged tile (BT · HD4 ≤ TILE4).
override HD4: u32 = 16u;
override BT: u32 = 32u;

const BR: u32 = 64u; // rows per workgroup, one per invocation
const MAX_HD4: u32 = 32u;
const TILE4: u32 = 512u; // vec4 per staged operand: 8 KiB each, the 16 KiB WebGPU guarantees for two
var<workgroup> tile_x: array<vec4<f32>, TILE4>; // [BT][HD4]: K, or Q in backward_dkv
var<workgroup> tile_y: array<vec4<f32>, TILE4>; // [BT][HD4]: V, or dO in backward_dkv

// vec4 offsets of head h's q (part 0), k (1) or v (2) in row (b, s) of qkv, and of head h in row (b, s) of o.
fn qkv_at(part: u32, b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * 3u * p.heads + part * p.heads + h) * HD4; }
fn o_at(b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * p.heads + h) * HD4; }

// The workgroup's (batch, head, first row); the grid folds into 2-D past 65,535 workgroups.
struct Block { b: u32, h: u32, r0: u32, live: bool }
fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
    let blocks = (p.seq + BR - 1u) / BR;
    let g = wid.x + wid.y * nwg.x;
    let bh = g / blocks;
    return Block(bh / p.heads, bh % p.heads, (g % blocks) * BR, g < p.batch * p.heads * blocks);
}

// Stage rows [t0, t0 + n) of head h into the tiles, lanes along the rows' contiguous vec4s: k and v, or q and
// dO (two functions, since an entry's bindings are what it reaches, and the forward does not bind dO).
fn stage_kv(b: u32, h: u32, t0: u32, n: u32, lane: u32) {
    workgroupBarrier(); // every lane is done with the previous tile
    for (var e = lane; e < n * HD4; e += BR) {
        let t = t0 + e / HD4;
        tile_x[e] = qkv[qkv_at(1u, b, t, h) + e % HD4];
        tile_y[e] = qkv[qkv_at(2u, b, t, h) + e % HD4];
    }
    workgroupBarrier();
}
fn stage_qg(b: u32, h: u32, t0: u32, n: u32, lane: u32) {
    workgroupBarrier();
    for (var e = lane; e < n * HD4; e += BR) {
        let t = t0 + e / HD4;
        tile_x[e] = qkv[qkv_at(0u, b, t, h) + e % HD4];
        tile_y[e] = dout[o_at(b, t, h) + e % HD4];
    }
    workgroupBarrier();
}

fn dot4(a: vec4<f32>) -> f32 { return (a.x + a.y) + (a.z + a.w); }

@compute @workgroup_size(BR)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live) { return; }
    let i = min(blk.r0 + lane, p.seq - 1u); // lanes past the end compute row S'−1 again and store nothing
    var q: array<vec4<f32>, MAX_HD4>;
    var acc: array<vec4<f32>, MAX_HD4>;
    let qo = qkv_at(0u, blk.b, i, blk.h);
    for (var d = 0u; d < HD4; d++) { q[d] = qkv[qo + d] * p.scale; acc[d] = vec4<f32>(0.0); }
    var m = -3.0e38;
    var l = 0.0;
    for (var j0 = 0u; j0 < p.seq; j0 += BT) {
        let n = min(BT, p.seq - j0);
        stage_kv(blk.b, blk.h, j0, n, lane);
        for (var j = 0u; j < n; j++) {
            var s4 = vec4<f32>(0.0);
            for (var d = 0u; d < HD4; d++) { s4 += q[d] * tile_x[j * HD4 + d]; }
            let s = dot4(s4);
            if (s > m) {
                let c = exp(m - s);
                l *= c;
                for (var d = 0u; d < HD4; d++) { acc[d] *= c; }
                m = s;
            }
            let w = exp(s - m);
            l += w;
            for (var d = 0u; d < HD4; d++) { acc[d] += w * tile_y[j * HD4 + d]; }
        }
    }
    if (blk.r0 + lane < p.seq) {
        let oo = o_at(blk.b, i, blk.h);
        for (var d = 0u; d < HD4; d++) { out[oo + d] = acc[d] / l; }
        row_out[(blk.b * p.heads + blk.h) * p.seq + i] = m + log(l);
    }
}

@compute @workgroup_size(BR)
fn backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live) { return; }
    let i = min(blk.r0 + lane, p.seq - 1u);
    var q: array<vec4<f32>, MAX_HD4>;
    var g: array<vec4<f32>, MAX_HD4>;
    var dq: array<vec4<f32>, MAX_HD4>;
    let qo = qkv_at(0u, blk.b, i, blk.h);
    let go = o_at(blk.b, i, blk.h);
    for (var d = 0u; d < HD4; d++) { q[d] = qkv[qo + d] * p.scale; g[d] = dout[go + d]; dq[d] = vec4<f32>(0.0); }
    let row = (blk.b * p.heads + blk.h) * p.seq + i;
    let li = lse[row];
    let di = delta[row];
    for (var j0 = 0u; j0 < p.seq; j0 += BT) {
        let n = min(BT, p.seq - j0);
        stage_kv(blk.b, blk.h, j0, n, lane);
        for (var j = 0u; j < n; j++) {
            var s4 = vec4<f32>(0.0);
            var dp4 = vec4<f32>(0.0);
            for (var d = 0u; d < HD4; d++) {
                s4 += q[d] * tile_x[j * HD4 + d];
                dp4 += g[d] * tile_y[j * HD4 + d];
            }
            let pij = exp(dot4(s4) - li);
            let ds = pij * (dot4(dp4) - di);
            for (var d = 0u; d < HD4; d++) { dq[d] += ds * tile_x[j * HD4 + d]; }
        }
    }
    if (blk.r0 + lane < p.seq) {
        for (var d = 0u; d < HD4; d++) { out[qo + d] = dq[d] * p.scale; }
    }
}

@compute @workgroup_size(BR)
fn backward_dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live) { return; }
    let j = min(blk.r0 + lane, p.seq - 1u);
    var k: array<vec4<f32>, MAX_HD4>;
    var v: array<vec4<f32>, MAX_HD4>;
    var dk: array<vec4<f32>, MAX_HD4>;
    var dv: array<vec4<f32>, MAX_HD4>;
    let ko = qkv_at(1u, blk.b, j, blk.h);
    let vo = qkv_at(2u, blk.b, j, blk.h);
    for (var d = 0u; d < HD4; d++) {
        k[d] = qkv[ko + d] * p.scale;
        v[d] = qkv[vo + d];
        dk[d] = vec4<f32>(0.0);
        dv[d] = vec4<f32>(0.0);
    }
    let rows = (blk.b * p.heads + blk.h) * p.seq;
    for (var i0 = 0u; i0 < p.seq; i0 += BT) {
        let n = min(BT, p.seq - i0);
        stage_qg(blk.b, blk.h, i0, n, lane);
        for (var i = 0u; i < n; i++) {
            var s4 = vec4<f32>(0.0);
            var dp4 = vec4<f32>(0.0);
            for (var d = 0u; d < HD4; d++) {
                s4 += tile_x[i * HD4 + d] * k[d];
                dp4 += tile_y[i * HD4 + d] * v[d];
            }
            let pij = exp(dot4(s4) - lse[rows + i0 + i]); // the same row for every lane: one broadcast load
            let ds = pij * (dot4(dp4) - delta[rows + i0 + i]);
            for (var d = 0u; d < HD4; d++) {
                dk[d] += ds * tile_x[i * HD4 + d];
                dv[d] += pij * tile_y[i * HD4 + d];
            }
        }
    }
    if (blk.r0 + lane < p.seq) {
        for (var d = 0u; d < HD4; d++) {
            out[ko + d] = dk[d] * p.scale;
            out[vo + d] = dv[d];
        }
    }
}
