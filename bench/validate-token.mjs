// Benchmark (not a test): what does `validateToken` cost through the AUTH_SERVICE binding, compared
// with the binding itself? Prints figures and ratios; nothing here passes or fails on timing.
//
// One workerd instance (Miniflare) runs, side by side:
//   - floor: a JS entrypoint whose validateToken returns a constant (bench/workers/floor.js): the
//     cost of the binding itself, the physical limit of this path;
//   - jose: a TypeScript worker verifying an HS256 token with `jose`, no session check
//     (bench/workers/jose-reference.ts): what a user would write without this worker;
//   - this worker (the real build) for: an access token it has seen before, access tokens it has
//     never seen (each one distinct, so each is a full Ed25519 verification), an API key it has seen,
//     and the uncached path (an instance with SESSION_CACHE_TTL_SECONDS=0: a D1 read per call).
// A driver worker inside workerd (bench/workers/driver.js) calls each target in a tight loop, so the
// Node <-> workerd hop is not measured. Rounds are interleaved across targets, so background load on
// this shared machine hits all of them alike; each figure is the median over rounds, and each ratio
// is the median of per-round ratios to the floor measured in the same round.
//
// Also printed: the gzipped size of the WASM, the time an isolate takes from its first request to its
// first answer (instantiation), and the latency of a refresh.
//
// Run: npm run bench        Options (env): BENCH_N=3000 BENCH_ROUNDS=5 BENCH_BATCH=50
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { startEnv, authBindings, authVariant, jsonLogin, bearer, ROOT, COMPAT_DATE } from '../tests/e2e/harness.mjs';
import { TEST_JWT_SECRET, TEST_SIGNING_KEY, ed25519, forge, forgeEdDSA, accessHeader, jwtPart } from '../tests/e2e/helpers.mjs';

const N = Number(process.env.BENCH_N ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 50);
/** First-seen tokens cost an Ed25519 verification each: fewer calls keep the run short. */
const FIRST_SEEN_N = Math.min(N, 500);
const UNCACHED_N = Math.min(N, 500);

async function bundle(entry) {
  const out = await build({
    entryPoints: [path.join(ROOT, entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:workers'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

async function loop(env, target, tokens, n, options = undefined) {
  const res = await env.mf.dispatchFetch('http://driver.local/', {
    method: 'POST',
    body: JSON.stringify({ target, tokens, n, batch: Math.min(BATCH, n), options }),
  });
  if (res.status !== 200) throw new Error(`driver answered ${res.status}: ${await res.text()}`);
  const r = await res.json();
  if (r.failures) throw new Error(`${target}: ${r.failures} of ${n} answers were not valid (${r.lastError})`);
  return { usPerCall: (r.totalMs * 1000) / n, batchesUs: r.batches.map((b) => b * 1000) };
}

/** The WASM the build produced, gzipped as the platform measures it. */
function wasmSize() {
  const dir = path.join(ROOT, 'build');
  const find = (d) => readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    return statSync(p).isDirectory() ? find(p) : p.endsWith('.wasm') ? [p] : [];
  });
  const [file] = find(dir);
  const bytes = readFileSync(file);
  return { file: path.relative(ROOT, file), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

/** An isolate's first answer against its later ones: the cost of instantiating the module. */
async function instantiation(standinBindings) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const mf = new Miniflare({
      workers: [{ ...authVariant('auth', 'cold.local', standinBindings), routes: undefined }],
      handleRuntimeStdio(stdout, stderr) {
        stdout.resume();
        stderr.resume();
      },
    });
    try {
      await mf.ready;
      const time = async () => {
        const t = process.hrtime.bigint();
        const res = await mf.dispatchFetch('http://cold.local/.well-known/jwks.json');
        await res.arrayBuffer();
        return Number(process.hrtime.bigint() - t) / 1e6;
      };
      const first = await time();
      const later = [];
      for (let j = 0; j < 20; j++) later.push(await time());
      samples.push({ first, later: median(later) });
    } finally {
      await mf.dispose();
    }
  }
  return { firstMs: median(samples.map((s) => s.first)), laterMs: median(samples.map((s) => s.later)) };
}

async function main() {
  const [floorScript, joseScript, driverScript] = await Promise.all([
    bundle('bench/workers/floor.js'), bundle('bench/workers/jose-reference.ts'), readFileSync(path.join(ROOT, 'bench/workers/driver.js'), 'utf8'),
  ]);
  let standinBindings;
  const env = await startEnv({
    // The production cache TTL (30 s), so the warm caches stay warm for the whole run.
    vars: { SESSION_CACHE_TTL_SECONDS: undefined },
    extraWorkers: (standin) => {
      standinBindings = authBindings(standin);
      return [
        authVariant('auth-nocache', 'nocache.local', authBindings(standin, { SESSION_CACHE_TTL_SECONDS: '0' })),
        { name: 'floor', modules: [{ type: 'ESModule', path: 'floor.mjs', contents: floorScript }], compatibilityDate: COMPAT_DATE },
        {
          name: 'jose', modules: [{ type: 'ESModule', path: 'jose.mjs', contents: joseScript }], compatibilityDate: COMPAT_DATE,
          bindings: { JWT_SECRET: TEST_JWT_SECRET, ISSUER: 'http://localhost:8787' },
        },
        {
          name: 'driver', modules: [{ type: 'ESModule', path: 'driver.mjs', contents: driverScript }], compatibilityDate: COMPAT_DATE,
          routes: ['driver.local/*'],
          serviceBindings: { FLOOR: 'floor', JOSE: 'jose', AUTH_SERVICE: 'auth', AUTH_NOCACHE: 'auth-nocache' },
        },
      ];
    },
  });
  try {
    const { token, refreshToken } = await jsonLogin(env, { email: 'ada@acme.test' });
    const created = await env.call('POST', '/apikeys', token, { name: 'bench' });
    if (created.status !== 201) throw new Error(`POST /apikeys answered ${created.status}`);
    const key = created.body.key;
    // Distinct, valid tokens of the same session: each is new to the isolate (a full verification),
    // while the session's liveness stays cached. Signed here with the test key the worker holds.
    const signing = ed25519(TEST_SIGNING_KEY);
    const header = jwtPart(token, 0);
    const claims = jwtPart(token, 1);
    const fresh = Array.from({ length: FIRST_SEEN_N * ROUNDS }, (_, i) => forgeEdDSA(header, { ...claims, jti: `bench-${i}` }, signing.privateKey));
    const hs256 = forge(accessHeader(), claims, TEST_JWT_SECRET);

    // [label, binding, tokens of a round, calls a round, options]. `{}` as options is not an answer
    // the entry module keeps (src/entry.mjs), so that row shows the path through the WASM with the
    // verified claims and the session's liveness remembered there.
    const targets = [
      ['floor (constant answer)', 'FLOOR', () => [token], N],
      ['jose reference (HS256 verify, no session)', 'JOSE', () => [hs256], N],
      ['access token, already seen (EdDSA)', 'AUTH_SERVICE', () => [token], N],
      ['API key, already seen', 'AUTH_SERVICE', () => [key], N],
      ['access token, already seen, through the WASM', 'AUTH_SERVICE', () => [token], N, {}],
      ['access token, first seen (EdDSA)', 'AUTH_SERVICE', (round) => fresh.slice(round * FIRST_SEEN_N, (round + 1) * FIRST_SEEN_N), FIRST_SEEN_N],
      ['access token, uncached (D1 every call)', 'AUTH_NOCACHE', () => [token], UNCACHED_N],
    ];
    // Warm every target once (JIT, caches, the seen token and key), then interleave the rounds.
    for (const [, binding, tokens] of targets.filter(([label]) => !label.includes('first seen'))) await loop(env, binding, tokens(0), 200);
    const results = targets.map(() => ({ us: [], batches: [], ratios: [] }));
    for (let round = 0; round < ROUNDS; round++) {
      let floorUs;
      for (const [i, [, binding, tokens, n, options]] of targets.entries()) {
        const r = await loop(env, binding, tokens(round), n, options);
        if (i === 0) floorUs = r.usPerCall;
        results[i].us.push(r.usPerCall);
        results[i].batches.push(...r.batchesUs);
        results[i].ratios.push(r.usPerCall / floorUs);
      }
    }

    console.log(`validateToken through a service binding, timed inside workerd: ${ROUNDS} interleaved rounds of ${N} sequential calls`);
    console.log(`(first seen and uncached: ${FIRST_SEEN_N} calls a round); node ${process.version}; ${new Date().toISOString()}\n`);
    const rows = targets.map(([label], i) => [
      label,
      median(results[i].us).toFixed(1),
      pct(results[i].batches, 50).toFixed(0),
      pct(results[i].batches, 99).toFixed(0),
      `${median(results[i].ratios).toFixed(2)}x`,
    ]);
    const head = ['target', 'µs/call', 'p50 µs*', 'p99 µs*', 'vs floor'];
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (cells) => cells.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
    console.log(line(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
    const seen = median(results[2].ratios);
    const joseRatio = median(results[2].us.map((us, k) => us / results[1].us[k]));
    const verifyUs = median(results[5].us) - median(results[4].us);
    console.log(`\naccess token, already seen: ${seen.toFixed(2)}x the floor, ${joseRatio.toFixed(2)}x the jose reference`);
    console.log(`access token, first seen: ${verifyUs.toFixed(0)} µs above the same token already seen through the WASM: the`);
    console.log('  Ed25519 signature check (ed25519-compact in WASM) plus hashing and parsing the token, once per token and isolate');
    console.log(`* p50/p99 over batches of ${BATCH} consecutive calls (workerd clocks tick in whole milliseconds).`);

    // Refresh latency: a chain of refreshes of one session over the binding (each one rotates).
    let current = refreshToken;
    const refreshMs = [];
    for (let i = 0; i < 30; i++) {
      const t = process.hrtime.bigint();
      const r = await env.rpc('refreshSession', current);
      refreshMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!r.ok) throw new Error(`refreshSession failed: ${r.error}`);
      current = r.result.refreshToken;
    }
    const size = wasmSize();
    const cold = await instantiation(standinBindings);
    console.log(`\nrefresh (refreshSession, from Node): p50 ${pct(refreshMs, 50).toFixed(1)} ms, p99 ${pct(refreshMs, 99).toFixed(1)} ms over 30`);
    console.log(`wasm: ${size.file} ${(size.raw / 1024).toFixed(0)} KiB raw, ${(size.gzip / 1024).toFixed(0)} KiB gzipped`);
    console.log(`instantiation: first answer of a new isolate ${cold.firstMs.toFixed(1)} ms, later answers ${cold.laterMs.toFixed(1)} ms (median of 5 isolates)`);
  } finally {
    await env.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
