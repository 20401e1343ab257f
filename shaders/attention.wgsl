// Non-causal multi-head self-attention over a fused, RoPE-rotated qkv tensor (B·S', [q heads | k heads | v heads]),
// softmax(q·kᵀ·scale)·v, heads concatenated head-major into o (B·S', H·hd). The forward keeps the row
// log-sum-exp; the backward recomputes probabilities from it (no S'×S' matrix is ever stored) and writes
// dq, dk, dv into one dqkv tensor with two kernels, one per query row and one per key row: no atomics.
struct Params { batch: u32, seq: u32, heads: u32, hd: u32, scale: f32 }

// Tensors are read as vec4 (hd is a multiple of 4): CPU adapters such as llvmpipe cap the total loop
// iterations of an invocation at 65535, so the per-key work must stay short for S' up to ~1000.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> o: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> row_out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;

const WG: u32 = 64u;
const MAX_HD4: u32 = 32u; // head dim up to 128

// vec4 offsets of head h's q, k and v inside row (b, s) of qkv, and of head h inside row (b, s) of o.
fn q_at(b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * 3u * p.heads + h) * (p.hd / 4u); }
fn k_at(b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * 3u * p.heads + p.heads + h) * (p.hd / 4u); }
fn v_at(b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * 3u * p.heads + 2u * p.heads + h) * (p.hd / 4u); }
fn o_at(b: u32, s: u32, h: u32) -> u32 { return ((b * p.seq + s) * p.heads + h) * (p.hd / 4u); }

// Invocation id → (b, h, i), row-major over (batch, heads, seq).
fn split(id: u32) -> vec3<u32> {
    return vec3<u32>(id / (p.heads * p.seq), (id / p.seq) % p.heads, id % p.seq);
}

// Σ_d x[xo + d] · y[yo + d] over one head, for x in qkv and y in qkv (kind 0) or dout · v (kind 1).
fn dot_qk(qo: u32, ko: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    for (var d = 0u; d < p.hd / 4u; d++) { acc += qkv[qo + d] * qkv[ko + d]; }
    return (acc.x + acc.y) + (acc.z + acc.w);
}
fn dot_gv(go: u32, vo: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    for (var d = 0u; d < p.hd / 4u; d++) { acc += dout[go + d] * qkv[vo + d]; }
    return (acc.x + acc.y) + (acc.z + acc.w);
}

// out = o, row_out = log-sum-exp of each score row; online softmax over the keys.
@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (id >= p.batch * p.heads * p.seq) { return; }
    let bhi = split(id);
    let b = bhi.x; let h = bhi.y; let i = bhi.z;
    let hd4 = p.hd / 4u;
    var acc: array<vec4<f32>, MAX_HD4>;
    for (var d = 0u; d < hd4; d++) { acc[d] = vec4<f32>(0.0); }
    var m = -3.0e38;
    var l = 0.0;
    let qo = q_at(b, i, h);
    for (var j = 0u; j < p.seq; j++) {
        let s = dot_qk(qo, k_at(b, j, h)) * p.scale;
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let w = exp(s - m_new);
        l = l * corr + w;
        let vo = v_at(b, j, h);
        for (var d = 0u; d < hd4; d++) { acc[d] = acc[d] * corr + w * qkv[vo + d]; }
        m = m_new;
    }
    let oo = o_at(b, i, h);
    for (var d = 0u; d < hd4; d++) { out[oo + d] = acc[d] / l; }
    row_out[id] = m + log(l);
}

// row_out = delta_i = dO_i · O_i, per (b, h, i)
@compute @workgroup_size(WG)
fn delta_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (id >= p.batch * p.heads * p.seq) { return; }
    let bhi = split(id);
    let oo = o_at(bhi.x, bhi.z, bhi.y);
    var acc = vec4<f32>(0.0);
    for (var d = 0u; d < p.hd / 4u; d++) { acc += dout[oo + d] * o[oo + d]; }
    row_out[id] = (acc.x + acc.y) + (acc.z + acc.w);
}

// dq_i = scale · Σ_j P_ij (dP_ij − delta_i) k_j, with P_ij = exp(score − lse_i), dP_ij = dO_i · v_j
@compute @workgroup_size(WG)
fn backward_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (id >= p.batch * p.heads * p.seq) { return; }
    let bhi = split(id);
    let b = bhi.x; let h = bhi.y; let i = bhi.z;
    let hd4 = p.hd / 4u;
    var acc: array<vec4<f32>, MAX_HD4>;
    for (var d = 0u; d < hd4; d++) { acc[d] = vec4<f32>(0.0); }
    let li = lse[id];
    let di = delta[id];
    let qo = q_at(b, i, h);
    let go = o_at(b, i, h);
    for (var j = 0u; j < p.seq; j++) {
        let ko = k_at(b, j, h);
        let pij = exp(dot_qk(qo, ko) * p.scale - li);
        let ds = pij * (dot_gv(go, v_at(b, j, h)) - di);
        for (var d = 0u; d < hd4; d++) { acc[d] += ds * qkv[ko + d]; }
    }
    for (var d = 0u; d < hd4; d++) { out[qo + d] = acc[d] * p.scale; }
}

// dk_j = scale · Σ_i P_ij (dP_ij − delta_i) q_i and dv_j = Σ_i P_ij dO_i, per key row (b, h, j)
@compute @workgroup_size(WG)
fn backward_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (id >= p.batch * p.heads * p.seq) { return; }
    let bhj = split(id);
    let b = bhj.x; let h = bhj.y; let j = bhj.z;
    let hd4 = p.hd / 4u;
    var dk: array<vec4<f32>, MAX_HD4>;
    var dv: array<vec4<f32>, MAX_HD4>;
    for (var d = 0u; d < hd4; d++) { dk[d] = vec4<f32>(0.0); dv[d] = vec4<f32>(0.0); }
    let ko = k_at(b, j, h);
    let vo = v_at(b, j, h);
    for (var i = 0u; i < p.seq; i++) {
        let row = (b * p.heads + h) * p.seq + i;
        let qo = q_at(b, i, h);
        let go = o_at(b, i, h);
        let pij = exp(dot_qk(qo, ko) * p.scale - lse[row]);
        let ds = pij * (dot_gv(go, vo) - delta[row]);
        for (var d = 0u; d < hd4; d++) {
            dk[d] += ds * qkv[qo + d];
            dv[d] += pij * dout[go + d];
        }
    }
    for (var d = 0u; d < hd4; d++) {
        out[ko + d] = dk[d] * p.scale;
        out[vo + d] = dv[d];
    }
}
