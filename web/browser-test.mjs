// Drive the demo page in headless Chromium and report what it showed, as JSON, for tests/browser.rs to check.
// usage: node web/browser-test.mjs OUT.json SCREENSHOT.png MODEL:PUZZLE...
// It serves web/ itself and, for each case, picks model number MODEL of models.json and solves PUZZLE with
// "Run all steps" on WebGPU and again with navigator.gpu removed (the CPU fallback). MODEL may instead be
// file=PATH: a model file given to the page's file chooser. In the first WebGPU run it
// then pastes bad input and records the messages, and pastes the second case's puzzle to see the page switch
// to the model of that size.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const [outPath, shotPath, ...cases] = process.argv.slice(2);
const root = path.dirname(fileURLToPath(import.meta.url));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.safetensors': 'application/octet-stream' };

const server = http.createServer((req, res) => {
  const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(root, rel === '/' ? 'index.html' : rel);
  if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  ignoreDefaultArgs: true,
  args: ['--headless', '--remote-debugging-pipe', '--no-startup-window', '--enable-unsafe-webgpu',
    '--enable-webgpu-developer-features', '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
    `--user-data-dir=${fs.mkdtempSync(path.join(os.tmpdir(), 'trm-chromium-'))}`],
});

const state = (page) => page.evaluate(() => document.body.dataset.state);
async function waitFor(page, states, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const s = await state(page);
    if (states.includes(s)) return s;
    if (s === 'error') throw new Error(`page error: ${await page.textContent('#message')}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${states} (state ${s})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(withGpu, model, puzzle, shot, other) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  if (!withGpu) {
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
  }
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
  const t0 = Date.now();
  await page.goto(url);
  try {
    await waitFor(page, ['ready'], 300000);
    if (model.startsWith('file=')) {
      // The user's own model file, through the file chooser: it becomes the last entry of the menu.
      const index = String(await page.$$eval('#model option', (o) => o.length));
      await page.setInputFiles('#ownfile', model.slice('file='.length));
      const until = Date.now() + 300000;
      while ((await page.inputValue('#model')) !== index || (await state(page)) !== 'ready') {
        if ((await state(page)) === 'error' || Date.now() > until) {
          throw new Error(`own model file not loaded: ${await page.textContent('#message')}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } else if ((await page.inputValue('#model')) !== model) {
      await page.selectOption('#model', model);
      await waitFor(page, ['ready'], 300000);
    }
  } catch (e) {
    throw new Error(`${e.message}\n${console.join('\n')}`);
  }
  const loadMs = Date.now() - t0;
  await page.fill('#paste', puzzle);
  await page.click('#load');
  await page.check('#allsteps');
  await page.click('#solve');
  await waitFor(page, ['done'], 600000);
  const steps = await page.$$eval('#trace li', (lis) => lis.map((li) => ({ grid: li.dataset.grid, ms: +li.dataset.ms })));
  const report = {
    backend: await page.textContent('#backend'),
    model_name: await page.$eval('#model', (m) => m.options[m.selectedIndex].textContent),
    on_gpu: await page.getAttribute('#backend', 'data-gpu'),
    load_ms: loadMs,
    steps,
    verdict: await page.textContent('#verdict'),
    console,
  };
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  if (other) {
    const side = Math.round(Math.sqrt(puzzle.replace(/[^0-9.]/g, '').length));
    const bad = {
      wrong_length: puzzle.replace(/[^0-9.]/g, '').slice(1),
      illegal_character: 'x' + puzzle.replace(/[^0-9.]/g, '').slice(1),
      conflicting_givens: '11' + '.'.repeat(side * side - 2),
    };
    report.bad_input = {};
    for (const [name, text] of Object.entries(bad)) {
      await page.fill('#paste', text);
      await page.click('#load');
      report.bad_input[name] = await page.textContent('#message');
    }
    report.state_after_bad_input = await state(page);
    // A puzzle of the other size switches the model.
    await page.fill('#paste', other.puzzle);
    await page.click('#load');
    await waitFor(page, ['ready'], 60000);
    report.switched_to = await page.inputValue('#model');
    report.cells_after_switch = await page.$$eval('#grid input', (c) => c.length);
    report.message_after_switch = await page.textContent('#message');
  }
  await context.close();
  return report;
}

let out;
try {
  const parsed = cases.map((c) => ({ model: c.slice(0, c.indexOf(':')), puzzle: c.slice(c.indexOf(':') + 1) }));
  out = { url, cases: [] };
  for (const [i, c] of parsed.entries()) {
    const gpu = await run(true, c.model, c.puzzle, i === 0 ? shotPath : null, i === 0 ? parsed[1] : null);
    const cpu = await run(false, c.model, c.puzzle, null, null);
    out.cases.push({ ...c, gpu, cpu });
  }
} finally {
  await browser.close();
  server.close();
}
fs.writeFileSync(outPath, JSON.stringify(out, null, 2));
