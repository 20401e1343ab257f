// Rotary position embedding (NeoX pairing j ↔ j + hd/2) on the q and k heads of a fused qkv tensor
// (rows = B·S', columns [q heads | k heads | v heads], hd each); v is copied. sign = +1 rotates by +θ (forward),
// sign = -1 by -θ, which is the transpose, so the same kernel maps dq', dk' back to dq, dk.
struct Params { rows: u32, seq: u32, heads: u32, hd: u32, sign: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>; // [cos (seq, hd/2) | sin (seq, hd/2)]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// One invocation per (row, head slot of 3·heads, pair j < hd/2).
@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half = p.hd / 2u;
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.rows * 3u * p.heads * half) { return; }
    let j = i % half;
    let slot = (i / half) % (3u * p.heads);
    let row = i / (half * 3u * p.heads);
    let a = row * 3u * p.heads * p.hd + slot * p.hd + j;
    let b = a + half;
    if (slot >= 2u * p.heads) {
        out[a] = x[a];
        out[b] = x[b];
        return;
    }
    let pos = row % p.seq;
    let c = table[pos * half + j];
    let s = p.sign * table[p.seq * half + pos * half + j];
    let xa = x[a];
    let xb = x[b];
    out[a] = xa * c - xb * s;
    out[b] = xb * c + xa * s;
}
