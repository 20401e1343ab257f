// The demo page: load a model, read a puzzle from the grid or the paste box, run supervision steps one at a
// time and show each answer. All parsing, checking and solving is the Rust library (pkg/); this file is the UI.
import init, { WebSolver } from './pkg/trm_gpu.js';

const $ = (id) => document.getElementById(id);
const state = (s) => { document.body.dataset.state = s; };
let models = [];
let solver = null;
let side = 9;
let busy = false;

function message(text) { $('message').textContent = text || ''; }

function buildGrid(n) {
  side = n;
  const box = n === 4 ? 2 : 3;
  const grid = $('grid');
  grid.innerHTML = '';
  grid.style.gridTemplateColumns = `repeat(${n}, auto)`;
  for (let i = 0; i < n * n; i++) {
    const cell = document.createElement('input');
    cell.inputMode = 'numeric';
    cell.maxLength = 2;
    cell.setAttribute('aria-label', `row ${Math.floor(i / n) + 1} column ${(i % n) + 1}`);
    const r = Math.floor(i / n), c = i % n;
    if (c % box === box - 1 && c < n - 1) cell.classList.add('box-right');
    if (r % box === box - 1 && r < n - 1) cell.classList.add('box-bottom');
    cell.addEventListener('input', () => {
      const ch = cell.value.slice(-1);
      if (ch === '' || (ch >= '1' && ch <= String(n))) { cell.value = ch; message(''); }
      else { cell.value = ''; message(`Only the digits 1-${n} go in a cell (leave it empty for a blank).`); }
      clearMarks();
    });
    grid.appendChild(cell);
  }
}

const cells = () => [...$('grid').querySelectorAll('input')];
const gridText = () => cells().map((c) => c.value || '.').join('');

function clearMarks() {
  for (const c of cells()) c.classList.remove('model', 'conflict', 'changed', 'given');
  $('verdict').textContent = '';
  $('verdict').className = '';
}

function showPuzzle(puzzle) {
  clearMarks();
  cells().forEach((c, i) => {
    c.value = puzzle[i] === '.' ? '' : puzzle[i];
    if (puzzle[i] !== '.') c.classList.add('given');
  });
}

function showStep(puzzle, v) {
  cells().forEach((c, i) => {
    const d = v.grid[i];
    c.value = d ? String(d) : '';
    c.classList.toggle('given', puzzle[i] !== '.');
    c.classList.toggle('model', puzzle[i] === '.' && d !== 0);
    c.classList.toggle('conflict', v.conflicts.includes(i));
    c.classList.toggle('changed', v.changed_givens.includes(i));
  });
}

let loading = null; // the model load in flight; the controls wait for it
let modelIndex = 0; // the model that is loaded

function loadModel(index) {
  if (!loading) {
    loading = openModel(index).finally(() => { loading = null; $('load').disabled = false; });
  }
  return loading;
}

async function openModel(index) {
  state('loading');
  $('solve').disabled = true;
  $('load').disabled = true;
  const m = models[index];
  let bytes = m.bytes; // a file the user chose, already read
  if (!bytes) {
    const response = await fetch(m.file);
    if (!response.ok) throw new Error(`${m.file}: HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  }
  const forceCpu = new URLSearchParams(location.search).has('cpu');
  const hasGpu = !!navigator.gpu && !forceCpu;
  const t0 = performance.now();
  const next = await WebSolver.create(bytes, hasGpu);
  if (solver) solver.free();
  solver = next;
  modelIndex = index;
  const ms = performance.now() - t0;
  let backend = solver.backend();
  if (!navigator.gpu) backend += ' (this browser has no navigator.gpu)';
  else if (forceCpu) backend += ' (forced by ?cpu)';
  $('backend').textContent = backend;
  $('backend').dataset.gpu = solver.on_gpu() ? 'yes' : 'no';
  const info = JSON.parse(solver.info());
  m.side = info.side;
  $('modelinfo').textContent =
    `${info.side}×${info.side} Sudoku; ${info.parameters.toLocaleString('en')} parameters ` +
    `(${(bytes.length / 1024).toFixed(0)} KiB); D ${info.hidden_size}, ${info.layers} layers, ` +
    `T ${info.T}, n ${info.n}, up to ${info.max_steps} supervision steps, ${info.mixer} token mixer; ` +
    `forward plan ${(info.plan_bytes / 1024).toFixed(0)} KiB in ${info.plan_buffers} buffers; set up in ${ms.toFixed(0)} ms`;
  $('accuracy').innerHTML = accuracyTable(m.accuracy);
  buildGrid(info.side);
  const ex = $('example');
  ex.innerHTML = '<option value="">choose…</option>' +
    m.examples.map((e, i) => `<option value="${i}">${e.name}</option>`).join('');
  $('solve').disabled = false;
  state('ready');
}

function accuracyTable(acc) {
  if (!acc) return 'not measured';
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  const rows = acc.rows.map((r) =>
    `<tr><td style="text-align:left">${r.set}</td><td>${r.puzzles}</td><td>${pct(r.exact)}</td>` +
    `<td>${r.steps.toFixed(2)}</td><td>${pct(r.exact_all_steps)}</td></tr>`).join('');
  return `<p>${acc.note}</p><table><tr><th>held-out set</th><th>puzzles</th><th>exact, halting at τ 0.5</th>` +
    `<th>steps used</th><th>exact after all steps</th></tr>${rows}</table>`;
}

function loadText(text) {
  try {
    const puzzle = solver.start(text);
    message('');
    showPuzzle(puzzle);
    $('trace').innerHTML = '';
    $('stepinfo').innerHTML = '&nbsp;';
    return puzzle;
  } catch (e) {
    message(e.message || String(e));
    return null;
  }
}

// A pasted puzzle of the other size switches to the model for that size (its cell count decides; the Rust
// parser still checks everything once loaded).
async function loadPasted() {
  if (busy || loading) return;
  const text = $('paste').value;
  const count = text.replace(/[\s|+\-]/g, '').length;
  const fits = models.findIndex((m) => m.side * m.side === count);
  if (fits >= 0 && models[fits].side !== models[modelIndex].side) {
    $('model').value = String(fits);
    if (!(await switchModel(fits, modelIndex))) return;
  }
  loadText(text);
}

// Loads model `index`; on failure says why, puts the menu back on `previous` and keeps the page usable.
async function switchModel(index, previous) {
  try {
    await loadModel(index);
    return true;
  } catch (e) {
    $('model').value = String(previous);
    message(`Could not load ${models[index].file}: ${e.message || e}`);
    state(solver ? 'ready' : 'error');
    $('solve').disabled = !solver;
    return false;
  }
}

async function solve() {
  if (busy) return;
  const puzzle = loadText(gridText());
  if (!puzzle) return;
  busy = true;
  state('solving');
  $('solve').disabled = true;
  const tau = parseFloat($('tau').value);
  const threshold = Math.log(tau / (1 - tau));
  const all = $('allsteps').checked;
  const info = JSON.parse(solver.info());
  let v = null;
  try {
    for (let k = 0; k < info.max_steps; k++) {
      const t0 = performance.now();
      v = JSON.parse(await solver.step());
      const ms = performance.now() - t0;
      showStep(puzzle, v);
      $('stepinfo').textContent =
        `step ${v.step} of at most ${info.max_steps}: sigmoid(q_halt) ${v.confidence.toFixed(3)}, ${ms.toFixed(0)} ms`;
      const li = document.createElement('li');
      li.dataset.grid = v.grid.map((d) => (d ? String(d) : '.')).join('');
      li.dataset.ms = ms.toFixed(1);
      li.textContent = `${li.dataset.grid}  q ${v.confidence.toFixed(3)}  ${ms.toFixed(0)} ms`;
      $('trace').appendChild(li);
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      if (!all && v.q_halt > threshold) break;
    }
    const verdict = $('verdict');
    if (v.solved) {
      verdict.textContent = `Solved: a complete, valid grid that keeps every given (${v.step} steps).`;
      verdict.className = 'solved';
    } else {
      const empty = v.grid.filter((d) => d === 0).length;
      verdict.textContent = `Not solved: ${empty} empty cells, ${v.conflicts.length} conflicting cells, ` +
        `${v.changed_givens.length} changed givens.`;
      verdict.className = 'unsolved';
    }
    state('done');
  } catch (e) {
    message(e.message || String(e));
    state('error');
  } finally {
    busy = false;
    $('solve').disabled = false;
  }
}

async function main() {
  try {
    await init();
    models = await (await fetch('models.json')).json();
    $('model').innerHTML = models.map((m, i) => `<option value="${i}">${m.name}</option>`).join('');
    $('model').addEventListener('change', (e) => {
      if (loading || busy) { e.target.value = String(modelIndex); return; }
      switchModel(+e.target.value, modelIndex);
    });
    $('example').addEventListener('change', (e) => {
      if (e.target.value === '') return;
      const p = models[+$('model').value].examples[+e.target.value].puzzle;
      $('paste').value = p;
      loadText(p);
    });
    // A model file of the user's: read here, loaded by the same Rust loader as the shipped ones.
    $('ownfile').addEventListener('change', async (e) => {
      const file = e.target.files[0];
      if (!file || loading || busy) return;
      const previous = modelIndex;
      models.push({ file: file.name, name: `your file: ${file.name}`, bytes: new Uint8Array(await file.arrayBuffer()),
        examples: [], accuracy: null });
      const index = models.length - 1;
      $('model').insertAdjacentHTML('beforeend', `<option value="${index}"></option>`);
      $('model').lastElementChild.textContent = models[index].name;
      $('model').value = String(index);
      if (!(await switchModel(index, previous))) {
        models.pop();
        $('model').lastElementChild.remove();
      }
      e.target.value = '';
    });
    $('load').addEventListener('click', loadPasted);
    $('clear').addEventListener('click', () => { cells().forEach((c) => { c.value = ''; }); clearMarks(); message(''); });
    $('tau').addEventListener('input', () => { $('tauval').textContent = (+$('tau').value).toFixed(2); });
    $('solve').addEventListener('click', solve);
    await loadModel(0);
  } catch (e) {
    message(`Could not start: ${e.message || e}`);
    state('error');
  }
}

main();
