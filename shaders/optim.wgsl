// Optimizers, one invocation per element: AdamATan2 (the official default) and AdamW, both with decoupled weight
// decay; the EMA of the weights; sign-SGD for the puzzle-embedding rows a batch touched.
// The fixed hyperparameters; Adam's per-step ones are in `hyper` = [lr, bc1, bc2, 0], written by the trainer, so
// that the step's launches are built once. bc1 = 1 − b1^t, bc2 = 1 − b2^t. sgd_lr is sign-SGD's learning rate.
struct Params {
    n: u32, batch: u32, ndim: u32, _pad: u32,
    wd: f32, b1: f32, b2: f32, eps: f32,
    mu: f32, sgd_lr: f32, _pad1: f32, _pad2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> ema: array<f32>;
@group(0) @binding(6) var<storage, read> ids: array<i32>;
@group(0) @binding(7) var<storage, read> hyper: array<f32>;
@group(0) @binding(8) var<storage, read> weights: array<f32>; // the parameters the EMA follows, read-only

const WG: u32 = 256u;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

fn moments(i: u32) {
    let g = grad[i];
    m[i] = p.b1 * m[i] + (1.0 - p.b1) * g;
    v[i] = p.b2 * v[i] + (1.0 - p.b2) * g * g;
}

// p *= 1 − lr·wd; m, v update; p −= lr / bc1 · atan2(m, sqrt(v) / sqrt(bc2))
@compute @workgroup_size(WG)
fn adam_atan2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let lr = hyper[0];
    param[i] *= 1.0 - lr * p.wd;
    moments(i);
    let den = sqrt(v[i]) / sqrt(hyper[2]);
    let step = select(atan2(m[i], den), 0.0, m[i] == 0.0 && den == 0.0);
    param[i] -= lr / hyper[1] * step;
}

// p *= 1 − lr·wd; m, v update; p −= lr · (m / bc1) / (sqrt(v / bc2) + eps)
@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let lr = hyper[0];
    param[i] *= 1.0 - lr * p.wd;
    moments(i);
    param[i] -= lr * (m[i] / hyper[1]) / (sqrt(v[i] / hyper[2]) + p.eps);
}

// ema = (1 − mu) · param + mu · ema
@compute @workgroup_size(WG)
fn ema_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    ema[i] = (1.0 - p.mu) * weights[i] + p.mu * ema[i];
}

// For each batch row b that is the first with its identifier: row = ids[b];
// w[row] = w[row] · (1 − lr·wd) − lr · sign(Σ grads of the batch rows with that identifier). grad is (batch, ndim).
@compute @workgroup_size(WG)
fn sign_sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.batch * p.ndim) { return; }
    let f = i % p.ndim;
    let b = i / p.ndim;
    let id = ids[b];
    for (var e = 0u; e < b; e++) {
        if (ids[e] == id) { return; }
    }
    var g = 0.0;
    for (var e = b; e < p.batch; e++) {
        if (ids[e] == id) { g += grad[e * p.ndim + f]; }
    }
    let w = u32(id) * p.ndim + f;
    param[w] = param[w] * (1.0 - p.sgd_lr * p.wd) - p.sgd_lr * sign(g);
}
