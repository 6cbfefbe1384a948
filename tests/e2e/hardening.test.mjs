// Hardening: each defect a hostile review found, driven end to end against the build in workerd.
// Every test here failed before its fix. After each test the worker must still answer /health (and,
// as in every suite, env.close() fails if a log line carried a token, key or secret).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, authBindings, authVariant, jsonLogin, browserLogin, CookieJar, bearer, ORIGIN } from './harness.mjs';
import { expectError, readJson, jwtPart, seedId, TEST_JWT_REFRESH_SECRET } from './helpers.mjs';

const ACME = seedId('org', 'ACME');
const ADA = seedId('user', 'ADA');
const HTTPS_ORIGIN = 'https://auth.example.test';
const NEW_REFRESH_SECRET = 'test-refresh-secret-after-rotation-0000000003';

// A worker that talks to AUTH_SERVICE the way a hostile (or buggy) sibling could: cyclic and oversized
// arguments, and a call to the cron handler over the binding.
const HOSTILE = {
  name: 'hostile',
  modules: true,
  compatibilityDate: '2026-04-01',
  serviceBindings: { AUTH_SERVICE: 'auth' },
  routes: ['hostile.local/*'],
  script: `export default { async fetch(req, env) {
    const { attack, token } = await req.json();
    const settle = async (p) => { try { return { ok: true, value: await p }; } catch (e) { return { ok: false, error: String(e && e.message || e) }; } };
    const cyclic = () => { const o = { userId: 'usr_aaaaaaaaaaaaaaaaaaaaaaaaaa', resource: 'documents', action: 'read', name: 'k' }; o.self = o; o.scopes = [o]; return o; };
    let deep = {}; for (let i = 0; i < 100; i++) deep = { next: deep };
    const wide = { userId: 'usr_aaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'k', junk: Array.from({ length: 100000 }, (_, i) => i) };
    const calls = {
      cyclic: () => [env.AUTH_SERVICE.checkPermission(cyclic()), env.AUTH_SERVICE.createApiKey(cyclic()), env.AUTH_SERVICE.createSession(cyclic())],
      deep: () => [env.AUTH_SERVICE.checkPermission(deep), env.AUTH_SERVICE.createSession({ userId: 'x', device: deep })],
      wide: () => [env.AUTH_SERVICE.createApiKey(wide)],
      longString: () => [env.AUTH_SERVICE.validateToken('x'.repeat(8 * 1024 * 1024)), env.AUTH_SERVICE.refreshSession('y'.repeat(8 * 1024 * 1024))],
      scheduled: () => [env.AUTH_SERVICE.scheduled({ cron: '*/5 * * * *', scheduledTime: Date.now(), noRetry() {} })],
    }[attack];
    // An unrelated call in flight at the same time must be unaffected.
    const bystander = env.AUTH_SERVICE.validateToken(token);
    const results = await Promise.all(calls().map(settle));
    return Response.json({ results, bystander: await bystander });
  } }`,
};

// Streams a 64 MiB body into the auth worker without a Content-Length and counts the chunks it pulled.
const FLOODER = {
  name: 'flooder',
  modules: true,
  compatibilityDate: '2026-04-01',
  serviceBindings: { AUTH: 'auth' },
  routes: ['flooder.local/*'],
  script: `export default { async fetch(req, env) {
    const { path } = await req.json();
    const chunk = new Uint8Array(64 * 1024).fill(0x7b);
    let pulled = 0;
    const body = new ReadableStream({ pull(c) { if (pulled >= 1024) return c.close(); pulled++; c.enqueue(chunk); } });
    const res = await env.AUTH.fetch('http://localhost:8787' + path, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json' } });
    const answeredAt = pulled;
    const b = await res.json().catch(() => ({}));
    return Response.json({ status: res.status, error: b.error, pulledMiB: answeredAt * chunk.length / 1048576 });
  } }`,
};

let env;
before(async () => {
  env = await startEnv({
    extraWorkers: (standin) => {
      const base = authBindings(standin);
      return [
        HOSTILE,
        FLOODER,
        // The same worker on an https origin (production cookie rules), sharing the D1 database.
        authVariant('auth-https', 'auth.example.test', {
          ...base,
          WORKOS_REDIRECT_URI: `${HTTPS_ORIGIN}/auth/callback`,
          JWT_ISSUER: ORIGIN,
          // An issuer other than the worker's own origin is refused with the OAuth server on.
          OAUTH_RESOURCES: undefined,
          OAUTH_CLIENTS: undefined,
        }),
        // An isolate that already runs with a rotated refresh secret (the old one kept as previous).
        authVariant('auth-rotated', 'rotated.local', {
          ...base,
          JWT_REFRESH_SECRET: NEW_REFRESH_SECRET,
          JWT_REFRESH_SECRET_PREVIOUS: TEST_JWT_REFRESH_SECRET,
        }),
      ];
    },
  });
});
after(async () => env?.close());
afterEach(async () => {
  const health = await env.fetch('/health');
  assert.equal(health.status, 200, `health after the test: ${await health.text()}`);
});

const call = (...args) => env.call(...args);

async function createKey(token, body) {
  const r = await call('POST', '/apikeys', token, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

// ------------------------------------------------------------------------------------------------
// 1. Scoped API keys and account management
// ------------------------------------------------------------------------------------------------

test('an API key without the account:manage scope cannot see or end sessions or manage keys', async () => {
  const owner = await jsonLogin(env, { email: 'key-owner@example.test' });
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", owner.user.id);
  const other = await jsonLogin(env, { email: 'key-owner@example.test' });
  const production = await createKey(owner.token, { name: 'production' });
  for (const scopes of [['documents:read'], [], undefined]) {
    const key = await createKey(owner.token, { name: `scoped ${JSON.stringify(scopes)}`, scopes });
    const label = `key with scopes ${JSON.stringify(scopes ?? null)}`;
    await expectError(await call('GET', '/auth/sessions', key.key), 403, 'forbidden', label);
    await expectError(await call('DELETE', `/auth/sessions/${jwtPart(other.token, 1).sid}`, key.key), 403, 'forbidden', label);
    await expectError(await call('GET', '/apikeys', key.key), 403, 'forbidden', label);
    await expectError(await call('POST', '/apikeys', key.key, { name: 'child' }), 403, 'forbidden', label);
    await expectError(await call('DELETE', `/apikeys/${production.id}`, key.key), 403, 'forbidden', label);
  }
  // Nothing was ended or revoked.
  assert.equal((await call('GET', '/auth/me', other.token)).status, 200);
  assert.equal((await call('GET', '/auth/me', production.key)).status, 200);
});

test('a key with account:manage manages the account but never revokes a broader key', async () => {
  const owner = await jsonLogin(env, { email: 'manager@example.test' });
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", owner.user.id);
  const manager = await createKey(owner.token, { name: 'manager', scopes: ['documents:read', 'account:manage'] });
  assert.deepEqual(manager.scopes, ['documents:read', 'account:manage']);
  const sessions = await call('GET', '/auth/sessions', manager.key);
  assert.equal(sessions.status, 200);
  assert.ok(sessions.body.sessions.length >= 1);

  const narrow = await createKey(owner.token, { name: 'narrow', scopes: ['documents:read'] });
  const unscoped = await createKey(owner.token, { name: 'unscoped' });
  const wider = await createKey(owner.token, { name: 'wider', scopes: ['documents:write'] });
  await expectError(await call('DELETE', `/apikeys/${unscoped.id}`, manager.key), 403, 'forbidden', 'unscoped');
  await expectError(await call('DELETE', `/apikeys/${wider.id}`, manager.key), 403, 'forbidden', 'wider');
  const ok = await call('DELETE', `/apikeys/${narrow.id}`, manager.key);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal((await call('GET', '/auth/me', unscoped.key)).status, 200);
  assert.equal((await call('GET', '/auth/me', wider.key)).status, 200);
  // A child key it makes stays within it.
  await expectError(await call('POST', '/apikeys', manager.key, { name: 'child', scopes: ['documents:write'] }), 403, 'scope_not_allowed');
  const child = await createKey(manager.key, { name: 'child' });
  assert.deepEqual(child.scopes, ['documents:read', 'account:manage']);
  // The reserved scope is refused to wildcards: `*:*` does not manage the account.
  const star = await createKey(owner.token, { name: 'star', scopes: ['*:*'] });
  await expectError(await call('GET', '/auth/sessions', star.key), 403, 'forbidden');
});

// ------------------------------------------------------------------------------------------------
// 2. Bodies are refused at their limit, not after they were read
// ------------------------------------------------------------------------------------------------

/** POSTs a 64 MiB chunked body (no Content-Length), from inside workerd through a service binding,
 *  and reports how much of it the worker pulled before answering. */
async function floodBody(path) {
  const res = await env.mf.dispatchFetch('http://flooder.local/', { method: 'POST', body: JSON.stringify({ path }) });
  return res.json();
}

test('a chunked body with no Content-Length is refused once it passes the limit', async () => {
  for (const path of ['/auth/refresh', '/webhooks/workos']) {
    const r = await floodBody(path);
    assert.equal(r.status, 413, `${path}: ${JSON.stringify(r)}`);
    assert.equal(r.error, 'payload_too_large');
    // Transport buffers read ahead a little; the whole 64 MiB was read before the fix.
    assert.ok(r.pulledMiB < 16, `${path} pulled ${r.pulledMiB} MiB before answering`);
  }
});

// ------------------------------------------------------------------------------------------------
// 3 and 4. Hostile RPC arguments and the cron handler over the binding
// ------------------------------------------------------------------------------------------------

async function hostile(attack, token) {
  const res = await env.mf.dispatchFetch('http://hostile.local/', { method: 'POST', body: JSON.stringify({ attack, token }) });
  assert.equal(res.status, 200, `hostile worker failed: ${await res.clone().text()}`);
  return res.json();
}

test('cyclic, deeply nested and oversized RPC arguments get the documented error and trap nothing', async () => {
  const { token } = await jsonLogin(env, { email: 'bystander@example.test' });
  for (const attack of ['cyclic', 'deep', 'wide', 'longString']) {
    const { results, bystander } = await hostile(attack, token);
    assert.equal(bystander.valid, true, `${attack}: the call in flight next to it failed: ${JSON.stringify(bystander)}`);
    for (const r of results) {
      const message = r.ok ? JSON.stringify(r.value) : r.error;
      assert.match(message, /invalid_request/, `${attack}: ${message}`);
      assert.doesNotMatch(message, /memory|unreachable|RuntimeError/i, `${attack}: ${message}`);
    }
  }
  assert.ok(!env.logs.some((l) => /RuntimeError|memory access out of bounds|Reinitializing/.test(l)), 'the module trapped');
});

test('scheduled() called over the binding runs nothing; the cron trigger still does', async () => {
  const { token } = await jsonLogin(env, { email: 'cron@example.test' });
  env.standin.clearRequests();
  const { results } = await hostile('scheduled', token);
  assert.equal(results[0].ok, false, JSON.stringify(results));
  assert.match(results[0].error, /forbidden/);
  assert.ok(!env.standin.requests.some((r) => r.path.startsWith('/events')), 'the catch-up ran for a bound worker');
  await (await env.mf.getWorker('auth')).scheduled({ cron: '*/5 * * * *' });
  assert.ok(env.standin.requests.some((r) => r.path.startsWith('/events')), 'the cron trigger did not run the catch-up');
});

// ------------------------------------------------------------------------------------------------
// 5. Refresh-secret rotation while old and new isolates coexist
// ------------------------------------------------------------------------------------------------

test('two concurrent refreshes across a refresh-secret rotation both succeed and revoke nothing', async () => {
  const session = await jsonLogin(env, { email: 'rotating@example.test' });
  const sid = jwtPart(session.refreshToken, 1).sid;
  const body = JSON.stringify({ refreshToken: session.refreshToken });
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
  const [onOld, onNew] = await Promise.all([env.fetch('/auth/refresh', init), env.fetch('http://rotated.local/auth/refresh', init)]);
  const [a, b] = [await readJson(onOld), await readJson(onNew)];
  assert.equal(onOld.status, 200, JSON.stringify(a));
  assert.equal(onNew.status, 200, JSON.stringify(b));
  assert.equal(jwtPart(a.refreshToken, 1).jti, jwtPart(b.refreshToken, 1).jti, 'both isolates must hand out the same successor');
  const [row] = await env.query('SELECT revoked_at FROM sessions WHERE id = ?', sid);
  assert.equal(row.revoked_at, null, 'the session was revoked as if stolen');
  assert.equal(await env.count('audit_events', "action = 'session.refresh_reuse_detected' AND target_id = ?", sid), 0);
  // Both successors keep working on either isolate.
  const next = await env.fetch('http://rotated.local/auth/refresh', { ...init, body: JSON.stringify({ refreshToken: a.refreshToken }) });
  assert.equal(next.status, 200, await next.text());
});

// ------------------------------------------------------------------------------------------------
// 6. Logout CSRF
// ------------------------------------------------------------------------------------------------

test('GET /auth/logout signs out only a same-origin navigation; anything else must confirm by form post', async () => {
  const jar = new CookieJar();
  await browserLogin(env, jar);
  const me = () => env.fetch('/auth/me', { headers: { cookie: jar.header() } });
  for (const site of ['cross-site', 'same-site', 'none', undefined]) {
    const headers = { cookie: jar.header(), ...(site ? { 'sec-fetch-site': site } : {}) };
    const res = await env.fetch('/auth/logout', { headers });
    assert.equal(res.status, 200, `Sec-Fetch-Site ${site}`);
    assert.match(res.headers.get('content-type'), /text\/html/);
    const page = await res.text();
    assert.match(page, /<form method="post" action="\/auth\/logout">/);
    assert.equal(res.headers.getSetCookie().length, 0, `Sec-Fetch-Site ${site} cleared cookies`);
    assert.equal((await me()).status, 200, `Sec-Fetch-Site ${site} signed the browser out`);
  }
  // The form post from another origin is refused like every cookie-authenticated state change.
  const form = { method: 'POST', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, body: 'return_to=%2F' };
  const forged = await env.fetch('/auth/logout', { ...form, headers: { ...form.headers, origin: 'https://evil.example' } });
  await expectError(forged, 403, 'origin_not_allowed');
  assert.equal((await me()).status, 200);
  // The confirmation form itself (same origin) signs out and goes on to the target.
  const confirmed = jar.store(await env.fetch('/auth/logout', { ...form, headers: { ...form.headers, origin: ORIGIN } }));
  assert.equal(confirmed.status, 302);
  assert.equal(jar.get('auth_session'), undefined);
  await expectError(await env.fetch('/auth/me', { headers: { cookie: form.headers.cookie } }), 401, 'session_revoked');
});

// ------------------------------------------------------------------------------------------------
// 7. The example gateway takes the organization from the identity only
// ------------------------------------------------------------------------------------------------

test('the gateway ignores a caller-chosen organization; an org-bound key acts in its organization', async () => {
  await jsonLogin(env, { userId: ADA, organizationId: ACME }); // records Ada's admin membership in Acme
  const orgless = await jsonLogin(env, { userId: ADA });
  const gw = (token, headers = {}) => env.mf.dispatchFetch('http://gateway.local/api/documents/1', { method: 'DELETE', headers: { ...bearer(token), ...headers } });
  const claimed = await gw(orgless.token, { 'x-organization-id': ACME });
  assert.equal(claimed.status, 403, 'an org-less session borrowed its Acme admin role through a header');
  await claimed.text();
  // A key bound to Acme acts with the Acme role; an unbound one does not.
  const bound = await createKey(orgless.token, { name: 'acme key', organizationId: ACME });
  assert.equal(bound.organizationId, ACME);
  assert.equal((await env.validate(bound.key)).user.organizationId, ACME);
  const viaBound = await gw(bound.key);
  assert.equal(viaBound.status, 200, await viaBound.text());
  const unbound = await createKey(orgless.token, { name: 'plain key' });
  const viaUnbound = await gw(unbound.key, { 'x-organization-id': ACME });
  assert.equal(viaUnbound.status, 403);
  await viaUnbound.text();
  // Nobody binds a key to an organization they are not an active member of.
  const alan = await jsonLogin(env, { email: 'alan@example.test' });
  await expectError(await call('POST', '/apikeys', alan.token, { name: 'x', organizationId: ACME }), 403, 'forbidden');
});

// ------------------------------------------------------------------------------------------------
// 8. Host-only cookies on https
// ------------------------------------------------------------------------------------------------

test('on https every cookie is __Host- (Secure, Path=/, no Domain); on http localhost the names stay plain', async () => {
  const start = await env.fetch(`${HTTPS_ORIGIN}/login`);
  assert.equal(start.status, 302);
  const flow = start.headers.getSetCookie();
  assert.equal(flow.length, 1);
  assert.match(flow[0], /^__Host-auth_flow_[0-9a-f]{16}=/);
  const atWorkos = await fetch(start.headers.get('location'), { redirect: 'manual' });
  const back = new URL(atWorkos.headers.get('location'));
  const jar = new CookieJar();
  jar.store(start);
  const done = await env.fetch(`${HTTPS_ORIGIN}${back.pathname}${back.search}`, { headers: { cookie: jar.header() } });
  assert.equal(done.status, 302, await done.text());
  const set = done.headers.getSetCookie();
  const names = set.map((c) => c.split('=')[0]).sort();
  assert.deepEqual(names.filter((n) => !n.startsWith('__Host-auth_flow_')), ['__Host-auth_refresh', '__Host-auth_session']);
  for (const c of set) {
    assert.match(c, /; Path=\/(;|$)/, c);
    assert.match(c, /; Secure/, c);
    assert.doesNotMatch(c, /Domain=/i, c);
  }
  // A plain-named cookie (what a sibling subdomain could plant) is not read on https.
  const session = set.find((c) => c.startsWith('__Host-auth_session=')).split(';')[0].split('=')[1];
  assert.equal((await env.fetch(`${HTTPS_ORIGIN}/auth/me`, { headers: { cookie: `__Host-auth_session=${session}` } })).status, 200);
  await expectError(await env.fetch(`${HTTPS_ORIGIN}/auth/me`, { headers: { cookie: `auth_session=${session}` } }), 401, 'unauthenticated');
  // http localhost keeps bare names.
  const local = new CookieJar();
  await browserLogin(env, local);
  assert.ok(local.get('auth_session') && local.get('auth_refresh'));
});

// ------------------------------------------------------------------------------------------------
// 9. One bad event does not stop the catch-up
// ------------------------------------------------------------------------------------------------

test('a malformed event in the Events stream is quarantined, audited and passed', async () => {
  const worker = await env.mf.getWorker('auth');
  await worker.scheduled({ cron: '*/5 * * * *' }); // catch up on everything before
  // A real membership event, whose data then arrives in a shape the worker cannot apply.
  const org = env.standin.addOrganization({ name: 'Quarantine Corp' });
  const user = env.standin.addUser({ email: 'quarantined-member@example.test' });
  env.standin.addMembership({ userId: user.id, organizationId: org.id, role: 'member' });
  const bad = env.standin.events.at(-1);
  assert.equal(bad.event, 'organization_membership.created');
  bad.data = { ...bad.data, organization_id: 'org/../x', status: 'whatever' };
  const good = env.standin.addUser({ email: 'after-bad-event@example.test' });
  for (let run = 0; run < 2; run++) await worker.scheduled({ cron: '*/5 * * * *' });
  const [q] = await env.query('SELECT event, source, reason FROM quarantined_events WHERE id = ?', bad.id);
  assert.equal(q?.event, 'organization_membership.created');
  assert.equal(q.source, 'events_api');
  assert.equal(await env.count('audit_events', "action = 'event.quarantined' AND target_id = ?", bad.id), 1, 'audited once');
  assert.equal(await env.count('users', 'workos_id = ?', good.id), 1, 'the event after the bad one was applied');
  const [cursor] = await env.query("SELECT value FROM sync_state WHERE name = 'workos_events_cursor'");
  assert.equal(cursor.value, env.standin.events.at(-1).id);
  assert.ok(env.logs.some((l) => l.includes('workos event quarantined') && l.includes(bad.id)), 'logged');
});

// ------------------------------------------------------------------------------------------------
// 10. exchangeWorkOSCode without its state
// ------------------------------------------------------------------------------------------------

test('exchangeWorkOSCode without state says that state is required instead of blaming WorkOS', async () => {
  const message = await env.rejected('exchangeWorkOSCode', 'invalid_request', 'some-code');
  assert.match(message, /`state` is required/);
});

// ------------------------------------------------------------------------------------------------
// 11. One token, one spelling
// ------------------------------------------------------------------------------------------------

test('a token re-spelled in the standard base64 alphabet, padded, or with trailing bits is refused', async () => {
  const { token } = await jsonLogin(env, { email: 'spelling@example.test' });
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  const standard = sig.toString('base64');
  const spellings = {
    'standard alphabet, padded': `${h}.${p}.${standard}`,
    'standard alphabet': `${h}.${p}.${standard.replace(/=+$/, '')}`,
    'padded base64url': `${h}.${p}.${s}==`,
    'header padded': `${h}=.${p}.${s}`,
  };
  // Non-zero trailing bits: the last character of the 43-char signature carries 2 unused bits.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(s.at(-1));
  spellings['trailing bits'] = `${h}.${p}.${s.slice(0, -1)}${alphabet[last ^ 1]}`;
  for (const [why, t] of Object.entries(spellings)) {
    if (t === token) continue;
    const res = await env.fetch('/auth/me', { headers: bearer(t) });
    assert.equal(res.status, 401, `${why} was accepted`);
    await res.text();
    assert.equal((await env.validate(t)).valid, false, `${why} validated over RPC`);
  }
  assert.equal((await env.validate(token)).valid, true);
});
