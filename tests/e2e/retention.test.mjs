// Retention and the audit log: the cron trigger prunes what has outlived its documented lifetime, in
// bounded batches, and never what is still needed; admins read the audit log filtered and paged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, jsonLogin, bearer } from './harness.mjs';
import { expectError, readJson, nowSecs } from './helpers.mjs';

const DAY = 86400;
const BATCH = 3;
const BATCHES = 2;

let env;
before(async () => {
  env = await startEnv({
    vars: {
      RETENTION_BATCH_SIZE: String(BATCH),
      RETENTION_MAX_BATCHES: String(BATCHES),
      RETENTION_AUDIT_DAYS: '90',
      RETENTION_SESSIONS_DAYS: '30',
      RETENTION_WEBHOOK_EVENTS_DAYS: '35',
    },
  });
});
after(async () => env?.close());

let serial = 0;
/** A distinct, well-formed id of ours (`<prefix>_` + 26 lowercase base32 characters). */
const id = (prefix) => `${prefix}_${[...(++serial).toString(32).padStart(26, '0')].map((d) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(d, 32)]).join('')}`;

function oauthRequest(idHash, createdAt, expiresAt) {
  return env.query(`INSERT INTO oauth_requests (id_hash, client_id, client_name, redirect_uri, redirect_uri_given, code_challenge,
      resource, scope, refresh_allowed, created_at, expires_at) VALUES (?, 'c', 'C', 'https://a.test/cb', 1, 'x', 'http://mcp.local/mcp', 'notes:read', 1, ?, ?)`,
  idHash, createdAt, expiresAt);
}

function oauthCode(codeHash, userId, createdAt, expiresAt) {
  return env.query(`INSERT INTO oauth_codes (code_hash, client_id, client_name, redirect_uri, redirect_uri_given, code_challenge,
      resource, scope, refresh_allowed, user_id, created_at, expires_at) VALUES (?, 'c', 'C', 'https://a.test/cb', 1, 'x', 'http://mcp.local/mcp', 'notes:read', 1, ?, ?, ?)`,
  codeHash, userId, createdAt, expiresAt);
}

async function cron() {
  await (await env.mf.getWorker('auth')).scheduled({ cron: '*/5 * * * *' });
}

test('rows past their retention are pruned in bounded batches; rows still needed survive', async () => {
  const now = nowSecs();
  const person = await jsonLogin(env, { email: 'retained@example.test' });
  const userId = person.user.id;
  // Seven of each kind that may go, and the same kinds that must stay.
  for (let i = 0; i < 7; i++) {
    await env.query('INSERT INTO audit_events (id, at, action) VALUES (?, ?, ?)', id('aud'), now - 100 * DAY, 'test.old');
    await env.query('INSERT INTO webhook_events (id, event, source, processed_at) VALUES (?, ?, ?, ?)', `event_old_${i}`, 'user.created', 'webhook', now - 40 * DAY);
    await env.query('INSERT INTO login_flows (state_hash, return_to, created_at, expires_at) VALUES (?, ?, ?, ?)', `old_flow_${i}`, '/', now - 1000, now - 400);
    await oauthRequest(`old_request_${i}`, now - 1000, now - 400);
    await oauthCode(`old_code_${i}`, userId, now - 2 * DAY, now - 2 * DAY + 60);
    await env.query(
      `INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, expires_at, revoked_at)
       VALUES (?, ?, 'x', ?, ?, ?, ?)`, id('ses'), userId, now - 90 * DAY, now - 60 * DAY, now + 10 * DAY, now - 31 * DAY);
  }
  const keep = {
    audit: id('aud'), webhook: 'event_recent', flow: 'live_flow', endedRecently: id('ses'),
  };
  await env.query('INSERT INTO audit_events (id, at, action) VALUES (?, ?, ?)', keep.audit, now - 89 * DAY, 'test.recent');
  await env.query('INSERT INTO webhook_events (id, event, source, processed_at) VALUES (?, ?, ?, ?)', keep.webhook, 'user.created', 'webhook', now - 34 * DAY);
  await env.query('INSERT INTO login_flows (state_hash, return_to, created_at, expires_at) VALUES (?, ?, ?, ?)', keep.flow, '/', now, now + 600);
  await oauthRequest('live_request', now, now + 600);
  await oauthCode('recent_code', userId, now - 3600, now - 3600 + 60);
  await env.query(
    `INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, expires_at)
     VALUES (?, ?, 'x', ?, ?, ?)`, keep.endedRecently, userId, now - 60 * DAY, now - 29 * DAY, now - 29 * DAY);

  const counts = async () => ({
    audit: await env.count('audit_events', "action = 'test.old'"),
    webhook: await env.count('webhook_events', "id LIKE 'event_old_%'"),
    flows: await env.count('login_flows', "state_hash LIKE 'old_flow_%'"),
    sessions: await env.count('sessions', 'user_id = ? AND revoked_at IS NOT NULL', userId),
    requests: await env.count('oauth_requests', "id_hash LIKE 'old_request_%'"),
    codes: await env.count('oauth_codes', "code_hash LIKE 'old_code_%'"),
  });
  assert.deepEqual(await counts(), { audit: 7, webhook: 7, flows: 7, sessions: 7, requests: 7, codes: 7 });
  await cron();
  // One run deletes at most BATCH x BATCHES rows of each table.
  assert.deepEqual(await counts(), { audit: 1, webhook: 1, flows: 1, sessions: 1, requests: 1, codes: 1 });
  await cron();
  assert.deepEqual(await counts(), { audit: 0, webhook: 0, flows: 0, sessions: 0, requests: 0, codes: 0 });

  assert.equal(await env.count('audit_events', 'id = ?', keep.audit), 1, 'an audit row inside the audit period');
  assert.equal(await env.count('webhook_events', 'id = ?', keep.webhook), 1, 'an event id inside the de-duplication window');
  assert.equal(await env.count('login_flows', 'state_hash = ?', keep.flow), 1, 'a sign-in in progress');
  assert.equal(await env.count('oauth_requests', "id_hash = 'live_request'"), 1, 'an authorization waiting for consent');
  assert.equal(await env.count('oauth_codes', "code_hash = 'recent_code'"), 1, 'a code that expired within the day (replays still detected)');
  assert.equal(await env.count('sessions', 'id = ?', keep.endedRecently), 1, 'a session that ended inside the retention');
  assert.equal((await env.fetch('/auth/me', { headers: bearer(person.token) })).status, 200, 'the live session survived');
  const line = env.logs.filter((l) => l.includes('"msg":"retention"')).at(-1);
  assert.ok(line, 'the run logs what it deleted');
});

test('a retention shorter than the documented minimum is refused by name', async () => {
  const short = await startEnv({ vars: { RETENTION_AUDIT_DAYS: '30' } });
  try {
    const res = await short.fetch('/health');
    const b = await expectError(res, 500, 'server_misconfigured');
    assert.match(b.error_description, /RETENTION_AUDIT_DAYS/);
  } finally {
    await short.close();
  }
});

async function audit(token, query = '') {
  const res = await env.fetch(`/audit${query}`, { headers: bearer(token) });
  return { status: res.status, body: await readJson(res) };
}

test('GET /audit filters by user, action and time and pages with a cursor; it refuses non-admins', async () => {
  const admin = await jsonLogin(env, { email: 'auditor@example.test' });
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", admin.user.id);
  const subject = await jsonLogin(env, { email: 'audited@example.test' });
  // Five key creations by the subject: five api_key.created rows with them as actor.
  for (let i = 0; i < 5; i++) {
    const r = await env.fetch('/apikeys', { method: 'POST', headers: { ...bearer(subject.token), 'content-type': 'application/json' }, body: JSON.stringify({ name: `k${i}` }) });
    assert.equal(r.status, 201);
    await r.text();
  }
  const q = `?userId=${subject.user.id}&action=api_key.created&limit=2`;
  const pages = [];
  let cursor = '';
  for (let i = 0; i < 5; i++) {
    const page = await audit(admin.token, q + cursor);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    pages.push(page.body.events);
    if (!page.body.nextCursor) break;
    cursor = `&cursor=${encodeURIComponent(page.body.nextCursor)}`;
  }
  assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
  const all = pages.flat();
  assert.equal(new Set(all.map((e) => e.id)).size, 5, 'no row twice, none skipped');
  for (const e of all) {
    assert.equal(e.action, 'api_key.created');
    assert.equal(e.actorUserId, subject.user.id);
    assert.equal(typeof e.detail, 'object');
    assert.doesNotMatch(JSON.stringify(e), /sk_(live|test)_[0-9A-Za-z]{38}/, 'no key in the audit view');
  }
  const times = all.map((e) => Date.parse(e.at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  // A time range that ends before those rows finds none of them.
  const before = await audit(admin.token, `?userId=${subject.user.id}&to=2000-01-01T00:00:00Z`);
  assert.deepEqual(before.body.events, []);
  const since = await audit(admin.token, `?userId=${subject.user.id}&from=${nowSecs() - 3600}&action=api_key.created`);
  assert.equal(since.body.events.length, 5);

  const refused = await env.fetch('/audit', { headers: bearer(subject.token) });
  await expectError(refused, 403, 'forbidden');
  await expectError(await env.fetch('/audit'), 401, 'unauthenticated');
  await expectError(await env.fetch('/audit?limit=0', { headers: bearer(admin.token) }), 400, 'invalid_request');
  await expectError(await env.fetch('/audit?cursor=not-a-cursor', { headers: bearer(admin.token) }), 400, 'invalid_request');
  await expectError(await env.fetch('/audit?from=yesterday', { headers: bearer(admin.token) }), 400, 'invalid_request');
});
