// A real browser: Debian's Chromium (scripts/setup.sh installs it; AUTH_CHROMIUM names another binary)
// driven by playwright-core, which never downloads a browser, against the worker in workerd on a real
// loopback port and the WorkOS stand-in's interactive sign-in page. What a person and a browser app see:
// sign-in, the cookies' flags, the home page under its CSP, an app on an allowed origin using the session
// with CORS and credentials (and one on another origin that cannot), the access token expiring under a
// working page, sign-out, and the page a failed sign-in gets. HTTP-level details: browser-apps.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startEnv, sleep } from './harness.mjs';
import { devToken } from '../../scripts/dev-token.mjs';
import { serveApp } from '../../examples/browser-app/serve.mjs';

const CHROMIUM = process.env.AUTH_CHROMIUM || '/usr/bin/chromium';
// The access token lives 3 s here, so the suite sees it expire for real (the cookie's Max-Age too).
const ACCESS_TTL_SECS = 3;

let env;
let browser;
let context;
let auth; // http://localhost:<port> of the worker
let app; // examples/browser-app on an allowed origin (same site, another port)
let foreign; // an app on an origin that is not allowed
const servers = [];
const cspViolations = [];

/** A free loopback port. */
async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A static page standing for a browser app's origin. */
async function appServer(title) {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>${title}</title><h1>${title}</h1>`);
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  servers.push(srv);
  return `http://localhost:${srv.address().port}`;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  const example = await serveApp(0);
  servers.push(example);
  app = `http://localhost:${example.address().port}`;
  foreign = await appServer('Foreign app');
  const port = await freePort();
  auth = `http://localhost:${port}`;
  env = await startEnv({
    port,
    standin: { mode: 'interactive' },
    vars: {
      WORKOS_REDIRECT_URI: `${auth}/auth/callback`,
      ALLOWED_RETURN_ORIGINS: app,
      ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TTL_SECS),
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Flags this machine needs: no sandbox as root, and no background connections to Google's hosts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext();
  context.on('console', (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) cspViolations.push(`${msg.location().url}: ${msg.text()}`);
  });
});

after(async () => {
  await browser?.close();
  for (const srv of servers) srv.close();
  await env?.close();
});

const page = () => context.newPage();
const authCookies = async () => Object.fromEntries((await context.cookies(auth)).map((c) => [c.name, c]));

/** Signs in on the stand-in's page as `who` (the text of a user's button); ends on the worker's page. */
async function signIn(p, who = 'admin of Acme Corp') {
  await p.goto(`${auth}/login`);
  await p.getByRole('heading', { name: 'WorkOS stand-in — sign in' }).waitFor();
  await Promise.all([p.waitForURL(`${auth}/`), p.getByRole('button', { name: who }).click()]);
}

/** Opens the example app, pointed at this worker, and waits until it has asked who is signed in. */
async function openApp(p) {
  await p.goto(`${app}/?auth=${encodeURIComponent(auth)}`);
  await p.waitForFunction(() => !document.getElementById('status').textContent.startsWith('Asking'));
}

/** `fetch(auth + path, {credentials: "include", ...init})` run by the page at `origin`. */
async function fetchFrom(p, origin, path, init = {}) {
  if (!p.url().startsWith(origin)) await p.goto(`${origin}/`);
  return p.evaluate(async ({ url, init }) => {
    try {
      const r = await fetch(url, { credentials: 'include', ...init });
      return { status: r.status, body: await r.json() };
    } catch (e) {
      return { failed: String(e) };
    }
  }, { url: auth + path, init });
}

const liveSessions = async (email) => (await env.query(
  'SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ? AND s.revoked_at IS NULL', email)).length;

test('signing in on the stand-in lands on the home page, signed in, with httpOnly SameSite=Lax cookies', { timeout: 60_000 }, async () => {
  const p = await page();
  await signIn(p);
  assert.equal(await p.locator('h1').textContent(), 'Signed in');
  assert.match(await p.locator('#who').textContent(), /ada@acme\.test/);
  const cookies = await authCookies();
  for (const name of ['auth_session', 'auth_refresh']) {
    const c = cookies[name];
    assert.ok(c, `no ${name} cookie: ${Object.keys(cookies)}`);
    assert.equal(c.httpOnly, true, name);
    assert.equal(c.sameSite, 'Lax', name);
    assert.equal(c.path, '/', name);
    assert.equal(c.secure, false, `${name}: plain-http localhost keeps bare, non-Secure cookies`);
  }
  assert.ok(cookies.auth_refresh.expires - Date.now() / 1000 > 86400, 'the refresh cookie lives as long as the session');
  assert.deepEqual(Object.keys(cookies).filter((n) => n.startsWith('auth_flow_')), [], 'the flow cookie outlived the callback');
  assert.equal(await p.evaluate(() => document.cookie), '', 'page scripts can read the session cookies');
  await p.close();
});

test('the home page renders with its stylesheet under its own Content-Security-Policy', { timeout: 30_000 }, async () => {
  const p = await page();
  const res = await p.goto(`${auth}/`);
  assert.match(res.headers()['content-security-policy'], /style-src 'sha256-/);
  assert.equal(await p.evaluate(() => getComputedStyle(document.body).maxWidth), '640px', 'the inline style was blocked');
  assert.deepEqual(cspViolations, []);
  await p.close();
});

test('an app on an allowed origin uses the session with CORS and credentials; another origin cannot', { timeout: 30_000 }, async () => {
  const p = await page();
  await openApp(p);
  assert.match(await p.locator('#who').textContent(), /^ada@acme\.test \(org_/, 'the example app did not show who is signed in');
  const me = await fetchFrom(p, app, '/auth/me');
  assert.equal(me.status, 200, JSON.stringify(me));
  assert.equal(me.body.user.email, 'ada@acme.test');

  // A JSON POST is preflighted; the cookie-authenticated write passes the Origin check.
  const key = await fetchFrom(p, app, '/apikeys', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'from the app' }),
  });
  assert.equal(key.status, 201, JSON.stringify(key));
  assert.match(key.body.key, /^sk_test_/);
  const refreshed = await fetchFrom(p, app, '/auth/refresh', { method: 'POST' });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed));
  assert.equal(refreshed.body.refreshed, true);

  const other = await fetchFrom(p, foreign, '/auth/me');
  assert.match(other.failed ?? '', /TypeError|Failed to fetch/, `a foreign origin read the session: ${JSON.stringify(other)}`);
  await p.close();
});

test('after the access token expires, the home page and the app keep working on the same session', { timeout: 60_000 }, async () => {
  const p = await page();
  await p.goto(`${auth}/`);
  const sessionId = await p.locator('#session-id').textContent();
  assert.match(sessionId, /\S/);
  await sleep((ACCESS_TTL_SECS + 1.5) * 1000);
  assert.equal((await authCookies()).auth_session, undefined, 'the browser still holds the expired access cookie');
  await p.goto(`${auth}/`);
  assert.equal(await p.locator('h1').textContent(), 'Signed in', 'the home page forgot the person after the token expired');
  assert.equal(await p.locator('#session-id').textContent(), sessionId, 'a new session was opened instead');

  await sleep((ACCESS_TTL_SECS + 1.5) * 1000);
  await openApp(p);
  assert.match(await p.locator('#who').textContent(), /ada@acme\.test/, 'the app lost the session after the token expired');
  const me = await fetchFrom(p, app, '/auth/me');
  assert.equal(me.status, 200, JSON.stringify(me));
  assert.equal(me.body.session.id, sessionId);
  assert.equal(await liveSessions('ada@acme.test'), 1);
  await p.close();
});

test('signing in again from the same browser replaces the session instead of adding one', { timeout: 60_000 }, async () => {
  const p = await page();
  assert.equal(await liveSessions('ada@acme.test'), 1);
  await signIn(p);
  assert.equal(await p.locator('h1').textContent(), 'Signed in');
  assert.equal(await liveSessions('ada@acme.test'), 1);
  await p.close();
});

test('signing out ends the session: the home page offers sign-in and the app gets 401', { timeout: 60_000 }, async () => {
  const p = await page();
  await p.goto(`${auth}/`);
  await Promise.all([p.waitForURL(`${auth}/`), p.locator('#sign-out').click()]);
  // A same-origin click signs out at once (no confirmation) and comes back through WorkOS logout.
  assert.equal(await p.locator('h1').textContent(), 'Not signed in');
  assert.deepEqual(Object.keys(await authCookies()).filter((n) => n.startsWith('auth_')), []);
  assert.equal(await liveSessions('ada@acme.test'), 0);
  const me = await fetchFrom(p, app, '/auth/me');
  assert.equal(me.status, 401);
  assert.equal(me.body.error, 'unauthenticated');

  // From the app: its sign-in link goes through the worker and WorkOS and comes back to the app,
  // and its sign-out button (a credentialed cross-origin POST) ends that session.
  await openApp(p);
  assert.match(await p.locator('#status').textContent(), /Not signed in \(unauthenticated\)/);
  await p.locator('#sign-in').click();
  await p.getByRole('heading', { name: 'WorkOS stand-in — sign in' }).waitFor();
  await Promise.all([p.waitForURL(`${app}/**`), p.getByRole('button', { name: 'admin of Acme Corp' }).click()]);
  await p.locator('#who').waitFor();
  assert.equal(await liveSessions('ada@acme.test'), 1);
  await p.locator('#sign-out').click();
  await p.locator('#sign-in').waitFor({ state: 'visible' });
  assert.equal(await liveSessions('ada@acme.test'), 0);
  await p.close();
});

test('a cancelled sign-in shows a page that says what happened and starts again', { timeout: 60_000 }, async () => {
  const p = await page();
  await p.goto(`${auth}/login`);
  const answer = p.waitForResponse((r) => r.url().startsWith(`${auth}/auth/callback`));
  await p.getByRole('button', { name: 'Cancel' }).click();
  const res = await answer;
  assert.equal(res.status(), 400);
  assert.match(res.headers()['content-type'], /^text\/html/);
  assert.equal(await p.locator('h1').textContent(), 'Sign-in did not complete');
  assert.equal(await p.locator('#error-code').textContent(), 'access_denied');
  assert.equal(await p.evaluate(() => getComputedStyle(document.body).maxWidth), '640px');
  await p.locator('#next-step').click();
  await p.getByRole('heading', { name: 'WorkOS stand-in — sign in' }).waitFor();
  // The same failure asked for by a program is the JSON error.
  const json = await fetchFrom(p, app, '/auth/me');
  assert.equal(json.body.error, 'unauthenticated');
  assert.deepEqual(cspViolations, []);
  await p.close();
});

test('npm run token signs a seeded user in through the stand-in and its tokens work as the curl lines use them', { timeout: 30_000 }, async () => {
  const got = await devToken({ origin: auth, standin: env.standin.url, email: 'grace@acme.test' });
  assert.equal(got.organization, 'Acme Corp');
  const me = await fetch(`${auth}/auth/me`, { headers: { authorization: `Bearer ${got.token}` } });
  const body = await me.json();
  assert.equal(me.status, 200, JSON.stringify(body));
  assert.equal(body.user.email, 'grace@acme.test');
  assert.match(body.organizationId, /^org_/);
  const refreshed = await fetch(`${auth}/auth/refresh`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: got.refreshToken }),
  });
  assert.equal(refreshed.status, 200);
  await assert.rejects(devToken({ origin: 'https://auth.example.com', standin: env.standin.url }), /development only/);
});
