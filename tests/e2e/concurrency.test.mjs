// Under concurrency nothing fails or forks: many first sign-ins of the same people at once (one of
// them into an organization), a thousand token validations at once, and forty refreshes at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, jsonLogin, bearer, upToCallback } from './harness.mjs';
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
  // Two of them are members of an organization they sign in to: their first sign-in writes the user,
  // the membership and the session together.
  const org = env.standin.addOrganization({ name: 'Racing Corp' }, { silent: true });
  const members = people.slice(0, 2).map((email) => env.standin.addUser({ email }, { silent: true }));
  for (const m of members) env.standin.addMembership({ userId: m.id, organizationId: org.id, role: 'member' }, { silent: true });
  const logins = [];
  for (let i = 0; i < 40; i++) {
    const who = i % 4;
    // Ada into Acme (her membership row is written by her first sign-in too), the two members into
    // their organization, the third person without one.
    logins.push(who === 0 ? { userId: ADA, organizationId: ACME }
      : who === 3 ? { email: people[2] }
        : { userId: members[who - 1].id, organizationId: org.id });
  }
  // Each sign-in up to its callback one after another (the stand-in's login queue is first in, first
  // out), then all 40 callbacks at the same moment: that is where first sign-ins race each other.
  const callbacks = [];
  for (const login of logins) callbacks.push(await upToCallback(env, login));
  // WorkOS answers all 40 code exchanges at the same moment, then the 30 membership reads of the
  // organization sign-ins: every sign-in reaches its writes together with the others of its kind.
  env.standin.holdTogether('/user_management/organization_memberships', 30);
  env.standin.holdTogether('/user_management/authenticate', 40);
  const answers = await Promise.all(callbacks.map(({ url, cookie }) => env.fetch(url, { headers: { cookie, accept: 'application/json' } })));
  const bodies = await Promise.all(answers.map(readJson));
  const failures = answers.map((r, i) => r.status === 200 ? null : `${r.status} ${JSON.stringify(bodies[i])}`).filter(Boolean);
  assert.deepEqual(failures, [], 'every sign-in must succeed');
  const settled = bodies.map((value) => ({ value }));
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
