// WorkOS sync: signed webhooks (tests/fixtures/workos-api.md §6) and the cron catch-up over the Events API (§7) keep
// users, organizations, memberships and sessions in step with WorkOS. Every event here is signed by
// the WorkOS stand-in (or, for attacks, deliberately signed wrong); effects are checked in D1 and
// through the AUTH_SERVICE binding (validateToken, checkPermission), which is what callers rely on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { startEnv, jsonLogin, bearer, sleep } from './harness.mjs';

const REFERENCE_SECRET = 'whsec_test_secret';
const REFERENCE_T = 1700000000000;
// Reference §6, byte for byte (one line, no trailing newline).
const REFERENCE_BODY =
  '{"id":"event_01EHZNVPK3SFK441A1RGBFSHRT","event":"user.created","data":{"object":"user","id":"user_01E4ZCR3C56J083X43JQXF3JK5","email":"marcelina.davis@example.com","email_verified":true,"first_name":"Marcelina","last_name":"Davis","profile_picture_url":null,"external_id":null,"metadata":{},"last_sign_in_at":null,"locale":null,"created_at":"2026-01-15T12:00:00.000Z","updated_at":"2026-01-15T12:00:00.000Z"},"created_at":"2026-01-15T12:00:00.000Z"}';
const REFERENCE_V1 = 'ad11ee463d8318b9323e2cec5dcb932f8e5c3e5a782295d287d17641a425181c';

// What the worker asks the Events API for (src/service/sync.rs EVENT_TYPES); session.created is not among them.
const HANDLED_TYPES = new Set(['user.created', 'user.updated', 'user.deleted', 'organization.created', 'organization.updated',
  'organization.deleted', 'organization_membership.created', 'organization_membership.updated', 'organization_membership.deleted',
  'session.revoked', 'dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted']);

let env;
let standin;
before(async () => {
  env = await startEnv({ variants: { 'refsecret.local': { WORKOS_WEBHOOK_SECRET: REFERENCE_SECRET } } });
  standin = env.standin;
});
after(async () => env?.close());

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

let seq = 0;
const unique = (tag) => `${tag}-${Date.now().toString(36)}-${++seq}`;
const email = (tag) => `${unique(tag)}@hooks.test`;
const eventId = () => `event_TEST${randomBytes(10).toString('hex').toUpperCase()}`;
const iso = (ms) => new Date(ms).toISOString();
const hmac = (secret, t, body) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t}.${body}`).digest('hex');

function post(body, headers = {}, host = '') {
  const url = host ? `http://${host}/webhooks/workos` : '/webhooks/workos';
  return env.fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

async function answer(res) {
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON: left null, callers assert on it */
  }
  return { status: res.status, body: json, text };
}

/** Signs (with the stand-in, like WorkOS) and delivers one event or raw body; resolves {status, body}. */
async function deliver(eventOrBody, signOptions = {}) {
  const { body, headers } = standin.signWebhook(eventOrBody, signOptions);
  return answer(await post(body, headers));
}

/** Delivers and insists on 200 with the given outcome. */
async function deliverExpect(event, outcome) {
  const r = await deliver(event);
  assert.equal(r.status, 200, `${event.event} ${event.id}: ${r.text}`);
  assert.deepEqual(r.body, { received: true, outcome }, `${event.event} ${event.id}`);
  return r;
}

/** The events the stand-in emitted while `fn` ran (what WorkOS would have sent). */
function emitted(fn) {
  const from = standin.events.length;
  const value = fn();
  return { value, events: standin.events.slice(from) };
}
function only(events, name) {
  const found = events.filter((e) => e.event === name);
  assert.equal(found.length, 1, `expected one ${name}, got ${events.map((e) => e.event).join(', ')}`);
  return found[0];
}
/** Runs a stand-in mutation and returns the one event of type `name` it emitted. */
const eventOf = (name, fn) => only(emitted(fn).events, name);

/** A hand-built envelope (for attacks and out-of-order deliveries the stand-in would not emit itself). */
const envelope = (event, data, id = eventId()) => ({ object: 'event', id, event, data, created_at: iso(Date.now()) });

function workosUser({ id = `user_TEST${randomBytes(8).toString('hex').toUpperCase()}`, mail = email('crafted'), first = 'Crafted', last = 'User', updatedMs = Date.now() } = {}) {
  return {
    object: 'user', id, email: mail, email_verified: true, first_name: first, last_name: last, profile_picture_url: null,
    external_id: null, metadata: {}, last_sign_in_at: null, locale: null, created_at: iso(updatedMs), updated_at: iso(updatedMs),
  };
}

async function snapshot() {
  return {
    users: await env.count('users'),
    webhook_events: await env.count('webhook_events'),
    audit_events: await env.count('audit_events'),
    organizations: await env.count('organizations'),
    organization_memberships: await env.count('organization_memberships'),
    revoked_sessions: await env.count('sessions', 'revoked_at IS NOT NULL'),
  };
}

async function userRow(workosId) {
  const rows = await env.query('SELECT * FROM users WHERE workos_id = ?', workosId);
  return rows[0] ?? null;
}

async function auditCount(action, targetId) {
  return env.count('audit_events', 'action = ? AND target_id = ?', action, targetId);
}

/** A WorkOS user and organization known locally (their created events delivered). */
async function syncedUser(tag, extra = {}) {
  const ev = eventOf('user.created', () => standin.addUser({ email: email(tag), firstName: 'Test', lastName: tag, ...extra }));
  await deliverExpect(ev, 'applied');
  const row = await userRow(ev.data.id);
  return { workos: ev.data, local: row };
}
async function syncedOrg(name) {
  const ev = eventOf('organization.created', () => standin.addOrganization({ name: `${name} ${unique('o')}` }));
  await deliverExpect(ev, 'applied');
  return ev.data;
}

/** Makes requests fail at the stand-in until the queued failures for `path` are used up. */
async function drainFailures(path) {
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${standin.url}${path}/drain`);
    await res.arrayBuffer();
    if (res.status !== 500) return;
  }
  assert.fail(`failures on ${path} never drained`);
}

/** Triggers the cron handler once and returns its summary log line. */
async function catchUp() {
  const from = env.logs.length;
  const worker = await env.mf.getWorker('auth');
  await worker.scheduled({ cron: '*/5 * * * *' });
  for (let i = 0; i < 40; i++) {
    const line = env.logs.slice(from).find((l) => l.includes('"msg":"events catch-up'));
    if (line) return JSON.parse(line.slice(line.indexOf('{')));
    await sleep(50);
  }
  assert.fail(`no catch-up log line; saw:\n${env.logs.slice(from).join('\n')}`);
}

async function cursor() {
  const rows = await env.query("SELECT value FROM sync_state WHERE name = 'workos_events_cursor'");
  return rows[0]?.value ?? null;
}

// ------------------------------------------------------------------------------------------------
// The reference test vector and signature checking
// ------------------------------------------------------------------------------------------------

test('the reference test vector: our HMAC reproduces its v1, and the worker applies that rule', async () => {
  // The rule of §6, computed here independently of the worker and of the stand-in.
  assert.equal(hmac(REFERENCE_SECRET, REFERENCE_T, REFERENCE_BODY), REFERENCE_V1);
  const signedByStandin = standin.signWebhook(REFERENCE_BODY, { timestampMs: REFERENCE_T, secret: REFERENCE_SECRET });
  assert.equal(signedByStandin.body, REFERENCE_BODY);
  assert.equal(signedByStandin.headers['workos-signature'], `t=${REFERENCE_T}, v1=${REFERENCE_V1}`);

  // The reference header itself is years old: refused as stale, nothing written.
  const before = await snapshot();
  const old = await answer(await post(REFERENCE_BODY, { 'workos-signature': `t=${REFERENCE_T}, v1=${REFERENCE_V1}` }, 'refsecret.local'));
  assert.equal(old.status, 401, old.text);
  assert.equal(old.body.error, 'invalid_signature');
  assert.deepEqual(await snapshot(), before);

  // The same bytes signed now, by the same rule, are accepted by the worker holding the reference secret.
  const t = Date.now();
  const fresh = await answer(await post(REFERENCE_BODY, { 'workos-signature': `t=${t}, v1=${hmac(REFERENCE_SECRET, t, REFERENCE_BODY)}` }, 'refsecret.local'));
  assert.equal(fresh.status, 200, fresh.text);
  assert.deepEqual(fresh.body, { received: true, outcome: 'applied' });
  const row = await userRow('user_01E4ZCR3C56J083X43JQXF3JK5');
  assert.ok(row, 'the reference user was created');
  assert.equal(row.email, 'marcelina.davis@example.com');
  assert.equal(row.first_name, 'Marcelina');
  assert.equal(await env.count('webhook_events', 'id = ?', 'event_01EHZNVPK3SFK441A1RGBFSHRT'), 1);

  // The main worker has a different secret: the reference signature means nothing to it.
  const t2 = Date.now();
  const other = await answer(await post(REFERENCE_BODY.replace('marcelina', 'marcelino'), { 'workos-signature': `t=${t2}, v1=${hmac(REFERENCE_SECRET, t2, REFERENCE_BODY.replace('marcelina', 'marcelino'))}` }));
  assert.equal(other.status, 401);
});

test('forged, stale, missing and malformed signatures are refused with 401 invalid_signature and nothing written', async () => {
  const now = Date.now();
  const signed = (opts) => standin.signWebhook(envelope('user.created', workosUser({ mail: email('forged') })), opts);
  const withHeader = (header) => {
    const { body } = signed();
    return { body, headers: header === undefined ? {} : { 'workos-signature': header } };
  };
  const good = signed();
  const goodMac = good.headers['workos-signature'].split('v1=')[1];
  const goodT = good.headers['workos-signature'].match(/^t=(\d+)/)[1];

  const cases = {
    'wrong secret': signed({ secret: 'whsec_attacker' }),
    'body altered after signing': { body: good.body.replace('"Crafted"', '"Mallory"'), headers: good.headers },
    'signature of another body': { body: signed().body, headers: good.headers },
    'timestamp altered after signing': { body: good.body, headers: { 'workos-signature': `t=${Number(goodT) + 1}, v1=${goodMac}` } },
    'signed 181 s in the past': signed({ timestampMs: now - 181_000 }),
    'signed 181 s in the future': signed({ timestampMs: now + 181_000 }),
    'missing header': withHeader(undefined),
    'empty header': withHeader(''),
    'garbage header': withHeader('not a signature'),
    'no timestamp': { body: good.body, headers: { 'workos-signature': `v1=${goodMac}` } },
    'no v1': { body: good.body, headers: { 'workos-signature': `t=${goodT}` } },
    'non-numeric timestamp': { body: good.body, headers: { 'workos-signature': `t=${goodT}abc, v1=${goodMac}` } },
    'negative timestamp': { body: good.body, headers: { 'workos-signature': `t=-${goodT}, v1=${goodMac}` } },
    'timestamp in seconds': (() => {
      const s = Math.floor(now / 1000);
      return { body: good.body, headers: { 'workos-signature': `t=${s}, v1=${hmac(standin.webhookSecret, s, good.body)}` } };
    })(),
    'two timestamps': { body: good.body, headers: { 'workos-signature': `t=${goodT}, t=${goodT}, v1=${goodMac}` } },
    'truncated v1': { body: good.body, headers: { 'workos-signature': `t=${goodT}, v1=${goodMac.slice(0, 63)}` } },
    'v1 not hex': { body: good.body, headers: { 'workos-signature': `t=${goodT}, v1=${'z'.repeat(64)}` } },
    'correct MAC under another scheme name': { body: good.body, headers: { 'workos-signature': `t=${goodT}, v0=${goodMac}` } },
    'header in a different header name': { body: good.body, headers: { 'x-workos-signature': good.headers['workos-signature'] } },
  };
  const before = await snapshot();
  for (const [name, { body, headers }] of Object.entries(cases)) {
    const r = await answer(await post(body, headers));
    assert.equal(r.status, 401, `${name}: ${r.status} ${r.text}`);
    assert.equal(r.body?.error, 'invalid_signature', name);
    assert.equal(typeof r.body.error_description, 'string', name);
  }
  assert.deepEqual(await snapshot(), before, 'a refused delivery wrote nothing');
  // The untouched original is still valid: the refusals above were about the tampering, not the event.
  const ok = await answer(await post(good.body, good.headers));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.outcome, 'applied');
});

test('a signature 170 s old or 170 s ahead is still inside the window', async () => {
  for (const offset of [-170_000, 170_000]) {
    const ev = envelope('user.created', workosUser({ mail: email('window') }));
    const r = await deliver(ev, { timestampMs: Date.now() + offset });
    assert.equal(r.status, 200, `offset ${offset}: ${r.text}`);
    assert.equal(r.body.outcome, 'applied');
  }
});

test('the signature header is split leniently: no space, extra spaces and a rotated second v1 are accepted', async () => {
  const variants = {
    'no space after comma': (t, mac) => `t=${t},v1=${mac}`,
    'extra spaces': (t, mac) => `  t=${t} ,   v1=${mac}  `,
    'v1 first': (t, mac) => `v1=${mac}, t=${t}`,
    'an old secret first, then the current one': (t, mac, body) => `t=${t}, v1=${hmac('whsec_previous', t, body)}, v1=${mac}`,
  };
  for (const [name, header] of Object.entries(variants)) {
    const ev = envelope('user.created', workosUser({ mail: email('spacing') }));
    const body = JSON.stringify(ev);
    const t = Date.now();
    const r = await answer(await post(body, { 'workos-signature': header(t, hmac(standin.webhookSecret, t, body), body) }));
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.deepEqual(r.body, { received: true, outcome: 'applied' }, name);
    assert.ok(await userRow(ev.data.id), `${name}: user written`);
  }
});

test('a body over 256 KiB is refused with 413 even when validly signed; a large one under the limit is applied', async () => {
  const before = await snapshot();
  const big = workosUser({ mail: email('big') });
  big.metadata = { padding: 'x'.repeat(257 * 1024) };
  const r = await deliver(envelope('user.created', big));
  assert.equal(r.status, 413, r.text);
  assert.equal(r.body.error, 'payload_too_large');
  const unsigned = await answer(await post('x'.repeat(300 * 1024)));
  assert.equal(unsigned.status, 413);
  assert.deepEqual(await snapshot(), before);

  const large = workosUser({ mail: email('large') });
  large.metadata = { padding: 'y'.repeat(200 * 1024) };
  const ok = await deliver(envelope('user.created', large));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.outcome, 'applied');
});

test('a valid signature over something that is not an event is refused with 400 and nothing written', async () => {
  const before = await snapshot();
  const notJson = await deliver('{"id":"event_TESTBROKEN","event":"user.created","data":');
  assert.equal(notJson.status, 400, notJson.text);
  assert.equal(notJson.body.error, 'invalid_json');

  // Signed, but naming `event` twice: which one counts depends on the reader, so none does.
  const twice = await deliver(`{"id":"event_TESTTWICE","event":"user.created","event":"user.deleted","data":${JSON.stringify(workosUser())}}`);
  assert.equal(twice.status, 400, twice.text);
  assert.equal(twice.body.error, 'invalid_json');

  const noId = await deliver(JSON.stringify({ event: 'user.created', data: workosUser() }));
  assert.equal(noId.status, 400, noId.text);
  assert.match(noId.body.error, /^invalid_(json|event)$/);

  const emptyId = await deliver(JSON.stringify({ id: '', event: 'user.created', data: workosUser() }));
  assert.equal(emptyId.status, 400, emptyId.text);
  assert.equal(emptyId.body.error, 'invalid_event');

  const badData = await deliver(envelope('user.created', { object: 'user', id: 'user_TESTNOEMAIL' }));
  assert.equal(badData.status, 400, badData.text);
  assert.equal(badData.body.error, 'invalid_event');
  assert.deepEqual(await snapshot(), before);
});

// ------------------------------------------------------------------------------------------------
// Each event type
// ------------------------------------------------------------------------------------------------

test('user.created inserts the user with WorkOS fields and local fields defaulted', async () => {
  const ev = eventOf('user.created', () => standin.addUser({ email: email('created'), firstName: 'Katherine', lastName: 'Johnson', emailVerified: false }));
  assert.equal(await userRow(ev.data.id), null);
  await deliverExpect(ev, 'applied');
  const row = await userRow(ev.data.id);
  assert.ok(row);
  assert.match(row.id, /^usr_/);
  assert.equal(row.email, ev.data.email);
  assert.equal(row.first_name, 'Katherine');
  assert.equal(row.last_name, 'Johnson');
  assert.equal(row.email_verified, 0);
  assert.equal(row.role, 'user');
  assert.equal(row.is_active, 1);
  assert.equal(row.last_login_at, null);
  assert.equal(row.workos_updated_ms, Date.parse(ev.data.updated_at));
  const [mark] = await env.query('SELECT * FROM webhook_events WHERE id = ?', ev.id);
  assert.equal(mark.event, 'user.created');
  assert.equal(mark.source, 'webhook');
  // A brand-new user gets nothing beyond what role 'user' grants (nothing by default).
  assert.equal(await env.may({ userId: row.id, resource: 'documents', action: 'read' }), false);
});

test('user.updated changes WorkOS-owned fields and keeps the local role', async () => {
  const { workos, local } = await syncedUser('updated');
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", local.id);
  const newEmail = email('renamed');
  const ev = eventOf('user.updated', () => standin.updateUser(workos.id, { firstName: 'Augusta', lastName: 'King', email: newEmail, emailVerified: false }));
  await deliverExpect(ev, 'applied');
  const row = await userRow(workos.id);
  assert.equal(row.id, local.id, 'same local user, not a new row');
  assert.equal(row.first_name, 'Augusta');
  assert.equal(row.last_name, 'King');
  assert.equal(row.email, newEmail);
  assert.equal(row.email_verified, 0);
  assert.equal(row.role, 'admin', 'the local role survives a WorkOS update');
  assert.equal(row.is_active, 1);
  assert.equal(row.workos_updated_ms, Date.parse(ev.data.updated_at));
  assert.equal(await env.may({ userId: local.id, resource: 'anything', action: 'delete' }), true, 'still admin');
});

test("user.deleted deactivates the user and cuts off that user's tokens and API keys through validateToken", async () => {
  const mail = email('deleted');
  const wu = standin.addUser({ email: mail, firstName: 'Doomed' });
  const login = await jsonLogin(env, { email: mail });
  const second = await jsonLogin(env, { email: mail });
  const created = await env.rpc('createApiKey', { userId: login.user.id, name: 'ci' });
  assert.equal(created.result?.success, true, JSON.stringify(created));
  const apiKey = created.result.apiKey.key;
  // A bystander keeps working.
  const bystander = await jsonLogin(env, { email: 'alan@example.test' });

  assert.equal((await env.validate(login.token)).valid, true);
  assert.equal((await env.validate(second.token)).valid, true);
  assert.equal((await env.validate(apiKey)).valid, true);

  const { events } = emitted(() => standin.deleteUser(wu.id));
  // Only user.deleted is delivered: it alone must be enough to cut the user off.
  await deliverExpect(only(events, 'user.deleted'), 'applied');

  const row = await userRow(wu.id);
  assert.equal(row.is_active, 0);
  assert.equal(await env.count('sessions', 'user_id = ? AND revoked_at IS NULL', login.user.id), 0);
  assert.equal(await env.count('sessions', "user_id = ? AND revoked_reason = 'user_deleted'", login.user.id), 2);
  assert.equal(await env.count('api_keys', 'user_id = ? AND revoked_at IS NULL', login.user.id), 0);
  assert.equal(await auditCount('user.deactivated', login.user.id), 1);

  for (const t of [login.token, second.token, apiKey]) {
    const v = await env.validate(t);
    assert.equal(v.valid, false, `still valid: ${JSON.stringify(v)}`);
  }
  const me = await env.fetch('/auth/me', { headers: bearer(login.token) });
  assert.equal(me.status, 401);
  const refreshed = await env.rpc('refreshSession', login.refreshToken);
  assert.equal(refreshed.ok, false, 'the refresh token is dead too');
  assert.equal(await env.may({ userId: login.user.id, resource: 'documents', action: 'read' }), false);
  assert.equal((await env.validate(bystander.token)).valid, true, 'other users are untouched');

  // A user.updated delayed past the deletion (newer timestamp even) does not bring the account back.
  const late = envelope('user.updated', { ...wu, first_name: 'Revived', updated_at: iso(Date.now() + 1000) });
  const r = await deliver(late);
  assert.equal(r.status, 200, r.text);
  assert.equal((await userRow(wu.id)).is_active, 0);
  assert.equal((await env.validate(apiKey)).valid, false);
  // Deleting a user WorkOS never told us about is acknowledged as unknown.
  await deliverExpect(envelope('user.deleted', workosUser()), 'unknown_user');
});

test('organization.created and organization.updated mirror the organization', async () => {
  const org = await syncedOrg('Initech');
  let [row] = await env.query('SELECT * FROM organizations WHERE id = ?', org.id);
  assert.equal(row.name, org.name);
  assert.equal(row.workos_updated_ms, Date.parse(org.updated_at));
  const ev = eventOf('organization.updated', () => standin.updateOrganization(org.id, { name: 'Initrode' }));
  await deliverExpect(ev, 'applied');
  [row] = await env.query('SELECT * FROM organizations WHERE id = ?', org.id);
  assert.equal(row.name, 'Initrode');
  assert.equal(row.workos_updated_ms, Date.parse(ev.data.updated_at));
});

test('organization.deleted removes the organization and cascades to its memberships and org-scoped sessions', async () => {
  const org = await syncedOrg('Umbrella');
  const { workos, local } = await syncedUser('orgdel');
  await deliverExpect(eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'member' })), 'applied');
  const scoped = await jsonLogin(env, { email: workos.email, organizationId: org.id });
  assert.equal((await env.validate(scoped.token)).valid, true);
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: org.id }), true);

  const { events } = emitted(() => standin.deleteOrganization(org.id));
  await deliverExpect(only(events, 'organization.deleted'), 'applied');
  assert.equal(await env.count('organizations', 'id = ?', org.id), 0);
  assert.equal(await env.count('organization_memberships', 'organization_id = ?', org.id), 0);
  assert.equal(await auditCount('organization.deleted', org.id), 1);
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), false);
  assert.equal((await env.validate(scoped.token)).valid, false, 'a session scoped to a deleted organization is over');
  assert.equal((await userRow(workos.id)).is_active, 1, 'the user outlives the organization');
});

test('a membership that goes inactive or is deleted ends the sessions scoped to that organization, and only those', async () => {
  const org = [...standin.organizations.values()].find((o) => o.name === 'Acme Corp');
  const mail = email('orgsess');
  const wu = standin.addUser({ email: mail });
  const m = standin.addMembership({ userId: wu.id, organizationId: org.id, role: 'member' });
  const scoped = await jsonLogin(env, { email: mail, organizationId: org.id });
  const plain = await jsonLogin(env, { email: mail });
  assert.equal((await env.validate(scoped.token)).user.organizationId, org.id);
  await deliverExpect(eventOf('organization_membership.updated', () => standin.updateMembership(m.id, { status: 'inactive' })), 'applied');
  assert.equal((await env.validate(scoped.token)).valid, false, 'a session in an organization the person left still validates');
  assert.equal((await env.rpc('refreshSession', scoped.refreshToken)).ok, false);
  assert.equal((await env.validate(plain.token)).valid, true);

  const again = standin.addMembership({ userId: wu.id, organizationId: [...standin.organizations.values()].find((o) => o.name === 'Globex').id, role: 'member' });
  const scoped2 = await jsonLogin(env, { email: mail, organizationId: again.organizationId ?? again.organization_id });
  await deliverExpect(eventOf('organization_membership.deleted', () => standin.deleteMembership(again.id)), 'applied');
  assert.equal((await env.validate(scoped2.token)).valid, false);
  assert.equal((await env.validate(plain.token)).valid, true);
});

test('a membership role change changes checkPermission in that organization, and only there', async () => {
  const org = await syncedOrg('Hooli');
  const other = await syncedOrg('Pied Piper');
  const { workos, local } = await syncedUser('member');
  const audits = () => env.count('audit_events', "action = 'membership.changed' AND target_id = ?", local.id);

  const m = eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'viewer' }));
  await deliverExpect(m, 'applied');
  const [row] = await env.query('SELECT * FROM organization_memberships WHERE id = ?', m.data.id);
  assert.equal(row.user_id, local.id);
  assert.equal(row.organization_id, org.id);
  assert.equal(row.role, 'viewer');
  assert.equal(row.status, 'active');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), true);
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: org.id }), false);
  assert.equal(await audits(), 1);

  await deliverExpect(eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { role: 'member' })), 'applied');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: org.id }), true, 'viewer → member grants write');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: other.id }), false, 'not in another organization');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'delete', organizationId: org.id }), false);
  assert.equal(await audits(), 2);
  const [detail] = await env.query("SELECT detail FROM audit_events WHERE action = 'membership.changed' AND target_id = ? ORDER BY at DESC, rowid DESC LIMIT 1", local.id);
  const d = JSON.parse(detail.detail);
  assert.equal(d.role, 'member');
  assert.equal(d.previous_role, 'viewer');
  assert.equal(d.organization_id, org.id);

  await deliverExpect(eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { status: 'inactive' })), 'applied');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), false, 'an inactive membership grants nothing');
  assert.equal(await audits(), 3);

  await deliverExpect(eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { status: 'active', role: 'admin' })), 'applied');
  assert.equal(await env.may({ userId: local.id, resource: 'billing', action: 'manage', organizationId: org.id }), true);
  assert.equal(await env.may({ userId: local.id, resource: 'billing', action: 'manage', organizationId: other.id }), false, 'an org admin is not a global admin');

  await deliverExpect(eventOf('organization_membership.deleted', () => standin.deleteMembership(m.data.id)), 'applied');
  assert.equal(await env.count('organization_memberships', 'id = ?', m.data.id), 0);
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), false, 'a deleted membership grants nothing');
  assert.equal(await auditCount('membership.deleted', local.id), 1);
  // Deleting it again (a different event for the same membership) changes nothing and audits nothing more.
  await deliverExpect(envelope('organization_membership.deleted', m.data), 'applied');
  assert.equal(await auditCount('membership.deleted', local.id), 1);
  assert.equal(await env.count('tombstones', 'id = ?', m.data.id), 1);
});

test('session.revoked revokes our session opened from that WorkOS session, within the cache bound', async () => {
  const mail = email('sess');
  standin.addUser({ email: mail });
  const victim = await jsonLogin(env, { email: mail });
  const bystander = await jsonLogin(env, { email: mail });
  const sessions = await env.query('SELECT id, workos_session_id FROM sessions WHERE user_id = ?', victim.user.id);
  assert.equal(sessions.length, 2);
  const victimSession = (await env.validate(victim.token)).session.id;
  const victimRow = sessions.find((s) => s.id === victimSession);
  assert.ok(victimRow?.workos_session_id, `session has a WorkOS session id: ${JSON.stringify(sessions)}`);
  assert.ok(standin.sessions.has(victimRow.workos_session_id));

  const ev = eventOf('session.revoked', () => standin.revokeSession(victimRow.workos_session_id));
  await deliverExpect(ev, 'applied');
  const [after] = await env.query('SELECT revoked_at, revoked_reason FROM sessions WHERE id = ?', victimSession);
  assert.ok(after.revoked_at);
  assert.equal(after.revoked_reason, 'workos_session_revoked');

  const deadline = Date.now() + 2500;
  let v = await env.validate(victim.token);
  while (v.valid && Date.now() < deadline) {
    await sleep(200);
    v = await env.validate(victim.token);
  }
  assert.equal(v.valid, false, 'the access token stopped working within the 2 s cache bound');
  assert.equal((await env.validate(bystander.token)).valid, true, 'the same user’s other WorkOS session is untouched');
  const refreshed = await env.rpc('refreshSession', victim.refreshToken);
  assert.equal(refreshed.ok, false);

  await deliverExpect(envelope('session.revoked', { object: 'session', id: 'session_TESTUNKNOWN', status: 'revoked' }), 'unknown_session');
});

/** Makes our user `userId` an active member of organization `orgId` (directly in D1). */
async function memberOf(userId, orgId) {
  await env.query('INSERT OR IGNORE INTO organizations (id, name, created_at, updated_at) VALUES (?, ?, 0, 0)', orgId, orgId);
  await env.query(
    "INSERT INTO organization_memberships (id, user_id, organization_id, role, status, created_at, updated_at) VALUES (?, ?, ?, 'member', 'active', 0, 0)",
    `om_${unique('m')}`, userId, orgId);
}

test('dsync.user.updated renames the local user matched by primary email, not by another listed email', async () => {
  const target = await syncedUser('dsync');
  const decoy = await syncedUser('decoy');
  const orgId = `org_${unique('dir')}`;
  await memberOf((await userRow(target.workos.id)).id, orgId);
  await memberOf((await userRow(decoy.workos.id)).id, orgId);
  const now = Date.now();
  const data = {
    object: 'directory_user', id: `directory_user_${unique('d')}`, directory_id: 'directory_TEST', organization_id: orgId,
    idp_id: 'idp-1', first_name: 'Dora', last_name: 'Directory', state: 'active', custom_attributes: {}, raw_attributes: {},
    emails: [{ primary: false, type: 'work', value: decoy.workos.email }, { primary: true, type: 'work', value: target.workos.email.toUpperCase() }],
    created_at: iso(now), updated_at: iso(now),
  };
  await deliverExpect(envelope('dsync.user.updated', data), 'applied');
  const t = await userRow(target.workos.id);
  assert.equal(t.first_name, 'Dora');
  assert.equal(t.last_name, 'Directory');
  assert.equal(t.email, target.workos.email, 'email stays with AuthKit');
  const d = await userRow(decoy.workos.id);
  assert.equal(d.first_name, decoy.workos.first_name);
  assert.equal(d.last_name, decoy.workos.last_name);
  await deliverExpect(envelope('dsync.user.updated', { ...data, emails: [{ primary: true, value: email('nobody') }] }), 'unknown_user');
});

test("dsync.user.deleted removes the person from that organization only: membership inactive, its sessions revoked, account kept", async () => {
  const mail = email('dsyncdel');
  const wu = standin.addUser({ email: mail });
  const inOrg = await jsonLogin(env, { email: mail });
  const elsewhere = await jsonLogin(env, { email: mail });
  const orgId = `org_${unique('dir')}`;
  await memberOf(inOrg.user.id, orgId);
  // The first session is scoped to the directory's organization.
  const sid = (await env.validate(inOrg.token)).session.id;
  await env.query('UPDATE sessions SET organization_id = ? WHERE id = ?', orgId, sid);
  const now = Date.now();
  const data = {
    object: 'directory_user', id: `directory_user_${unique('d')}`, directory_id: 'directory_TEST', organization_id: orgId, first_name: 'X', last_name: 'Y',
    state: 'inactive', emails: [{ primary: true, type: 'work', value: mail }], created_at: iso(now), updated_at: iso(now),
  };
  await deliverExpect(envelope('dsync.user.deleted', data), 'applied');
  const m = await env.query('SELECT status FROM organization_memberships WHERE user_id = ? AND organization_id = ?', inOrg.user.id, orgId);
  assert.equal(m[0].status, 'inactive');
  assert.equal(await env.count('sessions', 'id = ? AND revoked_at IS NOT NULL', sid), 1);
  assert.equal((await env.validate(inOrg.token)).valid, false, 'the org-scoped session still validates');
  assert.equal((await userRow(wu.id)).is_active, 1, 'one directory must not deactivate the whole account');
  assert.equal((await env.validate(elsewhere.token)).valid, true);
  assert.equal(await auditCount('membership.changed', inOrg.user.id), 1);
  await deliverExpect(envelope('dsync.user.deleted', data), 'already_inactive');
});

test("a directory cannot deactivate or rename a user who is not a member of its organization (cross-tenant)", async () => {
  const mail = email('victim');
  standin.addUser({ email: mail, firstName: 'Vera', lastName: 'Victim' });
  const login = await jsonLogin(env, { email: mail });
  await memberOf(login.user.id, `org_${unique('home')}`);
  const now = Date.now();
  const data = {
    object: 'directory_user', id: `directory_user_${unique('d')}`, directory_id: 'directory_EVIL', organization_id: `org_${unique('evil')}`,
    first_name: 'Pwned', last_name: 'User', state: 'inactive', emails: [{ primary: true, type: 'work', value: mail }],
    created_at: iso(now), updated_at: iso(now),
  };
  await deliverExpect(envelope('dsync.user.updated', data), 'not_an_organization_member');
  await deliverExpect(envelope('dsync.user.deleted', data), 'not_an_organization_member');
  await deliverExpect(envelope('dsync.user.deleted', { ...data, organization_id: undefined }), 'no_organization');
  const row = await env.query('SELECT is_active, first_name FROM users WHERE id = ?', login.user.id);
  assert.equal(row[0].is_active, 1);
  assert.equal(row[0].first_name, 'Vera');
  assert.equal((await env.validate(login.token)).valid, true);
});

test('an unknown event type is acknowledged with 200 ignored_event_type and recorded once', async () => {
  const before = await snapshot();
  const ev = envelope('dsync.group.created', { object: 'directory_group', id: 'directory_group_TEST', name: 'Engineers' });
  await deliverExpect(ev, 'ignored_event_type');
  await deliverExpect(envelope('connection.activated', { object: 'connection', id: 'conn_TEST' }), 'ignored_event_type');
  const afterSnap = await snapshot();
  assert.equal(afterSnap.webhook_events, before.webhook_events + 2);
  assert.deepEqual({ ...afterSnap, webhook_events: 0 }, { ...before, webhook_events: 0 }, 'no other effect');
  await deliverExpect(ev, 'duplicate');
});

// ------------------------------------------------------------------------------------------------
// Replays, ordering, failures
// ------------------------------------------------------------------------------------------------

test('a replayed event is answered duplicate and has no second effect', async () => {
  const org = await syncedOrg('Replay');
  const { workos, local } = await syncedUser('replay');
  const ev = eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'viewer' }));
  const { body, headers } = standin.signWebhook(ev);
  const first = await answer(await post(body, headers));
  assert.deepEqual(first.body, { received: true, outcome: 'applied' });
  const before = await snapshot();

  // The identical delivery (same bytes, same signature, still fresh) and a later redelivery.
  const again = await answer(await post(body, headers));
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { received: true, outcome: 'duplicate' });
  await deliverExpect(ev, 'duplicate');
  assert.deepEqual(await snapshot(), before);
  assert.equal(await env.count('webhook_events', 'id = ?', ev.id), 1);

  // Same event id carrying other data: the id was applied, so it is not applied again.
  const tampered = { ...ev, data: { ...ev.data, role: { slug: 'admin' }, updated_at: iso(Date.now() + 5000) } };
  await deliverExpect(tampered, 'duplicate');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: org.id }), false, 'still only a viewer');
  assert.deepEqual(await snapshot(), before);
});

test('an older user.updated arriving after a newer one is skipped as stale', async () => {
  const { workos } = await syncedUser('order');
  const older = eventOf('user.updated', () => standin.updateUser(workos.id, { firstName: 'First' }));
  const newer = eventOf('user.updated', () => standin.updateUser(workos.id, { firstName: 'Second', lastName: 'Newest' }));
  assert.ok(Date.parse(older.data.updated_at) < Date.parse(newer.data.updated_at));
  await deliverExpect(newer, 'applied');
  await deliverExpect(older, 'stale');
  const row = await userRow(workos.id);
  assert.equal(row.first_name, 'Second');
  assert.equal(row.last_name, 'Newest');
  assert.equal(row.workos_updated_ms, Date.parse(newer.data.updated_at));
  // The stale event is recorded, so its redelivery is a duplicate.
  await deliverExpect(older, 'duplicate');
});

test('an older organization.updated arriving after a newer one is skipped as stale', async () => {
  const org = await syncedOrg('Order');
  const older = eventOf('organization.updated', () => standin.updateOrganization(org.id, { name: 'Older name' }));
  const newer = eventOf('organization.updated', () => standin.updateOrganization(org.id, { name: 'Newer name' }));
  await deliverExpect(newer, 'applied');
  await deliverExpect(older, 'stale');
  const [row] = await env.query('SELECT name FROM organizations WHERE id = ?', org.id);
  assert.equal(row.name, 'Newer name');
});

test('an older membership update arriving after a newer one is skipped and grants nothing back', async () => {
  const org = await syncedOrg('Ordering');
  const { workos, local } = await syncedUser('morder');
  const m = eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'member' }));
  await deliverExpect(m, 'applied');
  const promoted = eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { role: 'admin' }));
  const demoted = eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { role: 'viewer' }));
  await deliverExpect(demoted, 'applied');
  const audits = await env.count('audit_events', "action = 'membership.changed' AND target_id = ?", local.id);
  await deliverExpect(promoted, 'stale');
  const [row] = await env.query('SELECT role, workos_updated_ms FROM organization_memberships WHERE id = ?', m.data.id);
  assert.equal(row.role, 'viewer');
  assert.equal(row.workos_updated_ms, Date.parse(demoted.data.updated_at));
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'write', organizationId: org.id }), false);
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), true);
  assert.equal(await env.count('audit_events', "action = 'membership.changed' AND target_id = ?", local.id), audits);
});

test('a membership deleted in WorkOS is not revived by an older update delivered late', async () => {
  const org = await syncedOrg('Tombstone');
  const { workos, local } = await syncedUser('revive');
  const m = eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'viewer' }));
  await deliverExpect(m, 'applied');
  const promoted = eventOf('organization_membership.updated', () => standin.updateMembership(m.data.id, { role: 'admin' }));
  const deleted = eventOf('organization_membership.deleted', () => standin.deleteMembership(m.data.id));
  await deliverExpect(deleted, 'applied');
  assert.equal(await env.may({ userId: local.id, resource: 'documents', action: 'read', organizationId: org.id }), false);
  // WorkOS retries the earlier update (delivery order is not guaranteed, §6).
  const r = await deliver(promoted);
  assert.equal(r.status, 200, r.text);
  assert.notEqual(r.body.outcome, 'applied', 'the late update must not apply');
  assert.equal(await env.count('organization_memberships', 'id = ?', m.data.id), 0, 'the deleted membership stays deleted');
  assert.equal(await env.may({ userId: local.id, resource: 'billing', action: 'manage', organizationId: org.id }), false, 'no admin rights from a removed membership');
});

test('a failure while applying answers 5xx and leaves nothing half-applied; redelivery then applies', async () => {
  // A member WorkOS never told us about, in an organization we have never seen: the worker must
  // fetch the user from WorkOS, and that fetch fails.
  const org = standin.addOrganization({ name: `Acme Rockets ${unique('o')}` });
  const wu = standin.addUser({ email: email('unknown-member'), firstName: 'Wile', lastName: 'Coyote' });
  const ev = eventOf('organization_membership.created', () => standin.addMembership({ userId: wu.id, organizationId: org.id, role: 'member' }));
  const before = await snapshot();
  standin.failNext('500', { path: '/user_management/users', times: 10 });
  try {
    const r = await deliver(ev);
    assert.ok(r.status >= 500 && r.status < 600, `expected 5xx so WorkOS retries, got ${r.status} ${r.text}`);
    assert.equal(typeof r.body?.error, 'string');
    assert.equal(await userRow(wu.id), null);
    assert.equal(await env.count('organizations', 'id = ?', org.id), 0);
    assert.equal(await env.count('organization_memberships', 'id = ?', ev.data.id), 0);
    assert.equal(await env.count('webhook_events', 'id = ?', ev.id), 0, 'not marked processed, so a retry is not a duplicate');
    assert.deepEqual(await snapshot(), before);
  } finally {
    await drainFailures('/user_management/users');
  }

  await deliverExpect(ev, 'applied');
  const row = await userRow(wu.id);
  assert.ok(row);
  assert.equal(row.first_name, 'Wile');
  assert.equal(row.is_active, 1);
  assert.equal(await env.count('organizations', 'id = ?', org.id), 1);
  const [mrow] = await env.query('SELECT * FROM organization_memberships WHERE id = ?', ev.data.id);
  assert.equal(mrow.user_id, row.id);
  assert.equal(mrow.role, 'member');
  assert.equal(await env.may({ userId: row.id, resource: 'documents', action: 'write', organizationId: org.id }), true);
  await deliverExpect(ev, 'duplicate');
});

// ------------------------------------------------------------------------------------------------
// Cron catch-up over the Events API
// ------------------------------------------------------------------------------------------------

test('the cron catch-up applies events the webhook path never saw and stores the last event id as cursor', async () => {
  const wu = standin.addUser({ email: email('cron'), firstName: 'Cron' });
  const org = standin.addOrganization({ name: `Cron Co ${unique('o')}` });
  const m = standin.addMembership({ userId: wu.id, organizationId: org.id, role: 'viewer' });
  standin.updateMembership(m.id, { role: 'member' });
  standin.updateUser(wu.id, { firstName: 'Cronos' });
  const last = standin.events.at(-1);
  assert.equal(await userRow(wu.id), null, 'nothing delivered yet');

  const summary = await catchUp();
  assert.equal(summary.level, 'info', JSON.stringify(summary));
  assert.ok(summary.applied >= 5, JSON.stringify(summary));
  assert.equal(summary.cursor, last.id);
  assert.equal(await cursor(), last.id);

  const row = await userRow(wu.id);
  assert.ok(row, 'user created from the Events API');
  assert.equal(row.first_name, 'Cronos');
  const [orgRow] = await env.query('SELECT name FROM organizations WHERE id = ?', org.id);
  assert.equal(orgRow?.name, org.name);
  const [mrow] = await env.query('SELECT role, status, user_id FROM organization_memberships WHERE id = ?', m.id);
  assert.equal(mrow.role, 'member');
  assert.equal(mrow.user_id, row.id);
  assert.equal(await env.may({ userId: row.id, resource: 'documents', action: 'write', organizationId: org.id }), true);
  assert.equal(await env.count('webhook_events', "id = ? AND source = 'events_api'", last.id), 1);
  // Every event of the handled types that WorkOS holds is now recorded exactly once.
  for (const e of standin.events.filter((x) => HANDLED_TYPES.has(x.event))) assert.equal(await env.count('webhook_events', 'id = ?', e.id), 1, `${e.event} ${e.id}`);
});

test('a second catch-up with nothing new applies nothing and keeps the cursor', async () => {
  const before = await snapshot();
  const c = await cursor();
  const summary = await catchUp();
  assert.equal(summary.level, 'info', JSON.stringify(summary));
  assert.equal(summary.applied, 0);
  assert.equal(summary.duplicates, 0);
  assert.equal(summary.skipped, 0);
  assert.equal(await cursor(), c);
  assert.deepEqual(await snapshot(), before);
});

test('the catch-up does not apply again what a webhook already delivered', async () => {
  const { workos, local } = await syncedUser('cronhook');
  const org = await syncedOrg('Cron Hook');
  const ev = eventOf('organization_membership.created', () => standin.addMembership({ userId: workos.id, organizationId: org.id, role: 'viewer' }));
  await deliverExpect(ev, 'applied');
  const before = await snapshot();
  const summary = await catchUp();
  assert.equal(summary.level, 'info', JSON.stringify(summary));
  assert.equal(summary.applied, 0, JSON.stringify(summary));
  assert.equal(summary.duplicates, 3, 'user.created, organization.created and the membership');
  assert.equal(await cursor(), ev.id);
  assert.deepEqual(await snapshot(), before, 'no second audit row, no second effect');
  const [mark] = await env.query('SELECT source FROM webhook_events WHERE id = ?', ev.id);
  assert.equal(mark.source, 'webhook');
  assert.equal(await auditCount('membership.changed', local.id), 1);
});

test('a catch-up where WorkOS fails mid-way keeps the cursor before the unapplied events, and the next run finishes', async () => {
  const start = await cursor();
  const org = standin.addOrganization({ name: `Midway ${unique('o')}` });
  const first = standin.addUser({ email: email('mid-first') });
  const orgEvent = standin.events.find((e) => e.event === 'organization.created' && e.data.id === org.id);
  const firstEvent = standin.events.at(-1);
  assert.equal(firstEvent.data.id, first.id);
  // A member the worker must fetch from WorkOS (no user.created for them).
  const hidden = standin.addUser({ email: email('mid-hidden'), firstName: 'Hidden' }, { silent: true });
  const membership = standin.addMembership({ userId: hidden.id, organizationId: org.id, role: 'member' });
  const later = standin.addUser({ email: email('mid-later') });
  const lastEvent = standin.events.at(-1);
  assert.ok(orgEvent.id > start);

  standin.failNext('500', { path: '/user_management/users', times: 10 });
  let failed;
  try {
    failed = await catchUp();
  } finally {
    await drainFailures('/user_management/users');
  }
  assert.equal(failed.level, 'error', JSON.stringify(failed));
  assert.ok(await userRow(first.id), 'the events before the failure were applied');
  assert.equal(await userRow(hidden.id), null);
  assert.equal(await userRow(later.id), null, 'nothing after the failing event was applied');
  assert.equal(await env.count('organization_memberships', 'id = ?', membership.id), 0);
  assert.equal(await cursor(), firstEvent.id, 'the cursor stops at the last applied event');

  const done = await catchUp();
  assert.equal(done.level, 'info', JSON.stringify(done));
  assert.equal(done.applied, 2);
  assert.equal(done.duplicates, 0, 'the events before the failure are not fetched again');
  assert.equal(await cursor(), lastEvent.id);
  const h = await userRow(hidden.id);
  assert.equal(h?.first_name, 'Hidden');
  assert.ok(await userRow(later.id));
  const [mrow] = await env.query('SELECT user_id, role FROM organization_memberships WHERE id = ?', membership.id);
  assert.equal(mrow?.user_id, h.id);
});

test('a membership event for a user WorkOS has since deleted does not block the catch-up forever', async () => {
  const org = standin.addOrganization({ name: `Gone ${unique('o')}` });
  const gone = standin.addUser({ email: email('gone'), firstName: 'Gone' }, { silent: true });
  standin.addMembership({ userId: gone.id, organizationId: org.id, role: 'member' });
  standin.deleteUser(gone.id); // WorkOS now answers 404 for this user
  const after = standin.addUser({ email: email('after-gone') });
  const lastEvent = standin.events.at(-1);

  const first = await catchUp();
  const second = first.level === 'info' ? first : await catchUp();
  assert.equal(second.level, 'info', `the catch-up is stuck: ${JSON.stringify(second)}`);
  assert.ok(await userRow(after.id), 'events after the one naming a deleted user are applied');
  assert.equal(await cursor(), lastEvent.id);
});
