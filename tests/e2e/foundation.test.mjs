// Foundation: the WASM build runs in workerd with D1, the error contract holds everywhere, the
// configuration is checked, and every request leaves one structured log line without secrets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEnv, ROOT, sleep } from './harness.mjs';
import { TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, readJson, expectError } from './helpers.mjs';

// Misconfigured instances of the build, one per host.
const VARIANTS = {
  // No key signs access tokens: neither an Ed25519 JWT_SIGNING_KEY nor JWT_SECRET.
  'misconfigured.local': { JWT_SIGNING_KEY: undefined, JWT_SECRET: undefined },
  'shortsecret.local': { JWT_SECRET: 'too-short' },
  'prod.local': {
    ENVIRONMENT: 'production',
    WORKOS_REDIRECT_URI: 'https://auth.example.test/auth/callback',
    WORKOS_API_BASE: 'https://api.workos.example.test',
    JWT_SECRET: 'dev-only-access-signing-secret-0123456789abcdef',
  },
};

let env;
before(async () => { env = await startEnv({ variants: VARIANTS }); });
after(async () => env?.close());

test('GET /health reports ok and a working D1 through the WASM build', async () => {
  const res = await env.fetch('/health');
  assert.equal(res.status, 200);
  const b = await readJson(res);
  assert.equal(b.status, 'ok');
  assert.equal(b.service, 'auth');
  assert.equal(b.db, 'ok');
  assert.ok(!Number.isNaN(Date.parse(b.timestamp)), 'timestamp is RFC 3339');
  assert.match(b.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.ok(res.headers.get('x-request-id'));
});

test('migrations created every table of the schema', async () => {
  const rows = await env.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  const names = rows.map((r) => r.name);
  for (const t of ['users', 'sessions', 'api_keys', 'permissions', 'role_permissions', 'organizations',
    'organization_memberships', 'webhook_events', 'audit_events', 'login_flows', 'sync_state']) {
    assert.ok(names.includes(t), `missing table ${t}`);
  }
  const fks = await env.query("SELECT * FROM pragma_foreign_key_list('sessions')");
  assert.ok(fks.some((f) => f.table === 'users' && f.on_delete === 'CASCADE'));
});

test('an unknown route answers 404 with the JSON error shape', async () => {
  await expectError(await env.fetch('/nope/nothing-here'), 404, 'not_found');
});

test('a wrong method answers 405 with Allow and the JSON error shape', async () => {
  const res = await env.fetch('/health', { method: 'POST', body: '{}' });
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  await expectError(res, 405, 'method_not_allowed');

  const del = await env.fetch('/auth/refresh', { method: 'DELETE' });
  assert.equal(del.status, 405);
  assert.equal(del.headers.get('allow'), 'POST');
});

test('a body over the limit answers 413, declared or streamed', async () => {
  const big = 'x'.repeat(64 * 1024);
  const res = await env.fetch('/auth/refresh', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
  await expectError(res, 413, 'payload_too_large');

  const hook = await env.fetch('/webhooks/workos', { method: 'POST', body: 'x'.repeat(300 * 1024) });
  assert.equal(hook.status, 413);
});

test('a missing JWT_SECRET answers 500 server_misconfigured naming it, never a value', async () => {
  const res = await env.mf.dispatchFetch('http://misconfigured.local/auth/me');
  assert.equal(res.status, 500);
  const b = await readJson(res);
  assert.equal(b.error, 'server_misconfigured');
  assert.match(b.error_description, /JWT_SECRET/);
  assert.doesNotMatch(JSON.stringify(b), new RegExp(TEST_JWT_REFRESH_SECRET));
  const health = await env.mf.dispatchFetch('http://misconfigured.local/health');
  assert.equal(health.status, 500);
  assert.equal((await readJson(health)).error, 'server_misconfigured');
});

test('a JWT secret under 32 bytes is refused by name', async () => {
  const res = await env.mf.dispatchFetch('http://shortsecret.local/auth/me');
  assert.equal(res.status, 500);
  const b = await readJson(res);
  assert.equal(b.error, 'server_misconfigured');
  assert.match(b.error_description, /JWT_SECRET must be at least 32 bytes/);
  assert.doesNotMatch(b.error_description, /too-short/);
});

test('development secrets are refused in production', async () => {
  const res = await env.mf.dispatchFetch('http://prod.local/health');
  assert.equal(res.status, 500);
  const b = await readJson(res);
  assert.equal(b.error, 'server_misconfigured');
  assert.doesNotMatch(b.error_description, /dev-only-access/);
});

test('each request leaves one JSON log line with method, path, status, duration and request id, and no secrets', async () => {
  const before = env.logs.length;
  const secretish = 'Bearer abc.def.ghi-very-secret-token';
  await env.fetch('/auth/me?code=should-not-be-logged', { headers: { authorization: secretish, 'cf-ray': 'ray-test-123' } });
  await sleep(200);
  const lines = env.logs.slice(before).filter((l) => l.includes('"msg":"request"'));
  const line = lines.map((l) => JSON.parse(l.slice(l.indexOf('{')))).find((l) => l.request_id === 'ray-test-123');
  assert.ok(line, `no request log line; saw: ${env.logs.slice(before).join('\n')}`);
  assert.equal(line.method, 'GET');
  assert.equal(line.path, '/auth/me');
  assert.equal(line.status, 401);
  assert.equal(typeof line.duration_ms, 'number');
  assert.equal(line.error, 'invalid_token');
  const all = env.logs.join('\n');
  for (const secret of [TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, 'very-secret-token', 'should-not-be-logged', env.standin.apiKey]) {
    assert.ok(!all.includes(secret), `log contains ${secret}`);
  }
});

const RPC_METHODS = ['checkMcpRequest', 'checkPermission', 'createApiKey', 'createSession', 'exchangeWorkOSCode', 'getResourceMetadata',
  'getWorkOSAuthURL', 'refreshSession', 'revokeApiKey', 'revokeSession', 'validateToken'];

/** The names of the functions a WASM binary exports, read from its export section. */
function exportedFunctions(bytes) {
  let i = 8; // magic and version
  const leb = () => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[i++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  while (i < bytes.length) {
    const id = bytes[i++];
    const size = leb();
    const end = i + size;
    if (id === 7) {
      const names = [];
      for (let n = leb(); n > 0; n--) {
        const len = leb();
        const name = bytes.subarray(i, i + len).toString('utf8');
        i += len;
        const kind = bytes[i++];
        leb(); // index
        if (kind === 0) names.push(name);
      }
      return names;
    }
    i = end;
  }
  return [];
}

test('the WASM module exports the handlers and the documented RPC methods, and nothing else of ours', () => {
  const functions = exportedFunctions(readFileSync(path.join(ROOT, 'build/index_bg.wasm')));
  // wasm-bindgen's own plumbing (allocation, closures, the reset function) and the `worker` crate's
  // (its start function `init`, its classes) are not ours; everything else is a #[wasm_bindgen]
  // export of src/lib.rs or src/rpc.rs.
  const plumbing = /^(__wbindgen_|__wbg_|__externref_|__worker_init_state$|init$|wasm_bindgen__|_?_?(intounderlying|containerstartupoptions|minifyconfig|r2range))/i;
  const ours = functions.filter((name) => !plumbing.test(name));
  assert.deepEqual([...new Set(ours)].sort(), [...RPC_METHODS, 'fetch', 'scheduled'].sort());
});

test('a bound worker can call the documented methods and no other name', async () => {
  for (const method of RPC_METHODS) {
    const r = await env.rpc(method);
    assert.doesNotMatch(String(r.error ?? ''), /does not implement|not a function/i, `${method} is not callable`);
  }
  for (const name of ['__wbg_reset_state', '__worker_init_state', 'MinifyConfig', 'constructor', 'init', 'memory']) {
    const r = await env.rpc(name);
    assert.equal(r.ok, false, `${name} answered ${JSON.stringify(r.result)}`);
  }
});

test('the gzipped WASM size is within the platform limit', async () => {
  const { gzipSync } = await import('node:zlib');
  const wasm = readFileSync(path.join(ROOT, 'build/index_bg.wasm'));
  const gz = gzipSync(wasm, { level: 9 }).length;
  console.log(`# wasm: ${Math.round(wasm.length / 1024)} KiB raw, ${Math.round(gz / 1024)} KiB gzipped`);
  assert.ok(gz < 3 * 1024 * 1024, `gzipped wasm is ${gz} bytes`);
});
