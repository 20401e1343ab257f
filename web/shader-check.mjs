// Compile pipelines in headless Chromium's WebGPU (Tint) and report each one's errors, as JSON.
// usage: node web/shader-check.mjs PIPELINES.json OUT.json
// PIPELINES.json: {"sources": {shader: WGSL}, "jobs": [{"shader", "entry", "constants": {name: value}}]}, as
// tests/suite/browser.rs writes it from the pipelines trm-gpu's programs built.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

const [inPath, outPath] = process.argv.slice(2);
const input = JSON.parse(fs.readFileSync(inPath, 'utf8'));
// WebGPU needs a secure context: a blank page on loopback.
const server = http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html>'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  ignoreDefaultArgs: true,
  args: ['--headless', '--remote-debugging-pipe', '--no-startup-window', '--enable-unsafe-webgpu',
    '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
    `--user-data-dir=${fs.mkdtempSync(path.join(os.tmpdir(), 'trm-chromium-'))}`],
});
let out;
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  out = await page.evaluate(async ({ sources, jobs }) => {
    if (!navigator.gpu) return { error: 'no navigator.gpu' };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { error: 'no WebGPU adapter' };
    // The adapter's own compute limits, as trm-gpu's device asks for them.
    const keys = ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage',
      'maxStorageBufferBindingSize', 'maxBufferSize'];
    const requiredLimits = Object.fromEntries(keys.map((k) => [k, adapter.limits[k]]));
    const requiredFeatures = adapter.features.has('subgroups') ? ['subgroups'] : [];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const info = adapter.info || {};
    const modules = {};
    const results = [];
    for (const job of jobs) {
      if (!modules[job.shader]) {
        // Compilation info is asked once per module.
        const module = device.createShaderModule({ code: sources[job.shader] });
        const messages = (await module.getCompilationInfo()).messages
          .filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
        modules[job.shader] = { module, errors: messages.join('; ') };
      }
      const { module, errors } = modules[job.shader];
      let error = errors;
      if (!error) {
        device.pushErrorScope('validation');
        device.pushErrorScope('internal');
        device.createComputePipeline({
          layout: 'auto', compute: { module, entryPoint: job.entry, constants: job.constants },
        });
        const internal = await device.popErrorScope();
        const validation = await device.popErrorScope();
        error = [validation, internal].filter((e) => e).map((e) => e.message).join('; ');
      }
      results.push({ ...job, ok: !error, error });
    }
    return { adapter: `${info.vendor || ''} ${info.architecture || ''} ${info.description || ''}`.trim(), results };
  }, input);
} finally {
  await browser.close();
  server.close();
}
if (out.error) throw new Error(out.error);
fs.writeFileSync(outPath, JSON.stringify(out, null, 2));
