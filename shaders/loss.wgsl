// Losses. Token cross-entropy (stablemax or softmax) with ignored labels (≤ 0: PAD 0 and -100), averaged over
// each sequence's valid positions and summed over the batch; argmax accuracy and exact-sequence match; the
// halting head's BCE-with-logits against "the whole sequence is correct". Total = lm + 0.5 · halt, and every
// gradient is scaled by grad_scale (1 / global batch in training, 1 for the raw summed loss).
struct Params { batch: u32, len: u32, vocab: u32, softmax: u32, grad_scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> tok_out: array<f32>; // per position: [loss, correct]
@group(0) @binding(5) var<storage, read> tok: array<f32>;
@group(0) @binding(6) var<storage, read> q: array<f32>;             // (batch, 2): q_halt, q_continue
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
@group(0) @binding(8) var<storage, read_write> seq_out: array<f32>; // per sequence, see SEQ_STATS

const WG: u32 = 64u;
const SEQ_STATS: u32 = 6u; // lm loss, halt loss, seq correct, correct tokens, valid tokens, q_halt

// stablemax s(x) = x + 1 (x ≥ 0), 1 / (1 − x) (x < 0), and its derivative
fn s(x: f32) -> f32 { return select(1.0 / (1.0 - x + 1e-30), x + 1.0, x >= 0.0); }
fn ds(x: f32) -> f32 { let t = 1.0 - x; return select(1.0 / (t * t), 1.0, x >= 0.0); }

fn valid_count(b: u32) -> u32 {
    var n = 0u;
    for (var l = 0u; l < p.len; l++) { n += u32(labels[b * p.len + l] > 0); }
    return n;
}

// One invocation per position: its loss and correctness, and d loss / d logits.
@compute @workgroup_size(WG)
fn token(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.batch * p.len) { return; }
    let o = i * p.vocab;
    let y = labels[i];
    var best = 0u;
    var mx = logits[o];
    for (var v = 1u; v < p.vocab; v++) {
        if (logits[o + v] > mx) { mx = logits[o + v]; best = v; }
    }
    if (y <= 0) {
        for (var v = 0u; v < p.vocab; v++) { dlogits[o + v] = 0.0; }
        tok_out[2u * i] = 0.0;
        tok_out[2u * i + 1u] = 0.0;
        return;
    }
    let yi = u32(y);
    let g = p.grad_scale / f32(max(1u, valid_count(i / p.len)));
    var loss = 0.0;
    if (p.softmax != 0u) {
        var z = 0.0;
        for (var v = 0u; v < p.vocab; v++) { z += exp(logits[o + v] - mx); }
        loss = log(z) - (logits[o + yi] - mx);
        for (var v = 0u; v < p.vocab; v++) {
            dlogits[o + v] = g * (exp(logits[o + v] - mx) / z - select(0.0, 1.0, v == yi));
        }
    } else {
        var z = 0.0;
        for (var v = 0u; v < p.vocab; v++) { z += s(logits[o + v]); }
        let xy = logits[o + yi];
        loss = log(z) - log(s(xy));
        for (var v = 0u; v < p.vocab; v++) {
            dlogits[o + v] = g * ds(logits[o + v]) / z;
        }
        dlogits[o + yi] -= g * ds(xy) / s(xy);
    }
    tok_out[2u * i] = loss;
    tok_out[2u * i + 1u] = select(0.0, 1.0, best == yi);
}

// One invocation per sequence: lm loss (mean over valid positions), exact match, halting BCE and its gradient.
@compute @workgroup_size(WG)
fn sequence(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.batch) { return; }
    var loss = 0.0;
    var correct = 0u;
    var valid = 0u;
    for (var l = 0u; l < p.len; l++) {
        let i = b * p.len + l;
        if (labels[i] > 0) {
            valid += 1u;
            loss += tok[2u * i];
            correct += u32(tok[2u * i + 1u] > 0.5);
        }
    }
    let seq_correct = select(0.0, 1.0, correct == valid);
    let qh = q[2u * b];
    let bce = max(qh, 0.0) - qh * seq_correct + log(1.0 + exp(-abs(qh)));
    dq[2u * b] = 0.5 * p.grad_scale * (1.0 / (1.0 + exp(-qh)) - seq_correct);
    dq[2u * b + 1u] = 0.0;
    let o = b * SEQ_STATS;
    seq_out[o] = loss / f32(max(1u, valid));
    seq_out[o + 1u] = bce;
    seq_out[o + 2u] = seq_correct;
    seq_out[o + 3u] = f32(correct);
    seq_out[o + 4u] = f32(valid);
    seq_out[o + 5u] = qh;
}
