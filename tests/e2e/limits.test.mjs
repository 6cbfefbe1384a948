// Abuse limits (Workers Rate Limiting bindings, as Miniflare runs them): a burst beyond a limit gets
// 429 rate_limited with Retry-After, and legitimate traffic from other actors is unaffected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, jsonLogin, bearer } from './harness.mjs';
import { expectError, readJson, forgeKey } from './helpers.mjs';

// Small limits so a test can cross them; every other limiter keeps its production value.
const LIMIT = 4;
// Every sign-in of this suite counts against the one address the harness sends from; the sign-in test
// uses addresses of its own.
const SIGN_IN_LIMIT = 40;
let env;
before(async () => {
  env = await startEnv({
    ratelimits: {
      RL_SIGN_IN: { limit: SIGN_IN_LIMIT, period: 60 },
      RL_REFRESH: { limit: LIMIT, period: 60 },
      RL_API_KEY_LOOKUP: { limit: LIMIT, period: 60 },
      RL_ACCOUNT_WRITE: { limit: LIMIT, period: 60 },
      RL_WEBHOOK: { limit: LIMIT, period: 60 },
    },
  });
});
after(async () => env?.close());

const from = (ip) => ({ 'cf-connecting-ip': ip });

async function expectLimited(res, what) {
  const b = await expectError(res, 429, 'rate_limited', what);
  assert.equal(res.headers.get('retry-after'), '60', `${what}: Retry-After`);
  return b;
}

test('sign-in starts are limited per client address; other addresses (and another /64) are not', async () => {
  for (let i = 0; i < SIGN_IN_LIMIT; i++) {
    const ok = await env.fetch('/login', { headers: from('203.0.113.10') });
    assert.equal(ok.status, 302, `attempt ${i + 1}`);
  }
  await expectLimited(await env.fetch('/login', { headers: from('203.0.113.10') }), 'one sign-in too many from one address');
  assert.equal((await env.fetch('/login', { headers: from('203.0.113.11') })).status, 302, 'another address');

  // IPv6: the whole /64 is one client; a different /64 is another.
  for (let i = 0; i < SIGN_IN_LIMIT; i++) {
    assert.equal((await env.fetch('/login', { headers: from(`2001:db8:aa:1::${(i + 1).toString(16)}`) })).status, 302);
  }
  await expectLimited(await env.fetch('/login', { headers: from('2001:db8:aa:1:ffff::9') }), 'same /64');
  assert.equal((await env.fetch('/login', { headers: from('2001:db8:aa:2::1') })).status, 302, 'another /64');
});

test('refreshes are limited per session; another session refreshes freely', async () => {
  let s = await jsonLogin(env, { email: 'refresher@example.test' });
  const other = await jsonLogin(env, { email: 'other-refresher@example.test' });
  const refresh = (token) => env.fetch('/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: token }) });
  for (let i = 0; i < LIMIT; i++) {
    const res = await refresh(s.refreshToken);
    const b = await readJson(res);
    assert.equal(res.status, 200, JSON.stringify(b));
    s = b;
  }
  await expectLimited(await refresh(s.refreshToken), 'refresh past the limit');
  const ok = await refresh(other.refreshToken);
  assert.equal(ok.status, 200, await ok.text());
  // Over the binding, the same limit answers the documented rejection.
  const rpc = await env.rpc('refreshSession', s.refreshToken);
  assert.equal(rpc.ok, false);
  assert.match(rpc.error, /^rate_limited: /);
});

test('guessed API keys are limited per client address before they cost a D1 lookup', async () => {
  const owner = await jsonLogin(env, { email: 'key-holder@example.test' });
  const created = await readJson(await env.fetch('/apikeys', {
    method: 'POST', headers: { ...bearer(owner.token), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'real' }),
  }));
  // Well-formed keys (valid checksum) that were never issued: each would be a D1 lookup.
  const guess = () => forgeKey('sk_live_');
  for (let i = 0; i < LIMIT; i++) {
    await expectError(await env.fetch('/auth/me', { headers: { ...bearer(guess()), ...from('198.51.100.7') } }), 401, 'invalid_api_key');
  }
  await expectLimited(await env.fetch('/auth/me', { headers: { ...bearer(guess()), ...from('198.51.100.7') } }), 'a 5th guess');
  const legit = await env.fetch('/auth/me', { headers: { ...bearer(created.key), ...from('198.51.100.8') } });
  assert.equal(legit.status, 200, 'the owner, from another address, is unaffected');
  await legit.text();
});

test('creating keys and sessions is limited per user, over HTTP and over the binding', async () => {
  const a = await jsonLogin(env, { email: 'busy-writer@example.test' });
  const b = await jsonLogin(env, { email: 'calm-writer@example.test' });
  for (let i = 0; i < LIMIT; i++) {
    const r = await env.rpc('createSession', { userId: a.user.id });
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  const limited = await env.rpc('createSession', { userId: a.user.id });
  assert.equal(limited.ok, false);
  assert.match(limited.error, /^rate_limited: /);
  const key = await env.rpc('createApiKey', { userId: a.user.id, name: 'one too many' });
  assert.equal(key.result.success, false);
  assert.equal(key.result.error, 'rate_limited');
  await expectLimited(await env.fetch('/apikeys', {
    method: 'POST', headers: { ...bearer(a.token), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'http' }),
  }), 'POST /apikeys past the limit');
  assert.equal((await env.rpc('createSession', { userId: b.user.id })).ok, true, 'another user is unaffected');
});

test('webhook deliveries are limited per source address', async () => {
  const deliver = (ip) => env.fetch('/webhooks/workos', { method: 'POST', headers: { ...from(ip), 'content-type': 'application/json' }, body: '{}' });
  for (let i = 0; i < LIMIT; i++) {
    await expectError(await deliver('192.0.2.50'), 401, 'invalid_signature');
  }
  await expectLimited(await deliver('192.0.2.50'), 'a 5th delivery');
  await expectError(await deliver('192.0.2.51'), 401, 'invalid_signature');
});
