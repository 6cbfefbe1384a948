// Under concurrency nothing fails or forks: many first sign-ins of the same people at once (one of
// them into an organization), a thousand token validations at once, and forty refreshes at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, jsonLogin, bearer } from './harness.mjs';
import { readJson, seedId } from './helpers.mjs';

const ACME = seedId('org', 'ACME');
const ADA = seedId('user', 'ADA');

// Calls validateToken for every token at once, from inside workerd.
const BURST = {
  name: 'burst',
  modules: true,
  compatibilityDate: '2026-04-01',
  serviceBindings: { AUTH_SERVICE: 'auth' },
  routes: ['burst.local/*'],
  script: `export default { async fetch(req, env) {
    const { tokens } = await req.json();
    const results = await Promise.all(tokens.map((t) => env.AUTH_SERVICE.validateToken(t).catch((e) => ({ valid: false, error: String(e) }))));
    return Response.json(results);
  } }`,
};

let env;
before(async () => {
  env = await startEnv({ extraWorkers: [BURST] });
});
after(async () => env?.close());

test('40 sign-ins at once, several people signing in for the first time, all succeed with one user row each', async () => {
  const people = ['first-a@example.test', 'first-b@example.test', 'first-c@example.test'];
  const logins = [];
  for (let i = 0; i < 40; i++) {
    // Every fifth is Ada into Acme, whose membership row is written by her first sign-in.
    logins.push(i % 5 === 0 ? { userId: ADA, organizationId: ACME } : { email: people[i % people.length] });
  }
  const settled = await Promise.allSettled(logins.map((l) => jsonLogin(env, l)));
  const failures = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason?.message ?? s.reason));
  assert.deepEqual(failures, [], 'every sign-in must succeed');
  for (const email of [...people, 'ada@acme.test']) {
    assert.equal(await env.count('users', 'email = ?', email), 1, `one user row for ${email}`);
  }
  const sessions = settled.map((s) => s.value);
  // Every token names the user row that is stored, and validates.
  for (const s of sessions) {
    const [row] = await env.query('SELECT id FROM users WHERE email = ?', s.user.email);
    assert.equal(s.user.id, row.id);
  }
  const [ada] = await env.query('SELECT id FROM users WHERE email = ?', 'ada@acme.test');
  assert.equal(await env.count('organization_memberships', 'user_id = ? AND organization_id = ?', ada.id, ACME), 1);
  assert.equal(await env.count('sessions', 'user_id IN (SELECT id FROM users WHERE email IN (?, ?, ?, ?))', ...people, 'ada@acme.test'), 40);
  assert.ok(!env.logs.some((l) => l.includes('"status":500')), 'no request failed with 500');
});

test('1,000 validations at once all answer valid', async () => {
  const sessions = await Promise.all(Array.from({ length: 20 }, (_, i) => jsonLogin(env, { email: `burst-${i}@example.test` })));
  const tokens = Array.from({ length: 1000 }, (_, i) => sessions[i % sessions.length].token);
  const res = await env.mf.dispatchFetch('http://burst.local/', { method: 'POST', body: JSON.stringify({ tokens }) });
  const results = await readJson(res);
  assert.equal(results.length, 1000);
  const invalid = results.filter((r) => r.valid !== true);
  assert.deepEqual(invalid.slice(0, 3), [], `${invalid.length} of 1000 were not valid`);
});

test('40 refreshes of 40 sessions at once all succeed and each session rotates once', async () => {
  const sessions = await Promise.all(Array.from({ length: 40 }, (_, i) => jsonLogin(env, { email: `refresh-${i % 8}@example.test` })));
  const answers = await Promise.all(sessions.map((s) => env.fetch('/auth/refresh', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: s.refreshToken }),
  })));
  const bodies = await Promise.all(answers.map(readJson));
  answers.forEach((r, i) => assert.equal(r.status, 200, JSON.stringify(bodies[i])));
  for (const b of bodies) {
    const me = await env.fetch('/auth/me', { headers: bearer(b.token) });
    assert.equal(me.status, 200);
    await me.text();
  }
  assert.equal(await env.count('audit_events', "action = 'session.refresh_reuse_detected'"), 0);
});
