// Tokens anyone can verify: EdDSA access tokens whose public keys are in a JWKS, checked here with
// `jose` alone (no shared secret); key rotation in which nobody is logged out; audiences; and the
// forgeries a verifier must refuse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify, calculateJwkThumbprint } from 'jose';
import { startEnv, jsonLogin, bearer, ORIGIN } from './harness.mjs';
import {
  TEST_JWT_SECRET, TEST_SIGNING_KEY, TEST_SIGNING_KEY_2, TEST_SIGNING_KEY_3,
  ed25519, forge, forgeEdDSA, accessHeader, jwtPart, b64u, expectError, readJson,
} from './helpers.mjs';

const K1 = ed25519(TEST_SIGNING_KEY);
const K2 = ed25519(TEST_SIGNING_KEY_2);
const K3 = ed25519(TEST_SIGNING_KEY_3);

// The stages of a key rotation and of the move from HS256, each an instance of the build on the same
// D1 database (a deployment while its isolates roll over). The main instance signs with K1.
const VARIANTS = {
  'next.local': { JWT_SIGNING_KEY_NEXT: TEST_SIGNING_KEY_2 }, // 1. K2 published, K1 still signs
  'rotated.local': { JWT_SIGNING_KEY: TEST_SIGNING_KEY_2, JWT_SIGNING_KEY_PREVIOUS: TEST_SIGNING_KEY }, // 2. K2 signs, K1 accepted
  'done.local': { JWT_SIGNING_KEY: TEST_SIGNING_KEY_2, JWT_SECRET: undefined }, // 3. K1 removed, HS256 retired
  'hs256.local': { JWT_SIGNING_KEY: undefined }, // before the move: JWT_SECRET alone signs (HS256)
};

let env;
let base;
before(async () => {
  env = await startEnv({ variants: VARIANTS });
  base = await env.mf.ready; // a real loopback URL of the auth worker, for jose's own fetch
});
after(async () => env?.close());

const me = (token, host = ORIGIN) => env.fetch(`${host}/auth/me`, { headers: bearer(token) });
const jwksOf = async (host) => (await readJson(await env.fetch(`${host}/.well-known/jwks.json`))).keys;

test('jose verifies our access tokens offline from the published JWKS, with issuer and audience', async () => {
  const { token, user } = await jsonLogin(env, { email: 'offline@example.test' });
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', base));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: ORIGIN, audience: ORIGIN, typ: 'at+jwt', algorithms: ['EdDSA'],
  });
  assert.equal(payload.sub, user.id);
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.equal(protectedHeader.kid, K1.kid);
  assert.ok(payload.exp - payload.iat === 900, 'the default lifetime is 15 minutes');
  await assert.rejects(jwtVerify(token, jwks, { issuer: ORIGIN, audience: 'https://mcp.example.test/mcp' }), /aud/);
});

test('the JWKS holds only public Ed25519 keys named by their RFC 7638 thumbprint, cacheable for 10 minutes', async () => {
  const res = await env.fetch('/.well-known/jwks.json');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=600');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const { keys } = await readJson(res);
  assert.equal(keys.length, 1);
  const [k] = keys;
  assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  assert.deepEqual([k.kty, k.crv, k.alg, k.use, k.x], ['OKP', 'Ed25519', 'EdDSA', 'sig', K1.x]);
  assert.equal(k.kid, await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: k.x }));
  // An HS256-only deployment publishes nothing: its secret is never a public key.
  assert.deepEqual(await jwksOf('http://hs256.local'), []);
  const meta = await readJson(await env.fetch('/.well-known/oauth-authorization-server'));
  assert.equal(meta.issuer, ORIGIN);
  assert.equal(meta.jwks_uri, `${ORIGIN}/.well-known/jwks.json`);
});

test('rotation: NEXT is published before it signs, PREVIOUS verifies until removed, nobody is logged out', async () => {
  // Stage 1: K2 appears in the JWKS while every token is still signed with K1.
  assert.deepEqual((await jwksOf('http://next.local')).map((k) => k.kid), [K1.kid, K2.kid]);
  const session = await jsonLogin(env, { email: 'rotating-keys@example.test' });
  assert.equal(jwtPart(session.token, 0).kid, K1.kid);
  const fromNext = await readJson(await env.fetch('http://next.local/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: session.refreshToken }),
  }));
  assert.equal(jwtPart(fromNext.token, 0).kid, K1.kid, 'NEXT signed before it was promoted');

  // Stage 2: K2 signs; tokens signed with K1 still verify, and stage-1 isolates already verify K2.
  assert.deepEqual((await jwksOf('http://rotated.local')).map((k) => k.kid), [K2.kid, K1.kid]);
  assert.equal((await me(fromNext.token, 'http://rotated.local')).status, 200, 'a K1 token after the promotion');
  const promoted = await readJson(await env.fetch('http://rotated.local/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: fromNext.refreshToken }),
  }));
  assert.equal(jwtPart(promoted.token, 0).kid, K2.kid);
  assert.equal((await me(promoted.token, 'http://next.local')).status, 200, 'an isolate still at stage 1 verifies K2');
  assert.equal((await me(promoted.token)).status, 401, 'an isolate that never published K2 does not');

  // Stage 3: K1 removed. Its tokens stop verifying; the session itself lives on through refresh.
  await expectError(await me(fromNext.token, 'http://done.local'), 401, 'invalid_token');
  assert.equal((await me(promoted.token, 'http://done.local')).status, 200);
  const later = await env.fetch('http://done.local/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: promoted.refreshToken }),
  });
  assert.equal(later.status, 200, 'the refresh token outlived every access-key change');
  await later.text();
});

test('from HS256 to EdDSA: HS256 tokens keep working while JWT_SECRET is configured, new ones are EdDSA', async () => {
  const old = await readJson(await env.fetch('http://hs256.local/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken: (await jsonLogin(env, { email: 'migrating@example.test' })).refreshToken }),
  }));
  assert.equal(jwtPart(old.token, 0).alg, 'HS256');
  assert.equal((await me(old.token, 'http://hs256.local')).status, 200);
  assert.equal((await me(old.token)).status, 200, 'an HS256 token on the EdDSA deployment that keeps JWT_SECRET');
  await expectError(await me(old.token, 'http://done.local'), 401, 'invalid_token', 'after JWT_SECRET is removed');
  const moved = await readJson(await env.fetch('/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: old.refreshToken }),
  }));
  assert.equal(jwtPart(moved.token, 0).alg, 'EdDSA');
});

test('forged, confused and misdirected tokens are refused over HTTP and over the binding', async () => {
  const { token, refreshToken } = await jsonLogin(env, { email: 'target@example.test' });
  const claims = jwtPart(token, 1);
  const header = jwtPart(token, 0);
  const [h, p] = token.split('.');
  const publicKeyBytes = Buffer.from(K1.x, 'base64url');
  const cases = {
    'HS256 made with the public key, under the EdDSA kid': forge({ ...header, alg: 'HS256' }, claims, publicKeyBytes),
    'HS256 made with JWT_SECRET, under the EdDSA kid': forge({ ...header, alg: 'HS256' }, claims, TEST_JWT_SECRET),
    'alg none': `${b64u({ ...header, alg: 'none' })}.${p}.`,
    'RS256 claimed': `${b64u({ ...header, alg: 'RS256' })}.${p}.${token.split('.')[2]}`,
    'unknown kid (a key we never had)': forgeEdDSA({ ...header, kid: K3.kid }, claims, K3.privateKey),
    'our kid, another key': forgeEdDSA(header, claims, K3.privateKey),
    'crit': forgeEdDSA({ ...header, crit: ['exp'], exp: 1 }, claims, K1.privateKey),
    'embedded jwk': forgeEdDSA({ ...header, jwk: { kty: 'OKP', crv: 'Ed25519', x: K3.x } }, claims, K1.privateKey),
    'elevated role': `${h}.${b64u({ ...claims, role: 'admin' })}.${token.split('.')[2]}`,
    'oversized': forgeEdDSA(header, { ...claims, pad: 'x'.repeat(5000) }, K1.privateKey),
    'refresh token as access token': refreshToken,
    'wrong audience': forgeEdDSA(header, { ...claims, aud: 'https://mcp.example.test/mcp' }, K1.privateKey),
    'HS256 access header on a refresh token': forge(accessHeader(), jwtPart(refreshToken, 1), TEST_JWT_SECRET),
  };
  // The forging is faithful: re-signing the real claims with the real key gives the real token.
  assert.equal(forgeEdDSA(header, claims, K1.privateKey), token);
  for (const [why, t] of Object.entries(cases)) {
    const res = await me(t);
    assert.equal(res.status, 401, `${why}: ${res.status}`);
    await res.text();
    const v = await env.validate(t);
    assert.equal(v.valid, false, `${why} validated over the binding`);
  }
});

test('validateToken checks the audience exactly when the caller names one', async () => {
  const { token } = await jsonLogin(env, { email: 'audience@example.test' });
  assert.equal((await env.validate(token)).valid, true);
  assert.equal((await env.resolved('validateToken', token, { audience: ORIGIN })).valid, true);
  for (const audience of ['https://mcp.example.test/mcp', `${ORIGIN}/`, ORIGIN.toUpperCase(), 'http://localhost']) {
    assert.deepEqual(await env.resolved('validateToken', token, { audience }), { valid: false, error: 'invalid_token' }, audience);
  }
  // A token made for an MCP server is not good for this worker's own routes or default callers.
  const mcp = forgeEdDSA(jwtPart(token, 0), { ...jwtPart(token, 1), aud: 'https://mcp.example.test/mcp' }, K1.privateKey);
  assert.equal((await env.resolved('validateToken', mcp, { audience: 'https://mcp.example.test/mcp' })).valid, true);
  assert.equal((await env.validate(mcp)).valid, false);
  assert.equal((await me(mcp)).status, 401);
  // An API key has no audience: only the default one accepts it.
  const key = (await env.call('POST', '/apikeys', token, { name: 'audience key' })).body.key;
  assert.equal((await env.validate(key)).valid, true);
  assert.equal((await env.resolved('validateToken', key, { audience: 'https://mcp.example.test/mcp' })).valid, false);
  assert.equal((await env.rpc('validateToken', token, { audience: 42 })).result.error, 'invalid_request');
});
