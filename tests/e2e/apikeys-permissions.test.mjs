// API keys and permissions, end to end in workerd: the key lifecycle (create → use → list → revoke),
// how keys are stored (hash only), expiry, malformed keys refused before any D1 query, scopes as a
// ceiling that no key can widen, and direct grants / membership roles / wildcards taking effect
// through the same checkPermission that consumer workers call over the service binding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, jsonLogin, signInCast, bearer, sleep } from './harness.mjs';
import { sha256hex, expectError, forgeKey, checksum } from './helpers.mjs';

let env;
/** Signed-in people (see signInCast, plus kim and oscar): {token, refreshToken, user} by name. */
let who;
let acme;
let globex;

before(async () => {
  // nodb.local: the same build and config, but its D1 database has no tables: any query it makes
  // fails (500). A credential it refuses with 401 was therefore refused without touching D1.
  env = await startEnv({ variants: { 'nodb.local': { DB: 'auth-e2e-no-tables' } } });
  ({ who, acme, globex } = await signInCast(env, ['kim@example.test', 'oscar@example.test']));
});
after(async () => env?.close());

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

async function createKey(credential, body) {
  const r = await env.call('POST', '/apikeys', credential, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

const me = (credential) => env.call('GET', '/auth/me', credential);
const grant = (credential, body) => env.call('POST', '/permissions', credential, body);

/** One body character changed, checksum left alone: a typo. */
function corrupt(key) {
  const i = 20;
  const c = key[i] === 'a' ? 'b' : 'a';
  return key.slice(0, i) + c + key.slice(i + 1);
}
/** One body character changed and the checksum recomputed: well-formed, but not a key we issued. */
function mutateAndRecompute(key) {
  const prefix = key.slice(0, 8);
  const body = key.slice(8, 40);
  const changed = body.slice(0, 5) + (body[5] === 'Z' ? 'Y' : 'Z') + body.slice(6);
  return forgeKey(prefix, changed);
}

async function keyRow(id) {
  const rows = await env.query('SELECT * FROM api_keys WHERE id = ?', id);
  assert.equal(rows.length, 1, `no api_keys row ${id}`);
  return rows[0];
}

async function waitFor(fn, { timeoutMs = 3000, stepMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(stepMs);
  }
}

// ------------------------------------------------------------------------------------------------
// Key lifecycle
// ------------------------------------------------------------------------------------------------

test('a created key authenticates /auth/me, is listed by its start only, and stops working once revoked', async () => {
  const created = await createKey(who.kim.token, { name: 'CI deploys' });
  // The suite runs with ENVIRONMENT=development, whose keys are test keys unless asked otherwise.
  assert.match(created.key, /^sk_test_[0-9A-Za-z]{38}$/);
  assert.equal(created.key.length, 46);
  assert.equal(created.prefix, 'sk_test_');
  assert.equal(created.start, created.key.slice(0, 12));
  assert.equal(created.name, 'CI deploys');
  assert.equal(created.scopes, null);
  assert.equal(created.lastUsedAt, null);
  assert.match(created.id, /\S/);
  const days = (Date.parse(created.expiresAt) - Date.parse(created.createdAt)) / 86400e3;
  assert.ok(Math.abs(days - 90) < 0.01, `default expiry is 90 days, got ${days}`);

  const used = await me(created.key);
  assert.equal(used.status, 200, JSON.stringify(used.body));
  assert.equal(used.body.user.id, who.kim.user.id);
  assert.equal(used.body.user.email, 'kim@example.test');
  assert.equal(used.body.session, null);
  assert.equal(used.body.organizationId, null);
  assert.deepEqual(used.body.apiKey, { id: created.id, name: 'CI deploys', scopes: null });

  const list = await env.call('GET', '/apikeys', who.kim.token);
  assert.equal(list.status, 200);
  const listed = list.body.apiKeys.find((k) => k.id === created.id);
  assert.ok(listed, 'the new key is listed');
  assert.equal(listed.start, created.start);
  assert.equal(listed.prefix, 'sk_test_');
  assert.equal(listed.name, 'CI deploys');
  assert.equal('key' in listed, false, 'a listing never carries the key');
  const text = JSON.stringify(list.body);
  assert.ok(!text.includes(created.key), 'listing contains the key');
  assert.ok(!text.includes(created.key.slice(12)), 'listing contains the secret part of the key');
  assert.ok(!text.includes(sha256hex(created.key)), 'listing contains the key hash');

  const revoked = await env.call('DELETE', `/apikeys/${created.id}`, who.kim.token);
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.deepEqual(revoked.body, { revoked: true, id: created.id });

  await expectError(await me(created.key), 401, 'api_key_revoked', 'revoked key on /auth/me');
  assert.deepEqual(await env.validate(created.key), { valid: false, error: 'api_key_revoked' });
  const after = await env.call('GET', '/apikeys', who.kim.token);
  assert.ok(!after.body.apiKeys.some((k) => k.id === created.id), 'a revoked key is no longer listed');
  assert.ok((await keyRow(created.id)).revoked_at > 0);
});

test('creating and revoking a key each leave one audit row, and revoking twice is harmless', async () => {
  const created = await createKey(who.kim.token, { name: 'audited' });
  const createdRows = await env.query(
    "SELECT * FROM audit_events WHERE action = 'api_key.created' AND target_id = ?", created.id);
  assert.equal(createdRows.length, 1);
  assert.equal(createdRows[0].actor_user_id, who.kim.user.id);
  assert.equal(createdRows[0].target_type, 'api_key');
  assert.ok(!String(createdRows[0].detail).includes(created.key.slice(12)), 'the audit row holds the key');

  const first = await env.call('DELETE', `/apikeys/${created.id}`, who.kim.token);
  assert.equal(first.status, 200);
  const revokedAt = (await keyRow(created.id)).revoked_at;
  const second = await env.call('DELETE', `/apikeys/${created.id}`, who.kim.token);
  assert.equal(second.status, 200, `second revoke: ${JSON.stringify(second.body)}`);
  assert.deepEqual(second.body, { revoked: true, id: created.id });
  assert.equal((await keyRow(created.id)).revoked_at, revokedAt, 'a second revoke rewrites revoked_at');
  assert.equal(await env.count('audit_events', "action = 'api_key.revoked' AND target_id = ?", created.id), 1);
  const viaRpc = await env.rpc('revokeApiKey', who.kim.user.id, created.id);
  assert.deepEqual(viaRpc, { ok: true, result: true });
  assert.equal(await env.count('audit_events', "action = 'api_key.revoked' AND target_id = ?", created.id), 1);
  await expectError(await me(created.key), 401, 'api_key_revoked');
});

test('the key is stored only as its SHA-256: no column, audit row or log line holds it', async () => {
  const created = await createKey(who.kim.token, { name: 'hash only', environment: 'test' });
  assert.match(created.key, /^sk_test_/);
  assert.equal(created.prefix, 'sk_test_');
  assert.equal((await me(created.key)).status, 200);
  const row = await keyRow(created.id);
  assert.equal(row.key_hash, sha256hex(created.key));
  assert.equal(row.prefix, 'sk_test_');
  assert.equal(row.start, created.start);
  const secretPart = created.key.slice(12);
  for (const [column, value] of Object.entries(row)) {
    assert.ok(!String(value).includes(secretPart), `column ${column} holds the key`);
  }
  const audit = await env.query('SELECT * FROM audit_events');
  assert.ok(!JSON.stringify(audit).includes(secretPart), 'audit_events holds the key');
  await sleep(100);
  assert.ok(!env.logs.join('\n').includes(secretPart), 'a log line holds the key');
});

test('the checksum of an issued key is CRC-32/IEEE of prefix and body in base62', async () => {
  // Makes sure the forged keys below are well-formed by the worker's own rule.
  const created = await createKey(who.kim.token, { name: 'checksum check' });
  assert.equal(created.key.slice(40), checksum(created.prefix, created.key.slice(8, 40)));
});

test('a development deployment makes sk_test_ keys unless sk_live_ is asked for', async () => {
  const byDefault = await createKey(who.kim.token, { name: 'default environment' });
  assert.equal(byDefault.prefix, 'sk_test_');
  const live = await createKey(who.kim.token, { name: 'asked for live', environment: 'live' });
  assert.match(live.key, /^sk_live_[0-9A-Za-z]{38}$/);
  assert.equal((await me(live.key)).status, 200);
});

test('last_used_at is recorded after a key is used, at most once a minute', async () => {
  const created = await createKey(who.kim.token, { name: 'usage' });
  assert.equal((await keyRow(created.id)).last_used_at, null);
  const before = Math.floor(Date.now() / 1000);
  assert.equal((await me(created.key)).status, 200);
  const first = await waitFor(async () => (await keyRow(created.id)).last_used_at);
  assert.ok(first, 'last_used_at was not set after use');
  assert.ok(first >= before - 1 && first <= Math.ceil(Date.now() / 1000) + 1, `last_used_at ${first} is not now`);
  const list = await env.call('GET', '/apikeys', who.kim.token);
  const listed = list.body.apiKeys.find((k) => k.id === created.id);
  assert.equal(Date.parse(listed.lastUsedAt) / 1000, first);

  await sleep(1100);
  assert.equal((await me(created.key)).status, 200);
  await sleep(300);
  assert.equal((await keyRow(created.id)).last_used_at, first, 'a second use within the minute rewrote last_used_at');
});

// ------------------------------------------------------------------------------------------------
// Refused keys
// ------------------------------------------------------------------------------------------------

test('an expired key answers 401 api_key_expired', async () => {
  const created = await createKey(who.kim.token, { name: 'short lived', expiresInDays: 1 });
  const days = (Date.parse(created.expiresAt) - Date.parse(created.createdAt)) / 86400e3;
  assert.ok(Math.abs(days - 1) < 0.01, `expiresInDays 1 gave ${days} days`);
  // Expire it before its first use, so no cached verdict can mask the change.
  await env.query('UPDATE api_keys SET expires_at = ? WHERE id = ?', Math.floor(Date.now() / 1000) - 5, created.id);
  await expectError(await me(created.key), 401, 'api_key_expired');
  assert.deepEqual(await env.validate(created.key), { valid: false, error: 'api_key_expired' });
  const gw = await env.mf.dispatchFetch('http://gateway.local/api/documents', { headers: bearer(created.key) });
  assert.equal(gw.status, 401);
  assert.equal((await gw.json()).error, 'api_key_expired');
});

test('a key whose owner is deactivated answers 403 user_deactivated', async () => {
  const gone = await jsonLogin(env, { email: 'gone@example.test' });
  const created = await createKey(gone.token, { name: 'orphan' });
  await env.query('UPDATE users SET is_active = 0 WHERE id = ?', gone.user.id);
  await expectError(await me(created.key), 403, 'user_deactivated');
  assert.deepEqual(await env.validate(created.key), { valid: false, error: 'user_deactivated' });
});

test('a well-formed key that was never issued answers 401 invalid_api_key', async () => {
  for (const key of [forgeKey('sk_live_'), forgeKey('sk_test_')]) {
    await expectError(await me(key), 401, 'invalid_api_key', key.slice(0, 8));
    assert.deepEqual(await env.validate(key), { valid: false, error: 'invalid_api_key' });
  }
  const real = await createKey(who.kim.token, { name: 'mutated' });
  const neighbour = mutateAndRecompute(real.key);
  assert.notEqual(neighbour, real.key);
  await expectError(await me(neighbour), 401, 'invalid_api_key', 'mutated and recomputed');
  assert.equal((await keyRow(real.id)).last_used_at, null, 'a different key touched the real key');
});

test('a key with a corrupted checksum is refused as malformed before any D1 query', async () => {
  const real = await createKey(who.kim.token, { name: 'typo target' });
  const typo = corrupt(real.key);
  const malformed = [
    ['checksum_mismatch', typo],
    ['checksum_mismatch', real.key.replace('sk_test_', 'sk_live_')],
    ['wrong_length', real.key.slice(0, 45)],
    ['wrong_length', real.key + 'A'],
    ['invalid_character', real.key.slice(0, 20) + '-' + real.key.slice(21)],
  ];
  for (const [why, key] of malformed) {
    const r = await me(key);
    await expectError(r, 401, 'api_key_malformed', why);
    assert.deepEqual(await env.validate(key), { valid: false, error: 'api_key_malformed' }, why);
  }
  // The real key was not used by any of that.
  await sleep(200);
  const row = await keyRow(real.id);
  assert.equal(row.last_used_at, null);
  assert.equal(row.revoked_at, null);
  await sleep(50);
  const line = env.logs.filter((l) => l.includes('"msg":"request"') && l.includes('api_key_malformed')).pop();
  assert.ok(line && line.includes('"detail":"invalid_character"'), `log line names the format failure: ${line}`);

  // Proof of "before any D1 query": the same build with a D1 database that has no tables. A
  // well-formed key there needs a query and fails with 500; the typo is still a clean 401.
  const nodb = (key) => env.mf.dispatchFetch('http://nodb.local/auth/me', { headers: bearer(key) });
  const wellFormed = await nodb(forgeKey());
  assert.ok(wellFormed.status >= 500, `a well-formed key on the table-less D1 answered ${wellFormed.status}: the control is broken`);
  await wellFormed.text();
  for (const [why, key] of malformed) {
    const r = await nodb(key);
    assert.equal(r.status, 401, `${why}: a malformed key reached D1 (status ${r.status})`);
    assert.equal((await r.json()).error, 'api_key_malformed');
  }
});

test("another user's key id answers 404 and leaves that key working", async () => {
  const kims = await createKey(who.kim.token, { name: 'not yours' });
  const r = await env.call('DELETE', `/apikeys/${kims.id}`, who.oscar.token);
  await expectError(r, 404, 'api_key_not_found');
  const unknown = await env.call('DELETE', '/apikeys/key_doesnotexist', who.oscar.token);
  await expectError(unknown, 404, 'api_key_not_found');
  assert.equal((await keyRow(kims.id)).revoked_at, null);
  assert.equal((await me(kims.key)).status, 200);
  assert.deepEqual(await env.rpc('revokeApiKey', who.oscar.user.id, kims.id), { ok: true, result: false });
  assert.equal((await me(kims.key)).status, 200);
  const oscarsList = await env.call('GET', '/apikeys', who.oscar.token);
  assert.ok(!oscarsList.body.apiKeys.some((k) => k.id === kims.id), "another user's key is listed");
  assert.equal(await env.count('audit_events', "action = 'api_key.revoked' AND target_id = ?", kims.id), 0);
});

test('key management needs a credential', async () => {
  await expectError(await env.call('POST', '/apikeys', null, { name: 'anon' }), 401, 'unauthenticated');
  await expectError(await env.call('GET', '/apikeys', null), 401, 'unauthenticated');
  await expectError(await env.call('DELETE', '/apikeys/key_x', null), 401, 'unauthenticated');
  await expectError(await env.call('POST', '/apikeys', 'not-a-token', { name: 'x' }), 401, 'invalid_token');
});

test('bad key bodies answer 400 naming the field and create nothing', async () => {
  const before = await env.count('api_keys', 'user_id = ?', who.kim.user.id);
  const cases = [
    ['name', {}],
    ['name', { name: '' }],
    ['name', { name: '   ' }],
    ['name', { name: 'x'.repeat(101) }],
    ['name', { name: 42 }],
    ['name', { name: ['a'] }],
    ['expiresInDays', { name: 'k', expiresInDays: 0 }],
    ['expiresInDays', { name: 'k', expiresInDays: 366 }],
    ['expiresInDays', { name: 'k', expiresInDays: -5 }],
    ['expiresInDays', { name: 'k', expiresInDays: 1.5 }],
    ['expiresInDays', { name: 'k', expiresInDays: '30' }],
    ['environment', { name: 'k', environment: 'prod' }],
    ['environment', { name: 'k', environment: 'LIVE' }],
    ['environment', { name: 'k', environment: 1 }],
    ['scopes', { name: 'k', scopes: 'documents:read' }],
    ['scopes', { name: 'k', scopes: ['Documents:read'] }],
    ['scopes', { name: 'k', scopes: ['documents'] }],
    ['scopes', { name: 'k', scopes: ['documents:read:extra'] }],
    ['scopes', { name: 'k', scopes: ['do*:read'] }],
    ['scopes', { name: 'k', scopes: [''] }],
    ['scopes', { name: 'k', scopes: [1] }],
    ['scopes', { name: 'k', scopes: Array.from({ length: 51 }, (_, i) => `r${i}:read`) }],
  ];
  for (const [field, body] of cases) {
    const r = await env.call('POST', '/apikeys', who.kim.token, body);
    await expectError(r, 400, 'invalid_request', JSON.stringify(body).slice(0, 80));
    assert.ok(r.body.error_description.includes(`\`${field}\``),
      `${JSON.stringify(body).slice(0, 80)}: description does not name ${field}: ${r.body.error_description}`);
  }
  // A member named twice is refused: readers disagree about which copy counts.
  for (const raw of ['not json', '{"name":', '[' .repeat(8000) + ']'.repeat(8000), '{"name":"a","name":"b"}',
    '{"name":"k","scopes":["a:b"],"scopes":["*:*"]}']) {
    const r = await env.call('POST', '/apikeys', who.kim.token, raw);
    await expectError(r, 400, 'invalid_json', raw.slice(0, 20));
  }
  for (const raw of ['[]', '"name"', '42', 'null', '']) {
    const r = await env.call('POST', '/apikeys', who.kim.token, raw);
    await expectError(r, 400, 'invalid_request', `body ${raw}`);
  }
  assert.equal(await env.count('api_keys', 'user_id = ?', who.kim.user.id), before, 'a bad body created a key');

  // The limits themselves are accepted.
  const edge = await createKey(who.kim.token, { name: 'n'.repeat(100), expiresInDays: 365 });
  assert.equal(edge.name.length, 100);
});

// ------------------------------------------------------------------------------------------------
// Scopes
// ------------------------------------------------------------------------------------------------

test('a scope beyond the owner\'s permissions is refused at creation with 403 scope_not_allowed', async () => {
  const before = await env.count('api_keys', 'user_id = ?', who.oscar.user.id);
  for (const scopes of [['documents:read'], ['*:*'], ['permissions:manage']]) {
    const r = await env.call('POST', '/apikeys', who.oscar.token, { name: 'wishful', scopes });
    await expectError(r, 403, 'scope_not_allowed', JSON.stringify(scopes));
  }
  const granted = await grant(who.root.token, { userId: who.oscar.user.id, resource: 'documents', action: 'read' });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  const ok = await createKey(who.oscar.token, { name: 'reader', scopes: ['documents:read'] });
  assert.deepEqual(ok.scopes, ['documents:read']);
  for (const scopes of [['documents:write'], ['documents:*'], ['*:read'], ['documents:read', 'invoices:read']]) {
    const r = await env.call('POST', '/apikeys', who.oscar.token, { name: 'wider', scopes });
    await expectError(r, 403, 'scope_not_allowed', JSON.stringify(scopes));
  }
  const viaRpc = await env.rpc('createApiKey', { userId: who.oscar.user.id, name: 'rpc wider', scopes: ['documents:write'] });
  assert.equal(viaRpc.result.success, false);
  assert.equal(viaRpc.result.error, 'scope_not_allowed');
  assert.equal(await env.count('api_keys', 'user_id = ?', who.oscar.user.id), before + 1);
});

test('a key scoped to documents:read can read documents through the gateway and nothing more', async () => {
  // root is a global admin: only the key's scopes limit what it may do.
  const reader = await createKey(who.root.token, { name: 'reader', scopes: ['documents:read'] });
  const full = await createKey(who.root.token, { name: 'full' });
  const gw = (path, method, key) => env.mf.dispatchFetch(`http://gateway.local${path}`, { method, headers: bearer(key) });

  const read = await gw('/api/documents', 'GET', reader.key);
  assert.equal(read.status, 200);
  const echoed = await read.json();
  assert.equal(echoed.upstream, true);
  assert.equal(echoed.userId, who.root.user.id);

  for (const [path, method] of [['/api/documents', 'POST'], ['/api/documents/1', 'DELETE'], ['/api/invoices', 'GET'], ['/api/permissions', 'GET']]) {
    const r = await gw(path, method, reader.key);
    assert.equal(r.status, 403, `${method} ${path} with a documents:read key`);
    assert.equal((await r.json()).error, 'forbidden');
  }
  // An empty scope list is a key that may do nothing, not one that may do everything.
  const nothing = await createKey(who.root.token, { name: 'nothing', scopes: [] });
  assert.deepEqual(nothing.scopes, []);
  const none = await gw('/api/documents', 'GET', nothing.key);
  assert.equal(none.status, 403, 'a key with scopes [] could read');
  await none.text();
  // The same owner's unscoped key may: it is the ceiling that refused, not the owner.
  const write = await gw('/api/documents', 'POST', full.key);
  assert.equal(write.status, 200);
  await write.text();

  // And the ceiling holds on the worker's own routes that check permissions.
  await expectError(await grant(reader.key, { userId: who.alan.user.id, resource: 'documents', action: 'read' }), 403, 'forbidden');
  await expectError(await env.call('GET', `/permissions?userId=${who.alan.user.id}`, reader.key), 403, 'forbidden');
});

test('a key created by a scoped key can never be broader than it', async () => {
  // Creating keys is account management: the parent needs the reserved account:manage scope.
  const reader = await createKey(who.root.token, { name: 'parent', scopes: ['documents:read', 'account:manage'] });
  for (const scopes of [['documents:write'], ['documents:*'], ['*:*'], ['documents:read', 'invoices:read']]) {
    const r = await env.call('POST', '/apikeys', reader.key, { name: 'child', scopes });
    await expectError(r, 403, 'scope_not_allowed', JSON.stringify(scopes));
  }
  const inherited = await createKey(reader.key, { name: 'child without scopes' });
  assert.deepEqual(inherited.scopes, ['documents:read', 'account:manage'], 'omitting scopes must inherit the parent key\'s ceiling');
  const same = await createKey(reader.key, { name: 'child same', scopes: ['documents:read'] });
  assert.deepEqual(same.scopes, ['documents:read']);
  const post = await env.mf.dispatchFetch('http://gateway.local/api/documents', { method: 'POST', headers: bearer(inherited.key) });
  assert.equal(post.status, 403, 'the inherited key could write');
  await post.text();
  const grandchild = await env.call('POST', '/apikeys', inherited.key, { name: 'grandchild', scopes: ['*:*'] });
  await expectError(grandchild, 403, 'scope_not_allowed');
});

// ------------------------------------------------------------------------------------------------
// Permissions
// ------------------------------------------------------------------------------------------------

test('an admin grant of documents:write takes effect, and its revocation too', async () => {
  const alan = who.alan.user.id;
  assert.equal(await env.may({ userId: alan, resource: 'documents', action: 'write' }), false);
  const g = await grant(who.root.token, { userId: alan, resource: 'documents', action: 'write' });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  assert.equal(g.body.userId, alan);
  assert.equal(g.body.resource, 'documents');
  assert.equal(g.body.action, 'write');
  assert.equal(g.body.organizationId, null);
  assert.equal(g.body.grantedBy, who.root.user.id);
  assert.ok(!Number.isNaN(Date.parse(g.body.createdAt)));
  assert.equal(await env.count('audit_events', "action = 'permission.granted' AND target_id = ?", alan), 1);

  assert.equal(await env.may({ userId: alan, resource: 'documents', action: 'write' }), true);
  assert.equal(await env.may({ userId: alan, resource: 'documents', action: 'delete' }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write' }), false);
  const gw = await env.mf.dispatchFetch('http://gateway.local/api/documents', { method: 'POST', headers: bearer(who.alan.token) });
  assert.equal(gw.status, 200);
  await gw.text();

  const own = await env.call('GET', '/permissions', who.alan.token);
  assert.equal(own.status, 200);
  assert.equal(own.body.userId, alan);
  assert.ok(own.body.permissions.some((p) => p.id === g.body.id));
  const byAdmin = await env.call('GET', `/permissions?userId=${alan}`, who.root.token);
  assert.equal(byAdmin.status, 200);
  assert.ok(byAdmin.body.permissions.some((p) => p.id === g.body.id));

  const del = await env.call('DELETE', `/permissions/${g.body.id}`, who.root.token);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  assert.equal(del.body.revoked, true);
  assert.equal(await env.may({ userId: alan, resource: 'documents', action: 'write' }), false);
  const gw2 = await env.mf.dispatchFetch('http://gateway.local/api/documents', { method: 'POST', headers: bearer(who.alan.token) });
  assert.equal(gw2.status, 403);
  await gw2.text();
  assert.equal(await env.count('audit_events', "action = 'permission.revoked' AND target_id = ?", alan), 1);
  await expectError(await env.call('DELETE', `/permissions/${g.body.id}`, who.root.token), 404, 'permission_not_found');
});

test('an identical grant answers 200 with the same row, even when sent concurrently', async () => {
  const body = { userId: who.alan.user.id, resource: 'reports', action: 'read' };
  const first = await grant(who.root.token, body);
  assert.equal(first.status, 201);
  const again = await grant(who.root.token, body);
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.id, first.body.id);

  const orgBody = { ...body, organizationId: acme };
  const burst = await Promise.all(Array.from({ length: 6 }, () => grant(who.root.token, orgBody)));
  for (const r of burst) assert.ok(r.status === 200 || r.status === 201, `concurrent grant answered ${r.status}: ${JSON.stringify(r.body)}`);
  assert.equal(burst.filter((r) => r.status === 201).length, 1, 'exactly one concurrent grant creates the row');
  assert.equal(new Set(burst.map((r) => r.body.id)).size, 1);
  assert.notEqual(burst[0].body.id, first.body.id, 'an org-scoped grant is a different row from the global one');
  assert.equal(await env.count('permissions', "user_id = ? AND resource = 'reports' AND action = 'read'", who.alan.user.id), 2);
  for (const id of [first.body.id, burst[0].body.id]) assert.equal((await env.call('DELETE', `/permissions/${id}`, who.root.token)).status, 200);
});

test('invalid permission names answer 400 naming the field and grant nothing', async () => {
  const before = await env.count('permissions');
  const u = who.alan.user.id;
  const cases = [
    ['resource', { userId: u, resource: 'Docs', action: 'read' }],
    ['resource', { userId: u, resource: 'do*', action: 'read' }],
    ['resource', { userId: u, resource: 'a b', action: 'read' }],
    ['resource', { userId: u, resource: '', action: 'read' }],
    ['resource', { userId: u, resource: 'docs:read', action: 'read' }],
    ['resource', { userId: u, resource: 'x'.repeat(65), action: 'read' }],
    ['resource', { userId: u, action: 'read' }],
    ['resource', { userId: u, resource: 7, action: 'read' }],
    ['action', { userId: u, resource: 'documents', action: 'Read' }],
    ['action', { userId: u, resource: 'documents', action: 're*d' }],
    ['action', { userId: u, resource: 'documents', action: 'a b' }],
    ['action', { userId: u, resource: 'documents', action: '' }],
    ['userId', { resource: 'documents', action: 'read' }],
    ['userId', { userId: '', resource: 'documents', action: 'read' }],
    ['organizationId', { userId: u, resource: 'documents', action: 'read', organizationId: 'org with spaces' }],
  ];
  for (const [field, body] of cases) {
    const r = await grant(who.root.token, body);
    await expectError(r, 400, 'invalid_request', JSON.stringify(body));
    assert.ok(r.body.error_description.includes(`\`${field}\``),
      `${JSON.stringify(body)}: description does not name ${field}: ${r.body.error_description}`);
  }
  await expectError(await grant(who.root.token, 'nope'), 400, 'invalid_json');
  assert.equal(await env.count('permissions'), before, 'an invalid grant was written');

  // checkPermission refuses the same names instead of answering.
  for (const resource of ['Docs', 'do*', 'a b', '']) {
    const message = await env.rejected('checkPermission', 'invalid_request', { userId: u, resource, action: 'read' });
    assert.match(message, /^invalid_request: `resource`/, `resource ${JSON.stringify(resource)}`);
  }
});

test('a grant for an unknown user or organization answers 404', async () => {
  const before = await env.count('permissions');
  await expectError(await grant(who.root.token, { userId: 'user_nobody', resource: 'documents', action: 'read' }), 404, 'user_not_found');
  await expectError(await grant(who.root.token, { userId: who.alan.user.id, resource: 'documents', action: 'read', organizationId: 'org_nowhere' }),
    404, 'organization_not_found');
  await expectError(await env.call('DELETE', '/permissions/perm_nothing', who.root.token), 404, 'permission_not_found');
  assert.equal(await env.count('permissions'), before);
});

test('an organization-scoped grant applies only in that organization', async () => {
  const alan = who.alan.user.id;
  const g = await grant(who.root.token, { userId: alan, resource: 'invoices', action: 'write', organizationId: acme });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  assert.equal(g.body.organizationId, acme);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write', organizationId: acme }), true);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write', organizationId: globex }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write' }), false);
  // Alan's session is not scoped to Acme, so the gateway never asks about Acme for him, whatever
  // organization a header claims: the organization comes from the validated identity only.
  const viaGw = async (org) => {
    const r = await env.mf.dispatchFetch('http://gateway.local/api/invoices', {
      method: 'POST', headers: { ...bearer(who.alan.token), ...(org ? { 'x-organization-id': org } : {}) } });
    await r.text();
    return r.status;
  };
  assert.equal(await viaGw(acme), 403);
  assert.equal(await viaGw(null), 403);
  assert.equal((await env.call('DELETE', `/permissions/${g.body.id}`, who.root.token)).status, 200);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'write', organizationId: acme }), false);
});

test('wildcard grants cover whole segments only', async () => {
  const alan = who.alan.user.id;
  const a = await grant(who.root.token, { userId: alan, resource: 'documents', action: '*' });
  const b = await grant(who.root.token, { userId: alan, resource: '*', action: 'read' });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  const answers = [
    // [why, the question, the answer]
    ['documents:* covers documents:delete', { userId: alan, resource: 'documents', action: 'delete' }, true],
    ['documents:* covers documents:publish', { userId: alan, resource: 'documents', action: 'publish' }, true],
    ['*:read covers invoices:read', { userId: alan, resource: 'invoices', action: 'read' }, true],
    ['nothing covers invoices:write', { userId: alan, resource: 'invoices', action: 'write' }, false],
    ['documents:* must not cover document', { userId: alan, resource: 'document', action: 'delete' }, false],
    ['documents:* must not cover documents-archive', { userId: alan, resource: 'documents-archive', action: 'delete' }, false],
    ['nothing covers permissions:manage', { userId: alan, resource: 'permissions', action: 'manage' }, false],
    ['*:read in no organization applies inside organizations too', { userId: alan, resource: 'invoices', action: 'read', organizationId: globex }, true],
    // A wildcard in the question is not matched by a literal grant: documents:* does not answer *:*.
    ['asking about *:delete rode on documents:*', { userId: alan, resource: '*', action: 'delete' }, false],
    ['asking about *:* rode on documents:* or *:read', { userId: alan, resource: '*', action: '*' }, false],
  ];
  for (const [why, question, allowed] of answers) assert.equal(await env.may(question), allowed, why);
  // ...but does not let a plain user manage permissions.
  await expectError(await grant(who.alan.token, { userId: alan, resource: '*', action: '*' }), 403, 'forbidden');
  for (const id of [a.body.id, b.body.id]) assert.equal((await env.call('DELETE', `/permissions/${id}`, who.root.token)).status, 200);
  assert.equal(await env.may({ userId: alan, resource: 'documents', action: 'delete' }), false);
  assert.equal(await env.may({ userId: alan, resource: 'invoices', action: 'read' }), false);
});

test('membership roles grant their defaults only inside their organization', async () => {
  const memberships = await env.query('SELECT user_id, organization_id, role, status FROM organization_memberships');
  const role = (id, org) => memberships.find((m) => m.user_id === id && m.organization_id === org)?.role;
  assert.equal(role(who.ada.user.id, acme), 'admin');
  assert.equal(role(who.grace.user.id, acme), 'member');
  assert.equal(role(who.vic.user.id, globex), 'viewer');

  const [ada, grace, vic] = [who.ada.user.id, who.grace.user.id, who.vic.user.id];
  const answers = [
    // [why, the question, the answer]
    ['Acme admin may delete in Acme', { userId: ada, resource: 'documents', action: 'delete', organizationId: acme }, true],
    ['Acme admin may manage billing in Acme', { userId: ada, resource: 'billing', action: 'manage', organizationId: acme }, true],
    ['Acme admin may not act in Globex', { userId: ada, resource: 'documents', action: 'delete', organizationId: globex }, false],
    ['an org role is not a global role', { userId: ada, resource: 'documents', action: 'delete' }, false],
    ['Acme member may read in Acme', { userId: grace, resource: 'documents', action: 'read', organizationId: acme }, true],
    ['Acme member may write in Acme', { userId: grace, resource: 'documents', action: 'write', organizationId: acme }, true],
    ['Acme member may not delete in Acme', { userId: grace, resource: 'documents', action: 'delete', organizationId: acme }, false],
    ['Acme member may not write in Globex', { userId: grace, resource: 'documents', action: 'write', organizationId: globex }, false],
    ['Acme member may not write outside an organization', { userId: grace, resource: 'documents', action: 'write' }, false],
    ['Globex viewer may read in Globex', { userId: vic, resource: 'documents', action: 'read', organizationId: globex }, true],
    ['Globex viewer may not write in Globex', { userId: vic, resource: 'documents', action: 'write', organizationId: globex }, false],
    ['Globex viewer may not read in Acme', { userId: vic, resource: 'documents', action: 'read', organizationId: acme }, false],
  ];
  for (const [why, question, allowed] of answers) assert.equal(await env.may(question), allowed, why);

  // The gateway uses the org in the token: grace may write in Acme, vic may only read in Globex.
  const gw = async (token, method) => {
    const r = await env.mf.dispatchFetch('http://gateway.local/api/documents', { method, headers: bearer(token) });
    await r.text();
    return r.status;
  };
  assert.equal(await gw(who.grace.token, 'POST'), 200);
  assert.equal(await gw(who.vic.token, 'GET'), 200);
  assert.equal(await gw(who.vic.token, 'POST'), 403);
});

test('an inactive membership grants nothing, and reactivation restores it', async () => {
  const grace = who.grace.user.id;
  assert.equal(await env.may({ userId: grace, resource: 'documents', action: 'write', organizationId: acme }), true);
  await env.query("UPDATE organization_memberships SET status = 'inactive' WHERE user_id = ? AND organization_id = ?", grace, acme);
  try {
    assert.equal(await env.may({ userId: grace, resource: 'documents', action: 'write', organizationId: acme }), false);
    assert.equal(await env.may({ userId: grace, resource: 'documents', action: 'read', organizationId: acme }), false);
  } finally {
    await env.query("UPDATE organization_memberships SET status = 'active' WHERE user_id = ? AND organization_id = ?", grace, acme);
  }
  assert.equal(await env.may({ userId: grace, resource: 'documents', action: 'write', organizationId: acme }), true);
});

test('an organization admin cannot manage service-wide permissions', async () => {
  // ada holds *:* inside Acme only; permissions:manage is not an organization permission.
  const before = await env.count('permissions');
  await expectError(await grant(who.ada.token, { userId: who.ada.user.id, resource: '*', action: '*' }), 403, 'forbidden');
  await expectError(await grant(who.ada.token, { userId: who.grace.user.id, resource: 'documents', action: 'delete', organizationId: acme }), 403, 'forbidden');
  assert.equal(await env.count('permissions'), before);
});

test('a non-admin is refused with 403 on grant, revoke and reading another user\'s permissions', async () => {
  const target = await grant(who.root.token, { userId: who.oscar.user.id, resource: 'reports', action: 'export' });
  assert.equal(target.status, 201);
  const before = await env.count('permissions');
  await expectError(await grant(who.alan.token, { userId: who.alan.user.id, resource: '*', action: '*' }), 403, 'forbidden');
  await expectError(await grant(who.alan.token, { userId: who.oscar.user.id, resource: 'documents', action: 'read' }), 403, 'forbidden');
  await expectError(await env.call('DELETE', `/permissions/${target.body.id}`, who.alan.token), 403, 'forbidden');
  await expectError(await env.call('GET', `/permissions?userId=${who.oscar.user.id}`, who.alan.token), 403, 'forbidden');
  const own = await env.call('GET', `/permissions?userId=${who.alan.user.id}`, who.alan.token);
  assert.equal(own.status, 200);
  // An unscoped API key of a non-admin is no better than its owner.
  const key = await createKey(who.alan.token, { name: 'alan full' });
  await expectError(await grant(key.key, { userId: who.alan.user.id, resource: '*', action: '*' }), 403, 'forbidden');
  await expectError(await grant(null, { userId: who.alan.user.id, resource: '*', action: '*' }), 401, 'unauthenticated');
  assert.equal(await env.count('permissions'), before);
  assert.equal(await env.may({ userId: who.oscar.user.id, resource: 'reports', action: 'export' }), true, 'the refused revoke removed the grant');
  assert.equal((await env.call('DELETE', `/permissions/${target.body.id}`, who.root.token)).status, 200);
});

test('a user granted permissions:manage can manage permissions without being admin, until it is revoked', async () => {
  const grace = who.grace.user.id;
  const manage = await grant(who.root.token, { userId: grace, resource: 'permissions', action: 'manage' });
  assert.equal(manage.status, 201);
  assert.equal((await env.query('SELECT role FROM users WHERE id = ?', grace))[0].role, 'user');

  const g = await grant(who.grace.token, { userId: who.alan.user.id, resource: 'wiki', action: 'edit' });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  assert.equal(g.body.grantedBy, grace);
  assert.equal(await env.may({ userId: who.alan.user.id, resource: 'wiki', action: 'edit' }), true);
  const list = await env.call('GET', `/permissions?userId=${who.alan.user.id}`, who.grace.token);
  assert.equal(list.status, 200);
  assert.ok(list.body.permissions.some((p) => p.id === g.body.id));
  const del = await env.call('DELETE', `/permissions/${g.body.id}`, who.grace.token);
  assert.equal(del.status, 200);
  assert.equal(await env.may({ userId: who.alan.user.id, resource: 'wiki', action: 'edit' }), false);

  // An organization-scoped permissions:manage does not make a manager.
  const scoped = await grant(who.root.token, { userId: who.vic.user.id, resource: 'permissions', action: 'manage', organizationId: globex });
  assert.equal(scoped.status, 201);
  await expectError(await grant(who.vic.token, { userId: who.vic.user.id, resource: 'documents', action: 'write', organizationId: globex }), 403, 'forbidden');
  assert.equal((await env.call('DELETE', `/permissions/${scoped.body.id}`, who.root.token)).status, 200);

  assert.equal((await env.call('DELETE', `/permissions/${manage.body.id}`, who.root.token)).status, 200);
  await expectError(await grant(who.grace.token, { userId: who.alan.user.id, resource: 'wiki', action: 'edit' }), 403, 'forbidden');
  await expectError(await env.call('GET', `/permissions?userId=${who.alan.user.id}`, who.grace.token), 403, 'forbidden');
});

test('a key created with an API key cannot outlive the key that created it', async () => {
  const owner = await jsonLogin(env, { email: 'alan@example.test' });
  const parent = await createKey(owner.token, { name: 'short-lived parent', expiresInDays: 1, scopes: ['account:manage'] });
  const child = await createKey(parent.key, { name: 'would-be long-lived child', expiresInDays: 365 });
  assert.ok(Date.parse(child.expiresAt) <= Date.parse(parent.expiresAt), `${child.expiresAt} > ${parent.expiresAt}`);
  // A person's own token may still choose the full lifetime.
  const own = await createKey(owner.token, { name: 'long-lived', expiresInDays: 365 });
  assert.ok(Date.parse(own.expiresAt) > Date.now() + 364 * 86_400_000);
});
