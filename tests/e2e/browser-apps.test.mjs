// What browsers and browser apps get, at the HTTP level: credentialed CORS for the allowed origins only,
// sessions refreshed in place when the access cookie has lapsed, one session per browser across sign-ins,
// pages instead of JSON for failed navigations, and the development-only loopback redirect. The same
// behaviours in a real Chromium: browser.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, CookieJar, browserLogin, jsonLogin, sleep, ORIGIN } from './harness.mjs';
import { TEST_SIGNING_KEY, ed25519, forgeEdDSA, jwtPart, nowSecs, expectError, readJson } from './helpers.mjs';

const APP = 'https://app.example.test'; // ALLOWED_RETURN_ORIGINS in the harness
// Navigations go through env.navigate (real HTTP with a browser's headers); env.fetch is Node's fetch,
// which always says `Sec-Fetch-Mode: cors`, like a page's fetch().

let env;
before(async () => {
  env = await startEnv({ variants: { 'broken.local': { JWT_REFRESH_SECRET: undefined } } });
});
after(async () => env?.close());

const sessionRow = async (id) => (await env.query('SELECT * FROM sessions WHERE id = ?', id))[0];
const vary = (res) => (res.headers.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase());
const setCookieNamed = (res, name) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));

async function signedInJar(email = 'grace@acme.test') {
  const jar = new CookieJar();
  const res = await browserLogin(env, jar, { login: { email } });
  assert.equal(res.status, 302, await res.clone().text());
  return jar;
}

/** The access token of `jar`'s session, re-signed as expired (what the browser holds after 15 minutes). */
function expiredAccessToken(jar) {
  const current = jar.get('auth_session');
  const header = jwtPart(current, 0);
  const claims = { ...jwtPart(current, 1), iat: nowSecs() - 1000, exp: nowSecs() - 100 };
  return forgeEdDSA(header, claims, ed25519(TEST_SIGNING_KEY).privateKey);
}

// ---------------------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------------------

test('a preflight from an allowed origin is answered with that origin, credentials, the route methods and Vary: Origin', async () => {
  for (const [path, method, methods] of [
    ['/auth/me', 'GET', 'GET'],
    ['/auth/refresh', 'POST', 'POST'],
    ['/auth/logout', 'POST', 'GET, POST'],
    ['/apikeys', 'POST', 'GET, POST'],
    ['/auth/sessions', 'GET', 'GET'],
    ['/auth/sessions/ses_1', 'DELETE', 'DELETE'],
  ]) {
    const res = await env.fetch(path, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
    });
    assert.equal(res.status, 204, `${path}: ${await res.text()}`);
    assert.equal(res.headers.get('access-control-allow-origin'), APP, path);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true', path);
    assert.equal(res.headers.get('access-control-allow-methods'), methods, path);
    assert.match(res.headers.get('access-control-allow-headers'), /content-type/);
    assert.match(res.headers.get('access-control-allow-headers'), /authorization/);
    assert.ok(vary(res).includes('origin'), path);
  }
});

test('a preflight from any other origin, or for a method the route does not serve, is refused without CORS headers', async () => {
  for (const origin of ['https://evil.example', 'https://app.example.test.evil.example', 'http://app.example.test', 'null', ORIGIN.replace('localhost', '127.0.0.1')]) {
    const res = await env.fetch('/auth/me', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
    await expectError(res, 403, 'origin_not_allowed', origin);
    assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
    assert.equal(res.headers.get('access-control-allow-credentials'), null, origin);
  }
  const wrongMethod = await env.fetch('/auth/me', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'DELETE' } });
  assert.notEqual(wrongMethod.status, 204);
  assert.equal(wrongMethod.headers.get('access-control-allow-methods'), null);
});

test('a credentialed request from the allowed origin can read the answer, errors included; others cannot', async () => {
  const jar = await signedInJar();
  const ok = await env.fetch('/auth/me', { headers: { cookie: jar.header(), origin: APP } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), APP);
  assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
  assert.match(ok.headers.get('access-control-expose-headers'), /x-request-id/);
  assert.ok(vary(ok).includes('origin'));
  assert.equal((await readJson(ok)).user.email, 'grace@acme.test');

  // An app must be able to read a 401 to know it has to sign in.
  const signedOut = await env.fetch('/auth/me', { headers: { origin: APP } });
  await expectError(signedOut, 401, 'unauthenticated');
  assert.equal(signedOut.headers.get('access-control-allow-origin'), APP);

  const foreign = await env.fetch('/auth/me', { headers: { cookie: jar.header(), origin: 'https://evil.example' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  assert.equal(foreign.headers.get('access-control-allow-credentials'), null);
  assert.ok(vary(foreign).includes('origin'), 'a cache must not serve one origin\'s answer to another');
});

test('CORS does not loosen CSRF: a cookie-authenticated POST from a foreign origin is still refused', async () => {
  const jar = await signedInJar();
  const before = jar.get('auth_refresh');
  const refused = await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: jar.header(), origin: 'https://evil.example' } });
  await expectError(refused, 403, 'origin_not_allowed');
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  const key = await env.fetch('/apikeys', {
    method: 'POST',
    headers: { cookie: jar.header(), origin: 'https://evil.example', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'csrf' }),
  });
  await expectError(key, 403, 'origin_not_allowed');

  const allowed = jar.store(await env.fetch('/auth/refresh', { method: 'POST', headers: { cookie: jar.header(), origin: APP } }));
  assert.equal(allowed.status, 200, await allowed.clone().text());
  assert.equal(allowed.headers.get('access-control-allow-origin'), APP);
  assert.notEqual(jar.get('auth_refresh'), before);
});

test('routes a browser app does not call cross-origin get no CORS headers and OPTIONS stays 405', async () => {
  for (const path of ['/', '/health', '/login', '/auth/callback', '/webhooks/workos']) {
    const res = await env.fetch(path, { headers: { origin: APP } });
    assert.equal(res.headers.get('access-control-allow-origin'), null, path);
    await res.arrayBuffer();
  }
  // Public documents are readable by anyone, and never with credentials.
  const jwks = await env.fetch('/.well-known/jwks.json', { headers: { origin: APP } });
  assert.equal(jwks.headers.get('access-control-allow-origin'), '*');
  assert.equal(jwks.headers.get('access-control-allow-credentials'), null);
  await jwks.arrayBuffer();
  const options = await env.fetch('/auth/callback', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
  await expectError(options, 405, 'method_not_allowed');
});

// ---------------------------------------------------------------------------------------------------------
// Sessions that last as long as the session
// ---------------------------------------------------------------------------------------------------------

test('a lapsed access cookie is refreshed in place: same session, rotated pair, new cookies', async () => {
  const jar = await signedInJar();
  const sid = jwtPart(jar.get('auth_session'), 1).sid;
  const before = await sessionRow(sid);
  // The browser drops the access cookie at its Max-Age: only the refresh cookie arrives.
  jar.cookies.delete('auth_session');
  const res = jar.store(await env.fetch('/auth/me', { headers: { cookie: jar.header() } }));
  const body = await readJson(res);
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.session.id, sid);
  assert.ok(setCookieNamed(res, 'auth_session'), 'no new access cookie');
  assert.ok(setCookieNamed(res, 'auth_refresh'), 'no new refresh cookie');
  assert.equal(jwtPart(jar.get('auth_session'), 1).sid, sid);
  const after = await sessionRow(sid);
  assert.notEqual(after.refresh_hash, before.refresh_hash, 'the refresh token was not rotated');
  assert.equal(after.previous_refresh_hash, before.refresh_hash);

  // An expired access token still in the jar works the same way.
  jar.cookies.set('auth_session', expiredAccessToken(jar));
  const again = jar.store(await env.fetch('/auth/me', { headers: { cookie: jar.header() } }));
  assert.equal(again.status, 200, await again.clone().text());
  assert.equal((await readJson(again)).session.id, sid);
});

test('the home page keeps showing who is signed in after the access token expires', async () => {
  const jar = await signedInJar('ada@acme.test');
  jar.cookies.set('auth_session', expiredAccessToken(jar));
  const res = jar.store(await env.navigate('/', { cookie: jar.header() }));
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.match(html, /<h1>Signed in<\/h1>/);
  assert.match(html, /ada@acme\.test/);
  assert.ok(setCookieNamed(res, 'auth_session'));
});

test('parallel requests with the same lapsed cookie all succeed with the same new pair (grace window)', async () => {
  const jar = await signedInJar();
  jar.cookies.delete('auth_session');
  const cookie = jar.header();
  const answers = await Promise.all([1, 2, 3].map(() => env.fetch('/auth/me', { headers: { cookie } })));
  for (const r of answers) assert.equal(r.status, 200, await r.clone().text());
  const pairs = new Set(answers.map((r) => `${setCookieNamed(r, 'auth_session')}|${setCookieNamed(r, 'auth_refresh')}`));
  assert.equal(pairs.size, 1, 'concurrent in-place refreshes disagreed');
});

test('a reused refresh cookie after the grace window ends the session and clears the cookies', async () => {
  const jar = await signedInJar();
  const sid = jwtPart(jar.get('auth_session'), 1).sid;
  jar.cookies.delete('auth_session');
  const stale = jar.header();
  assert.equal((await env.fetch('/auth/me', { headers: { cookie: stale } })).status, 200);
  await sleep(3200); // REFRESH_REUSE_GRACE_SECONDS=2 in the harness (whole seconds: N to N+1 s)
  const reused = await env.fetch('/auth/me', { headers: { cookie: stale } });
  await expectError(reused, 401, 'invalid_refresh_token');
  assert.match(setCookieNamed(reused, 'auth_refresh'), /Max-Age=0/i);
  assert.match(setCookieNamed(reused, 'auth_session'), /Max-Age=0/i);
  const row = await sessionRow(sid);
  assert.ok(row.revoked_at);
  assert.equal(row.revoked_reason, 'refresh_token_reuse');
});

test('a revoked session is not brought back by its refresh cookie', async () => {
  const jar = await signedInJar();
  const sid = jwtPart(jar.get('auth_session'), 1).sid;
  const out = await env.fetch('/auth/logout', { method: 'POST', headers: { cookie: jar.header(), origin: ORIGIN } });
  assert.equal(out.status, 200);
  jar.cookies.delete('auth_session');
  const res = await env.fetch('/auth/me', { headers: { cookie: jar.header() } });
  await expectError(res, 401, 'invalid_refresh_token');
  assert.ok((await sessionRow(sid)).revoked_at);
});

test('a cross-site state change with only the refresh cookie is refused before anything rotates', async () => {
  const jar = await signedInJar();
  const sid = jwtPart(jar.get('auth_session'), 1).sid;
  const before = await sessionRow(sid);
  jar.cookies.delete('auth_session');
  const res = await env.fetch('/apikeys', {
    method: 'POST',
    headers: { cookie: jar.header(), origin: 'https://evil.example', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'csrf' }),
  });
  await expectError(res, 403, 'origin_not_allowed');
  assert.equal((await sessionRow(sid)).refresh_hash, before.refresh_hash);
  // From the allowed origin the same request refreshes in place and acts.
  const allowed = await env.fetch('/apikeys', {
    method: 'POST',
    headers: { cookie: jar.header(), origin: APP, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'from the app' }),
  });
  assert.equal(allowed.status, 201, await allowed.clone().text());
  assert.equal(allowed.headers.get('access-control-allow-origin'), APP);
});

test('signing in again from a browser that holds a session ends that session instead of piling up', async () => {
  const jar = await signedInJar('alan@example.test');
  const first = jwtPart(jar.get('auth_session'), 1).sid;
  const res = await browserLogin(env, jar, { login: { email: 'alan@example.test' } });
  assert.equal(res.status, 302);
  const second = jwtPart(jar.get('auth_session'), 1).sid;
  assert.notEqual(second, first);
  const old = await sessionRow(first);
  assert.ok(old.revoked_at, 'the replaced session is still live');
  assert.equal(old.revoked_reason, 'signed_in_again');
  assert.equal((await sessionRow(second)).revoked_at, null);
  const audit = await env.query("SELECT * FROM audit_events WHERE action = 'session.revoked' AND target_id = ?", first);
  assert.equal(audit.length, 1);

  // A program using the JSON callback gets tokens; the browser's cookies and session are left alone.
  await jsonLogin(env, { email: 'alan@example.test' });
  assert.equal((await sessionRow(second)).revoked_at, null);
});

// ---------------------------------------------------------------------------------------------------------
// Pages for people, JSON for programs
// ---------------------------------------------------------------------------------------------------------

test('a failed sign-in navigation gets a page with the reason and a way to start again; a program gets JSON', async () => {
  const url = '/auth/callback?error=access_denied&error_description=cancelled&state=' + 'a'.repeat(43);
  const page = await env.navigate(url);
  const html = await page.text();
  assert.equal(page.status, 400);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.match(page.headers.get('content-security-policy'), /default-src 'none'/);
  assert.match(page.headers.get('content-security-policy'), /form-action 'none'/);
  assert.match(html, /Sign-in did not complete/);
  assert.match(html, /<a id="next-step" href="\/login">Start again<\/a>/);
  assert.match(html, /access_denied/);
  assert.ok(html.includes(page.headers.get('x-request-id')), 'the page quotes the request id');

  await expectError(await env.fetch(url, { headers: { accept: 'application/json' } }), 400, 'access_denied');
  await expectError(await env.fetch(url), 400, 'access_denied');
  await expectError(await env.navigate(url, { accept: 'application/json', 'sec-fetch-mode': 'cors' }), 400, 'access_denied');
  await expectError(await env.navigate(url, { accept: '*/*', 'sec-fetch-mode': undefined }), 400, 'access_denied');
  // fetch() from a page says Sec-Fetch-Mode: cors and wants data, whatever it accepts.
  await expectError(await env.fetch(url, { headers: { accept: 'text/html', 'sec-fetch-mode': 'cors' } }), 400, 'access_denied');
});

test('a replayed callback, a signed-out navigation and an unknown path each get a page with the next step', async () => {
  const jar = new CookieJar();
  const start = jar.store(await env.fetch('/login'));
  const back = (await fetch(start.headers.get('location'), { redirect: 'manual' })).headers.get('location');
  assert.equal((await env.fetch(back, { headers: { cookie: jar.header() } })).status, 302);
  const replay = await env.navigate(back, { cookie: jar.header() });
  const replayHtml = await replay.text();
  assert.equal(replay.status, 400);
  assert.match(replayHtml, /invalid_state/);
  assert.match(replayHtml, /href="\/login">Start again/);
  assert.ok(!replayHtml.includes(new URL(back).searchParams.get('code')), 'the page repeats the code');

  const signedOut = await env.navigate('/auth/me');
  assert.equal(signedOut.status, 401);
  assert.equal(signedOut.headers.get('www-authenticate'), 'Bearer realm="auth"');
  assert.match(await signedOut.text(), /href="\/login">Sign in/);

  const missing = await env.navigate('/no/such/page');
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /href="\/">Go to the home page/);
});

test('a misconfigured worker tells a person which setting to fix, and never its value', async () => {
  const res = await env.navigate('http://broken.local/');
  const html = await res.text();
  assert.equal(res.status, 500);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(html, /JWT_REFRESH_SECRET/);
  assert.match(html, /\.dev\.vars/);
  await expectError(await env.fetch('http://broken.local/auth/me'), 500, 'server_misconfigured');
});

// ---------------------------------------------------------------------------------------------------------
// Development conveniences
// ---------------------------------------------------------------------------------------------------------

test('in development, a navigation to 127.0.0.1 is sent to the configured origin before any flow starts', async () => {
  const flowsBefore = await env.count('login_flows');
  const res = await env.navigate('http://127.0.0.1:8787/login?return_to=%2Fdashboard');
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), `${ORIGIN}/login?return_to=%2Fdashboard`);
  assert.equal(res.headers.getSetCookie().length, 0, 'a flow cookie was set on 127.0.0.1');
  assert.equal(await env.count('login_flows'), flowsBefore);
  // Only a person's navigation is moved; a program calling 127.0.0.1 is answered there.
  const api = await env.fetch('http://127.0.0.1:8787/.well-known/jwks.json', { headers: { accept: 'application/json' } });
  assert.equal(api.status, 200);
  await api.arrayBuffer();
});

test('a browser asking for /favicon.ico gets an empty answer, not a 404', async () => {
  const res = await env.fetch('/favicon.ico');
  assert.equal(res.status, 204);
  await sleep(50);
  assert.ok(!env.logs.some((l) => l.includes('/favicon.ico') && l.includes('"warn"')), 'a warning line for the favicon');
});
