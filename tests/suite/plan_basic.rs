//! Buffer-lifetime planner: sharing, lifetimes, invariants, errors, report fields and chart output.

use trm_gpu::plan::{self, check_plan, Plan, Report, Role, Schedule, TensorId, BUFFER_ALIGN};

const NO_LIMIT: u64 = u64::MAX;

/// Parameters + input, then `n` activations each computed from the previous one, then a loss.
fn chain(n: usize) -> (Schedule, TensorId, Vec<TensorId>, TensorId) {
    let mut s = Schedule::new();
    let w = s.tensor("w", Role::Parameter, &[64, 64]);
    let x = s.tensor("x", Role::Input, &[8, 64]);
    let acts: Vec<TensorId> = (0..n).map(|i| s.tensor(format!("a{i}"), Role::Activation, &[8, 64])).collect();
    let loss = s.tensor("loss", Role::Scratch, &[1]);
    for i in 0..n {
        let src = if i == 0 { x } else { acts[i - 1] };
        s.dispatch(format!("layer{i}"), &[src, w], &[acts[i]], 2 * 8 * 64 * 64, false);
    }
    s.dispatch("loss", &[acts[n - 1]], &[loss], 8 * 64, false);
    (s, w, acts, loss)
}

#[test]
fn chain_shares_buffers() {
    let (s, w, acts, loss) = chain(10);
    let p = plan::plan(&s, NO_LIMIT).unwrap();
    check_plan(&s, &p).unwrap();

    assert_eq!(p.lifetimes[w], (0, 10), "persistent spans the whole schedule");
    assert_eq!(p.lifetimes[acts[3]], (3, 4), "first write to last read");
    assert_eq!(p.lifetimes[loss], (10, 10), "written, never read");
    // Neighbours overlap, every second activation can reuse a buffer.
    assert_ne!(p.buffer_of[acts[3]], p.buffer_of[acts[4]]);
    assert_eq!(p.buffer_of[acts[3]], p.buffer_of[acts[5]]);
    assert_eq!(p.buffers.len(), 4, "w, x, and two ping-pong buffers (loss reuses one)");
    assert!(p.buffers.len() < s.tensors.len());
    assert_eq!(p.buffers[p.buffer_of[w]].tensors, vec![w], "persistent buffers are private");

    assert_eq!(p.total_bytes(), p.buffers.iter().map(|b| b.bytes).sum::<u64>());
    assert!(p.buffers.iter().all(|b| b.bytes % BUFFER_ALIGN == 0 && b.bytes > 0));
    assert_eq!(p.buffers[p.buffer_of[loss]].bytes, 8 * 64 * 4, "buffer grows to its largest tensor");
    assert!(p.peak_bytes() < Plan::naive_bytes(&s));
    assert!(p.peak_bytes() <= p.total_bytes());
    assert_eq!(Plan::naive_bytes(&s), 64 * 64 * 4 + 11 * 8 * 64 * 4 + 256, "4-byte loss rounds to 256");
    // Activation peak: x plus the two ping-pong buffers.
    assert_eq!(p.activation_peak_bytes(), 3 * 8 * 64 * 4);
    let by_role = p.bytes_by_role();
    assert_eq!(by_role[&Role::Parameter], 64 * 64 * 4);
    assert_eq!(by_role.values().sum::<u64>(), p.total_bytes());
}

#[test]
fn last_read_and_write_in_one_dispatch_do_not_share() {
    let mut s = Schedule::new();
    let x = s.tensor("x", Role::Input, &[16]);
    let a = s.tensor("A", Role::Activation, &[256]);
    let b = s.tensor("B", Role::Activation, &[256]);
    let c = s.tensor("C", Role::Activation, &[256]);
    s.dispatch("make_a", &[x], &[a], 1, false);
    s.dispatch("a_to_b", &[a], &[b], 1, false); // last use of A, first write of B
    s.dispatch("b_to_c", &[b], &[c], 1, false);
    let mut p = plan::plan(&s, NO_LIMIT).unwrap();
    assert_eq!((p.lifetimes[a], p.lifetimes[b]), ((0, 1), (1, 2)));
    assert_ne!(p.buffer_of[a], p.buffer_of[b]);
    assert_eq!(p.buffer_of[a], p.buffer_of[c], "A is dead before C is written");

    // Forcing B into A's buffer must trip the invariant check.
    let (ba, bb) = (p.buffer_of[a], p.buffer_of[b]);
    p.buffers[bb].tensors.retain(|&t| t != b);
    p.buffers[ba].tensors.push(b);
    p.buffer_of[b] = ba;
    let err = check_plan(&s, &p).unwrap_err().to_string();
    assert!(err.contains("'A'") && err.contains("'B'"), "{err}");
}

#[test]
fn too_large_tensor_is_named() {
    let mut s = Schedule::new();
    let x = s.tensor("x", Role::Input, &[4]);
    let big = s.tensor("huge_logits", Role::Activation, &[1 << 20]);
    s.dispatch("head", &[x], &[big], 1, false);
    let err = plan::plan(&s, 1 << 20).unwrap_err().to_string();
    assert!(err.contains("huge_logits"), "{err}");
    assert!(plan::plan(&s, 4 << 20).is_ok(), "exactly at the limit is fine");
}

#[test]
fn validate_names_tensor_and_dispatch() {
    let mut s = Schedule::new();
    let a = s.tensor("early", Role::Activation, &[4]);
    let b = s.tensor("late", Role::Activation, &[4]);
    s.dispatch("consumer", &[a], &[b], 1, false);
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("early") && err.contains("consumer"), "{err}");
    assert!(plan::plan(&s, NO_LIMIT).is_err());

    let mut s = Schedule::new();
    let x = s.tensor("x", Role::Input, &[4]);
    s.tensor("unused", Role::Scratch, &[4]);
    s.dispatch("noop", &[x], &[], 1, false);
    assert!(s.validate().unwrap_err().to_string().contains("unused"));
}

/// `k` no-grad recursion passes: fresh activations read only inside the pass, carry persistent.
fn no_grad_passes(k: usize) -> Schedule {
    let mut s = Schedule::new();
    let w = s.tensor("w", Role::Parameter, &[128, 256]);
    let x = s.tensor("x", Role::Input, &[8, 128]);
    let z = s.tensor("z", Role::Carry, &[8, 128]);
    for j in 0..k {
        let h1 = s.tensor(format!("p{j}.h1"), Role::Activation, &[8, 128]);
        let h2 = s.tensor(format!("p{j}.h2"), Role::Activation, &[8, 256]);
        let h3 = s.tensor(format!("p{j}.h3"), Role::Scratch, &[8, 128]);
        s.dispatch(format!("p{j}.in"), &[z, x], &[h1], 1000, false);
        s.dispatch(format!("p{j}.up"), &[h1, w], &[h2], 1000, false);
        s.dispatch(format!("p{j}.down"), &[h2, w], &[h3], 1000, false);
        s.dispatch(format!("p{j}.carry"), &[h3, z], &[z], 1000, false);
    }
    s
}

#[test]
fn replicated_no_grad_passes_keep_the_same_peak() {
    let plans: Vec<(usize, Plan)> = [1, 2, 3, 8]
        .into_iter()
        .map(|k| {
            let s = no_grad_passes(k);
            let p = plan::plan(&s, NO_LIMIT).unwrap();
            check_plan(&s, &p).unwrap();
            (k, p)
        })
        .collect();
    let (_, p1) = &plans[0];
    for (k, p) in &plans {
        assert_eq!(p.peak_bytes(), p1.peak_bytes(), "peak for k={k}");
        assert_eq!(p.total_bytes(), p1.total_bytes(), "total for k={k}");
        assert_eq!(p.buffers.len(), p1.buffers.len(), "buffers for k={k}");
    }
}

#[test]
fn report_json_and_text() {
    let (mut s, w, acts, _) = chain(60);
    s.dispatch("recompute_a0", &[acts[0], w], &[acts[1]], 500, true);
    let p = plan::plan(&s, NO_LIMIT).unwrap();
    let mut r = Report::new(&s, &p);
    assert_eq!(r.recompute_flops, 500);
    assert_eq!(r.step_flops, 60 * 2 * 8 * 64 * 64 + 8 * 64 + 500);
    assert_eq!((r.peak_bytes, r.total_bytes), (p.peak_bytes(), p.total_bytes()));

    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    for key in [
        "peak_bytes",
        "total_bytes",
        "activation_peak_bytes",
        "naive_peak_bytes",
        "none_peak_bytes",
        "recompute_flops",
        "step_flops",
        "bytes_by_role",
        "buffers",
        "tensors",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v["none_peak_bytes"].is_null());
    assert_eq!(v["bytes_by_role"]["parameter"], 64 * 64 * 4);
    let t0 = &v["tensors"][0];
    assert_eq!((t0["name"].as_str(), t0["role"].as_str()), (Some("w"), Some("parameter")));
    for key in ["shape", "bytes", "first", "last", "buffer"] {
        assert!(t0.get(key).is_some(), "tensor field {key}");
    }
    let b0 = &v["buffers"][0];
    assert!(b0["bytes"].is_u64() && b0["tensors"][0] == "w" && b0["role"] == "parameter");

    r.none_peak_bytes = Some(123);
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["none_peak_bytes"], 123);

    let short = r.to_text(false);
    let full = r.to_text(true);
    for needle in ["peak live", "total allocated", "recompute", "% of the step", "KiB", "parameter"] {
        assert!(short.contains(needle), "missing {needle:?} in\n{short}");
    }
    assert!(short.contains("a#  (x60)"), "activations collapse by pattern:\n{short}");
    assert!(full.contains("a59") && full.lines().count() > short.lines().count());
    assert_eq!(plan::report::human_bytes(1536), "1.50 KiB");
    assert_eq!(plan::report::human_bytes(3 << 30), "3.00 GiB");
    assert_eq!(plan::report::human_bytes(255), "255 B");
}

#[test]
fn chart_png_is_written() {
    let s = no_grad_passes(3);
    let p = plan::plan(&s, NO_LIMIT).unwrap();
    let dir = std::env::temp_dir().join(format!("plan_chart_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plan.png");
    for (w, h) in [(640, 400), (900, 500)] {
        trm_gpu::charts::plan::draw_png(&s, &p, &path, w, h).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (w, h));
    }
    assert!(!dir.join("plan.png.tmp").exists(), "temp file renamed away");
    assert!(trm_gpu::charts::plan::draw_png(&s, &p, &path, 10, 10).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// curves.png from a run whose loss spans decades (a log axis) and whose exact accuracy is undefined at first
/// (null): drawn with text and lines, and a metrics line that is not JSON is named by file and line.
#[test]
fn curves_png_from_metrics() {
    let dir = std::env::temp_dir().join(format!("curves_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines: String = (1..=50)
        .map(|s| {
            let exact = if s < 10 { "null".to_string() } else { format!("{}", s as f64 / 50.0) };
            format!(
                "{{\"step\":{s},\"loss\":{},\"lm_loss\":{},\"token_accuracy\":{},\"exact_accuracy\":{exact}}}\n",
                10.0 / s as f64 / s as f64,
                8.0 / s as f64 / s as f64,
                s as f64 / 60.0
            )
        })
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    let png = trm_gpu::charts::curves::plot_run(&dir).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1200, 450));
    let inked = img.pixels().filter(|p| p.0.iter().all(|&c| c < 100)).count();
    let red = img.pixels().filter(|p| p.0[0] > 180 && p.0[1] < 80 && p.0[2] < 80).count();
    assert!(inked > 2000 && red > 200, "text, axes and the loss line are drawn: {inked} dark, {red} red pixels");
    std::fs::write(dir.join("metrics.jsonl"), "{\"step\":1,\"loss\":1}\n{\"step\":2,\"lo").unwrap();
    let e = trm_gpu::charts::curves::plot_run(&dir).unwrap_err().to_string();
    assert!(e.contains("metrics.jsonl:2"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
