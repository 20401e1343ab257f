// RMSNorm with no weight over the last axis, fused with its residual add: y = rms(x + r),
// rms(v) = v * rsqrt(mean(v²) + eps). The sequence-axis norm of the MLP token mixer runs this on the
// transposed (B, D, S') tensor. Two shapes: forward/backward, one invocation per row, for CPU adapters, where
// each lane is a SIMD lane and barriers are dear; forward_workgroup/backward_workgroup, one workgroup per row, for
// GPUs: neighbouring lanes read neighbouring words of the row, and a tree in workgroup memory sums them in a
// fixed order (deterministic, no atomics).
struct Params { rows: u32, dim: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read> y: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;

const WG: u32 = 64u;

// out = rms(x + r); rstd_out = 1 / sqrt(mean((x + r)²) + eps) per row
@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (row >= p.rows) { return; }
    let o = row * p.dim;
    var ss = 0.0;
    for (var i = 0u; i < p.dim; i++) {
        let v = x[o + i] + r[o + i];
        ss += v * v;
    }
    let s = inverseSqrt(ss / f32(p.dim) + p.eps);
    for (var i = 0u; i < p.dim; i++) {
        out[o + i] = (x[o + i] + r[o + i]) * s;
    }
    rstd_out[row] = s;
}

// Gradient w.r.t. the normalised sum, from the output y and its gradient dy:
// d(x+r) = rstd * (dy - y * mean(dy * y))
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG; // the grid folds into 2-D past 65,535 workgroups
    if (row >= p.rows) { return; }
    let o = row * p.dim;
    var dot = 0.0;
    for (var i = 0u; i < p.dim; i++) { dot += y[o + i] * dy[o + i]; }
    let mean = dot / f32(p.dim);
    let s = rstd[row];
    for (var i = 0u; i < p.dim; i++) {
        out[o + i] = s * (dy[o + i] - y[o + i] * mean);
    }
}

const RW: u32 = 64u; // lanes per row in the workgroup kernels
var<workgroup> lane_sums: array<f32, RW>;

// The sum of v over the workgroup's lanes, in a fixed tree order, returned to every lane.
fn row_sum(lane: u32, v: f32) -> f32 {
    lane_sums[lane] = v;
    workgroupBarrier();
    for (var half = RW / 2u; half > 0u; half >>= 1u) {
        if (lane < half) { lane_sums[lane] += lane_sums[lane + half]; }
        workgroupBarrier();
    }
    let total = lane_sums[0];
    workgroupBarrier(); // every lane has read it before the next sum writes
    return total;
}

@compute @workgroup_size(RW)
fn forward_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lane: u32) {
    let row = wid.x + wid.y * nwg.x; // the grid folds into 2-D past 65,535 workgroups
    if (row >= p.rows) { return; }
    let o = row * p.dim;
    var ss = 0.0;
    for (var i = lane; i < p.dim; i += RW) {
        let v = x[o + i] + r[o + i];
        ss += v * v;
    }
    let s = inverseSqrt(row_sum(lane, ss) / f32(p.dim) + p.eps);
    for (var i = lane; i < p.dim; i += RW) {
        out[o + i] = (x[o + i] + r[o + i]) * s;
    }
    if (lane == 0u) { rstd_out[row] = s; }
}

@compute @workgroup_size(RW)
fn backward_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lane: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) { return; }
    let o = row * p.dim;
    var dot = 0.0;
    for (var i = lane; i < p.dim; i += RW) { dot += y[o + i] * dy[o + i]; }
    let mean = row_sum(lane, dot) / f32(p.dim);
    let s = rstd[row];
    for (var i = lane; i < p.dim; i += RW) {
        out[o + i] = s * (dy[o + i] - y[o + i] * mean);
    }
}
