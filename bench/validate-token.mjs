// Benchmark (not a test): how fast is validateToken through the AUTH_SERVICE service binding?
//
// Starts the end-to-end harness (the real WASM build in workerd, D1, the WorkOS stand-in), signs in,
// creates an API key, then asks a bench worker *inside workerd* to call validateToken N times in a
// sequential loop, so the Node <-> workerd hop is not part of the figures.
//
// workerd clocks (Date.now / performance.now) have 1 ms resolution and only advance across I/O
// (Spectre mitigation), so a single sub-millisecond call cannot be timed on its own. The loop
// therefore records:
//   - the total time of all N calls (calls/s and the mean are exact to ±1 ms over the whole run);
//   - the time of each batch of B consecutive calls, divided by B (p50 / p99 / max "per call");
//   - each call's own reading, in whole milliseconds (to show how many calls crossed a tick).
//
// Run: npm run bench        Options (env): BENCH_N=4000 BENCH_WARMUP=200 BENCH_BATCH=40
import { startEnv, authBindings, authVariant, jsonLogin, bearer } from '../tests/e2e/harness.mjs';

const N = Number(process.env.BENCH_N ?? 4000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 200);
const BATCH = Number(process.env.BENCH_BATCH ?? 40);

const BENCH_WORKER = {
  name: 'bench',
  modules: true,
  compatibilityDate: '2026-04-01',
  serviceBindings: { AUTH_SERVICE: 'auth', AUTH_NOCACHE: 'auth-nocache' },
  routes: ['bench.local/*'],
  script: `export default { async fetch(req, env) {
    const { target, token, n, warmup, batch } = await req.json();
    const svc = env[target];
    let failures = 0;
    let lastError = null;
    const check = (r, expectValid) => { if (r.valid !== expectValid) { failures++; lastError = r.error ?? 'unexpectedly valid'; } };
    const expectValid = (await svc.validateToken(token)).valid;
    for (let i = 0; i < warmup; i++) check(await svc.validateToken(token), expectValid);
    const perCall = new Array(n);
    const batches = [];
    const t0 = performance.now();
    let batchStart = t0;
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      check(await svc.validateToken(token), expectValid);
      const e = performance.now();
      perCall[i] = e - s;
      if ((i + 1) % batch === 0) { batches.push((e - batchStart) / batch); batchStart = e; }
    }
    const totalMs = performance.now() - t0;
    return Response.json({ expectValid, totalMs, perCall, batches, failures, lastError });
  } }`,
};

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function run(env, label, target, token) {
  const wallStart = process.hrtime.bigint();
  const res = await env.mf.dispatchFetch('http://bench.local/', {
    method: 'POST',
    body: JSON.stringify({ target, token, n: N, warmup: WARMUP, batch: BATCH }),
  });
  if (res.status !== 200) throw new Error(`bench worker answered ${res.status}: ${await res.text()}`);
  const r = await res.json();
  const wallMs = Number(process.hrtime.bigint() - wallStart) / 1e6;
  const batches = [...r.batches].sort((a, b) => a - b);
  const single = [...r.perCall].sort((a, b) => a - b);
  return {
    label,
    valid: r.expectValid,
    calls: N,
    failures: r.failures,
    lastError: r.lastError,
    callsPerSec: N / (r.totalMs / 1000),
    meanUs: (r.totalMs / N) * 1000,
    p50Us: pct(batches, 50) * 1000,
    p99Us: pct(batches, 99) * 1000,
    maxBatchUs: batches.at(-1) * 1000,
    singleP99Ms: pct(single, 99),
    singleMaxMs: single.at(-1),
    overTick: r.perCall.filter((t) => t >= 1).length,
    wallMs,
  };
}

function table(rows) {
  const cols = [
    ['case', (r) => r.label],
    ['result', (r) => (r.valid ? 'valid' : 'refused')],
    ['calls', (r) => String(r.calls)],
    ['calls/s', (r) => r.callsPerSec.toFixed(0)],
    ['mean µs', (r) => r.meanUs.toFixed(0)],
    [`p50 µs*`, (r) => r.p50Us.toFixed(0)],
    [`p99 µs*`, (r) => r.p99Us.toFixed(0)],
    ['max µs*', (r) => r.maxBatchUs.toFixed(0)],
    ['1-call p99/max ms', (r) => `${r.singleP99Ms}/${r.singleMaxMs}`],
    ['calls ≥1 ms', (r) => String(r.overTick)],
    ['errors', (r) => String(r.failures)],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (vals) => vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  console.log(line(cols.map(([h]) => h)));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

async function main() {
  const env = await startEnv({
    // The production default cache TTL (30 s), so the warm cache stays warm for the whole run.
    vars: { SESSION_CACHE_TTL_SECONDS: undefined },
    extraWorkers: (standin) => [
      // The same build with the liveness cache off: every validation reads D1.
      authVariant('auth-nocache', 'nocache.local', authBindings(standin, { SESSION_CACHE_TTL_SECONDS: '0' })),
      BENCH_WORKER,
    ],
  });
  try {
    const { token, user } = await jsonLogin(env, { email: 'ada@acme.test' });
    const created = await env.fetch('/apikeys', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' }),
    });
    if (created.status !== 201) throw new Error(`POST /apikeys answered ${created.status}: ${await created.text()}`);
    const { key } = await created.json();
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');

    console.log(`validateToken via service binding, measured inside workerd; ${N} sequential calls after ${WARMUP} warm-up calls`);
    console.log(`user ${user.email}; node ${process.version}; ${new Date().toISOString()}\n`);
    const rows = [];
    rows.push(await run(env, 'access token (cache warm)', 'AUTH_SERVICE', token));
    rows.push(await run(env, 'API key (cache warm)', 'AUTH_SERVICE', key));
    rows.push(await run(env, 'access token (no cache: D1 per call)', 'AUTH_NOCACHE', token));
    rows.push(await run(env, 'API key (no cache: D1 per call)', 'AUTH_NOCACHE', key));
    rows.push(await run(env, 'forged token (bad signature)', 'AUTH_SERVICE', forged));
    table(rows);
    console.log(`\n* per-call figures from batches of ${BATCH} consecutive calls (workerd clocks tick in whole ms).`);
    console.log('  "1-call" columns: each call timed alone, in whole ms. calls/s and mean: total loop time / calls.');
    const bad = rows.filter((r) => r.failures > 0);
    for (const r of bad) console.log(`! ${r.label}: ${r.failures} calls answered differently from the first (${r.lastError})`);
    if (!rows[0].valid || !rows[1].valid || rows[4].valid) {
      console.log('! unexpected validity: the access token and API key must be valid and the forged token refused');
      process.exitCode = 1;
    }
    if (bad.length) process.exitCode = 1;
  } finally {
    await env.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
