// Refresh rotation and reuse detection, the token checks of /auth/me (forged, expired, retyped, revoked,
// deactivated), and signing-secret rotation across two builds sharing one D1. Sign-in itself: login.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, CookieJar, jsonLogin, bearer, sleep, ORIGIN } from './harness.mjs';
import {
  TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, nowSecs, b64u, jwtPart, kidOf, accessHeader, refreshHeader, forge, readJson, expectError,
} from './helpers.mjs';

const NEW_JWT_SECRET = 'rotated-access-secret-that-is-long-enough-0003';
// This suite runs a deployment that signs access tokens with JWT_SECRET alone (HS256, no
// JWT_SIGNING_KEY), which keeps working; tests/e2e/tokens.test.mjs covers the EdDSA default.
const HS256_ONLY = { JWT_SIGNING_KEY: undefined };
// Two more instances of the build, same D1, same issuer:
const ROTATED = 'http://rotated.local'; // JWT_SECRET rotated; the old one kept for verification
const NEW_ONLY = 'http://newonly.local'; // the old secret removed
const VARIANTS = {
  'rotated.local': { ...HS256_ONLY, JWT_SECRET: NEW_JWT_SECRET, JWT_SECRET_PREVIOUS: TEST_JWT_SECRET },
  'newonly.local': { ...HS256_ONLY, JWT_SECRET: NEW_JWT_SECRET },
};

let env;
before(async () => { env = await startEnv({ vars: HS256_ONLY, variants: VARIANTS }); });
after(async () => env?.close());

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const refreshBody = (refreshToken, base = ORIGIN) =>
  env.fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
const me = (token, base = ORIGIN) => env.fetch(`${base}/auth/me`, { headers: bearer(token) });
const sidOf = (jwt) => jwtPart(jwt, 1).sid;
const sessionRow = async (id) => (await env.query('SELECT * FROM sessions WHERE id = ?', id))[0];
const rotationState = async (id) => {
  const r = await sessionRow(id);
  return { refresh_hash: r.refresh_hash, previous_refresh_hash: r.previous_refresh_hash, rotated_at: r.rotated_at, revoked_at: r.revoked_at };
};

// ---------------------------------------------------------------------------------------------------------
// 6. /auth/refresh
// ---------------------------------------------------------------------------------------------------------

test('refresh rotates the pair: new tokens for the same session, and the new refresh token refreshes next', async () => {
  const first = await jsonLogin(env, { email: 'ada@acme.test' });
  const sid = sidOf(first.token);
  const before = await rotationState(sid);
  const res = await refreshBody(first.refreshToken);
  const second = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(second));
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.deepEqual(Object.keys(second).sort(), ['refreshToken', 'token']);
  assert.notEqual(second.token, first.token);
  assert.notEqual(second.refreshToken, first.refreshToken);
  assert.equal(sidOf(second.token), sid);
  assert.equal(sidOf(second.refreshToken), sid);
  assert.notEqual(jwtPart(second.refreshToken, 1).jti, jwtPart(first.refreshToken, 1).jti);
  assert.equal(jwtPart(second.token, 0).typ, 'at+jwt');
  assert.equal(jwtPart(second.refreshToken, 0).typ, 'rt+jwt');

  const after = await rotationState(sid);
  assert.notEqual(after.refresh_hash, before.refresh_hash, 'D1 did not rotate');
  assert.equal(after.previous_refresh_hash, before.refresh_hash);
  assert.ok(after.rotated_at >= nowSecs() - 5);
  assert.ok(!Object.values(after).includes(jwtPart(second.refreshToken, 1).jti), 'D1 stores the refresh id in clear');

  const meRes = await me(second.token);
  assert.equal(meRes.status, 200);
  assert.equal((await readJson(meRes)).session.id, sid);

  const third = await readJson(await refreshBody(second.refreshToken));
  assert.ok(third.token && third.refreshToken, JSON.stringify(third));
  assert.notEqual(third.refreshToken, second.refreshToken);
});

test('refresh keeps the organization scope of the session', async () => {
  const acme = [...env.standin.organizations.values()].find((o) => o.name === 'Acme Corp').id;
  const first = await jsonLogin(env, { email: 'ada@acme.test', organizationId: acme });
  assert.equal(jwtPart(first.token, 1).org_id, acme);
  const next = await readJson(await refreshBody(first.refreshToken));
  assert.equal(jwtPart(next.token, 1).org_id, acme);
  const meBody = await readJson(await me(next.token));
  assert.equal(meBody.organizationId, acme);
});

test('two concurrent refreshes of one token both succeed with the identical new pair', async () => {
  for (let round = 0; round < 3; round++) {
    const { refreshToken } = await jsonLogin(env, { email: 'grace@acme.test' });
    const [a, b] = await Promise.all([refreshBody(refreshToken), refreshBody(refreshToken)]);
    const [ja, jb] = [await readJson(a), await readJson(b)];
    assert.equal(a.status, 200, `round ${round}: ${JSON.stringify(ja)}`);
    assert.equal(b.status, 200, `round ${round}: ${JSON.stringify(jb)}`);
    assert.equal(ja.token, jb.token, `round ${round}: access tokens differ`);
    assert.equal(ja.refreshToken, jb.refreshToken, `round ${round}: refresh tokens differ`);
    const row = await sessionRow(sidOf(refreshToken));
    assert.equal(row.revoked_at, null, 'a concurrent refresh was taken for theft');
    // The shared pair is the live one.
    const next = await refreshBody(ja.refreshToken);
    assert.equal(next.status, 200, JSON.stringify(await next.clone().json()));
  }
  // A late duplicate (same token, 1 s later, still within the 2 s grace window) gets the same pair too.
  const { refreshToken } = await jsonLogin(env, { email: 'grace@acme.test' });
  const one = await readJson(await refreshBody(refreshToken));
  assert.ok(one.refreshToken, JSON.stringify(one));
  await sleep(1000);
  const late = await refreshBody(refreshToken);
  const two = await readJson(late);
  assert.equal(late.status, 200, JSON.stringify(two));
  assert.deepEqual(two, one);
  assert.equal((await sessionRow(sidOf(refreshToken))).revoked_at, null);
});

test('reusing a rotated refresh token after the grace window revokes the session and writes an audit row', async () => {
  const first = await jsonLogin(env, { email: 'alan@example.test' });
  const sid = sidOf(first.token);
  const second = await readJson(await refreshBody(first.refreshToken));
  assert.ok(second.refreshToken, JSON.stringify(second));
  assert.equal(await env.count('audit_events', "action = 'session.refresh_reuse_detected' AND target_id = ?", sid), 0);
  // Grace is 2 s measured in whole seconds: 3.1 s is past it whatever the sub-second phase.
  await sleep(3100);
  const replay = await env.fetch('/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.66' }, body: JSON.stringify({ refreshToken: first.refreshToken }),
  });
  await expectError(replay, 401, 'invalid_refresh_token');

  const row = await sessionRow(sid);
  assert.ok(row.revoked_at, 'the session survived a refresh token reuse');
  assert.equal(row.revoked_reason, 'refresh_token_reuse');
  const audit = await env.query("SELECT * FROM audit_events WHERE action = 'session.refresh_reuse_detected' AND target_id = ?", sid);
  assert.equal(audit.length, 1);
  assert.equal(audit[0].actor_user_id, first.user.id);
  assert.equal(audit[0].target_type, 'session');
  assert.equal(audit[0].ip_address, '192.0.2.66');
  assert.ok(!String(audit[0].detail ?? '').includes(first.refreshToken.split('.')[2]), 'audit detail holds the token');

  // The whole session is gone: the legitimate holder's newer tokens fail too.
  await expectError(await refreshBody(second.refreshToken), 401, 'invalid_refresh_token');
  await expectError(await me(second.token), 401, 'session_revoked');
  await expectError(await me(first.token), 401, 'session_revoked');
});

test('expired, revoked, tampered, wrong-secret and wrong-type refresh tokens answer 401 invalid_refresh_token and change nothing', async () => {
  const live = await jsonLogin(env, { email: 'vic@globex.test' });
  const sid = sidOf(live.refreshToken);
  const claims = jwtPart(live.refreshToken, 1);
  const [h, p, s] = live.refreshToken.split('.');
  const flip = (str, i) => str.slice(0, i) + (str[i] === 'A' ? 'B' : 'A') + str.slice(i + 1);
  const bad = {
    'expired': forge(refreshHeader(), { ...claims, iat: nowSecs() - 7200, exp: nowSecs() - 10 }, TEST_JWT_REFRESH_SECRET),
    'tampered payload (other sid)': `${h}.${b64u({ ...claims, sid: 'ses_someoneelse' })}.${s}`,
    'tampered signature': `${h}.${p}.${flip(s, 10)}`,
    'signature stripped': `${h}.${p}.`,
    'signed with the wrong secret under the real kid': forge(refreshHeader(), claims, 'an-attacker-secret-that-is-long-enough-99'),
    'signed with the wrong secret under its own kid': forge(refreshHeader({ kid: kidOf('an-attacker-secret-that-is-long-enough-99') }), claims, 'an-attacker-secret-that-is-long-enough-99'),
    'signed with the access secret': forge(refreshHeader({ kid: kidOf(TEST_JWT_SECRET) }), claims, TEST_JWT_SECRET),
    'alg none': `${b64u(refreshHeader({ alg: 'none' }))}.${p}.`,
    'wrong issuer': forge(refreshHeader(), { ...claims, iss: 'https://evil.example' }, TEST_JWT_REFRESH_SECRET),
    'an access token': live.token,
    'garbage': 'not-a-token',
    'empty segments': '..',
  };
  const before = await rotationState(sid);
  const auditBefore = await env.count('audit_events');
  for (const [what, token] of Object.entries(bad)) {
    await expectError(await refreshBody(token), 401, 'invalid_refresh_token', what);
  }
  assert.deepEqual(await rotationState(sid), before, 'a rejected refresh changed the session');
  assert.equal(await env.count('audit_events'), auditBefore);
  // The untouched original still works: the rejections were about the tokens, not the session.
  const ok = await refreshBody(live.refreshToken);
  assert.equal(ok.status, 200, JSON.stringify(await ok.clone().json()));

  // An expired session row refuses even a perfectly signed current token.
  const other = await jsonLogin(env, { email: 'vic@globex.test' });
  await env.query('UPDATE sessions SET expires_at = ? WHERE id = ?', nowSecs() - 1, sidOf(other.refreshToken));
  const expiredBefore = await rotationState(sidOf(other.refreshToken));
  await expectError(await refreshBody(other.refreshToken), 401, 'invalid_refresh_token', 'expired session');
  assert.deepEqual(await rotationState(sidOf(other.refreshToken)), expiredBefore);

  // A revoked session refuses its refresh token.
  const third = await jsonLogin(env, { email: 'vic@globex.test' });
  const out = await env.fetch('/auth/logout', { method: 'POST', headers: bearer(third.token) });
  assert.equal(out.status, 200);
  await expectError(await refreshBody(third.refreshToken), 401, 'invalid_refresh_token', 'revoked session');
});

test('a refresh without any token answers 400 naming refreshToken', async () => {
  const res = await env.fetch('/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const b = await expectError(res, 400, 'invalid_request');
  assert.match(b.error_description, /refreshToken/);
});

test('cookie-based refresh requires a same-origin or allowed Origin (403 origin_not_allowed otherwise)', async () => {
  const { refreshToken } = await jsonLogin(env, { email: 'ada@acme.test' });
  const sid = sidOf(refreshToken);
  const before = await rotationState(sid);
  for (const origin of [undefined, 'https://evil.com', 'null', 'http://localhost:8787.evil.com', 'http://localhost:8788', 'https://localhost:8787']) {
    const headers = { cookie: `auth_refresh=${refreshToken}` };
    if (origin) headers.origin = origin;
    const res = await env.fetch('/auth/refresh', { method: 'POST', headers });
    await expectError(res, 403, 'origin_not_allowed', `Origin ${origin}`);
    assert.ok(!res.headers.getSetCookie().some((c) => c.startsWith('auth_session=ey')), 'issued cookies cross-site');
  }
  assert.deepEqual(await rotationState(sid), before, 'a cross-site refresh rotated the session');

  const res = await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: `auth_refresh=${refreshToken}`, origin: ORIGIN } });
  const b = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(b));
  assert.equal(b.refreshed, true);
  const jar = new CookieJar();
  jar.store(res);
  assert.equal(sidOf(jar.get('auth_session')), sid);
  assert.equal(sidOf(jar.get('auth_refresh')), sid);
  assert.notEqual(jar.get('auth_refresh'), refreshToken);
  assert.ok(!JSON.stringify(b).includes(jar.get('auth_refresh')), 'the refresh token leaked into the body');

  // An allowed app origin may refresh too.
  const viaApp = await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: `auth_refresh=${jar.get('auth_refresh')}`, origin: 'https://app.example.test' } });
  assert.equal(viaApp.status, 200);

  // A bad refresh cookie from our origin is refused and the cookies are cleared.
  const junk = await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: 'auth_refresh=junk.junk.junk', origin: ORIGIN } });
  await expectError(junk, 401, 'invalid_refresh_token');
  const cleared = junk.headers.getSetCookie();
  assert.ok(cleared.some((c) => c.startsWith('auth_refresh=;') && /Max-Age=0/.test(c)), cleared.join(' | '));
});

// ---------------------------------------------------------------------------------------------------------
// 10. Token checks through /auth/me
// ---------------------------------------------------------------------------------------------------------

test('a re-signed copy of a real access token is accepted (the forging helper is faithful)', async () => {
  const { token } = await jsonLogin(env, { email: 'grace@acme.test' });
  const copy = forge(accessHeader(), jwtPart(token, 1), TEST_JWT_SECRET);
  assert.equal(copy, token, 'the worker signs differently from the helper; the forgery tests below would prove nothing');
  assert.equal((await me(copy)).status, 200);
});

test('/auth/me rejects forged access tokens: other algorithms, none, bad signatures, unknown kid, wrong issuer, tampering', async () => {
  const { token, user } = await jsonLogin(env, { email: 'grace@acme.test' });
  const claims = jwtPart(token, 1);
  const [h, p, s] = token.split('.');
  const attacker = 'an-attacker-secret-that-is-long-enough-99';
  const cases = {
    'alg none, no signature': `${b64u(accessHeader({ alg: 'none' }))}.${p}.`,
    'alg none, original signature': `${b64u(accessHeader({ alg: 'none' }))}.${p}.${s}`,
    'alg None': `${b64u(accessHeader({ alg: 'None' }))}.${p}.`,
    'alg HS512 with the real secret': forge(accessHeader({ alg: 'HS512' }), claims, TEST_JWT_SECRET, 'sha512'),
    'alg HS384 with the real secret': forge(accessHeader({ alg: 'HS384' }), claims, TEST_JWT_SECRET, 'sha384'),
    'alg hs256 (case)': forge(accessHeader({ alg: 'hs256' }), claims, TEST_JWT_SECRET),
    'alg RS256': forge(accessHeader({ alg: 'RS256' }), claims, TEST_JWT_SECRET),
    'no alg': forge({ typ: 'at+jwt', kid: kidOf(TEST_JWT_SECRET) }, claims, TEST_JWT_SECRET),
    'signed with another secret under the real kid': forge(accessHeader(), claims, attacker),
    'signed with another secret under its own kid': forge(accessHeader({ kid: kidOf(attacker) }), claims, attacker),
    'signed with the refresh secret': forge(accessHeader({ kid: kidOf(TEST_JWT_REFRESH_SECRET) }), claims, TEST_JWT_REFRESH_SECRET),
    'no kid': forge({ alg: 'HS256', typ: 'at+jwt' }, claims, TEST_JWT_SECRET),
    'unknown kid': forge(accessHeader({ kid: '0123456789abcdef' }), claims, TEST_JWT_SECRET),
    'bad signature': `${h}.${p}.${b64u(Buffer.alloc(32, 7))}`,
    'signature stripped': `${h}.${p}.`,
    'payload changed to admin': `${h}.${b64u({ ...claims, role: 'admin' })}.${s}`,
    'payload changed to another user': `${h}.${b64u({ ...claims, sub: 'usr_someoneelse' })}.${s}`,
    'wrong issuer': forge(accessHeader(), { ...claims, iss: 'https://evil.example' }, TEST_JWT_SECRET),
    'WorkOS issuer': forge(accessHeader(), { ...claims, iss: `${env.standin.url}/user_management/${env.standin.clientId}` }, TEST_JWT_SECRET),
    'no issuer': forge(accessHeader(), { ...claims, iss: undefined }, TEST_JWT_SECRET),
    'four segments': `${token}.${s}`,
    'not base64url': `${h}.${p}.${s}==`,
    'garbage': 'abc',
  };
  for (const [what, t] of Object.entries(cases)) {
    const res = await me(t);
    const b = await expectError(res, 401, 'invalid_token', what);
    assert.ok(!JSON.stringify(b).includes(user.email), `${what}: body names the user`);
  }
  assert.equal((await me(token)).status, 200, 'the genuine token stopped working');
});

test('/auth/me answers token_expired for an expired token and invalid_token for one issued in the future', async () => {
  const { token } = await jsonLogin(env, { email: 'grace@acme.test' });
  const claims = jwtPart(token, 1);
  const now = nowSecs();
  await expectError(await me(forge(accessHeader(), { ...claims, iat: now - 1000, exp: now - 10 }, TEST_JWT_SECRET)), 401, 'token_expired');
  await expectError(await me(forge(accessHeader(), { ...claims, iat: now - 1000, exp: now }, TEST_JWT_SECRET)), 401, 'token_expired', 'exp == now');
  await expectError(await me(forge(accessHeader(), { ...claims, iat: now + 3600, exp: now + 7200 }, TEST_JWT_SECRET)), 401, 'invalid_token', 'iat in the future');
  await expectError(await me(forge(accessHeader(), { ...claims, nbf: now + 3600 }, TEST_JWT_SECRET)), 401, 'invalid_token', 'nbf in the future');
  // Control: the same claims with sane times pass.
  assert.equal((await me(forge(accessHeader(), { ...claims, iat: now - 5, exp: now + 600 }, TEST_JWT_SECRET))).status, 200);
});

test('a refresh token is refused as an access token, and an access token as a refresh token', async () => {
  const { token, refreshToken } = await jsonLogin(env, { email: 'alan@example.test' });
  await expectError(await me(refreshToken), 401, 'invalid_token', 'refresh token as Bearer');
  await expectError(await env.fetch('/auth/me', { headers: { cookie: `auth_session=${refreshToken}` } }), 401, 'invalid_token', 'refresh token as session cookie');
  // Same claims, retyped and signed with the access key: the typ header is what keeps them apart.
  const retyped = forge(accessHeader(), jwtPart(refreshToken, 1), TEST_JWT_SECRET);
  await expectError(await me(retyped), 401, 'invalid_token', 'refresh claims in an access token');
  const asRefresh = forge(refreshHeader({ typ: 'at+jwt' }), jwtPart(refreshToken, 1), TEST_JWT_REFRESH_SECRET);
  await expectError(await refreshBody(asRefresh), 401, 'invalid_refresh_token', 'refresh token typed at+jwt');
  await expectError(await refreshBody(token), 401, 'invalid_refresh_token', 'access token as refresh token');
  assert.deepEqual(await env.validate(refreshToken), { valid: false, error: 'invalid_token' });
});

test('a token of a revoked session answers session_revoked', async () => {
  const a = await jsonLogin(env, { email: 'alan@example.test' });
  const b = await jsonLogin(env, { email: 'alan@example.test' });
  assert.equal((await me(a.token)).status, 200); // now cached as live in this isolate
  const del = await env.fetch(`/auth/sessions/${sidOf(a.token)}`, { method: 'DELETE', headers: bearer(b.token) });
  assert.equal(del.status, 200);
  await expectError(await me(a.token), 401, 'session_revoked');
  // Revoked behind the worker's back (straight in D1): refused once the 2 s cache has lapsed.
  assert.equal((await me(b.token)).status, 200);
  await env.query("UPDATE sessions SET revoked_at = ?, revoked_reason = 'test' WHERE id = ?", nowSecs(), sidOf(b.token));
  await sleep(2100);
  await expectError(await me(b.token), 401, 'session_revoked', 'after the cache TTL');
});

test('a deactivated user is refused on a fresh session at once and on a cached one after the cache TTL', async () => {
  const email = 'to-deactivate@example.test';
  const cached = await jsonLogin(env, { email });
  const fresh = await jsonLogin(env, { email });
  assert.equal((await me(cached.token)).status, 200); // cached live
  await env.query('UPDATE users SET is_active = 0 WHERE id = ?', cached.user.id);
  await expectError(await me(fresh.token), 403, 'user_deactivated', 'fresh session');
  await expectError(await refreshBody(fresh.refreshToken), 401, 'invalid_refresh_token', 'refresh of a deactivated user');
  await sleep(2100);
  await expectError(await me(cached.token), 403, 'user_deactivated', 'cached session after TTL');
  assert.deepEqual(await env.validate(cached.token), { valid: false, error: 'user_deactivated' });
});

// ---------------------------------------------------------------------------------------------------------
// Secret rotation
// ---------------------------------------------------------------------------------------------------------

test('after rotating JWT_SECRET, tokens signed with the previous secret still verify (kid picks the key)', async () => {
  const { token, refreshToken, user } = await jsonLogin(env, { email: 'ada@acme.test' });
  assert.equal(jwtPart(token, 0).kid, kidOf(TEST_JWT_SECRET));
  const res = await me(token, ROTATED);
  const b = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(b));
  assert.equal(b.user.id, user.id);
  assert.equal(b.session.id, sidOf(token));

  // New tokens from the rotated worker carry the new kid and verify there.
  const r = await refreshBody(refreshToken, ROTATED);
  const pair = await readJson(r);
  assert.equal(r.status, 200, JSON.stringify(pair));
  assert.equal(jwtPart(pair.token, 0).kid, kidOf(NEW_JWT_SECRET));
  assert.equal((await me(pair.token, ROTATED)).status, 200);
  // The old worker, which never had the new secret, refuses them.
  await expectError(await me(pair.token), 401, 'invalid_token', 'new-key token on the old worker');

  // The kid names the key; a token claiming the previous kid must be signed by the previous secret.
  const claims = jwtPart(token, 1);
  await expectError(await me(forge(accessHeader(), claims, NEW_JWT_SECRET), ROTATED), 401, 'invalid_token', 'old kid, new secret');
  await expectError(await me(forge(accessHeader({ kid: kidOf(NEW_JWT_SECRET) }), claims, TEST_JWT_SECRET), ROTATED), 401, 'invalid_token', 'new kid, old secret');
});

test('a worker without the previous secret rejects tokens signed with it', async () => {
  const { token } = await jsonLogin(env, { email: 'ada@acme.test' });
  assert.equal((await me(token)).status, 200);
  await expectError(await me(token, NEW_ONLY), 401, 'invalid_token');
  await expectError(await env.mf.dispatchFetch(`${NEW_ONLY}/auth/me`, { headers: { cookie: `auth_session=${token}` } }), 401, 'invalid_token');
});
