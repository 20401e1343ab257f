// Input embedding x (B, P+L, D) = scale · [puzzle prefix | embed_tokens[tokens]]. The prefix is the sample's
// puzzle-embedding row (ndim values) zero-padded to P·D and laid out as P positions. Gradients are gathers
// (each output element loops over the positions that use it), so they are deterministic without atomics.
struct Params { batch: u32, len: u32, prefix: u32, dim: u32, vocab: u32, ndim: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read> puzzle: array<f32>;
@group(0) @binding(6) var<storage, read> dx: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let seq = p.prefix + p.len;
    if (i >= p.batch * seq * p.dim) { return; }
    let d = i % p.dim;
    let s = (i / p.dim) % seq;
    let b = i / (p.dim * seq);
    var v = 0.0;
    if (s < p.prefix) {
        let f = s * p.dim + d;
        if (f < p.ndim) { v = puzzle[u32(ids[b]) * p.ndim + f]; }
    } else {
        v = table[u32(tokens[b * p.len + s - p.prefix]) * p.dim + d];
    }
    out[i] = p.scale * v;
}

// out (vocab, dim) += scale · Σ over positions with token v of dx[b, P + l, d]
@compute @workgroup_size(WG)
fn backward_table(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.vocab * p.dim) { return; }
    let d = i % p.dim;
    let v = i32(i / p.dim);
    let seq = p.prefix + p.len;
    var acc = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        for (var l = 0u; l < p.len; l++) {
            if (tokens[b * p.len + l] == v) { acc += dx[(b * seq + p.prefix + l) * p.dim + d]; }
        }
    }
    out[i] += p.scale * acc;
}

// out (batch, ndim) = scale · the prefix part of dx: the gradient of each sample's puzzle-embedding row
@compute @workgroup_size(WG)
fn backward_puzzle(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.batch * p.ndim) { return; }
    let f = i % p.ndim;
    let b = i / p.ndim;
    out[i] = p.scale * dx[b * (p.prefix + p.len) * p.dim + f];
}
