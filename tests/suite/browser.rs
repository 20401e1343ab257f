//! The browser demo for real: web/build.sh builds the wasm package, headless Chromium opens web/ on SwiftShader's
//! WebGPU and again with navigator.gpu removed (the CPU fallback), and the grid the page shows after every step
//! must equal what native `trm-gpu solve` prints for the same shipped checkpoint and puzzle.
//! Needs chromium, node and npm (`.ci/run` installs them).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: could not start ({e}); .ci/run installs what it needs"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// web/'s node modules (playwright-core), installed once.
fn playwright(root: &Path) {
    if !root.join("web/node_modules/playwright-core").exists() {
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(root.join("web")),
            "npm ci in web/",
        );
    }
}

fn grids(steps: &Value) -> Vec<String> {
    steps.as_array().expect("steps").iter().map(|s| s["grid"].as_str().expect("grid").to_string()).collect()
}

#[test]
fn browser_demo_matches_native_solve_on_webgpu_and_cpu_fallback() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = Path::new(env!("CARGO_BIN_EXE_trm-gpu"));
    let target = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    let out = target.join("browser");
    std::fs::create_dir_all(&out).unwrap();

    // The wasm package, built in its own target dir so it never waits on this test's cargo lock.
    run(
        Command::new("bash").arg(root.join("web/build.sh")).env("CARGO_TARGET_DIR", target.join("web-wasm")),
        "web/build.sh",
    );
    playwright(root);

    // Every shipped model (9×9 first, as the page opens it) with its last example, against native solve.
    let models: Value = serde_json::from_str(&std::fs::read_to_string(root.join("web/models.json")).unwrap()).unwrap();
    let mut shipped: Vec<(String, std::path::PathBuf, String)> = Vec::new();
    for (i, model) in models.as_array().unwrap().iter().enumerate() {
        let checkpoint = root.join("web").join(model["file"].as_str().unwrap());
        let puzzle = model["examples"].as_array().unwrap().last().unwrap()["puzzle"].as_str().unwrap().to_string();
        shipped.push((i.to_string(), checkpoint, puzzle));
    }
    assert_eq!(models[0]["side"], 9, "the page opens on the 9×9 model");
    assert!(shipped.len() >= 2, "a 9×9 and a 4×4 model");
    // And a model file of the user's, through the page's file chooser: an official checkpoint after import.
    let imported = out.join("imported.safetensors");
    let official = root.join("tests/fixtures/official-checkpoints/mlp-emb/step_40");
    run(
        Command::new(exe).arg("import").arg(&official).arg("--out").arg(&imported).arg("--overwrite"),
        "trm-gpu import",
    );
    shipped.push((format!("file={}", imported.display()), imported.clone(), "..2.4.1......1..".to_string()));
    let mut cases = Vec::new();
    for (i, (label, checkpoint, puzzle)) in shipped.into_iter().enumerate() {
        let native = out.join(format!("native{i}.json"));
        let mut solve = Command::new(exe);
        solve
            .args(["--device", "cpu", "solve", "--checkpoint"])
            .arg(&checkpoint)
            .arg(&puzzle)
            .arg("--all-steps")
            .arg("--json")
            .arg(&native);
        println!("{}", run(&mut solve, "trm-gpu solve"));
        let native: Value = serde_json::from_str(&std::fs::read_to_string(&native).unwrap()).unwrap();
        cases.push((label, puzzle, native));
    }

    let report = out.join("report.json");
    let shot = out.join("solved.png");
    let mut node = Command::new("node");
    node.arg(root.join("web/browser-test.mjs")).arg(&report).arg(&shot);
    node.args(cases.iter().map(|(i, p, _)| format!("{i}:{p}")));
    run(&mut node, "node web/browser-test.mjs");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();

    assert_eq!(r["cases"].as_array().unwrap().len(), cases.len(), "the page solved every case");
    for ((i, puzzle, native), case) in cases.iter().zip(r["cases"].as_array().unwrap()) {
        let want: Vec<String> = native
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v["grid"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| match d.as_u64().unwrap() {
                        0 => '.',
                        d => char::from(b'0' + d as u8),
                    })
                    .collect()
            })
            .collect();
        let what = format!("model {i}, puzzle {puzzle}");
        if i.starts_with("file=") {
            assert_eq!(case["gpu"]["model_name"], "your file: imported.safetensors", "{what}");
        }
        // 1. WebGPU, step for step equal to native.
        let gpu = &case["gpu"];
        assert_eq!(gpu["on_gpu"], "yes", "{what}: the page did not use WebGPU: {}", gpu["backend"]);
        assert!(gpu["backend"].as_str().unwrap().starts_with("WebGPU"), "{}", gpu["backend"]);
        assert_eq!(grids(&gpu["steps"]), want, "{what}: WebGPU grids differ from native trm-gpu solve");
        // 2. The CPU fallback, with navigator.gpu removed.
        let cpu = &case["cpu"];
        assert_eq!(cpu["on_gpu"], "no");
        assert!(cpu["backend"].as_str().unwrap().contains("CPU fallback"), "{}", cpu["backend"]);
        assert_eq!(grids(&cpu["steps"]), want, "{what}: CPU-fallback grids differ from native trm-gpu solve");
        // The verdict matches native's.
        let solved = native.as_array().unwrap().last().unwrap()["solved"].as_bool().unwrap();
        for page in [gpu, cpu] {
            let verdict = page["verdict"].as_str().unwrap();
            assert_eq!(
                verdict.starts_with("Solved"),
                solved,
                "{what}: verdict {verdict:?} but native solved = {solved}"
            );
        }
        let mean = |p: &Value| {
            let ms: Vec<f64> = p["steps"].as_array().unwrap().iter().map(|s| s["ms"].as_f64().unwrap()).collect();
            ms.iter().sum::<f64>() / ms.len() as f64
        };
        println!(
            "{what}: WebGPU ({}): load {} ms, {:.1} ms per step; CPU fallback: load {} ms, {:.1} ms per step",
            gpu["backend"],
            gpu["load_ms"],
            mean(gpu),
            cpu["load_ms"],
            mean(cpu)
        );
    }
    // 3. Bad input gets a clear inline message and the page keeps working; a puzzle of the other size switches
    // the model.
    let gpu = &r["cases"][0]["gpu"];
    let bad = &gpu["bad_input"];
    assert!(bad["wrong_length"].as_str().unwrap().contains("cells"), "{bad}");
    assert!(bad["illegal_character"].as_str().unwrap().contains("character 'x'"), "{bad}");
    assert!(bad["conflicting_givens"].as_str().unwrap().contains("conflict at r1c1, r1c2"), "{bad}");
    assert_eq!(gpu["state_after_bad_input"], "done");
    assert_eq!(gpu["switched_to"], "1", "pasting a 4×4 puzzle switches to the 4×4 model");
    assert_eq!(gpu["cells_after_switch"], 16);
    assert_eq!(gpu["message_after_switch"], "");
    // 4. The screenshot is kept.
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "no screenshot at {}", shot.display());

    let wasm = std::fs::metadata(root.join("web/pkg/trm_gpu_bg.wasm")).unwrap().len();
    println!("wasm {} KiB; screenshot {}", wasm / 1024, shot.display());
}

/// Tint (Chromium's WGSL compiler, stricter than naga) compiles every pipeline trm-gpu builds, with the override
/// constants the programs use (`pipelines_of_every_program`), recorded on a device that has only WebGPU's
/// features, so the browser's kernels are the ones chosen, both those of CPU adapters and those of GPUs. Every
/// entry point of every shader must be among them, except matmul_lanes8's, which needs 64-bit integers that
/// WebGPU lacks.
#[test]
fn every_pipeline_compiles_in_chromium() {
    use crate::common::pipelines_of_every_program;
    use trm_gpu::gpu::GpuOptions;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = Path::new(env!("CARGO_BIN_EXE_trm-gpu"));
    let out = exe.parent().and_then(Path::parent).expect("target dir").join("browser");
    std::fs::create_dir_all(&out).unwrap();

    // The kernels of CPU adapters (SwiftShader) and of real GPUs, on a device with only WebGPU's features.
    let used = [false, true].map(|gpu_kernels| {
        pipelines_of_every_program(&GpuOptions { webgpu_features_only: true, gpu_kernels, ..Default::default() })
    });
    let used: Vec<_> = used.concat();

    let mut sources = serde_json::Map::new();
    for name in trm_gpu::gpu::SHADER_NAMES.iter().filter(|&&n| n != "matmul_lanes8") {
        let src = std::fs::read_to_string(root.join(format!("shaders/{name}.wgsl"))).unwrap();
        for ep in naga::front::wgsl::parse_str(&src).unwrap().entry_points {
            assert!(
                used.iter().any(|(s, e, _)| s == name && *e == ep.name),
                "shaders/{name}.wgsl: entry point {} is not built by any program here; run a program that uses it",
                ep.name
            );
        }
        sources.insert(name.to_string(), Value::String(src));
    }
    let jobs: Vec<Value> = used
        .iter()
        .map(|(s, e, c)| {
            let constants: serde_json::Map<String, Value> =
                c.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
            serde_json::json!({"shader": s, "entry": e, "constants": constants})
        })
        .collect();
    let jobs_path = out.join("pipelines.json");
    std::fs::write(&jobs_path, serde_json::json!({"sources": sources, "jobs": jobs}).to_string()).unwrap();
    playwright(root);
    let report_path = out.join("tint.json");
    run(Command::new("node").arg(root.join("web/shader-check.mjs")).arg(&jobs_path).arg(&report_path), "shader-check");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), jobs.len(), "every pipeline was tried");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] != true)
        .map(|r| format!("{}::{} {}: {}", r["shader"], r["entry"], r["constants"], r["error"]))
        .collect();
    assert!(failed.is_empty(), "Tint rejects {} of {} pipelines:\n{}", failed.len(), jobs.len(), failed.join("\n"));
    println!("Tint ({}) compiled all {} pipelines", report["adapter"], jobs.len());
}
