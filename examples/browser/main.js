// The page's main thread: create the allocator, a counter, a metric and a map,
// start the workers, show every unit's values live, then the exact sums.
// The main thread has no unit: it only reads (and allocates before the start).
import { SharedPercpu, PercpuCounter, PercpuHashMap, PercpuMetrics } from '/dist/src/runtime/index.js';
import { setupMetrics, register } from '/dist/src/runtime/prom/index.js';

const params = new URLSearchParams(location.search);
const nrWorkers = Math.max(1, Math.min(16, Number(params.get('workers') ?? navigator.hardwareConcurrency ?? 4) || 4));
const increments = Math.max(1, Number(params.get('increments') ?? 1_000_000) || 1_000_000);
const KEYS = 8;
const $ = (id) => document.getElementById(id);

$('isolated').textContent = String(self.crossOriginIsolated);
let growable = false;
try {
  growable = new SharedArrayBuffer(0, { maxByteLength: 8 }).growable === true;
} catch { /* no SharedArrayBuffer at all: not cross-origin isolated */ }
$('growable').textContent = String(growable);

function fail(message) {
  $('status').textContent = message;
  $('status').className = 'bad';
  window.percpuResult = { error: message, crossOriginIsolated: self.crossOriginIsolated };
}

function start() {
  const percpu = SharedPercpu.create({ nrUnits: nrWorkers, unitSize: 64 << 10, maxBytes: 8 * nrWorkers * (64 << 10) });
  const hits = PercpuCounter.create(percpu);
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 4, maxEntries: 64 });
  const metrics = PercpuMetrics.create(percpu);
  const ops = metrics.createCounter({ name: 'ops_total', help: 'increments per worker' });
  // The prom-client-style metrics: a store with one unit per worker (and unit 0 for this page).
  const prom = setupMetrics({ workers: nrWorkers, spareUnits: 0, unitSize: 64 << 10, maxSeries: 256, maxMetrics: 16 });

  const rows = [];
  for (let u = 0; u < nrWorkers; u++) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${u}</td><td></td><td></td><td></td><td><span class="bar"></span></td>`;
    $('units').tBodies[0].append(tr);
    rows.push(tr.cells);
  }

  // Every unit's values, read from shared memory as the workers write them.
  function render() {
    let total = 0;
    let deltas = 0;
    let mapTotal = 0;
    const ptrs = Array.from({ length: KEYS }, (_, k) => map.lookup(k));
    for (let u = 0; u < nrWorkers; u++) {
      const mine = ops.value(u);
      const delta = percpu.perCpu(u).getInt32(hits.ptr);
      let inMap = 0;
      for (const p of ptrs) if (p >= 0) inMap += percpu.perCpu(u).getInt32(p);
      rows[u][1].textContent = mine.toLocaleString('en');
      rows[u][2].textContent = String(delta);
      rows[u][3].textContent = inMap.toLocaleString('en');
      rows[u][4].firstChild.style.width = `${(12 * mine) / increments}rem`;
      total += mine;
      deltas += delta;
      mapTotal += inMap;
    }
    $('sum').textContent = total.toLocaleString('en');
    $('deltas').textContent = String(deltas);
    $('mapsum').textContent = mapTotal.toLocaleString('en');
    $('counter-read').textContent = hits.read().toLocaleString('en');
    $('bound').textContent = String(hits.errorBound);
    return total;
  }

  let finished = 0;
  const started = performance.now();
  $('status').textContent = `running: ${nrWorkers} workers × ${increments.toLocaleString('en')} increments…`;
  let frame = requestAnimationFrame(function tick() {
    render();
    frame = requestAnimationFrame(tick);
  });
  for (let unit = 0; unit < nrWorkers; unit++) {
    const w = new Worker('./worker.js', { type: 'module' });
    w.onerror = (e) => fail(`worker ${unit} failed: ${e.message}`);
    w.onmessage = async () => {
      if (++finished < nrWorkers) return;
      cancelAnimationFrame(frame);
      const ms = performance.now() - started;
      const total = render();
      const sum = hits.sum();
      $('counter-sum').textContent = sum.toLocaleString('en');
      const keys = [];
      for (let k = 0; k < KEYS; k++) {
        const s = map.sumInt32(k);
        keys.push(s);
        const tr = document.createElement('tr');
        tr.innerHTML = `<td>${k}</td><td>${s.toLocaleString('en')}</td>`;
        $('keys').tBodies[0].append(tr);
      }
      const expected = nrWorkers * increments;
      const exposition = await register.metrics();
      $('exposition').textContent = exposition;
      const ok = sum === expected && total === expected;
      $('status').textContent = `${ok ? 'done' : 'MISMATCH'}: ${nrWorkers} workers × ${increments.toLocaleString('en')} increments = ${sum.toLocaleString('en')} in ${ms.toFixed(0)} ms`;
      $('status').className = ok ? 'ok' : 'bad';
      window.percpuResult = {
        crossOriginIsolated: self.crossOriginIsolated,
        workers: nrWorkers,
        increments,
        counterSum: sum,
        counterRead: hits.read(),
        errorBound: hits.errorBound,
        perWorker: Array.from({ length: nrWorkers }, (_, u) => ops.value(u)),
        metricSum: ops.value(),
        mapKeys: keys,
        mapSize: map.size,
        exposition,
        ms,
      };
    };
    w.postMessage({ percpu: percpu.handle(), hits: hits.handle(), map: map.handle(), metrics: metrics.handle(), prom: prom.handle(), unit, increments, keys: KEYS });
  }
}

if (!self.crossOriginIsolated || !growable) {
  fail('SharedArrayBuffer is unavailable: serve the page with COOP same-origin and COEP require-corp, in a browser with growable SharedArrayBuffer (Chrome/Edge ≥ 111, Safari ≥ 16.4).');
} else {
  try {
    start();
  } catch (e) {
    fail(`failed: ${e}`);
  }
}
