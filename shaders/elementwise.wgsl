// Small ops: add, accumulate, scale, fill, transpose, sequence slices, carry reset, bias add and column sums.
// Element-wise kernels run one invocation per output element on a 1D grid folded into 2D (see Gpu::grid).
struct Params {
    n: u32, rows: u32, cols: u32, batch: u32,
    s0: u32, len: u32, seq: u32, s: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<i32>;

const WG: u32 = 256u;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// out = x + y
@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = x[i] + y[i]; }
}

// out += s * x
@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] += p.s * x[i]; }
}

// out = s * x
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = p.s * x[i]; }
}

// out = s
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = p.s; }
}

// out (batch, cols, rows) = transpose of x (batch, rows, cols)
@compute @workgroup_size(WG)
fn transpose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let r = i % p.rows;
    let c = (i / p.rows) % p.cols;
    let b = i / (p.rows * p.cols);
    out[i] = x[(b * p.rows + r) * p.cols + c];
}

// out (batch, len, cols) = x[:, s0 .. s0+len, :] with x (batch, seq, cols)
@compute @workgroup_size(WG)
fn slice_seq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let c = i % p.cols;
    let s = (i / p.cols) % p.len;
    let b = i / (p.cols * p.len);
    out[i] = x[(b * p.seq + p.s0 + s) * p.cols + c];
}

// out[:, s0 .. s0+len, :] += x, the gradient of slice_seq; one invocation per element of x
@compute @workgroup_size(WG)
fn unslice_seq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let c = i % p.cols;
    let s = (i / p.cols) % p.len;
    let b = i / (p.cols * p.len);
    let o = (b * p.seq + p.s0 + s) * p.cols + c;
    out[o] = out[o] + x[i];
}

// out (batch, seq, cols): rows of halted samples (mask[b] != 0) take the initial state x (cols)
@compute @workgroup_size(WG)
fn reset_carry(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let b = i / (p.seq * p.cols);
    if (mask[b] != 0) { out[i] = x[i % p.cols]; }
}

// out (rows, cols) += bias x (cols)
@compute @workgroup_size(WG)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] += x[i % p.cols]; }
}

// out (cols) += sum over rows of x (rows, cols), in row order (deterministic)
@compute @workgroup_size(WG)
fn col_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = index(gid, nwg);
    if (c >= p.cols) { return; }
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) { acc += x[r * p.cols + c]; }
    out[c] += acc;
}
