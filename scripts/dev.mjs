// `npm run dev`: the worker on its configured origin (http://localhost:8787 from .dev.vars) with local D1
// (migrations applied), development secrets from .dev.vars (created from .dev.vars.example by setup.sh),
// and the WorkOS stand-in (WORKOS_API_BASE, http://127.0.0.1:8788) with a sign-in page listing seeded
// users. Ctrl-C stops all.
//
// One build, the fast development profile (AUTH_PROFILE=dev, into build-dev/), then `wrangler dev` on that
// build: wrangler.toml has no [build] step, so wrangler never builds again. This script watches the Rust
// sources itself, rebuilds on a change and says when the new build is served. It prints how long each
// step took, and the sign-in link only once the worker answers.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, watch } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devOrigins, devVars } from './dev-vars.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const wrangler = path.join(root, 'node_modules/.bin/wrangler');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const say = (line) => console.log(`[dev] ${line}`);
const started = performance.now() - process.uptime() * 1000; // when node started
const timings = [];
function timed(label, fn) {
  const t = performance.now();
  const out = fn();
  timings.push(`${label} ${secs(performance.now() - t)}`);
  return out;
}

/** Resolves true when nothing listens on `port` (on loopback). */
function portFree(port) {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.once('listening', () => probe.close(() => resolve(true)));
    probe.listen(port, '127.0.0.1');
  });
}

async function requirePort(port, what) {
  if (await portFree(port)) return;
  say(`port ${port} (${what}) is already in use: is another \`npm run dev\` running? Stop it (Ctrl-C in its terminal) or free the port, then run npm run dev again.`);
  process.exit(1);
}

/** Runs a script to completion with its output shown; exits on failure. */
function run(label, command, args, extraEnv = {}) {
  const r = timed(label, () => spawnSync(command, args, { stdio: 'inherit', env: { ...env, ...extraEnv } }));
  if (r.status !== 0) {
    say(`${label} failed (exit ${r.status ?? r.signal}); nothing was started.`);
    process.exit(r.status ?? 1);
  }
}

// Setup (skips whatever is installed; the browser for the tests is not needed here), then one build.
run('setup', 'bash', ['scripts/setup.sh'], { AUTH_SETUP_BROWSER: 'no' });
const vars = devVars();
const { origin, standin: standinUrl } = devOrigins(vars);
const port = Number(new URL(origin).port || 80);
const standinPort = Number(new URL(standinUrl).port || 80);
await requirePort(port, 'the worker');
await requirePort(standinPort, 'the WorkOS stand-in');
run('build', 'bash', ['scripts/build.sh'], { AUTH_PROFILE: 'dev' });

const { startStandin } = await import('../tests/fixtures/workos-standin.mjs');
const standin = await startStandin({
  port: standinPort,
  mode: 'interactive',
  clientId: vars.WORKOS_CLIENT_ID,
  apiKey: vars.WORKOS_API_KEY,
  webhookSecret: vars.WORKOS_WEBHOOK_SECRET,
  webhookUrl: `${origin}/webhooks/workos`,
});

// Migrations, quietly: one line, the full output only when something went wrong. CI=true answers
// wrangler's confirmation prompt for local migrations.
const migrate = timed('migrations', () => spawnSync(wrangler, ['d1', 'migrations', 'apply', 'auth', '--local'], {
  env: { ...env, CI: 'true' },
  encoding: 'utf8',
}));
if (migrate.status !== 0) {
  process.stdout.write(migrate.stdout ?? '');
  process.stderr.write(migrate.stderr ?? '');
  await standin.close();
  say('applying the D1 migrations failed (output above).');
  process.exit(migrate.status ?? 1);
}
const applied = [...new Set((migrate.stdout.match(/\d{4}_[\w-]+\.sql/g) ?? []))];
const upToDate = /No migrations to apply/i.test(migrate.stdout);

// The worker. wrangler's own "Ready on http://127.0.0.1:…" line is not passed on: a sign-in started on
// 127.0.0.1 cannot finish (its cookies are on another host), so only the configured origin is printed.
const workerStarted = performance.now();
const dev = spawn(wrangler, ['dev', 'build-dev/index.js', '--port', String(port), '--ip', '127.0.0.1', '--local',
  '--show-interactive-dev-session=false'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let reloads = 0;
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
for (const stream of [dev.stdout, dev.stderr]) {
  let partial = '';
  let inCfStack = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const plain = stripAnsi(line);
      if (/Local server updated and ready/.test(plain)) reloads++;
      if (/Ready on http/.test(plain)) continue;
      // Offline, wrangler fails to fetch the `Request.cf` placeholder and prints the stack each time;
      // one line says it (the placeholder is fine locally).
      if (/Unable to fetch the `Request.cf` object/.test(plain)) {
        inCfStack = true;
        continue;
      }
      if (inCfStack && /^(Error: getaddrinfo|\s+at )/.test(plain)) continue;
      inCfStack = false;
      (stream === dev.stderr ? process.stderr : process.stdout).write(`${line}\n`);
    }
  });
}

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  dev.kill('SIGTERM');
  await standin.close();
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
dev.on('exit', (code) => {
  if (!stopping) say(`wrangler dev stopped (exit ${code}).`);
  stop(code ?? 1);
});

/** Resolves once GET /health answers 200 (polls every 100 ms), or false after `ms`. */
async function healthy(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end && !stopping) {
    try {
      const res = await fetch(`${origin}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

if (!(await healthy(120_000))) {
  say(`the worker did not answer ${origin}/health within 2 minutes; see wrangler's output above.`);
  await stop(1);
}
timings.push(`worker start ${secs(performance.now() - workerStarted)}`);
say(`WorkOS stand-in on ${standin.url}`);
say(`D1 migrations: ${upToDate ? 'up to date' : `applied ${applied.join(', ') || 'none'}`}`);
say(`ready: /health served ${secs(performance.now() - started)} after the command (${timings.join(', ')})`);
say(`sign in at ${origin}/login (the stand-in lists seeded users); a token for curl: npm run token`);
say('edits under src/ and domain/ are rebuilt and served automatically; edits to .dev.vars need a restart (Ctrl-C, npm run dev)');

// Rebuild on a change to the Rust (or entry) sources, one build at a time; then report when it is served.
let building = false;
let pending = null; // the first change not yet built: {file, at}
let debounce = null;
function changed(file) {
  pending ??= { file, at: performance.now() };
  clearTimeout(debounce);
  debounce = setTimeout(rebuild, 150);
}
async function rebuild() {
  if (building || !pending || stopping) return;
  building = true;
  const change = pending;
  pending = null;
  const reloadsBefore = reloads;
  const buildBefore = devBuild();
  say(`${change.file} changed: rebuilding (development profile)`);
  const buildStarted = performance.now();
  const code = await new Promise((resolve) => {
    spawn('bash', ['scripts/build.sh'], { stdio: 'inherit', env: { ...env, AUTH_PROFILE: 'dev' } }).on('exit', resolve);
  });
  const built = performance.now();
  if (code !== 0) {
    say(`build failed (exit ${code}); still serving the previous build. Fix the error and save again.`);
  } else if (devBuild() === buildBefore) {
    // A change that compiles to the same WASM (a comment, formatting): wrangler has nothing to reload.
    say(`rebuilt in ${secs(built - buildStarted)}: the build is unchanged, so the running worker already serves it`);
  } else {
    // wrangler reloads once the new build-dev/index.js lands; wait for its "updated" line, then /health.
    const until = performance.now() + 30_000;
    while (reloads === reloadsBefore && performance.now() < until && !stopping) await new Promise((r) => setTimeout(r, 50));
    const served = reloads > reloadsBefore && (await healthy(30_000));
    say(served
      ? `served ${secs(performance.now() - change.at)} after the change (build ${secs(built - buildStarted)})`
      : 'the new build was not served within 30 s; see the output above');
  }
  building = false;
  if (pending) rebuild();
}
/** The development build's entry module, which names its WASM's hash (scripts/build.sh). */
function devBuild() {
  try {
    return readFileSync('build-dev/index.js', 'utf8');
  } catch {
    return null;
  }
}
for (const dir of ['src', 'domain/src']) {
  watch(dir, { recursive: true }, (_event, file) => file && changed(path.join(dir, String(file))));
}
for (const file of ['Cargo.toml', 'Cargo.lock', 'domain/Cargo.toml']) watch(file, () => changed(file));
watch('.', (_event, file) => {
  if (String(file) === '.dev.vars') say('.dev.vars changed: restart npm run dev (Ctrl-C, then npm run dev) to use it');
});
