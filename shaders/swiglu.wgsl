// SwiGLU activation: h (rows, 2·inner) = [gate | up] → a (rows, inner) = silu(gate) · up.
struct Params { rows: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> da: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.rows * p.inner) { return; }
    let row = i / p.inner;
    let j = i % p.inner;
    let g = h[row * 2u * p.inner + j];
    let u = h[row * 2u * p.inner + p.inner + j];
    out[i] = g * sigmoid(g) * u;
}

// dh (rows, 2·inner) from h and da: d gate = da·up·silu'(gate), d up = da·silu(gate)
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.rows * p.inner) { return; }
    let row = i / p.inner;
    let j = i % p.inner;
    let gi = row * 2u * p.inner + j;
    let g = h[gi];
    let u = h[gi + p.inner];
    let s = sigmoid(g);
    let d = da[i];
    out[gi] = d * u * s * (1.0 + g * (1.0 - s));
    out[gi + p.inner] = d * g * s;
}
