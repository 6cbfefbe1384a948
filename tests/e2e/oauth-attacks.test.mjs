// Attacks on the OAuth 2.1 authorization server and the example MCP server, from a hostile review
// and a mutation run over the conformance suites: each test states the attack it refuses, and each
// guards a property the other suites did not pin down (each failed on the build it was written
// against, or caught a mutation the other suites let through).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEnv, ORIGIN, MCP_RESOURCE, OAUTH_CLIENTS } from './harness.mjs';
import { jwtPart, ed25519, forgeEdDSA, TEST_SIGNING_KEY } from './helpers.mjs';
import { OAuthClient, Browser, mcpCall, callbackParams, ClientHosts, clientDocument } from './oauth-client.mjs';

// Client metadata documents, served to the worker's outbound fetches; `hosts.seen` is every
// outbound request (see ClientHosts).
const hosts = new ClientHosts();
const doc = (url, over = {}) => clientDocument(url, { client_name: 'Attack Client', redirect_uris: ['http://127.0.0.1:43999/callback'], ...over });

let env;
let ada;
before(async () => {
  env = await startEnv({
    outbound: hosts.serve,
    vars: { OAUTH_CIMD_BLOCKED_HOSTS: 'blocked.example,*.evil-cdn.example' },
    // Same D1 and keys: the operator's later configuration, where a client host has been blocked.
    variants: { 'blocked.local': { OAUTH_CIMD_BLOCKED_HOSTS: 'late-blocked.example' } },
  });
  const acme = [...env.standin.organizations.values()].find((o) => o.name === 'Acme Corp').id;
  ada = await Browser.signedIn(env, { email: 'ada@acme.test', organizationId: acme });
});
after(() => env?.close());

const cli = (over = {}) => new OAuthClient(env, { id: OAUTH_CLIENTS.public.client_id, redirectUri: OAUTH_CLIENTS.public.redirect_uris[0], ...over });

// ------------------------------------------------------------------------------------------------
// Resource server (examples/mcp)
// ------------------------------------------------------------------------------------------------

test('RS: an Mcp-Method/Mcp-Name header that disagrees with the body cannot smuggle a tool call past the scope check', async () => {
  // ada holds notes:write, but this token carries notes:read only: create_note must be refused.
  const t = await cli().tokens(ada, { scope: 'notes:read' });
  const body = { name: 'create_note', arguments: { text: 'smuggled' } };
  const honest = await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/call', body);
  assert.equal(honest.status, 403, 'baseline: the body alone is refused');
  const ran = [];
  for (const headers of [
    { 'mcp-method': 'tools/list' },
    { 'mcp-method': 'initialize' },
    { 'mcp-method': 'tools/call', 'mcp-name': 'search_notes' },
  ]) {
    // A 2025-11-25 (legacy-era) request: the SDK does not cross-check these headers against the body.
    const res = await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/call', body, headers);
    if (res.status === 200 || JSON.stringify(res.body ?? '').includes('Created a note')) ran.push(`${JSON.stringify(headers)} -> ${res.status}`);
    assert.equal(res.status, 400, `${JSON.stringify(headers)}: headers that disagree with the body are refused`);
  }
  assert.deepEqual(ran, [], 'create_note ran with a notes:read token');
  const junk = await mcpCall(env, MCP_RESOURCE, 'junk', 'tools/call', body, { 'mcp-method': 'tools/list' });
  assert.equal(junk.status, 401, 'the token is still checked first');
});

test('RS: a POST whose body names no JSON-RPC method still gets the token checked (401, not a crash)', async () => {
  for (const body of ['{"jsonrpc":"2.0","id":1,"result":{}}', '[]', '{}']) {
    const res = await env.mf.dispatchFetch(MCP_RESOURCE, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: 'Bearer junk' },
      body,
    });
    assert.equal(res.status, 401, `${body}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/, body);
  }
});

// ------------------------------------------------------------------------------------------------
// Authorization endpoint
// ------------------------------------------------------------------------------------------------

test('AS: an unverified client (metadata document on any host) cannot use /oauth/authorize as an open redirector', async () => {
  // RFC 9700 §4.11.2: anyone can publish a metadata document naming any https redirect URI, so an
  // error redirect without any user interaction turns this origin into an open redirector.
  const url = 'https://phisher.example/oauth/client.json';
  hosts.set(url, { body: doc(url, { redirect_uris: ['https://phisher.example/login-page'] }) });
  const res = await env.fetch(`/oauth/authorize?client_id=${encodeURIComponent(url)}&response_type=token`);
  const location = res.headers.get('location') ?? '';
  assert.ok(!location.startsWith('https://phisher.example/'), `redirected without user interaction to ${location}`);
});

test('AS: the metadata-document blocklist cannot be bypassed with a trailing dot on the host', async () => {
  for (const url of ['https://blocked.example./client.json', 'https://x.evil-cdn.example./client.json']) {
    hosts.set(url, { body: doc(url) });
    const before = hosts.seen.length;
    const res = await env.fetch(`/oauth/authorize?${cli().authorizeParams({ client_id: url, redirect_uri: 'http://127.0.0.1:43999/callback' })}`);
    assert.equal(res.status, 400, `${url}: ${res.status} ${res.headers.get('location')}`);
    assert.deepEqual(hosts.seen.slice(before), [], `${url} was fetched`);
  }
});

test('AS: asking only for offline_access does not grant every scope of the resource', async () => {
  const c = cli();
  const cb = await c.authorize(ada, { scope: 'offline_access' });
  assert.equal(cb.error, 'invalid_scope');
  assert.equal(cb.code, undefined);
});

test('AS: the callback carries exactly one code, state and iss whatever state holds (no parameter injection)', async () => {
  const c = cli();
  const cb = await c.authorize(ada, { state: `x&iss=https://evil.example&code=forged#frag` });
  assert.equal(cb.raw.getAll('iss').length, 1);
  assert.equal(cb.raw.getAll('code').length, 1);
  assert.equal(cb.iss, ORIGIN);
  assert.equal(cb.state, 'x&iss=https://evil.example&code=forged#frag');
});

// ------------------------------------------------------------------------------------------------
// Token endpoint
// ------------------------------------------------------------------------------------------------

test('AS: a code is redeemed only by the client it was issued to, and a refusal does not use it up', async () => {
  const a = cli();
  const cb = await a.authorize(ada);
  // Another public client that somehow holds the code and the verifier (e.g. a malicious app on the
  // same machine that intercepted the loopback redirect).
  const url = 'https://other-app.example/client.json';
  hosts.set(url, { body: doc(url) });
  const b = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43999/callback' });
  b.pkce = a.pkce;
  const stolen = await b.exchange(cb.code, { redirect_uri: a.redirectUri });
  assert.equal(stolen.status, 400, JSON.stringify(stolen.body));
  assert.equal(stolen.body.error, 'invalid_grant');
  assert.equal((await a.exchange(cb.code)).status, 200, 'the rightful client still redeems it');
});

test('AS: a token request cannot widen the consented scope at the code exchange', async () => {
  const c = cli();
  const cb = await c.authorize(ada, { scope: 'notes:read' });
  const res = await c.exchange(cb.code, { scope: 'notes:read notes:write notes:*' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.scope, 'notes:read');
  assert.equal(jwtPart(res.body.access_token, 1).scope, 'notes:read');
});

test('AS: a refresh that asks only for offline_access is invalid_scope, never a token with no scope', async () => {
  const c = cli();
  const t = await c.tokens(ada, { scope: 'notes:read' });
  const r = await c.refresh(t.refresh_token, { scope: 'offline_access' });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error, 'invalid_scope');
  assert.equal((await c.refresh(t.refresh_token)).status, 200, 'the refusal did not rotate or end the grant');
});

test('AS: blocking a metadata-document host stops its clients at the token endpoint too (existing grants do not refresh)', async () => {
  const url = 'https://late-blocked.example/client.json';
  hosts.set(url, { body: doc(url) });
  const c = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43999/callback' });
  const t = await c.tokens(ada);
  // Same database, the operator's newer configuration (OAUTH_CIMD_BLOCKED_HOSTS=late-blocked.example).
  const blocked = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43999/callback', origin: 'http://blocked.local' });
  const r = await blocked.refresh(t.refresh_token);
  assert.equal(r.status, 401, `a blocked client refreshed: ${JSON.stringify(r.body).slice(0, 120)}`);
  assert.equal(r.body.error, 'invalid_client');
});

test('AS: a grant dies with its user: no MCP call, no refresh, no code redemption after deactivation', async () => {
  const dora = await Browser.signedIn(env, { email: 'dora-attack@example.test' });
  const c = cli();
  const t = await c.tokens(dora);
  const cb = await c.authorize(dora);
  const userId = jwtPart(t.access_token, 1).sub;
  await env.query('UPDATE users SET is_active = 0 WHERE id = ?', userId);
  await sleep(2100); // SESSION_CACHE_TTL_SECONDS=2
  assert.equal((await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/list')).status, 401);
  const r = await c.refresh(t.refresh_token);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_grant');
  const x = await c.exchange(cb.code);
  assert.equal(x.status, 400);
  assert.equal(x.body.error, 'invalid_grant');
});

test('AS: a client cannot end a person\'s sign-in session through /oauth/revoke', async () => {
  const t = await cli().tokens(ada);
  const session = await env.resolved('createSession', { userId: jwtPart(t.access_token, 1).sub });
  for (const token of [session.token, session.refreshToken]) {
    assert.equal((await cli().post('/oauth/revoke', { token })).status, 200);
  }
  assert.equal((await env.validate(session.token)).valid, true, 'the first-party session is untouched');
});

test('AS: no log line carries an authorization code', async () => {
  const c = cli();
  const cb = await c.authorize(ada);
  await c.exchange(cb.code);
  await c.exchange(cb.code); // a replay logs a warning
  assert.deepEqual(env.logs.filter((l) => l.includes(cb.code)), []);
});

// ------------------------------------------------------------------------------------------------
// Consent
// ------------------------------------------------------------------------------------------------

test('AS: a dynamically registered client is marked unverified on the consent page', async () => {
  const reg = await env.fetch('/oauth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Example CLI', redirect_uris: ['https://attacker.example/cb'], token_endpoint_auth_method: 'none' }),
  });
  assert.equal(reg.status, 201);
  const { client_id: id } = await reg.json();
  const c = new OAuthClient(env, { id, redirectUri: 'https://attacker.example/cb' });
  const page = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
  assert.match(page.html, /id="unverified"/, 'a self-registered "Example CLI" looks like the configured one');
  assert.match(page.html, /id="redirect-host">attacker\.example</);
});

test('AS: the consent page is not cacheable and its form token is bound to the request', async () => {
  const c = cli();
  const a = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
  const b = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
  const swapped = await ada.submit({ request: b.request, form_token: a.formToken, decision: 'approve' });
  assert.equal(swapped.status, 403, 'a form token for another request');
  const res = await ada.fetch(`${ORIGIN}/oauth/consent?request=${a.request}`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(callbackParams(await ada.decide(a, 'deny'), c.redirectUri).error, 'access_denied');
});

// ------------------------------------------------------------------------------------------------
// Gaps the mutation run found in the existing suites (these pass on the build under review)
// ------------------------------------------------------------------------------------------------

test('CIMD: IP-literal and local-name client ids are refused before any outbound request', async () => {
  // oauth-conformance counts fetches only for *.example hosts, so a fetch of 127.0.0.1 goes unseen there.
  for (const url of ['https://127.0.0.1/client.json', 'https://10.0.0.8/client.json', 'https://[::1]/client.json',
    'https://169.254.169.254/latest/meta-data.json', 'https://localhost/client.json', 'https://intranet/client.json']) {
    const before = hosts.seen.length;
    const res = await env.fetch(`/oauth/authorize?${cli().authorizeParams({ client_id: url, redirect_uri: 'http://127.0.0.1:43999/callback' })}`);
    assert.equal(res.status, 400, url);
    assert.deepEqual(hosts.seen.slice(before), [], `${url} was fetched`);
  }
});

test('CIMD: a redirect from the client_id URL is not followed, even to a valid document', async () => {
  const url = 'https://redirecting.example/client.json';
  const target = 'https://elsewhere.example/client.json';
  hosts.set(url, { status: 302, body: {}, headers: { location: target } });
  hosts.set(target, { body: doc(url) }); // a document that would pass every check
  const before = hosts.seen.length;
  const res = await env.fetch(`/oauth/authorize?${cli().authorizeParams({ client_id: url, redirect_uri: 'http://127.0.0.1:43999/callback' })}`);
  assert.equal(res.status, 400, `${res.status} ${res.headers.get('location')}`);
  assert.match((await res.json()).error_description, /redirect/);
  assert.deepEqual(hosts.seen.slice(before), [url], 'only the client_id URL itself was requested');
});

test('a client not registered for refresh tokens gets none at the code exchange', async () => {
  const url = 'https://no-refresh.example/client.json';
  hosts.set(url, { body: doc(url, { grant_types: ['authorization_code'] }) });
  const c = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43999/callback' });
  const t = await c.tokens(ada);
  assert.equal(t.refresh_token, undefined);
  const row = await env.query('SELECT expires_at - created_at AS ttl, refresh_allowed FROM sessions WHERE id = ?', jwtPart(t.access_token, 1).sid);
  assert.deepEqual(row, [{ ttl: 900, refresh_allowed: 0 }], 'the grant lives as long as its one access token');
});

test('checkMcpRequest refuses a correctly signed token for the resource that no OAuth client holds (defence in depth)', async () => {
  // A token with aud = the resource but no client_id/scope: cannot be minted today (OAUTH_RESOURCES may
  // not list JWT_AUDIENCE), so forge one with the test signing key on a live first-party session.
  const t = await cli().tokens(ada);
  const session = await env.resolved('createSession', { userId: jwtPart(t.access_token, 1).sub });
  const K = ed25519(TEST_SIGNING_KEY);
  const header = jwtPart(session.token, 0);
  const claims = { ...jwtPart(session.token, 1), aud: MCP_RESOURCE };
  assert.equal(forgeEdDSA(header, jwtPart(session.token, 1), K.privateKey), session.token, 'the forging is faithful');
  const forged = forgeEdDSA(header, claims, K.privateKey);
  const r = await env.resolved('checkMcpRequest', { token: forged, resource: MCP_RESOURCE, method: 'tools/list' });
  assert.equal(r.allowed, false);
  assert.equal(r.status, 401);
});

test('concurrent redemptions: exactly one winner per code, over many codes', async () => {
  // oauth-conformance's single 6-way race catches a non-atomic redemption only when the reads interleave.
  const c = cli();
  const codes = [];
  for (let i = 0; i < 4; i++) {
    const cb = await c.authorize(ada);
    codes.push({ code: cb.code, verifier: c.pkce.verifier });
  }
  const answers = await Promise.all(codes.flatMap(({ code, verifier }) =>
    Array.from({ length: 8 }, () => c.exchange(code, { code_verifier: verifier }).then((r) => ({ code, status: r.status, body: r.body })))));
  for (const { code } of codes) {
    const wins = answers.filter((a) => a.code === code && a.status === 200);
    assert.ok(wins.length <= 1, `${wins.length} redemptions of one code got tokens`);
    for (const w of wins) {
      assert.equal((await env.resolved('validateToken', w.body.access_token, { audience: MCP_RESOURCE })).valid, false, 'a raced grant is revoked');
    }
  }
});

test('CIMD: a client name with bidi/format characters is refused (consent-page spoofing)', async () => {
  const url = 'https://bidi.example/client.json';
  // Renders as "Claude (moc.elgoog.rekcatta)" reversed tail: U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE.
  hosts.set(url, { body: doc(url, { client_name: 'Claude\u200b \u202Emoc.ia.edualc' }) });
  const res = await env.fetch(`/oauth/authorize?${cli().authorizeParams({ client_id: url, redirect_uri: 'http://127.0.0.1:43999/callback' })}`);
  assert.equal(res.status, 400, `${res.status} ${res.headers.get('location')}`);
});
