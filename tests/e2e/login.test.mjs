// Sign-in end to end: /auth/authorize (return targets, state, PKCE), the WorkOS stand-in, /auth/callback
// (state checks, code exchange, user/org/session rows, cookies or JSON), WorkOS failures, two tabs,
// /auth/sessions and both logouts. Refresh rotation, token checks and secret rotation: refresh.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startEnv, CookieJar, browserLogin, bearer, sleep, ORIGIN } from './harness.mjs';
import { sha256hex, jwtPart, nowSecs, readJson, expectError } from './helpers.mjs';

const HTTPS_ORIGIN = 'https://auth.example.test';

let env;
before(async () => {
  env = await startEnv({
    // hangMs: an injected 'timeout' holds the exchange 3 s, past the worker's 1.5 s WORKOS_TIMEOUT_MS.
    standin: { hangMs: 3000 },
    // The same build served on https (development mode, so the stand-in may stay on http).
    variants: { [new URL(HTTPS_ORIGIN).host]: { WORKOS_REDIRECT_URI: `${HTTPS_ORIGIN}/auth/callback` } },
  });
});
after(async () => env?.close());

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const FIREFOX_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0';
const s256 = (s) => createHash('sha256').update(s).digest('base64url');

/** Set-Cookie headers as {name, value, attrs} with attribute names lowercased. */
function setCookies(res) {
  return res.headers.getSetCookie().map((header) => {
    const [pair, ...rest] = header.split(';');
    const eq = pair.indexOf('=');
    const attrs = {};
    for (const a of rest) {
      const [k, ...v] = a.trim().split('=');
      attrs[k.toLowerCase()] = v.join('=');
    }
    return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs, raw: header };
  });
}
const cookieNamed = (res, name) => setCookies(res).find((c) => c.name === name);

/** GET /auth/authorize with `query`; the flow cookie lands in `jar`. */
async function startFlow(jar, query = '', path = '/auth/authorize') {
  const res = jar.store(await env.fetch(`${path}${query}`, { headers: { cookie: jar.header() } }));
  if (res.status !== 302) assert.fail(`authorize answered ${res.status}: ${await res.text()}`);
  const location = new URL(res.headers.get('location'));
  const state = location.searchParams.get('state');
  // The browser binding: the flow cookie's value, which never appears in a URL.
  const binding = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('auth_flow_'))?.split('=')[1];
  return { res, location, state, binding, challenge: location.searchParams.get('code_challenge') };
}

/** The key D1 stores for a flow: SHA-256 of state and browser binding (see domain::login_flow). */
const flowKey = (state, binding) => sha256hex(`flow key v2:${state}:${binding}`);

/** Follows the authorize URL at the stand-in ('auto' mode) and returns the callback URL it sends back to. */
async function atWorkos(location, login) {
  if (login) env.standin.nextLogin(login);
  const res = await fetch(location, { redirect: 'manual' });
  const back = res.headers.get('location');
  assert.ok(back && back.startsWith(`${ORIGIN}/auth/callback`), `stand-in answered ${res.status} ${back}`);
  return back;
}

/** A full JSON sign-in with chosen request headers; returns {res, body, callbackUrl}. */
async function signIn(login, headers = {}) {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const callbackUrl = await atWorkos(flow.location, login);
  const res = await env.fetch(callbackUrl, { headers: { cookie: jar.header(), accept: 'application/json', ...headers } });
  const body = await readJson(res);
  assert.equal(res.status, 200, `callback answered ${res.status}: ${JSON.stringify(body)}`);
  return { res, body, callbackUrl, flow };
}

/** Row counts of every table a sign-in writes. */
async function snapshot() {
  const out = {};
  for (const t of ['users', 'sessions', 'organizations', 'organization_memberships', 'audit_events']) out[t] = await env.count(t);
  return out;
}

const exchanges = (code) =>
  env.standin.requests.filter((r) => r.method === 'POST' && r.path === '/user_management/authenticate'
    && (code === undefined || r.body?.code === code));

const standinUser = (email) => [...env.standin.users.values()].find((u) => u.email === email);
const orgIdNamed = (name) => [...env.standin.organizations.values()].find((o) => o.name === name).id;
const localUser = async (email) => (await env.query('SELECT * FROM users WHERE email = ?', email))[0];
const sessionRow = async (id) => (await env.query('SELECT * FROM sessions WHERE id = ?', id))[0];

// ---------------------------------------------------------------------------------------------------------
// 3. /auth/authorize
// ---------------------------------------------------------------------------------------------------------

test('authorize redirects to WorkOS with a fresh state, an S256 challenge and provider=authkit, and never the verifier', async () => {
  const jar = new CookieJar();
  const flowsBefore = await env.count('login_flows');
  const { res, location, state, challenge } = await startFlow(jar, '?return_to=%2Fhome');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(location.origin + location.pathname, `${env.standin.url}/user_management/authorize`);
  const p = location.searchParams;
  assert.equal(p.get('client_id'), env.standin.clientId);
  assert.equal(p.get('redirect_uri'), `${ORIGIN}/auth/callback`);
  assert.equal(p.get('response_type'), 'code');
  assert.equal(p.get('provider'), 'authkit');
  assert.equal(p.get('organization_id'), null);
  assert.match(state, /^[A-Za-z0-9_-]{43}$/);
  assert.match(challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(p.get('code_challenge_method'), 'S256');
  for (const key of p.keys()) assert.doesNotMatch(key, /verifier/i, `authorize URL carries ${key}`);
  assert.notEqual(challenge, state);

  // The state is bound to this browser by an httpOnly cookie scoped to the callback.
  const flowCookie = setCookies(res).find((c) => c.name.startsWith('auth_flow_'));
  assert.ok(flowCookie, 'no flow cookie');
  assert.match(flowCookie.name, /^auth_flow_[0-9a-f]{16}$/);
  // It holds a second random value (the binding), never the state: a stolen callback URL alone is useless.
  assert.match(flowCookie.value, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(flowCookie.value, state);
  assert.ok(!location.href.includes(flowCookie.value), 'the binding leaked into the WorkOS URL');
  assert.ok('httponly' in flowCookie.attrs, flowCookie.raw);
  assert.equal(flowCookie.attrs.samesite, 'Lax');
  assert.equal(flowCookie.attrs.path, '/');
  assert.equal(flowCookie.attrs['max-age'], '600');
  assert.ok(!('secure' in flowCookie.attrs), 'Secure on an http origin');
  assert.ok(!flowCookie.name.includes(state.slice(0, 16)), 'cookie name leaks the state');

  // D1 keeps a hash of state and binding, never either of them.
  assert.equal(await env.count('login_flows'), flowsBefore + 1);
  const rows = await env.query('SELECT * FROM login_flows WHERE state_hash = ?', flowKey(state, flowCookie.value));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].return_to, '/home');
  assert.ok(rows[0].expires_at > nowSecs() && rows[0].expires_at <= nowSecs() + 601);
  assert.equal((await env.query('SELECT COUNT(*) AS n FROM login_flows WHERE state_hash = ? OR return_to = ?', state, state))[0].n, 0);

  const second = await startFlow(new CookieJar());
  assert.notEqual(second.state, state, 'states must be fresh per flow');
  assert.notEqual(second.challenge, challenge);
});

test('/login is an alias of /auth/authorize and redirect_uri names the return target too', async () => {
  const { state, binding } = await startFlow(new CookieJar(), `?redirect_uri=${encodeURIComponent('/dashboard?x=1')}`, '/login');
  const rows = await env.query('SELECT return_to FROM login_flows WHERE state_hash = ?', flowKey(state, binding));
  assert.equal(rows[0]?.return_to, '/dashboard?x=1');
  const noTarget = await startFlow(new CookieJar(), '', '/login');
  const row = await env.query('SELECT return_to FROM login_flows WHERE state_hash = ?', flowKey(noTarget.state, noTarget.binding));
  assert.equal(row[0]?.return_to, '/');
});

test('provider or organization_id replaces the default AuthKit provider', async () => {
  const google = await startFlow(new CookieJar(), '?provider=GoogleOAuth');
  assert.equal(google.location.searchParams.get('provider'), 'GoogleOAuth');
  assert.equal(google.location.searchParams.get('organization_id'), null);

  const acme = orgIdNamed('Acme Corp');
  const scoped = await startFlow(new CookieJar(), `?organization_id=${acme}`);
  assert.equal(scoped.location.searchParams.get('organization_id'), acme);
  assert.equal(scoped.location.searchParams.get('provider'), null, 'WorkOS accepts exactly one selector');
});

test('screen_hint and login_hint are passed through to WorkOS, and a bad screen_hint is refused', async () => {
  const { location } = await startFlow(new CookieJar(), `?screen_hint=sign-up&login_hint=${encodeURIComponent('grace+x@acme.test')}`);
  assert.equal(location.searchParams.get('screen_hint'), 'sign-up');
  assert.equal(location.searchParams.get('login_hint'), 'grace+x@acme.test');

  const flowsBefore = await env.count('login_flows');
  const res = await env.fetch('/auth/authorize?screen_hint=register');
  await expectError(res, 400, 'invalid_request');
  assert.equal(await env.count('login_flows'), flowsBefore);
});

test('hints cannot inject extra parameters into the WorkOS authorize URL', async () => {
  const cases = [
    ['login_hint', 'grace@acme.test&organization_id=org_evil'],
    ['provider', 'authkit&redirect_uri=https://evil.com'],
    ['organization_id', 'org_x&provider=GoogleOAuth'],
    ['screen_hint', 'sign-in&state=attacker'],
  ];
  for (const [name, value] of cases) {
    const res = await env.fetch(`/auth/authorize?${name}=${encodeURIComponent(value)}`);
    if (res.status === 400) {
      assert.equal((await readJson(res)).error, 'invalid_request', `${name}=${value}`);
      continue;
    }
    assert.equal(res.status, 302, `${name}=${value} answered ${res.status}`);
    const p = new URL(res.headers.get('location')).searchParams;
    assert.equal(p.get(name), value, `${name} was not passed as one value`);
    assert.equal(p.getAll('redirect_uri').length, 1);
    assert.equal(p.get('redirect_uri'), `${ORIGIN}/auth/callback`);
    assert.equal(p.getAll('state').length, 1);
    assert.ok(!(p.has('organization_id') && p.has('provider')), `${name}=${value} smuggled a second selector`);
  }
});

test('open-redirect return targets are refused with 400 invalid_return_to, no flow and no cookie', async () => {
  const attacks = [
    '//evil.com',
    '//evil.com/path',
    'https://evil.com',
    'https://evil.com/?next=https://app.example.test',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(document.cookie)',
    'data:text/html,<script>alert(1)</script>',
    'https://app.example.test.evil.com',
    'https://user@app.example.test',
    'https://app.example.test@evil.com',
    'http://app.example.test', // allowed host, wrong scheme
    'https://app.example.test:8443',
    'http://localhost:8787.evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '/\t/evil.com',
    '/..//evil.com',
    'evil.com',
    'ftp://app.example.test/x',
    'https:evil.com',
    'https:\\\\evil.com',
    ' https://evil.com',
    '/\r\nLocation: https://evil.com',
  ];
  const flowsBefore = await env.count('login_flows');
  for (const attack of attacks) {
    for (const name of ['return_to', 'redirect_uri']) {
      const res = await env.fetch(`/auth/authorize?${name}=${encodeURIComponent(attack)}`);
      const b = await readJson(res);
      assert.equal(res.status, 400, `${name}=${JSON.stringify(attack)} answered ${res.status} ${res.headers.get('location')}`);
      assert.equal(b.error, 'invalid_return_to', `${JSON.stringify(attack)}: ${JSON.stringify(b)}`);
      assert.equal(res.headers.get('location'), null);
      assert.deepEqual(res.headers.getSetCookie(), [], `${JSON.stringify(attack)} set a cookie`);
    }
  }
  assert.equal(await env.count('login_flows'), flowsBefore, 'a refused return target recorded a flow');
});

test('a relative path, this origin and an allowed origin are accepted as return targets', async () => {
  const cases = [
    ['/app?tab=1#top', '/app?tab=1#top'],
    ['https://app.example.test/welcome', 'https://app.example.test/welcome'],
    ['https://APP.example.test/x', 'https://app.example.test/x'],
    [`${ORIGIN}/settings`, `${ORIGIN}/settings`],
  ];
  for (const [given, stored] of cases) {
    const { state, binding } = await startFlow(new CookieJar(), `?return_to=${encodeURIComponent(given)}`);
    const rows = await env.query('SELECT return_to FROM login_flows WHERE state_hash = ?', flowKey(state, binding));
    assert.equal(rows[0]?.return_to, stored, given);
  }
});

// ---------------------------------------------------------------------------------------------------------
// 4. /auth/callback: state, errors, code exchange
// ---------------------------------------------------------------------------------------------------------

test('callback handles a WorkOS error before the code, spends the flow, and writes nothing', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { error: 'access_denied', errorDescription: 'The user cancelled.' });
  const before = await snapshot();
  const exchangesBefore = exchanges().length;
  const res = await env.fetch(back, { headers: { cookie: jar.header() } });
  await expectError(res, 400, 'access_denied');
  const spent = setCookies(res).find((c) => c.name.startsWith('auth_flow_'));
  assert.ok(spent && spent.attrs['max-age'] === '0', 'the flow cookie is not cleared');
  assert.equal(await env.count('login_flows', 'state_hash = ?', flowKey(flow.state, flow.binding)), 0, 'the flow is still usable');
  assert.deepEqual(await snapshot(), before);
  assert.equal(exchanges().length, exchangesBefore);

  // An error next to a real code: the error wins and the code is never exchanged.
  const jar2 = new CookieJar();
  const flow2 = await startFlow(jar2);
  const withCode = await atWorkos(flow2.location, { email: 'alan@example.test' });
  const code = new URL(withCode).searchParams.get('code');
  const res2 = await env.fetch(`${withCode}&error=access_denied&error_description=nope`, { headers: { cookie: jar2.header() } });
  await expectError(res2, 400, 'access_denied');
  assert.equal(exchanges(code).length, 0, 'the code was exchanged despite the error');

  for (const [error, expected] of [['invalid_request', 'invalid_request'], ['server_error', 'authorization_failed'], ['<script>', 'authorization_failed']]) {
    const r = await env.fetch(`/auth/callback?error=${encodeURIComponent(error)}&error_description=x`);
    const b = await expectError(r, 400, expected);
    assert.doesNotMatch(JSON.stringify(b), /<script>/);
  }
  assert.deepEqual(await snapshot(), before);
});

test('callback refuses a missing or malformed state with invalid_state and never exchanges the code', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = new URL(await atWorkos(flow.location, { email: 'alan@example.test' }));
  const code = back.searchParams.get('code');
  const before = await snapshot();
  const variants = [
    `/auth/callback?code=${code}`,
    `/auth/callback?code=${code}&state=`,
    `/auth/callback?code=${code}&state=${flow.state.slice(0, 42)}`,
    `/auth/callback?code=${code}&state=${flow.state}x`,
    `/auth/callback?code=${code}&state=${encodeURIComponent(flow.state.slice(0, 42) + '+')}`,
  ];
  for (const url of variants) {
    await expectError(await env.fetch(url, { headers: { cookie: jar.header() } }), 400, 'invalid_state');
  }
  assert.equal(exchanges(code).length, 0);
  assert.deepEqual(await snapshot(), before);
});

test('callback refuses a state not bound to this browser (login CSRF) and writes nothing', async () => {
  // The attacker starts a flow in their own browser and sends the callback URL to the victim.
  const attacker = new CookieJar();
  const flow = await startFlow(attacker);
  const back = await atWorkos(flow.location, { email: 'alan@example.test' });
  const code = new URL(back).searchParams.get('code');
  const victim = new CookieJar();
  await startFlow(victim); // the victim has a flow of their own in progress
  const flowCookieName = [...attacker.cookies.keys()].find((n) => n.startsWith('auth_flow_'));
  const otherState = [...victim.cookies].find(([n]) => n.startsWith('auth_flow_'))[1];
  const before = await snapshot();

  await expectError(await env.fetch(back), 400, 'invalid_state'); // no cookie at all
  await expectError(await env.fetch(back, { headers: { cookie: victim.header() } }), 400, 'invalid_state'); // another flow's cookie
  await expectError(await env.fetch(back, { headers: { cookie: `${flowCookieName}=${otherState}` } }), 400, 'invalid_state'); // right name, wrong value
  await expectError(await env.fetch(back, { headers: { cookie: `${flowCookieName}=` } }), 400, 'invalid_state');

  assert.equal(exchanges(code).length, 0, 'an unbound state reached the code exchange');
  assert.deepEqual(await snapshot(), before);
});

test('a stolen callback URL is useless without the browser binding, even with a hand-made flow cookie', async () => {
  const victim = new CookieJar();
  const flow = await startFlow(victim);
  const back = await atWorkos(flow.location, { email: 'grace@acme.test' });
  const cookieName = [...victim.cookies.keys()].find((n) => n.startsWith('auth_flow_'));
  const before = await snapshot();
  // The attacker has ?code&state (from a log, a referrer, a shoulder) and knows how cookie names are made.
  for (const forged of [flow.state, 'A'.repeat(43), flow.binding.slice(0, 42) + (flow.binding.endsWith('A') ? 'B' : 'A')]) {
    const res = await env.fetch(back, { headers: { cookie: `${cookieName}=${forged}`, accept: 'application/json' } });
    await expectError(res, 400, 'invalid_state');
  }
  assert.deepEqual(await snapshot(), before);
  assert.equal(exchanges(new URL(back).searchParams.get('code')).length, 0, 'the code was exchanged for the attacker');
  // The victim's own browser still completes the sign-in: failed attempts did not spend the flow.
  const own = await env.fetch(back, { headers: { cookie: victim.header(), accept: 'application/json' } });
  assert.equal(own.status, 200, await own.clone().text());
});

test('callback refuses an expired state with invalid_state and writes nothing', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email: 'alan@example.test' });
  const code = new URL(back).searchParams.get('code');
  const changed = await env.db.prepare('UPDATE login_flows SET expires_at = ? WHERE state_hash = ?')
    .bind(nowSecs() - 1, flowKey(flow.state, flow.binding)).run();
  assert.equal(changed.meta.changes, 1);
  const before = await snapshot();
  await expectError(await env.fetch(back, { headers: { cookie: jar.header(), accept: 'application/json' } }), 400, 'invalid_state');
  assert.equal(exchanges(code).length, 0);
  assert.deepEqual(await snapshot(), before);
});

test('callback refuses a reused state with invalid_state and writes nothing the second time', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email: 'grace@acme.test' });
  const cookie = jar.header();
  const first = await env.fetch(back, { headers: { cookie, accept: 'application/json' } });
  assert.equal(first.status, 200, await first.clone().text());
  const exchangesBefore = exchanges().length;
  const before = await snapshot();
  // Replaying the whole callback (same state, same cookie, same code).
  await expectError(await env.fetch(back, { headers: { cookie, accept: 'application/json' } }), 400, 'invalid_state');
  await expectError(await env.fetch(back, { headers: { cookie } }), 400, 'invalid_state');
  assert.equal(exchanges().length, exchangesBefore, 'a replayed callback reached WorkOS');
  assert.deepEqual(await snapshot(), before);
});

test('callback without a code answers 400 invalid_request and writes nothing', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const before = await snapshot();
  await expectError(await env.fetch(`/auth/callback?state=${flow.state}`, { headers: { cookie: jar.header() } }), 400, 'invalid_request');
  await expectError(await env.fetch(`/auth/callback?state=${flow.state}&code=`, { headers: { cookie: jar.header() } }), 400, 'invalid_request');
  assert.deepEqual(await snapshot(), before);
});

test('the code exchange sends the PKCE verifier matching the challenge, the client IP and the User-Agent', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email: 'vic@globex.test' });
  const code = new URL(back).searchParams.get('code');
  const res = await env.fetch(back, {
    headers: { cookie: jar.header(), accept: 'application/json', 'cf-connecting-ip': '203.0.113.7', 'user-agent': FIREFOX_UA },
  });
  const body = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(body));

  const sent = exchanges(code);
  assert.equal(sent.length, 1);
  const b = sent[0].body;
  assert.equal(b.grant_type, 'authorization_code');
  assert.equal(b.client_id, env.standin.clientId);
  assert.equal(typeof b.code_verifier, 'string');
  assert.match(b.code_verifier, /^[A-Za-z0-9._~-]{43,128}$/, 'RFC 7636 verifier alphabet and length');
  assert.equal(s256(b.code_verifier), flow.challenge, 'S256(verifier) must equal the challenge sent to authorize');
  assert.equal(b.ip_address, '203.0.113.7');
  assert.equal(b.user_agent, FIREFOX_UA);
  // The verifier never travels through the browser.
  assert.ok(!flow.location.href.includes(b.code_verifier));
  assert.ok(!back.includes(b.code_verifier));
  for (const h of [...flow.res.headers.getSetCookie(), ...res.headers.getSetCookie()]) assert.ok(!h.includes(b.code_verifier));
  assert.ok(!JSON.stringify(body).includes(b.code_verifier));

  // The session row records device, ip, user agent and the WorkOS session id.
  const sid = jwtPart(body.token, 1).sid;
  const row = await sessionRow(sid);
  assert.ok(row, 'no session row for the token');
  assert.equal(row.ip_address, '203.0.113.7');
  assert.equal(row.user_agent, FIREFOX_UA);
  assert.equal(row.device, 'Firefox on Windows');
  assert.equal(row.user_id, body.user.id);
  const vic = standinUser('vic@globex.test');
  const workosSessions = [...env.standin.sessions.values()].filter((s) => s.user_id === vic.id);
  assert.equal(row.workos_session_id, workosSessions.at(-1).id);
  assert.equal(workosSessions.at(-1).ip_address, '203.0.113.7');
});

test('an authorization code injected into another browser\'s flow is refused by PKCE and writes nothing', async () => {
  // The attacker obtains a code for their own flow and splices it into the victim's callback.
  const attacker = new CookieJar();
  const attackerFlow = await startFlow(attacker);
  const attackerCode = new URL(await atWorkos(attackerFlow.location, { email: 'alan@example.test' })).searchParams.get('code');
  const victim = new CookieJar();
  const victimFlow = await startFlow(victim);
  const victimBack = new URL(await atWorkos(victimFlow.location, { email: 'vic@globex.test' }));
  victimBack.searchParams.set('code', attackerCode);
  const before = await snapshot();
  const res = await env.fetch(victimBack.href, { headers: { cookie: victim.header(), accept: 'application/json' } });
  await expectError(res, 400, 'invalid_grant');
  const sent = exchanges(attackerCode);
  assert.equal(sent.length, 1);
  assert.notEqual(s256(sent[0].body.code_verifier), attackerFlow.challenge);
  assert.equal(s256(sent[0].body.code_verifier), victimFlow.challenge);
  assert.deepEqual(await snapshot(), before);
});

test('the JSON callback answers {token, refreshToken, user} and sets no session cookies', async () => {
  const before = await snapshot();
  const { res, body } = await signIn({ email: 'grace@acme.test' });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(body).sort(), ['refreshToken', 'token', 'user']);
  assert.equal(jwtPart(body.token, 0).typ, 'at+jwt');
  assert.equal(jwtPart(body.token, 0).alg, 'EdDSA');
  assert.equal(jwtPart(body.refreshToken, 0).typ, 'rt+jwt');
  const u = body.user;
  for (const k of ['id', 'email', 'name', 'firstName', 'lastName', 'picture', 'emailVerified', 'role', 'lastLoginAt', 'createdAt']) {
    assert.ok(k in u, `user.${k} missing`);
  }
  assert.equal(u.email, 'grace@acme.test');
  assert.equal(u.name, 'Grace Hopper');
  assert.equal(u.firstName, 'Grace');
  assert.equal(u.lastName, 'Hopper');
  assert.equal(u.emailVerified, true);
  assert.equal(u.role, 'user');
  assert.ok(!('workos_id' in u) && !('is_active' in u), 'internal columns leak');
  const names = setCookies(res).map((c) => c.name);
  assert.ok(!names.includes('auth_session') && !names.includes('auth_refresh'), `JSON callback set ${names}`);
  const claims = jwtPart(body.token, 1);
  assert.equal(claims.sub, u.id);
  assert.equal(claims.iss, ORIGIN);
  assert.equal(claims.email, 'grace@acme.test');
  assert.equal(claims.org_id, undefined);
  const after = await snapshot();
  assert.equal(after.sessions, before.sessions + 1);
  assert.equal(await env.count('audit_events', "action = 'session.created' AND target_id = ?", claims.sid), 1);

  const me = await env.fetch('/auth/me', { headers: bearer(body.token) });
  const meBody = await readJson(me);
  assert.equal(me.status, 200, JSON.stringify(meBody));
  assert.equal(meBody.user.id, u.id);
  assert.equal(meBody.session.id, claims.sid);
});

test('a first sign-in creates the user from WorkOS; a later one updates WorkOS fields, keeps the local role and moves last_login_at', async () => {
  const email = 'newcomer@example.test';
  assert.equal(await localUser(email), undefined);
  const first = await signIn({ email });
  const workosUser = standinUser(email);
  let row = await localUser(email);
  assert.ok(row, 'no user row after the first sign-in');
  assert.equal(row.workos_id, workosUser.id);
  assert.equal(row.id, first.body.user.id);
  assert.notEqual(row.id, workosUser.id, 'our user id is our own');
  assert.equal(row.role, 'user');
  assert.equal(row.is_active, 1);
  assert.ok(Math.abs(row.last_login_at - nowSecs()) <= 5, `last_login_at ${row.last_login_at}`);
  const firstLogin = row.last_login_at;

  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", row.id);
  env.standin.updateUser(workosUser.id, {
    firstName: 'Newt', lastName: 'Comer', emailVerified: false, profilePictureUrl: 'https://img.example.test/newt.png',
  });
  await sleep(1100); // last_login_at has second resolution
  const second = await signIn({ email });
  assert.equal(await env.count('users', 'workos_id = ?', workosUser.id), 1, 'a second sign-in duplicated the user');
  row = await localUser(email);
  assert.equal(row.id, first.body.user.id);
  assert.equal(row.first_name, 'Newt');
  assert.equal(row.last_name, 'Comer');
  assert.equal(row.email_verified, 0);
  assert.equal(row.profile_picture_url, 'https://img.example.test/newt.png');
  assert.equal(row.role, 'admin', 'the local role was overwritten by the sign-in');
  assert.ok(row.last_login_at > firstLogin, 'last_login_at did not move');
  const u = second.body.user;
  assert.equal(u.role, 'admin');
  assert.equal(u.name, 'Newt Comer');
  assert.equal(u.picture, 'https://img.example.test/newt.png');
  assert.equal(u.emailVerified, false);
  assert.equal(jwtPart(second.body.token, 1).role, 'admin');
});

test('an organization-scoped sign-in records the organization and membership role and scopes the session and token', async () => {
  const acme = orgIdNamed('Acme Corp');
  const { body } = await signIn({ email: 'ada@acme.test', organizationId: acme });
  const org = (await env.query('SELECT * FROM organizations WHERE id = ?', acme))[0];
  assert.ok(org, 'no organization row');
  assert.equal(org.name, 'Acme Corp');
  const m = (await env.query('SELECT * FROM organization_memberships WHERE user_id = ? AND organization_id = ?', body.user.id, acme))[0];
  assert.ok(m, 'no membership row');
  assert.equal(m.role, 'admin');
  assert.equal(m.status, 'active');
  const claims = jwtPart(body.token, 1);
  assert.equal(claims.org_id, acme);
  assert.equal((await sessionRow(claims.sid)).organization_id, acme);
  const me = await env.fetch('/auth/me', { headers: bearer(body.token) });
  const meBody = await readJson(me);
  assert.equal(me.status, 200, JSON.stringify(meBody));
  assert.equal(meBody.organizationId, acme);
  assert.equal(meBody.session.organizationId, acme);

  // The same person signing in without an organization gets an unscoped session.
  const plain = await signIn({ email: 'ada@acme.test' });
  assert.equal(plain.body.user.id, body.user.id);
  assert.equal(jwtPart(plain.body.token, 1).org_id, undefined);
  assert.equal((await sessionRow(jwtPart(plain.body.token, 1).sid)).organization_id, null);
});

test('a deactivated user cannot sign in and no session is opened', async () => {
  const email = 'deactivated-signin@example.test';
  const { body } = await signIn({ email });
  await env.query('UPDATE users SET is_active = 0 WHERE id = ?', body.user.id);
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email });
  const sessionsBefore = await env.count('sessions', 'user_id = ?', body.user.id);
  await expectError(await env.fetch(back, { headers: { cookie: jar.header(), accept: 'application/json' } }), 403, 'user_deactivated');
  assert.equal(await env.count('sessions', 'user_id = ?', body.user.id), sessionsBefore);
});

// ---------------------------------------------------------------------------------------------------------
// WorkOS failures during the code exchange: mapped, never retried, nothing written
// ---------------------------------------------------------------------------------------------------------

const failures = [
  { kind: '500', status: 502, code: 'workos_unavailable' },
  { kind: '429', status: 429, code: 'rate_limited', retryAfter: 7 },
  { kind: 'malformed', status: 502, code: 'workos_unavailable' },
  { kind: 'invalid_grant', status: 400, code: 'invalid_grant' },
  { kind: 'organization_selection_required', status: 403, code: 'organization_selection_required' },
  { kind: 'sso_required', status: 403, code: 'sso_required' },
  { kind: 'email_verification_required', status: 403, code: 'email_verification_required' },
  { kind: 'timeout', status: 502, code: 'workos_unavailable' },
];
for (const f of failures) {
  test(`WorkOS ${f.kind} on the code exchange answers ${f.status} ${f.code}, is not retried, and creates no user or session`, async () => {
    const email = `failure-${f.kind.replace(/_/g, '-')}@example.test`;
    const jar = new CookieJar();
    const flow = await startFlow(jar);
    const back = await atWorkos(flow.location, { email }); // signs up a WorkOS user that is new to us
    const code = new URL(back).searchParams.get('code');
    env.standin.failNext(f.kind, { retryAfter: f.retryAfter });
    const before = await snapshot();
    const started = Date.now();
    const res = await env.fetch(back, { headers: { cookie: jar.header(), accept: 'application/json' } });
    const elapsed = Date.now() - started;
    const b = await expectError(res, f.status, f.code);
    if (f.kind === '429') assert.equal(res.headers.get('retry-after'), '7');
    if (f.kind === 'timeout') {
      assert.ok(elapsed >= 1400, `answered after ${elapsed} ms, before the 1.5 s timeout`);
      assert.ok(elapsed < 2400, `answered after ${elapsed} ms: the 1.5 s timeout was not applied`);
    }
    // Nothing from WorkOS's error body reaches the client (no pending tokens, no user objects).
    assert.ok(!JSON.stringify(b).includes('pending_authentication_token'));
    await sleep(f.kind === 'timeout' ? 300 : 150); // a late retry would show up here
    assert.equal(exchanges(code).length, 1, `the code exchange was sent ${exchanges(code).length} times`);
    assert.deepEqual(await snapshot(), before);
    assert.equal(await localUser(email), undefined);
    // The flow is spent: the same callback cannot be replayed to try the code again.
    await expectError(await env.fetch(back, { headers: { cookie: jar.header(), accept: 'application/json' } }), 400, 'invalid_state');
    assert.equal(exchanges(code).length, 1);
  });
}

test('after a WorkOS failure a fresh sign-in succeeds', async () => {
  env.standin.failNext('500');
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email: 'alan@example.test' });
  await expectError(await env.fetch(back, { headers: { cookie: jar.header(), accept: 'application/json' } }), 502, 'workos_unavailable');
  const { body } = await signIn({ email: 'alan@example.test' });
  assert.equal(body.user.email, 'alan@example.test');
});

// ---------------------------------------------------------------------------------------------------------
// The browser flow, two tabs, sessions and logout
// ---------------------------------------------------------------------------------------------------------

test('the browser flow: authorize, WorkOS, callback cookies, /auth/me, refresh, logout, then the old refresh token fails', async () => {
  const jar = new CookieJar();
  const res = await browserLogin(env, jar, { returnTo: '/dashboard?tab=2', login: { email: 'grace@acme.test' } });
  assert.equal(res.status, 302, await res.clone().text());
  assert.equal(new URL(res.headers.get('location'), ORIGIN).href, `${ORIGIN}/dashboard?tab=2`);

  const session = cookieNamed(res, 'auth_session');
  const refresh = cookieNamed(res, 'auth_refresh');
  assert.ok(session && refresh, `cookies: ${res.headers.getSetCookie().join(' | ')}`);
  for (const c of [session, refresh]) {
    assert.ok('httponly' in c.attrs, `${c.name} is not HttpOnly`);
    assert.equal(c.attrs.samesite, 'Lax');
    assert.ok(!('secure' in c.attrs), `${c.name} is Secure on http`);
    assert.ok(Number(c.attrs['max-age']) > 0);
  }
  assert.equal(session.attrs.path, '/');
  assert.equal(refresh.attrs.path, '/');
  assert.equal(jwtPart(session.value, 0).typ, 'at+jwt');
  assert.equal(jwtPart(refresh.value, 0).typ, 'rt+jwt');
  const spentFlow = setCookies(res).find((c) => c.name.startsWith('auth_flow_'));
  assert.equal(spentFlow?.attrs['max-age'], '0', 'the flow cookie outlives the callback');

  const me = await env.fetch('/auth/me', { headers: { cookie: jar.header() } });
  const meBody = await readJson(me);
  assert.equal(me.status, 200, JSON.stringify(meBody));
  assert.equal(meBody.user.email, 'grace@acme.test');
  const sid = meBody.session.id;

  const oldAccess = jar.get('auth_session');
  const oldRefresh = jar.get('auth_refresh');
  const refreshed = jar.store(await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: jar.header(), origin: ORIGIN } }));
  const rb = await readJson(refreshed);
  assert.equal(refreshed.status, 200, JSON.stringify(rb));
  assert.equal(rb.refreshed, true);
  assert.ok(!JSON.stringify(rb).includes('.ey'), 'cookie refresh must not put tokens in the body');
  assert.notEqual(jar.get('auth_refresh'), oldRefresh);
  assert.notEqual(jar.get('auth_session'), oldAccess);
  const rotatedRefresh = jar.get('auth_refresh');
  const rotatedAccess = jar.get('auth_session');
  const me2 = await env.fetch('/auth/me', { headers: { cookie: jar.header() } });
  assert.equal(me2.status, 200);
  assert.equal((await readJson(me2)).session.id, sid);

  const out = jar.store(await env.fetch('/auth/logout', { method: 'POST', headers: { cookie: jar.header(), origin: ORIGIN } }));
  const ob = await readJson(out);
  assert.equal(out.status, 200, JSON.stringify(ob));
  assert.deepEqual(ob, { message: 'Logged out successfully' });
  assert.equal(cookieNamed(out, 'auth_session')?.attrs['max-age'], '0');
  assert.equal(cookieNamed(out, 'auth_refresh')?.attrs['max-age'], '0');
  assert.equal(cookieNamed(out, 'auth_refresh')?.attrs.path, '/');
  const row = await sessionRow(sid);
  assert.ok(row.revoked_at, 'session not revoked');
  assert.equal(row.revoked_reason, 'logout');

  for (const t of [oldRefresh, rotatedRefresh]) {
    const r = await env.fetch('/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: t }) });
    await expectError(r, 401, 'invalid_refresh_token');
  }
  await expectError(await env.fetch('/auth/me', { headers: { cookie: `auth_session=${rotatedAccess}` } }), 401, 'session_revoked');
  await expectError(await env.fetch('/auth/me', { headers: bearer(oldAccess) }), 401, 'session_revoked');
});

test('the browser flow returns to an allowed origin as an absolute URL', async () => {
  const jar = new CookieJar();
  const res = await browserLogin(env, jar, { returnTo: 'https://app.example.test/welcome?from=login', login: { email: 'alan@example.test' } });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), 'https://app.example.test/welcome?from=login');
  assert.ok(jar.get('auth_session') && jar.get('auth_refresh'));
});

test('two tabs of one browser can sign in at once, each returning to its own target', async () => {
  const jar = new CookieJar();
  const a = await startFlow(jar, '?return_to=%2Ftab-a');
  const b = await startFlow(jar, '?return_to=%2Ftab-b');
  const flowCookies = [...jar.cookies.keys()].filter((n) => n.startsWith('auth_flow_'));
  assert.equal(flowCookies.length, 2, 'the second tab overwrote the first tab\'s flow cookie');
  const backA = await atWorkos(a.location, { email: 'ada@acme.test' });
  const backB = await atWorkos(b.location, { email: 'ada@acme.test' });
  const cookieForBoth = jar.header();

  // Tab B finishes first; tab A's flow must survive it.
  const resB = await env.fetch(backB, { headers: { cookie: cookieForBoth } });
  assert.equal(resB.status, 302, await resB.clone().text());
  assert.equal(new URL(resB.headers.get('location'), ORIGIN).pathname, '/tab-b');
  const clearedByB = setCookies(resB).filter((c) => c.name.startsWith('auth_flow_')).map((c) => c.name);
  assert.equal(clearedByB.length, 1);
  jar.store(resB);
  const resA = await env.fetch(backA, { headers: { cookie: jar.header() } });
  assert.equal(resA.status, 302, await resA.clone().text());
  assert.equal(new URL(resA.headers.get('location'), ORIGIN).pathname, '/tab-a');
  assert.notEqual(setCookies(resA).find((c) => c.name.startsWith('auth_flow_'))?.name, clearedByB[0]);
  const sidA = jwtPart(cookieNamed(resA, 'auth_session').value, 1).sid;
  const sidB = jwtPart(cookieNamed(resB, 'auth_session').value, 1).sid;
  assert.notEqual(sidA, sidB);
  assert.ok(await sessionRow(sidA));
  assert.ok(await sessionRow(sidB));
});

test('two tabs finishing their callbacks at the same moment both sign in', async () => {
  const jar = new CookieJar();
  const a = await startFlow(jar, '?return_to=%2Fone');
  const b = await startFlow(jar, '?return_to=%2Ftwo');
  const backA = await atWorkos(a.location, { email: 'grace@acme.test' });
  const backB = await atWorkos(b.location, { email: 'grace@acme.test' });
  const init = { headers: { cookie: jar.header() } };
  const [resA, resB] = await Promise.all([env.fetch(backA, init), env.fetch(backB, init)]);
  assert.equal(resA.status, 302, await resA.clone().text());
  assert.equal(resB.status, 302, await resB.clone().text());
  assert.equal(new URL(resA.headers.get('location'), ORIGIN).pathname, '/one');
  assert.equal(new URL(resB.headers.get('location'), ORIGIN).pathname, '/two');
  assert.notEqual(jwtPart(cookieNamed(resA, 'auth_session').value, 1).sid, jwtPart(cookieNamed(resB, 'auth_session').value, 1).sid);
});

test('two tabs racing one callback: exactly one signs in, the other gets invalid_state', async () => {
  const jar = new CookieJar();
  const flow = await startFlow(jar);
  const back = await atWorkos(flow.location, { email: 'alan@example.test' });
  const code = new URL(back).searchParams.get('code');
  const init = { headers: { cookie: jar.header(), accept: 'application/json' } };
  const results = await Promise.all([env.fetch(back, init), env.fetch(back, init)]);
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 400], `statuses ${statuses}`);
  const loser = results.find((r) => r.status === 400);
  assert.equal((await readJson(loser)).error, 'invalid_state');
  assert.equal(exchanges(code).length, 1);
});

test('GET /auth/sessions lists only the caller\'s live sessions and flags the current one', async () => {
  const acmeAda = await signIn({ email: 'ada@acme.test' }, { 'user-agent': FIREFOX_UA, 'cf-connecting-ip': '198.51.100.4' });
  const other = await signIn({ email: 'ada@acme.test' }, { 'user-agent': 'curl/8.5.0' });
  const grace = await signIn({ email: 'grace@acme.test' });
  const res = await env.fetch('/auth/sessions', { headers: bearer(acmeAda.body.token) });
  const b = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(b));
  const mine = jwtPart(acmeAda.body.token, 1).sid;
  const otherSid = jwtPart(other.body.token, 1).sid;
  const ids = b.sessions.map((s) => s.id);
  const live = await env.query('SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?', acmeAda.body.user.id, nowSecs());
  assert.deepEqual([...ids].sort(), live.map((r) => r.id).sort());
  assert.ok(ids.includes(mine) && ids.includes(otherSid));
  assert.ok(!ids.includes(jwtPart(grace.body.token, 1).sid), 'someone else\'s session is listed');
  assert.deepEqual(b.sessions.filter((s) => s.current).map((s) => s.id), [mine]);
  const current = b.sessions.find((s) => s.id === mine);
  assert.equal(current.device, 'Firefox on Windows');
  assert.equal(current.ipAddress, '198.51.100.4');
  assert.equal(current.userAgent, FIREFOX_UA);
  for (const k of ['createdAt', 'lastUsedAt', 'expiresAt']) assert.ok(!Number.isNaN(Date.parse(current[k])), k);
  assert.equal(b.sessions.find((s) => s.id === otherSid).device, 'curl');
  const text = JSON.stringify(b);
  assert.doesNotMatch(text, /refresh_hash|refreshHash|workos_session_id/);
  await expectError(await env.fetch('/auth/sessions'), 401, 'unauthenticated');
});

test('DELETE of someone else\'s session answers 404 and leaves it live; one\'s own is revoked', async () => {
  const victim = await signIn({ email: 'vic@globex.test' });
  const attacker = await signIn({ email: 'alan@example.test' });
  const victimSid = jwtPart(victim.body.token, 1).sid;
  const auditBefore = await env.count('audit_events');
  const res = await env.fetch(`/auth/sessions/${victimSid}`, { method: 'DELETE', headers: bearer(attacker.body.token) });
  await expectError(res, 404, 'session_not_found');
  const unknown = await env.fetch('/auth/sessions/ses_doesnotexist', { method: 'DELETE', headers: bearer(attacker.body.token) });
  const unknownBody = await expectError(unknown, 404, 'session_not_found');
  assert.equal(unknownBody.error_description, (await readJson(await env.fetch(`/auth/sessions/${victimSid}`, { method: 'DELETE', headers: bearer(attacker.body.token) }))).error_description,
    'someone else\'s session must look exactly like an unknown one');
  assert.equal((await sessionRow(victimSid)).revoked_at, null);
  assert.equal(await env.count('audit_events'), auditBefore);
  assert.equal((await env.fetch('/auth/me', { headers: bearer(victim.body.token) })).status, 200);

  // A cookie-authenticated DELETE needs a same-origin Origin like any other state change.
  const viaCookie = await env.fetch(`/auth/sessions/${victimSid}`, { method: 'DELETE', headers: { cookie: `auth_session=${victim.body.token}`, origin: 'https://evil.com' } });
  await expectError(viaCookie, 403, 'origin_not_allowed');
  assert.equal((await sessionRow(victimSid)).revoked_at, null);

  // The owner can end it; its tokens then stop working.
  const second = await signIn({ email: 'vic@globex.test' });
  const own = await env.fetch(`/auth/sessions/${victimSid}`, { method: 'DELETE', headers: bearer(second.body.token) });
  const ob = await readJson(own);
  assert.equal(own.status, 200, JSON.stringify(ob));
  assert.deepEqual(ob, { revoked: true, id: victimSid });
  assert.ok((await sessionRow(victimSid)).revoked_at);
  await expectError(await env.fetch('/auth/me', { headers: bearer(victim.body.token) }), 401, 'session_revoked');
  const r = await env.fetch('/auth/refresh', { method: 'POST', body: JSON.stringify({ refreshToken: victim.body.refreshToken }) });
  await expectError(r, 401, 'invalid_refresh_token');
});

test('GET /auth/logout revokes the session, clears cookies and goes through WorkOS logout with an absolute return_to', async () => {
  const jar = new CookieJar();
  await browserLogin(env, jar, { login: { email: 'vic@globex.test' } });
  const refreshToken = jar.get('auth_refresh');
  const sid = jwtPart(refreshToken, 1).sid;
  const workosSid = (await sessionRow(sid)).workos_session_id;
  assert.match(workosSid ?? '', /^session_/);

  // A navigation from this worker's own page (the home page's sign-out link).
  const res = await env.fetch('/auth/logout?return_to=%2Fsigned-out', { headers: { cookie: jar.header(), 'sec-fetch-site': 'same-origin' } });
  assert.equal(res.status, 302, await res.clone().text());
  const location = new URL(res.headers.get('location'));
  assert.equal(location.origin + location.pathname, `${env.standin.url}/user_management/sessions/logout`);
  assert.equal(location.searchParams.get('session_id'), workosSid);
  assert.equal(location.searchParams.get('return_to'), `${ORIGIN}/signed-out`);
  const cleared = Object.fromEntries(setCookies(res).map((c) => [c.name, c]));
  assert.equal(cleared.auth_session?.attrs['max-age'], '0');
  assert.equal(cleared.auth_session?.attrs.path, '/');
  assert.equal(cleared.auth_refresh?.attrs['max-age'], '0');
  assert.equal(cleared.auth_refresh?.attrs.path, '/');
  const row = await sessionRow(sid);
  assert.ok(row.revoked_at, 'the session is still live after logout');
  assert.equal(row.revoked_reason, 'logout');

  // WorkOS ends its session and sends the browser back to us.
  const atWorkosLogout = await fetch(location, { redirect: 'manual' });
  assert.equal(atWorkosLogout.status, 302);
  assert.equal(atWorkosLogout.headers.get('location'), `${ORIGIN}/signed-out`);
  assert.equal(env.standin.sessions.get(workosSid).status, 'revoked');

  const r = await env.fetch('/auth/refresh', { method: 'POST', body: JSON.stringify({ refreshToken }) });
  await expectError(r, 401, 'invalid_refresh_token');
});

test('GET /auth/logout reached from another site (a link or image) signs nobody out', async () => {
  const jar = new CookieJar();
  await browserLogin(env, jar, { login: { email: 'vic@globex.test' } });
  const sid = jwtPart(jar.get('auth_refresh'), 1).sid;
  const res = await env.fetch('/auth/logout', { headers: { cookie: jar.header(), 'sec-fetch-site': 'cross-site' } });
  assert.equal(res.status, 200, 'a cross-site navigation gets the page that asks');
  assert.match(await res.text(), /Sign out\?/);
  assert.equal(res.headers.getSetCookie().length, 0, 'cookies were cleared by a cross-site request');
  assert.equal((await sessionRow(sid)).revoked_at, null, 'a cross-site link revoked the session');
  const own = await env.fetch('/auth/logout', { headers: { cookie: jar.header(), 'sec-fetch-site': 'same-origin' } });
  assert.equal(own.status, 302);
  assert.notEqual((await sessionRow(sid)).revoked_at, null);
});

test('GET /auth/logout refuses a foreign return_to and never redirects there', async () => {
  const jar = new CookieJar();
  await browserLogin(env, jar, { login: { email: 'alan@example.test' } });
  for (const evil of ['https://evil.com', '//evil.com', 'https://app.example.test.evil.com', '/\\evil.com']) {
    const res = await env.fetch(`/auth/logout?return_to=${encodeURIComponent(evil)}`, { headers: { cookie: jar.header() } });
    await expectError(res, 400, 'invalid_return_to');
  }
  // Without a session there is nothing to end at WorkOS: straight back to the (absolute) target.
  const anon = await env.fetch('/auth/logout?return_to=https%3A%2F%2Fapp.example.test%2Fbye');
  assert.equal(anon.status, 302);
  assert.equal(anon.headers.get('location'), 'https://app.example.test/bye');
});

test('POST /auth/logout with a Bearer token revokes the session and its refresh token then fails', async () => {
  const { body } = await signIn({ email: 'grace@acme.test' });
  const sid = jwtPart(body.token, 1).sid;
  const out = await env.fetch('/auth/logout', { method: 'POST', headers: bearer(body.token) });
  assert.equal(out.status, 200);
  assert.deepEqual(await readJson(out), { message: 'Logged out successfully' });
  assert.equal((await sessionRow(sid)).revoked_reason, 'logout');
  assert.equal(await env.count('audit_events', "action = 'session.revoked' AND target_id = ?", sid), 1);
  const r = await env.fetch('/auth/refresh', { method: 'POST', body: JSON.stringify({ refreshToken: body.refreshToken }) });
  await expectError(r, 401, 'invalid_refresh_token');
  await expectError(await env.fetch('/auth/me', { headers: bearer(body.token) }), 401, 'session_revoked');
});

test('a cookie-authenticated POST /auth/logout from a foreign or missing Origin is refused and the session stays live', async () => {
  const jar = new CookieJar();
  await browserLogin(env, jar, { login: { email: 'alan@example.test' } });
  const sid = jwtPart(jar.get('auth_session'), 1).sid;
  for (const origin of ['https://evil.com', 'null', 'http://localhost:8787.evil.com', undefined]) {
    const headers = { cookie: jar.header() };
    if (origin) headers.origin = origin;
    await expectError(await env.fetch('/auth/logout', { method: 'POST', headers }), 403, 'origin_not_allowed');
  }
  assert.equal((await sessionRow(sid)).revoked_at, null);
  const ok = await env.fetch('/auth/logout', { method: 'POST', headers: { cookie: jar.header(), origin: 'https://app.example.test' } });
  assert.equal(ok.status, 200, 'an allowed origin may log out');
  assert.ok((await sessionRow(sid)).revoked_at);
});

test('on an https origin every auth cookie is Secure (and the flow still completes)', async () => {
  const jar = new CookieJar();
  const start = jar.store(await env.mf.dispatchFetch(`${HTTPS_ORIGIN}/login?return_to=%2Fhome`, { redirect: 'manual' }));
  assert.equal(start.status, 302, await start.clone().text());
  const flowCookie = setCookies(start).find((c) => c.name.startsWith('__Host-auth_flow_'));
  assert.ok(flowCookie && 'secure' in flowCookie.attrs, `flow cookie: ${flowCookie?.raw}`);
  const location = new URL(start.headers.get('location'));
  assert.equal(location.searchParams.get('redirect_uri'), `${HTTPS_ORIGIN}/auth/callback`);
  env.standin.nextLogin({ email: 'alan@example.test' });
  const atStandin = await fetch(location, { redirect: 'manual' });
  const back = atStandin.headers.get('location');
  assert.ok(back?.startsWith(`${HTTPS_ORIGIN}/auth/callback`), back);
  const res = await env.mf.dispatchFetch(back, { redirect: 'manual', headers: { cookie: jar.header() } });
  assert.equal(res.status, 302, await res.clone().text());
  assert.equal(new URL(res.headers.get('location'), HTTPS_ORIGIN).href, `${HTTPS_ORIGIN}/home`);
  for (const name of ['__Host-auth_session', '__Host-auth_refresh']) {
    const c = cookieNamed(res, name);
    assert.ok(c, `${name} not set`);
    assert.ok('secure' in c.attrs, `${name} is not Secure on https: ${c.raw}`);
    assert.ok('httponly' in c.attrs);
    assert.equal(c.attrs.samesite, 'Lax');
  }
});
