// Moving from better-auth (README "Moving from better-auth"): the real import command, run through
// the repo's wrangler against a local D1 that wrangler itself migrated, then the worker on that same
// database: imported people sign in through the WorkOS stand-in as their imported ids, linked once,
// only on a verified email.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, startEnv, jsonLogin, upToCallback } from './harness.mjs';
import { readJson, expectError } from './helpers.mjs';

const STATE = mkdtempSync(path.join(tmpdir(), 'auth-migration-'));
const EXPORT = path.join(ROOT, 'tests/fixtures/better-auth/users.jsonl');
const BROKEN = path.join(ROOT, 'tests/fixtures/better-auth/users-broken.csv');
const spawnEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

/** The repo's wrangler on the test's local state directory. */
function wrangler(...args) {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), ...args, '--local', '--persist-to', STATE],
    { cwd: ROOT, encoding: 'utf8', env: spawnEnv });
  assert.equal(run.status, 0, `wrangler ${args.join(' ')}: ${run.stdout}\n${run.stderr}`);
  return run.stdout;
}
/** Rows of one query, read through wrangler (the worker is not running yet). */
const d1 = (sql) => JSON.parse(wrangler('d1', 'execute', 'auth', '--json', '--command', sql))[0].results;
const usersTable = () => d1('SELECT id, email, first_name, profile_picture_url, email_verified, role, is_active, created_at, updated_at, workos_id FROM users ORDER BY id');

/** `npm run import:better-auth -- <file> --local --persist-to <state> --json <flags>`: {status, summary}. */
function importExport(file, ...flags) {
  const run = spawnSync('npm', ['run', '--silent', 'import:better-auth', '--', file, '--local', '--persist-to', STATE, '--json', ...flags],
    { cwd: ROOT, encoding: 'utf8', env: spawnEnv });
  let summary;
  try {
    summary = JSON.parse(run.stdout);
  } catch {
    assert.fail(`import printed no JSON summary (exit ${run.status}): ${run.stdout}\n${run.stderr}`);
  }
  return { status: run.status, summary };
}

// What the export holds, as the users table must hold it (times converted by hand from the fixture).
const IMPORTED = [
  ['9f6c2a4e-1b3d-4e5f-8a7b-0c1d2e3f4a5b', 'grace@import.test', 'Grace Hopper', null, 'user', 1, 1712052000, 1712052000],
  ['Jt1sKbXW9hYV3pD2qR8mN0aLcE5uZ7yF', 'Ada.Lovelace@Import.test', 'Ada Lovelace', 'https://avatars.example.test/ada.png', 'admin', 1, 1709285400, 1748779200],
  ['banned_bob', 'bob@import.test', 'Bob Banned', null, 'user', 0, 1714953600, 1714953600],
  ['hook_annie', 'annie@import.test', 'Annie Easley', null, 'admin', 1, 1714867200, 1714867200],
  ['hook_mary', 'mary@import.test', 'Mary Jackson', null, 'user', 1, 1714780800, 1714780800],
  ['katherine_johnson', 'katherine@import.test', 'Katherine Johnson', null, 'user', 1, 1714550400, 1714550400],
  ['race_dorothy', 'dorothy@import.test', 'Dorothy Vaughan', null, 'admin', 1, 1714694400, 1714694400],
].map(([id, email, first_name, profile_picture_url, role, is_active, created_at, updated_at]) => (
  { id, email, first_name, profile_picture_url, email_verified: 1, role, is_active, created_at, updated_at, workos_id: null }));
const ADA = 'Jt1sKbXW9hYV3pD2qR8mN0aLcE5uZ7yF';
const GRACE = '9f6c2a4e-1b3d-4e5f-8a7b-0c1d2e3f4a5b';

// What the broken export must be refused for, line by line.
const BROKEN_REFUSALS = [
  [3, /^email: missing$/],
  [4, /^duplicate email \(also on line 6\)$/],
  [5, /^email not verified in better-auth$/],
  [6, /^duplicate email \(also on line 4\)$/],
  [7, /^id: must be 1-64 characters/],
  [8, /^role: "superuser" is not a role/],
  [9, /^createdAt: missing or not a time$/],
  [10, /^has 4 fields where the header has 8$/],
  [11, /^image: not an http\(s\) URL/],
  [12, new RegExp(`^email already belongs to another imported user \\(${GRACE}\\)$`)],
  [14, /^name: not text/],
];
function assertBrokenRefusals(refused) {
  assert.deepEqual(refused.map((r) => r.line), BROKEN_REFUSALS.map(([line]) => line), JSON.stringify(refused, null, 1));
  refused.forEach((r, i) => assert.match(r.reason, BROKEN_REFUSALS[i][1], `line ${r.line}`));
}

before(() => {
  // As the runbook does: the operator's own migration command creates the schema.
  wrangler('d1', 'migrations', 'apply', 'auth');
});
after(() => rmSync(STATE, { recursive: true, force: true }));

describe('importing a better-auth export', () => {
  test('a dry run reports what it would import and writes nothing', () => {
    assert.deepEqual(usersTable(), []);
    const { status, summary } = importExport(EXPORT, '--dry-run');
    assert.equal(status, 0, JSON.stringify(summary));
    assert.equal(summary.dryRun, true);
    assert.deepEqual([summary.wouldImport, summary.imported, summary.alreadyPresent, summary.refused], [7, 0, 0, []]);
    assert.deepEqual(summary.ignoredColumns, ['banReason']);
    assert.deepEqual(usersTable(), []);
  });

  test('the import keeps each id, email, role, ban and time; importing twice changes nothing', () => {
    const first = importExport(EXPORT, '--batch-size', '3');
    assert.equal(first.status, 0, JSON.stringify(first.summary));
    assert.deepEqual([first.summary.imported, first.summary.importedDeactivated, first.summary.alreadyPresent, first.summary.refused],
      [7, 1, 0, []]);
    assert.deepEqual(usersTable(), IMPORTED);
    const second = importExport(EXPORT);
    assert.equal(second.status, 0);
    assert.deepEqual([second.summary.imported, second.summary.alreadyPresent, second.summary.refused], [0, 7, []]);
    assert.deepEqual(usersTable(), IMPORTED);
  });

  test('a broken export imports its good rows and reports each bad one by line; its dry run writes nothing', () => {
    const dry = importExport(BROKEN, '--dry-run');
    assert.equal(dry.status, 2, 'refused rows make the exit status 2');
    assert.deepEqual([dry.summary.wouldImport, dry.summary.alreadyPresent], [2, 1]);
    assertBrokenRefusals(dry.summary.refused);
    assert.deepEqual(usersTable(), IMPORTED);

    const real = importExport(BROKEN, '--batch-size', '2');
    assert.equal(real.status, 2);
    assert.deepEqual([real.summary.rows, real.summary.imported, real.summary.alreadyPresent], [14, 2, 1]);
    assertBrokenRefusals(real.summary.refused);
    const added = usersTable().filter((u) => !IMPORTED.some((i) => i.id === u.id));
    assert.deepEqual(added.map((u) => [u.id, u.email, u.first_name, u.role, u.created_at]), [
      ['csv_after_multiline', 'after@import.test', 'After Multiline', 'admin', 1717279200],
      ['csv_hedy', 'hedy@import.test', 'Lamarr, Hedy "Frequency"', 'user', 1717200000],
    ]);
    // The already-present row was left as the first import wrote it.
    assert.deepEqual(usersTable().filter((u) => IMPORTED.some((i) => i.id === u.id)), IMPORTED);
    const again = importExport(BROKEN);
    assert.deepEqual([again.status, again.summary.imported, again.summary.alreadyPresent], [2, 0, 3]);
  });
});

describe('first WorkOS sign-in of imported people', () => {
  let env;
  before(async () => {
    env = await startEnv({ persistTo: STATE });
  });
  after(async () => env?.close());

  const row = async (id) => (await env.query('SELECT * FROM users WHERE id = ?', id))[0];
  const rowsWithEmail = (email) => env.query('SELECT id, workos_id FROM users WHERE email = ? COLLATE NOCASE ORDER BY created_at', email);
  const audits = async (action, target) => (await env.query('SELECT * FROM audit_events WHERE action = ? AND target_id = ?', action, target))
    .map((a) => ({ ...a, detail: JSON.parse(a.detail) }));

  test('an imported admin signs in as the imported id with the admin role, once linked; a second sign-in adds no row', async () => {
    // WorkOS keeps emails lower-cased; the export had "Ada.Lovelace@Import.test".
    const s = await jsonLogin(env, { email: 'ada.lovelace@import.test' });
    assert.equal(s.user.id, ADA);
    assert.equal(s.user.role, 'admin');
    const valid = await env.validate(s.token);
    assert.deepEqual([valid.valid, valid.user.id, valid.user.role], [true, ADA, 'admin']);
    const me = await env.call('GET', '/auth/me', s.token);
    assert.equal(me.body.user.id, ADA);
    const workosUser = env.standin.findUserByEmail('ada.lovelace@import.test');
    assert.equal((await row(ADA)).workos_id, workosUser.id);
    const linked = await audits('user.linked', ADA);
    assert.equal(linked.length, 1);
    assert.deepEqual(linked[0].detail, { via: 'sign_in', workos_user_id: workosUser.id });

    const again = await jsonLogin(env, { email: 'ada.lovelace@import.test' });
    assert.equal(again.user.id, ADA);
    assert.deepEqual(await rowsWithEmail('ada.lovelace@import.test'), [{ id: ADA, workos_id: workosUser.id }]);
    assert.equal((await audits('user.linked', ADA)).length, 1);
    assert.equal(await env.count('sessions', 'user_id = ?', ADA), 2);
  });

  test('permissions granted to an imported id before its first sign-in are that person\'s after it', async () => {
    const admin = await jsonLogin(env, { email: 'ada.lovelace@import.test' });
    const grant = await env.call('POST', '/permissions', admin.token, { userId: GRACE, resource: 'reports', action: 'read' });
    assert.equal(grant.status, 201, JSON.stringify(grant.body));
    const s = await jsonLogin(env, { email: 'grace@import.test' });
    assert.equal(s.user.id, GRACE);
    assert.equal(s.user.role, 'user');
    assert.equal(await env.may({ userId: GRACE, resource: 'reports', action: 'read' }), true);
    assert.equal(await env.may({ userId: GRACE, resource: 'reports', action: 'write' }), false);
    const listed = await env.call('GET', '/auth/me', s.token);
    assert.equal(listed.body.user.id, GRACE);
  });

  test('a WorkOS user whose email is not verified does not get the imported account: a new user, the refusal audited', async () => {
    const admin = await jsonLogin(env, { email: 'ada.lovelace@import.test' });
    const grant = await env.call('POST', '/permissions', admin.token, { userId: 'katherine_johnson', resource: 'payroll', action: 'read' });
    assert.equal(grant.status, 201);
    const workosUser = env.standin.addUser({ email: 'katherine@import.test', emailVerified: false }, { silent: true });
    const s = await jsonLogin(env, { email: 'katherine@import.test' });
    assert.notEqual(s.user.id, 'katherine_johnson');
    assert.equal(s.user.emailVerified, false);
    assert.equal((await row('katherine_johnson')).workos_id, null, 'the imported row stays unlinked');
    assert.deepEqual(await rowsWithEmail('katherine@import.test'), [
      { id: 'katherine_johnson', workos_id: null }, { id: s.user.id, workos_id: workosUser.id }]);
    assert.equal(await env.may({ userId: s.user.id, resource: 'payroll', action: 'read' }), false);
    assert.equal(await env.may({ userId: 'katherine_johnson', resource: 'payroll', action: 'read' }), true);
    const refused = await audits('user.link_refused', 'katherine_johnson');
    assert.equal(refused.length, 1);
    assert.deepEqual(refused[0].detail, { via: 'sign_in', workos_user_id: workosUser.id, reason: 'email_unverified' });
    assert.equal(await env.count('audit_events', "action = 'user.linked' AND target_id = 'katherine_johnson'"), 0);

    // Signing in again is that new user's sign-in: no third row, no second refusal.
    const again = await jsonLogin(env, { email: 'katherine@import.test' });
    assert.equal(again.user.id, s.user.id);
    assert.equal((await rowsWithEmail('katherine@import.test')).length, 2);
    assert.equal((await audits('user.link_refused', 'katherine_johnson')).length, 1);
  });

  test('three first sign-ins of the same imported person at once link exactly once, and all three are that person', async () => {
    // Into an organization: after deciding which row to write (the D1 reads), each sign-in asks
    // WorkOS for the membership, and the stand-in answers those three at the same moment. So all
    // three have decided to link before any of them writes: their batches race for the one row.
    const workosUser = env.standin.addUser({ email: 'dorothy@import.test' }, { silent: true });
    const org = env.standin.addOrganization({ name: 'Langley' }, { silent: true });
    env.standin.addMembership({ userId: workosUser.id, organizationId: org.id, role: 'member' }, { silent: true });
    const callbacks = [];
    for (let i = 0; i < 3; i++) callbacks.push(await upToCallback(env, { userId: workosUser.id, organizationId: org.id }));
    env.standin.holdTogether('/user_management/organization_memberships', 3);
    env.standin.holdTogether('/user_management/authenticate', 3);
    const answers = await Promise.all(callbacks.map(({ url, cookie }) => env.fetch(url, { headers: { cookie, accept: 'application/json' } })));
    const bodies = await Promise.all(answers.map(readJson));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], JSON.stringify(bodies));
    assert.deepEqual(bodies.map((b) => [b.user.id, b.user.role]), Array(3).fill(['race_dorothy', 'admin']));
    assert.deepEqual(await rowsWithEmail('dorothy@import.test'), [{ id: 'race_dorothy', workos_id: workosUser.id }]);
    assert.equal((await audits('user.linked', 'race_dorothy')).length, 1, 'one link, recorded once');
    assert.equal(await env.count('sessions', 'user_id = ? AND organization_id = ?', 'race_dorothy', org.id), 3);
    assert.equal(await env.count('organization_memberships', 'user_id = ?', 'race_dorothy'), 1);
    for (const b of bodies) assert.equal((await env.validate(b.token)).user.id, 'race_dorothy');
  });

  test('a user.created webhook follows the same rule: it links a verified email and refuses (audited) an unverified one', async () => {
    const deliver = async (event) => {
      const { body, headers } = env.standin.signWebhook(event);
      const res = await env.fetch('/webhooks/workos', { method: 'POST', body, headers });
      assert.deepEqual([res.status, await readJson(res)], [200, { received: true, outcome: 'applied' }]);
    };
    const created = () => env.standin.events.at(-1);

    const mary = env.standin.addUser({ email: 'mary@import.test', firstName: 'Mary', lastName: 'Jackson' });
    await deliver(created());
    assert.deepEqual(await rowsWithEmail('mary@import.test'), [{ id: 'hook_mary', workos_id: mary.id }]);
    const linked = await audits('user.linked', 'hook_mary');
    assert.deepEqual(linked.map((a) => [a.detail.event, a.detail.workos_user_id]), [['user.created', mary.id]]);
    assert.equal((await jsonLogin(env, { email: 'mary@import.test' })).user.id, 'hook_mary');

    const annie = env.standin.addUser({ email: 'annie@import.test', emailVerified: false });
    const event = created();
    await deliver(event);
    const rows = await rowsWithEmail('annie@import.test');
    assert.deepEqual(rows.map((r) => r.workos_id), [null, annie.id]);
    assert.equal((await row(rows[1].id)).role, 'user', 'the imported admin role stays with the imported row');
    const refused = await audits('user.link_refused', 'hook_annie');
    assert.deepEqual(refused.map((a) => a.detail), [{ event_id: event.id, event: 'user.created', workos_user_id: annie.id, reason: 'email_unverified' }]);
  });

  test('an imported account banned in better-auth is deactivated: its sign-in is refused and links nothing', async () => {
    const before = await env.count('sessions');
    const { url, cookie } = await upToCallback(env, { email: 'bob@import.test' });
    await expectError(await env.fetch(url, { headers: { cookie, accept: 'application/json' } }), 403, 'user_deactivated');
    assert.deepEqual(await rowsWithEmail('bob@import.test'), [{ id: 'banned_bob', workos_id: null }]);
    assert.equal(await env.count('sessions'), before);
    assert.equal(await env.count('audit_events', "target_id = 'banned_bob'"), 0);
  });
});
