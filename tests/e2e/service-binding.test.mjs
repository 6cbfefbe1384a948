// The AUTH_SERVICE service binding, end to end: the auth worker and both consumers (gateway, mcp)
// in one workerd instance, every RPC method driven through a real binding, forged and revoked
// credentials refused, the revocation bound measured, the WorkOS code flow run against the
// stand-in, and garbage arguments thrown at every method without taking the isolate down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEnv, authConsumer, jsonLogin, signInCast, bearer, sleep, ORIGIN, MCP_RESOURCE, OAUTH_CLIENTS } from './harness.mjs';
import { OAuthClient, Browser, mcpCall } from './oauth-client.mjs';
import {
  TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, nowSecs, sha256hex, b64u, jwtPart, kidOf, accessHeader, refreshHeader, forge,
} from './helpers.mjs';

const CACHE_TTL_MS = 2000; // SESSION_CACHE_TTL_SECONDS in the harness
const BOUND_MARGIN_MS = 1500;


// Arguments JSON cannot carry, built inside workerd: undefined in the middle, functions, Dates, Maps,
// BigInts, typed arrays, and 2000-deep nested arrays and objects (at ~5000 workerd's RPC serializer
// itself refuses with "Maximum call stack size exceeded" before the auth worker sees anything).
const EXOTIC_PROBE = authConsumer('exotic-probe', 'exotic.local', {
  script: `export default { async fetch(req, env) {
    const { method, depth: DEPTH = 2000 } = await req.json();
    let deep = []; for (let i = 0; i < DEPTH; i++) deep = [deep];
    let deepObj = {}; for (let i = 0; i < DEPTH; i++) deepObj = { userId: 'u', resource: 'documents', action: 'read', scopes: deepObj };
    const values = {
      fn: () => 1, date: new Date(0), map: new Map([['userId', 'x']]), bigint: 10n, bytes: new Uint8Array(8),
      nan: NaN, inf: Infinity, bool: true, deepArray: deep, deepObject: deepObj,
      objWithFn: { userId: 'u', name: 'n', resource: 'documents', action: 'read', extra: () => 1 },
      objWithBigint: { userId: 'u', name: 'n', resource: 'documents', action: 'read', expiresInDays: 10n },
      objDeepScopes: { userId: 'u', name: 'n', resource: 'documents', action: 'read', scopes: deep },
    };
    const out = [];
    for (const [label, v] of Object.entries(values)) {
      for (const args of [[v], [undefined, v], [v, v]]) {
        const tag = label + '/' + args.length + (args[0] === undefined ? 'u' : '');
        try {
          const result = await env.AUTH_SERVICE[method](...args);
          out.push({ tag, ok: true, result: result === undefined ? null : result });
        } catch (e) { out.push({ tag, ok: false, error: String((e && e.message) || e) }); }
      }
    }
    return Response.json(out);
  } }`,
});

let env;
/** Signed-in people (see signInCast): {token, refreshToken, user} by name. */
let who;
let acme;
let globex;

before(async () => {
  // other.local: a second instance of the auth build on the same D1, another isolate with its own caches.
  env = await startEnv({ variants: { 'other.local': {} }, extraWorkers: [EXOTIC_PROBE] });
  ({ who, acme, globex } = await signInCast(env));
});
after(async () => env?.close());

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

async function gateway(path, { method = 'GET', headers = {} } = {}) {
  const res = await env.mf.dispatchFetch(`http://gateway.local${path}`, { method, headers });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`gateway ${method} ${path}: expected JSON, got ${res.status}: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body };
}

async function grant(body) {
  const r = await env.call('POST', '/permissions', who.root.token, body);
  assert.ok(r.status === 201 || r.status === 200, `grant ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Follows getWorkOSAuthURL's URL at the stand-in (auto mode) and returns the code it sends back. */
async function codeFor(authUrl, login) {
  if (login) env.standin.nextLogin(login);
  const res = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(res.status, 302, `stand-in answered ${res.status}: ${await res.text()}`);
  const back = new URL(res.headers.get('location'));
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${back}`);
  return { code, back };
}

const freshState = () => `binding-${randomBytes(12).toString('hex')}`;

// ------------------------------------------------------------------------------------------------
// validateToken
// ------------------------------------------------------------------------------------------------

test('validateToken accepts a valid access token and names the user, org and session', async () => {
  const r = await env.validate(who.alan.token);
  assert.equal(r.valid, true);
  assert.deepEqual(r.user, { id: who.alan.user.id, email: 'alan@example.test', role: 'user', organizationId: null });
  const sid = jwtPart(who.alan.token, 1).sid;
  assert.equal(r.session.id, sid);
  assert.equal(Date.parse(r.session.expiresAt) / 1000, jwtPart(who.alan.token, 1).exp);
  assert.equal(r.apiKey, undefined);
  assert.equal(await env.count('sessions', 'id = ? AND user_id = ?', sid, who.alan.user.id), 1);

  const org = await env.validate(who.grace.token);
  assert.equal(org.valid, true);
  assert.equal(org.user.organizationId, acme);
});

test('validateToken refuses an expired token with token_expired', async () => {
  const base = jwtPart(who.alan.token, 1);
  const now = nowSecs();
  // Control: the same forgery with a future exp is accepted, so only expiry differs below.
  assert.equal((await env.validate(forge(accessHeader(), { ...base, iat: now - 10, exp: now + 600 }, TEST_JWT_SECRET))).valid, true,
    'forged control token refused');
  const expired = forge(accessHeader(), { ...base, iat: now - 3600, exp: now - 1 }, TEST_JWT_SECRET);
  assert.deepEqual(await env.validate(expired), { valid: false, error: 'token_expired' });
  const gw = await gateway('/api/documents', { headers: bearer(expired) });
  assert.equal(gw.status, 401);
  assert.equal(gw.body.error, 'token_expired');
});

test('validateToken refuses tampered, re-typed and foreign-signed tokens with invalid_token', async () => {
  const token = who.alan.token;
  const [h, p, s] = token.split('.');
  const base = jwtPart(token, 1);
  const now = nowSecs();
  const adminClaims = { ...base, sub: who.root.user.id, role: 'admin' };
  const flipped = s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.at(-1);
  const cases = {
    'claims changed, signature kept': `${h}.${b64u(adminClaims)}.${s}`,
    'signature altered': `${h}.${p}.${flipped}`,
    'signature removed': `${h}.${p}.`,
    'alg none': `${b64u(accessHeader({ alg: 'none' }))}.${p}.`,
    'alg HS512': forge(accessHeader({ alg: 'HS512' }), base, TEST_JWT_SECRET),
    'refresh token offered as access token': who.alan.refreshToken,
    'refresh-typed header signed with the access secret': forge(accessHeader({ typ: 'rt+jwt' }), base, TEST_JWT_SECRET),
    'signed with the refresh secret': forge(accessHeader({ kid: kidOf(TEST_JWT_REFRESH_SECRET) }), base, TEST_JWT_REFRESH_SECRET),
    'signed with another secret under our kid': forge(accessHeader(), base, 'another-secret-that-is-also-long-enough-xx'),
    'wrong issuer': forge(accessHeader(), { ...base, iss: 'https://evil.example.test', iat: now, exp: now + 600 }, TEST_JWT_SECRET),
    'unknown header field (jku)': forge(accessHeader({ jku: 'https://evil.example.test/jwks' }), base, TEST_JWT_SECRET),
    'two segments': `${h}.${p}`,
    'not a JWT': 'hello',
    'a WorkOS-looking token': 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln',
  };
  for (const [label, t] of Object.entries(cases)) {
    assert.deepEqual(await env.validate(t), { valid: false, error: 'invalid_token' }, label);
  }
  const gw = await gateway('/api/documents', { headers: bearer(cases['claims changed, signature kept']) });
  assert.equal(gw.status, 401);
  assert.equal(gw.body.error, 'invalid_token');
});

test('a session revoked elsewhere stops validating within the cache bound; revokeSession is immediate', async () => {
  const viaD1 = await jsonLogin(env, { email: 'alan@example.test' });
  const viaOtherIsolate = await jsonLogin(env, { email: 'alan@example.test' });
  const viaBinding = await jsonLogin(env, { email: 'alan@example.test' });
  // Warm this isolate's cache for all three.
  for (const s of [viaD1, viaOtherIsolate, viaBinding]) assert.equal((await env.validate(s.token)).valid, true);

  // 1. Through the binding: the revoking isolate evicts its cache at once.
  const sid = jwtPart(viaBinding.token, 1).sid;
  assert.equal(await env.resolved('revokeSession', sid), true);
  assert.deepEqual(await env.validate(viaBinding.token), { valid: false, error: 'session_revoked' });
  const row = (await env.query('SELECT revoked_at, revoked_reason FROM sessions WHERE id = ?', sid))[0];
  assert.ok(row.revoked_at > 0);
  assert.equal(row.revoked_reason, 'revoked_by_service');
  assert.equal(await env.count('audit_events', "action = 'session.revoked' AND target_id = ?", sid), 1);
  const again = await env.rpc('revokeSession', sid);
  assert.equal(again.ok, true, 'revoking twice must not reject');
  assert.equal(typeof again.result, 'boolean');
  assert.equal(await env.count('audit_events', "action = 'session.revoked' AND target_id = ?", sid), 1, 'a second revoke was audited again');
  assert.equal(await env.resolved('revokeSession', 'ses_doesnotexist'), false);

  // 2. Revoked where this isolate cannot see it: straight in D1, and by another isolate's route.
  const d1Sid = jwtPart(viaD1.token, 1).sid;
  const otherSid = jwtPart(viaOtherIsolate.token, 1).sid;
  const started = Date.now();
  await env.query("UPDATE sessions SET revoked_at = ?, revoked_reason = 'test' WHERE id = ?", Math.floor(started / 1000), d1Sid);
  const del = await env.mf.dispatchFetch(`http://other.local/auth/sessions/${otherSid}`, { method: 'DELETE', headers: bearer(viaOtherIsolate.token) });
  assert.equal(del.status, 200, await del.text());
  const bound = CACHE_TTL_MS + BOUND_MARGIN_MS;
  const until = async (token) => {
    for (;;) {
      const r = await env.validate(token);
      if (!r.valid) return { r, after: Date.now() - started };
      if (Date.now() - started > bound + 2000) return { r, after: Infinity };
      await sleep(100);
    }
  };
  const [a, b] = await Promise.all([until(viaD1.token), until(viaOtherIsolate.token)]);
  for (const [label, x] of [['D1 update', a], ['other isolate', b]]) {
    assert.deepEqual(x.r, { valid: false, error: 'session_revoked' }, label);
    assert.ok(x.after <= bound, `${label}: still valid ${x.after} ms after revocation (bound ${bound} ms)`);
  }
  const gw = await gateway('/api/documents', { headers: bearer(viaD1.token) });
  assert.equal(gw.status, 401);
  assert.equal(gw.body.error, 'session_revoked');
});

test('validateToken refuses the token of a deactivated user with user_deactivated', async () => {
  const dora = await jsonLogin(env, { email: 'dora@example.test' });
  const session = await env.resolved('createSession', { userId: dora.user.id });
  await env.query('UPDATE users SET is_active = 0 WHERE id = ?', dora.user.id);
  // No cached verdict for this fresh session: the deactivation is seen at once.
  assert.deepEqual(await env.validate(session.token), { valid: false, error: 'user_deactivated' });
  await env.rejected('createSession', 'user_deactivated', { userId: dora.user.id });
  assert.equal(await env.may({ userId: dora.user.id, resource: 'documents', action: 'read' }), false);
});

// ------------------------------------------------------------------------------------------------
// API keys through the binding
// ------------------------------------------------------------------------------------------------

test('createApiKey, validateToken and revokeApiKey work through the binding', async () => {
  const created = await env.resolved('createApiKey', { userId: who.alan.user.id, name: 'binding key', expiresInDays: 7, environment: 'test' });
  assert.equal(created.success, true, JSON.stringify(created));
  const k = created.apiKey;
  assert.match(k.key, /^sk_test_[0-9A-Za-z]{38}$/);
  assert.equal(k.prefix, 'sk_test_');
  assert.equal(k.start, k.key.slice(0, 12));
  assert.equal(k.name, 'binding key');
  const days = (Date.parse(k.expiresAt) - Date.parse(k.createdAt)) / 86400e3;
  assert.ok(Math.abs(days - 7) < 0.01, `expiresInDays 7 gave ${days}`);
  assert.equal((await env.query('SELECT key_hash FROM api_keys WHERE id = ?', k.id))[0].key_hash, sha256hex(k.key));

  const v = await env.validate(k.key);
  assert.equal(v.valid, true, JSON.stringify(v));
  assert.deepEqual(v.user, { id: who.alan.user.id, email: 'alan@example.test', role: 'user', organizationId: null });
  assert.deepEqual(v.apiKey, { id: k.id, name: 'binding key', scopes: null });
  assert.equal(v.session, undefined);
  // The use is recorded after the answer (waitUntil), within moments.
  let used;
  for (let i = 0; i < 40 && !(used?.[0]?.last_used_at > 0); i++) {
    if (i) await sleep(25);
    used = await env.query('SELECT last_used_at FROM api_keys WHERE id = ?', k.id);
  }
  assert.ok(used[0].last_used_at > 0, 'validateToken did not record the use');

  assert.equal(await env.resolved('revokeApiKey', who.root.user.id, k.id), false, "another user's revoke succeeded");
  assert.equal((await env.validate(k.key)).valid, true);
  assert.equal(await env.resolved('revokeApiKey', who.alan.user.id, 'key_doesnotexist'), false);
  assert.equal(await env.resolved('revokeApiKey', who.alan.user.id, k.id), true);
  assert.deepEqual(await env.validate(k.key), { valid: false, error: 'api_key_revoked' });
  assert.equal(await env.resolved('revokeApiKey', who.alan.user.id, k.id), true, 'revoking twice must stay harmless');
  assert.equal(await env.count('audit_events', "action = 'api_key.revoked' AND target_id = ?", k.id), 1);
  const gw = await gateway('/api/documents', { headers: bearer(k.key) });
  assert.equal(gw.status, 401);
  assert.equal(gw.body.error, 'api_key_revoked');
});

test('createApiKey answers its documented error shape for refused requests', async () => {
  const cases = [
    ['invalid_request', 'name', { userId: who.alan.user.id }],
    ['invalid_request', 'expiresInDays', { userId: who.alan.user.id, name: 'k', expiresInDays: 400 }],
    ['invalid_request', 'environment', { userId: who.alan.user.id, name: 'k', environment: 'staging' }],
    ['invalid_request', 'scopes', { userId: who.alan.user.id, name: 'k', scopes: ['Documents:read'] }],
    ['invalid_request', 'userId', { name: 'k' }],
    ['scope_not_allowed', null, { userId: who.alan.user.id, name: 'k', scopes: ['documents:delete'] }],
    ['user_not_found', null, { userId: 'user_nobody', name: 'k' }],
  ];
  const before = await env.count('api_keys');
  for (const [code, field, params] of cases) {
    const r = await env.resolved('createApiKey', params);
    assert.equal(r.success, false, JSON.stringify(params));
    assert.equal(r.error, code, JSON.stringify(r));
    assert.equal(typeof r.error_description, 'string');
    if (field) assert.ok(r.error_description.includes(`\`${field}\``), `${JSON.stringify(params)}: ${r.error_description}`);
    assert.equal(r.apiKey, undefined);
  }
  assert.equal(await env.count('api_keys'), before);
});

// ------------------------------------------------------------------------------------------------
// checkPermission
// ------------------------------------------------------------------------------------------------

test('checkPermission answers true and false by direct grants, wildcards, organization and ceiling', async () => {
  const alan = who.alan.user.id;
  assert.equal(await env.may({ userId: alan, resource: 'reports', action: 'export' }), false);
  const wildAction = await grant({ userId: alan, resource: 'reports', action: '*' });
  const wildResourceInAcme = await grant({ userId: alan, resource: '*', action: 'read', organizationId: acme });

  assert.equal(await env.may({ userId: alan, resource: 'reports', action: 'export' }), true);
  assert.equal(await env.may({ userId: alan, resource: 'reports', action: 'read', organizationId: globex }), true, 'an org-less grant applies in every org');
  assert.equal(await env.may({ userId: alan, resource: 'reportsx', action: 'read' }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'read' }), false, '*:read in Acme applied outside Acme');
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'read', organizationId: acme }), true);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'read', organizationId: globex }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write', organizationId: acme }), false);

  // Membership roles: Acme admin, Acme member, Globex viewer.
  assert.equal(await env.may({ userId: who.ada.user.id, resource: 'anything', action: 'delete', organizationId: acme }), true);
  assert.equal(await env.may({ userId: who.ada.user.id, resource: 'anything', action: 'delete', organizationId: globex }), false);
  assert.equal(await env.may({ userId: who.ada.user.id, resource: 'anything', action: 'delete' }), false);
  assert.equal(await env.may({ userId: who.grace.user.id, resource: 'documents', action: 'write', organizationId: acme }), true);
  assert.equal(await env.may({ userId: who.grace.user.id, resource: 'documents', action: 'delete', organizationId: acme }), false);
  assert.equal(await env.may({ userId: who.vic.user.id, resource: 'documents', action: 'read', organizationId: globex }), true);
  assert.equal(await env.may({ userId: who.vic.user.id, resource: 'documents', action: 'write', organizationId: globex }), false);

  // A global admin may do anything, but a scope ceiling still narrows it.
  assert.equal(await env.may({ userId: who.root.user.id, resource: 'billing', action: 'refund' }), true);
  assert.equal(await env.may({ userId: who.root.user.id, resource: 'documents', action: 'read', scopes: ['documents:read'] }), true);
  assert.equal(await env.may({ userId: who.root.user.id, resource: 'documents', action: 'write', scopes: ['documents:read'] }), false);
  assert.equal(await env.may({ userId: who.root.user.id, resource: 'documents', action: 'write', scopes: [] }), false, 'an empty ceiling allows nothing');
  assert.equal(await env.may({ userId: who.root.user.id, resource: 'documents', action: 'write', scopes: ['documents:*'] }), true);
  // A ceiling never widens.
  assert.equal(await env.may({ userId: alan, resource: 'billing', action: 'refund', scopes: ['*:*'] }), false);

  assert.equal(await env.may({ userId: 'user_nobody', resource: 'documents', action: 'read' }), false);

  for (const p of [wildAction, wildResourceInAcme]) assert.equal((await env.call('DELETE', `/permissions/${p.id}`, who.root.token)).status, 200);
  assert.equal(await env.may({ userId: alan, resource: 'reports', action: 'export' }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'read', organizationId: acme }), false);
});

// ------------------------------------------------------------------------------------------------
// Sessions through the binding
// ------------------------------------------------------------------------------------------------

test('createSession opens a session whose token validates; unknown users are refused', async () => {
  const before = await env.count('sessions', 'user_id = ?', who.alan.user.id);
  const s = await env.resolved('createSession', { userId: who.alan.user.id, ipAddress: '203.0.113.9', userAgent: 'binding-test/1.0', device: 'CI runner' });
  assert.equal(typeof s.token, 'string');
  assert.equal(typeof s.refreshToken, 'string');
  assert.ok(Date.parse(s.session.expiresAt) > Date.now());
  const v = await env.validate(s.token);
  assert.equal(v.valid, true);
  assert.equal(v.session.id, s.session.id);
  assert.equal(v.user.id, who.alan.user.id);
  const row = (await env.query('SELECT * FROM sessions WHERE id = ?', s.session.id))[0];
  assert.equal(row.user_id, who.alan.user.id);
  assert.equal(row.ip_address, '203.0.113.9');
  assert.equal(row.device, 'CI runner');
  assert.equal(row.user_agent, 'binding-test/1.0');
  assert.equal(row.revoked_at, null);
  assert.equal(await env.count('sessions', 'user_id = ?', who.alan.user.id), before + 1);
  assert.equal(await env.count('audit_events', "action = 'session.created' AND target_id = ?", s.session.id), 1);

  await env.rejected('createSession', 'user_not_found', { userId: 'user_nobody' });
  assert.equal(await env.count('sessions', 'user_id = ?', 'user_nobody'), 0);
});

test('refreshSession rotates a refresh token and rejects anything else with invalid_refresh_token', async () => {
  const s = await env.resolved('createSession', { userId: who.alan.user.id });
  const pair = await env.resolved('refreshSession', s.refreshToken);
  assert.notEqual(pair.token, s.token);
  assert.notEqual(pair.refreshToken, s.refreshToken);
  const v = await env.validate(pair.token);
  assert.equal(v.valid, true);
  assert.equal(v.session.id, s.session.id, 'a refresh keeps the session');
  // Within the reuse grace the same token answers the same pair (a lost race, not theft).
  assert.deepEqual(await env.resolved('refreshSession', s.refreshToken), pair);

  await env.rejected('refreshSession', 'invalid_refresh_token', s.token); // an access token
  await env.rejected('refreshSession', 'invalid_refresh_token', 'not-a-token');
  const rc = jwtPart(pair.refreshToken, 1);
  await env.rejected('refreshSession', 'invalid_refresh_token', forge(refreshHeader(), { ...rc, sub: who.root.user.id }, TEST_JWT_REFRESH_SECRET));
  await env.rejected('refreshSession', 'invalid_refresh_token', forge(refreshHeader(), rc, TEST_JWT_SECRET));

  assert.equal(await env.resolved('revokeSession', s.session.id), true);
  await env.rejected('refreshSession', 'invalid_refresh_token', pair.refreshToken);
  assert.deepEqual(await env.validate(pair.token), { valid: false, error: 'session_revoked' });
});

// ------------------------------------------------------------------------------------------------
// WorkOS through the binding
// ------------------------------------------------------------------------------------------------

test('getWorkOSAuthURL returns the stand-in authorize URL with client, redirect, state and S256 challenge', async () => {
  const state = freshState();
  const redirect = `${ORIGIN}/auth/callback`;
  const url = new URL(await env.resolved('getWorkOSAuthURL', redirect, state));
  assert.equal(url.origin, new URL(env.standin.url).origin);
  assert.equal(url.pathname, '/user_management/authorize');
  const q = url.searchParams;
  assert.equal(q.get('client_id'), env.standin.clientId);
  assert.equal(q.get('redirect_uri'), redirect);
  assert.equal(q.get('state'), state);
  assert.equal(q.get('response_type'), 'code');
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(q.get('provider'), 'authkit');
  assert.ok(!url.href.includes(env.standin.apiKey), 'the URL carries the API key');

  const other = new URL(await env.resolved('getWorkOSAuthURL', redirect, freshState()));
  assert.notEqual(other.searchParams.get('code_challenge'), q.get('code_challenge'), 'the challenge does not depend on the state');

  const generated = new URL(await env.resolved('getWorkOSAuthURL', redirect));
  assert.ok(generated.searchParams.get('state').length >= 16, 'a generated state is short');

  const allowed = new URL(await env.resolved('getWorkOSAuthURL', 'https://app.example.test/callback', freshState()));
  assert.equal(allowed.searchParams.get('redirect_uri'), 'https://app.example.test/callback');

  for (const foreign of ['https://evil.example.test/auth/callback', '//evil.example.test/cb', 'javascript:alert(1)',
    'http://localhost:8787.evil.example.test/cb', 'https://app.example.test.evil.example/cb']) {
    const msg = await env.rejected('getWorkOSAuthURL', 'invalid_request', foreign, freshState());
    assert.match(msg, /`redirectUri`/, foreign);
  }
  for (const badState of ['short', 'has spaces in it!!!!', 'x'.repeat(513)]) {
    const msg = await env.rejected('getWorkOSAuthURL', 'invalid_request', redirect, badState);
    assert.match(msg, /`state`/);
  }
});

test('exchangeWorkOSCode turns a stand-in code into our tokens once, and only with the matching state', async () => {
  const redirect = `${ORIGIN}/auth/callback`;
  const state = freshState();
  const url = await env.resolved('getWorkOSAuthURL', redirect, state);
  const { code, back } = await codeFor(url, { email: 'alan@example.test' });
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(`${back.origin}${back.pathname}`, redirect);

  const sessionsBefore = await env.count('sessions');
  const out = await env.resolved('exchangeWorkOSCode', code, state);
  assert.equal(out.user.email, 'alan@example.test');
  assert.equal(out.user.id, who.alan.user.id);
  assert.equal(typeof out.refreshToken, 'string');
  const v = await env.validate(out.accessToken);
  assert.equal(v.valid, true);
  assert.equal(v.user.id, who.alan.user.id);
  assert.equal(await env.count('sessions'), sessionsBefore + 1);
  assert.equal((await env.resolved('refreshSession', out.refreshToken)).token.split('.').length, 3);

  // The same code again: WorkOS codes are single use.
  await env.rejected('exchangeWorkOSCode', 'invalid_grant', code, state);

  // A code exchanged with another state derives another PKCE verifier: refused.
  const second = await codeFor(await env.resolved('getWorkOSAuthURL', redirect, freshState()), { email: 'alan@example.test' });
  await env.rejected('exchangeWorkOSCode', 'invalid_grant', second.code, freshState());
  // Without a state there is no verifier at all: refused before WorkOS is asked, naming what is missing.
  const third = await codeFor(await env.resolved('getWorkOSAuthURL', redirect, freshState()), { email: 'alan@example.test' });
  assert.match(await env.rejected('exchangeWorkOSCode', 'invalid_request', third.code), /`state` is required/);
  await env.rejected('exchangeWorkOSCode', 'invalid_grant', 'made-up-code', state);
  assert.equal(await env.count('sessions'), sessionsBefore + 1, 'a refused exchange opened a session');

  // WorkOS failing is reported as such, not as a bad code.
  const fourthState = freshState();
  const fourth = await codeFor(await env.resolved('getWorkOSAuthURL', redirect, fourthState), { email: 'alan@example.test' });
  env.standin.failNext('500');
  await env.rejected('exchangeWorkOSCode', 'workos_unavailable', fourth.code, fourthState);
});

// ------------------------------------------------------------------------------------------------
// Consumers: gateway and MCP
// ------------------------------------------------------------------------------------------------

test('the gateway answers 401 without a valid bearer, 403 without the permission, and forwards the caller otherwise', async () => {
  const none = await gateway('/api/documents');
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'unauthenticated');
  const basic = await gateway('/api/documents', { headers: { authorization: 'Basic YWxhbjpwdw==' } });
  assert.equal(basic.status, 401);
  const bad = await gateway('/api/documents', { headers: bearer('garbage.token.here') });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error, 'invalid_token');

  const forbidden = await gateway('/api/documents', { headers: bearer(who.alan.token) });
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.body.error, 'forbidden');

  // grace is an Acme member: reads and writes documents in Acme, never deletes.
  const ok = await gateway('/api/documents/42', {
    method: 'POST', headers: { ...bearer(who.grace.token), 'x-auth-user-id': who.root.user.id } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body, { upstream: true, path: '/api/documents/42', userId: who.grace.user.id, authorization: null });
  const del = await gateway('/api/documents/42', { method: 'DELETE', headers: bearer(who.grace.token) });
  assert.equal(del.status, 403);
  // Claiming another organization through a header changes nothing: grace still acts in Acme only.
  const elsewhere = await gateway('/api/documents', { headers: { ...bearer(who.grace.token), 'x-organization-id': globex } });
  assert.equal(elsewhere.status, 200);
  const elsewhereDelete = await gateway('/api/documents/42', { method: 'DELETE', headers: { ...bearer(who.grace.token), 'x-organization-id': globex } });
  assert.equal(elsewhereDelete.status, 403);
  const vicReads = await gateway('/api/documents', { headers: bearer(who.vic.token) });
  assert.equal(vicReads.status, 200);
  assert.equal(vicReads.body.userId, who.vic.user.id);
  const vicWrites = await gateway('/api/documents', { method: 'PUT', headers: bearer(who.vic.token) });
  assert.equal(vicWrites.status, 403);
});

test('the MCP worker checks each call through the binding: audience, scope and permission, and a revoked grant at once', async () => {
  // Through the binding directly: the decision the MCP worker acts on.
  const ask = (token, tool) => env.resolved('checkMcpRequest', { token, resource: MCP_RESOURCE, method: 'tools/call', tool });
  const vicBrowser = await Browser.signedIn(env, { email: 'vic@globex.test', organizationId: globex });
  const graceBrowser = await Browser.signedIn(env, { email: 'grace@acme.test', organizationId: acme });
  const cli = (revision = '2026-07-28') => new OAuthClient(env, { id: OAUTH_CLIENTS.public.client_id, redirectUri: OAUTH_CLIENTS.public.redirect_uris[0], revision });
  const vic = await cli().tokens(vicBrowser);
  const grace = await cli().tokens(graceBrowser);

  const read = await ask(vic.access_token, 'search_notes');
  assert.deepEqual(Object.keys(read).sort(), ['allowed', 'clientId', 'scope', 'user']);
  assert.equal(read.allowed, true);
  assert.equal(read.user.email, 'vic@globex.test');
  assert.equal(read.user.organizationId, globex);
  assert.equal(read.clientId, OAUTH_CLIENTS.public.client_id);
  assert.deepEqual(await ask(vic.access_token, 'create_note'), {
    allowed: false, status: 403, error: 'forbidden', errorDescription: 'You do not have the `notes:write` permission.',
  }, 'a viewer holds notes:read only (role_permissions)');
  assert.equal((await ask(grace.access_token, 'create_note')).allowed, true, 'a member may write');
  assert.equal((await ask(grace.access_token, 'delete_everything')).error, 'forbidden', 'a tool the resource does not map');
  for (const token of [who.grace.token, 'junk']) {
    const r = await ask(token, 'search_notes');
    assert.equal(r.status, 401, 'a first-party token or junk');
    assert.equal(r.error, 'invalid_token');
  }
  await env.rejected('checkMcpRequest', 'invalid_request', { token: grace.access_token, resource: 'http://unknown.local/mcp' });
  await env.rejected('checkMcpRequest', 'invalid_request', { token: grace.access_token, resource: MCP_RESOURCE, method: 'tools/call' });
  assert.deepEqual(await env.resolved('getResourceMetadata', MCP_RESOURCE), {
    resource: MCP_RESOURCE, authorization_servers: [ORIGIN], scopes_supported: ['notes:read', 'notes:write', 'notes:*'],
    bearer_methods_supported: ['header'], resource_name: 'Notes (example MCP server)',
  });

  // Through the MCP worker: its answers follow the decision, and a revoked grant is refused at once.
  const call = (token, name) => mcpCall(env, MCP_RESOURCE, token, 'tools/call', { name, arguments: name === 'create_note' ? { text: 't' } : { query: 'q' } });
  assert.equal((await call(vic.access_token, 'search_notes')).status, 200);
  assert.equal((await call(vic.access_token, 'create_note')).status, 403);
  assert.equal((await call(grace.access_token, 'create_note')).status, 200);
  const sid = jwtPart(grace.access_token, 1).sid;
  assert.equal(await env.resolved('revokeSession', sid), true);
  const after = await call(grace.access_token, 'search_notes');
  assert.equal(after.status, 401);
  assert.match(after.headers.get('www-authenticate'), /error="invalid_token"/);
});

// ------------------------------------------------------------------------------------------------
// Garbage arguments
// ------------------------------------------------------------------------------------------------

const MB = 'x'.repeat(1024 * 1024);
const ERROR_MESSAGE = /^[a-z_]+: \S/;

function assertDocumentedOutcome(method, r, label) {
  if (!r.ok) {
    assert.match(r.error, ERROR_MESSAGE, `${method}(${label}) rejected without a clear message: ${r.error.slice(0, 200)}`);
    assert.ok(r.error.length < 500, `${method}(${label}) rejected with a ${r.error.length}-char message`);
    assert.ok(!r.error.includes('xxxxxxxxxxxxxxxx'), `${method}(${label}) echoed the input`);
    return;
  }
  const res = r.result;
  switch (method) {
    case 'validateToken':
      assert.equal(res.valid, false, `${method}(${label}) accepted garbage`);
      assert.match(res.error, /^[a-z_]+$/);
      break;
    case 'createApiKey':
      assert.equal(res.success, false, `${method}(${label}) created a key`);
      assert.match(res.error, /^[a-z_]+$/);
      assert.equal(typeof res.error_description, 'string');
      break;
    case 'checkMcpRequest':
      assert.equal(res.allowed, false, `${method}(${label}) allowed garbage`);
      break;
    case 'checkPermission':
    case 'revokeApiKey':
    case 'revokeSession':
      assert.equal(res, false, `${method}(${label}) answered ${JSON.stringify(res)}`);
      break;
    default:
      assert.fail(`${method}(${label}) resolved ${JSON.stringify(res).slice(0, 200)}`);
  }
}

test('garbage arguments to every method get the documented error, and the worker keeps serving', async () => {
  const commonGarbage = [['no arguments'], ['42', 42], ['null', null], ['true', true], ['{}', {}], ['[]', []],
    ['["a"]', ['a']], ['1 MB string', MB], ['empty string', ''], ['nested', { a: { b: [1, { c: null }] } }]];
  const perMethod = {
    validateToken: [['sk_live_ + 1 MB', 'sk_live_' + MB], ['JWT of 1 MB', `${MB}.${MB}.${MB}`]],
    checkPermission: [
      ['missing resource', { userId: 'u', action: 'read' }],
      ['userId number', { userId: 1, resource: 'documents', action: 'read' }],
      ['userId 1 MB', { userId: MB, resource: 'documents', action: 'read' }],
      ['resource 1 MB', { userId: 'u', resource: MB, action: 'read' }],
      ['scopes string', { userId: 'u', resource: 'documents', action: 'read', scopes: 'documents:read' }],
      ['scopes junk', { userId: 'u', resource: 'documents', action: 'read', scopes: [null, 3] }],
      ['organizationId object', { userId: 'u', resource: 'documents', action: 'read', organizationId: {} }],
      ['organizationId 1 MB', { userId: 'u', resource: 'documents', action: 'read', organizationId: MB }],
      ['colon in resource', { userId: 'u', resource: 'documents:read', action: 'read' }],
    ],
    createApiKey: [
      ['missing name', { userId: who.alan.user.id }],
      ['name 1 MB', { userId: who.alan.user.id, name: MB }],
      ['userId 1 MB', { userId: MB, name: 'k' }],
      ['expiresInDays huge', { userId: who.alan.user.id, name: 'k', expiresInDays: 1e300 }],
      ['scopes 1 MB', { userId: who.alan.user.id, name: 'k', scopes: [MB] }],
      ['scopes 10k items', { userId: who.alan.user.id, name: 'k', scopes: Array(10000).fill('documents:read') }],
    ],
    revokeApiKey: [['user only', who.alan.user.id], ['numbers', 1, 2], ['objects', {}, {}], ['1 MB ids', MB, MB], ['null key', who.alan.user.id, null]],
    refreshSession: [['object with token', { refreshToken: who.alan.refreshToken }]],
    revokeSession: [['object', { id: 'ses_x' }]],
    createSession: [['missing userId', {}], ['userId 1 MB', { userId: MB }], ['ipAddress 1 MB', { userId: who.alan.user.id, ipAddress: MB }],
      ['userAgent object', { userId: who.alan.user.id, userAgent: {} }]],
    getWorkOSAuthURL: [['state number', `${ORIGIN}/auth/callback`, 12345678901234567890], ['state 1 MB', `${ORIGIN}/auth/callback`, MB]],
    exchangeWorkOSCode: [['state 1 MB', 'code', MB], ['state object', 'code', {}]],
    checkMcpRequest: [['token 1 MB', { token: MB, resource: MCP_RESOURCE }], ['resource 1 MB', { token: 'x', resource: MB }],
      ['method number', { token: 'x', resource: MCP_RESOURCE, method: 1 }], ['tool object', { token: 'x', resource: MCP_RESOURCE, method: 'tools/call', tool: {} }],
      ['junk token', { token: 'x', resource: MCP_RESOURCE }]],
    getResourceMetadata: [['unknown resource', 'http://unknown.local/mcp'], ['resource with fragment', `${MCP_RESOURCE}#x`]],
  };
  const before = {
    apiKeys: await env.count('api_keys'),
    sessions: await env.count('sessions'),
    revoked: await env.count('sessions', 'revoked_at IS NOT NULL'),
  };
  const logsBefore = env.logs.length;
  for (const [method, extra] of Object.entries(perMethod)) {
    for (const [label, ...args] of [...commonGarbage, ...extra]) {
      const r = await env.rpc(method, ...args);
      assert.ok(r && typeof r.ok === 'boolean', `${method}(${label}): probe got ${JSON.stringify(r)}`);
      assertDocumentedOutcome(method, r, label);
    }
    // Values JSON cannot carry, built inside workerd.
    const res = await env.mf.dispatchFetch('http://exotic.local/', { method: 'POST', body: JSON.stringify({ method }) });
    assert.equal(res.status, 200, `exotic probe for ${method}: ${res.status}`);
    for (const r of await res.json()) assertDocumentedOutcome(method, r, r.tag);
  }
  // Spot checks of the exact answers.
  assert.deepEqual(await env.validate(42), { valid: false, error: 'invalid_request' });
  assert.deepEqual(await env.validate(MB), { valid: false, error: 'invalid_request' });
  await env.rejected('checkPermission', 'invalid_request', { userId: 'u', resource: 'documents' });
  await env.rejected('revokeApiKey', 'invalid_request', 1, 2);
  await env.rejected('refreshSession', 'invalid_request', null);
  await env.rejected('revokeSession', 'invalid_request', MB);
  await env.rejected('createSession', 'invalid_request', []);
  await env.rejected('getWorkOSAuthURL', 'invalid_request', MB);
  await env.rejected('exchangeWorkOSCode', 'invalid_request', {});
  await env.rejected('checkMcpRequest', 'invalid_request', { token: MB, resource: MCP_RESOURCE });
  await env.rejected('getResourceMetadata', 'invalid_request', 42);

  assert.equal(await env.count('api_keys'), before.apiKeys, 'garbage created an API key');
  assert.equal(await env.count('sessions'), before.sessions, 'garbage opened a session');
  assert.equal(await env.count('sessions', 'revoked_at IS NOT NULL'), before.revoked, 'garbage revoked a session');

  // Still alive: health, a real validation, a real permission check.
  const health = await env.fetch('/health');
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, 'ok');
  assert.equal((await env.validate(who.grace.token)).valid, true);
  assert.equal(await env.may({ userId: who.grace.user.id, resource: 'documents', action: 'write', organizationId: acme }), true);
  await sleep(100);
  const crashes = env.logs.slice(logsBefore).filter((l) => /panicked|RuntimeError|unreachable|Uncaught|stack overflow/i.test(l));
  assert.deepEqual(crashes, [], 'the worker logged a crash');
});

test('validateToken reports the current role: a demotion reaches callers within the revocation bound', async () => {
  const person = await jsonLogin(env, { email: 'alan@example.test' });
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", person.user.id);
  await sleep(2200);
  assert.equal((await env.validate(person.token)).user.role, 'admin');
  await env.query("UPDATE users SET role = 'user' WHERE id = ?", person.user.id);
  await sleep(2200);
  const after = await env.validate(person.token);
  assert.equal(after.valid, true);
  assert.equal(after.user.role, 'user', 'the token still claims the old role');
});
