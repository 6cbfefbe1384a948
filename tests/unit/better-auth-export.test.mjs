// The pure part of the better-auth import (scripts/lib/better-auth-export.mjs): reading CSV and JSON
// lines, the rules each row must pass, and the SQL it becomes. The SQL is also run here on D1's
// engine (Miniflare) with the real migrations, so the guards are tested for what they do, not for
// how they read; tests/e2e/migration.test.mjs runs the real command through wrangler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExportError, batchSql, classify, detectFormat, foldEmail, insertSql, lookupSql, makeBatches, parseBoolean, parseCsv,
  parseTimestamp, readExport, sqlText, validate,
} from '../../scripts/lib/better-auth-export.mjs';
import { Miniflare } from 'miniflare';
import { migrationStatements } from '../e2e/harness.mjs';

const NOW = 1_750_000_000;
const base = {
  id: 'u1', email: 'ada@example.test', emailVerified: true, name: 'Ada', createdAt: '2024-01-01T00:00:00Z',
  updatedAt: '2024-01-02T00:00:00Z',
};
/** validate() over JSON-lines records built from `base` with `over` applied (undefined deletes a key). */
function check(...overs) {
  const lines = overs.map((over) => JSON.stringify(Object.fromEntries(Object.entries({ ...base, ...over }).filter(([, v]) => v !== undefined))));
  const { records, refused } = readExport(lines.join('\n'), 'jsonl');
  assert.deepEqual(refused, []);
  return validate(records, { now: NOW });
}
const reasonOf = (over) => {
  const { rows, refused } = check(over);
  assert.equal(rows.length, 0, `expected a refusal for ${JSON.stringify(over)}`);
  return refused[0].reason;
};

test('CSV: quoted fields keep commas, doubled quotes and line breaks, and records keep the line they start on', () => {
  const text = '\uFEFFid,name\r\na,"Lovelace, Ada ""Countess"""\r\n\r\nb,"two\nlines"\nc,plain\n';
  assert.deepEqual(parseCsv(text), [
    { line: 1, fields: ['id', 'name'] },
    { line: 2, fields: ['a', 'Lovelace, Ada "Countess"'] },
    { line: 4, fields: ['b', 'two\nlines'] },
    { line: 6, fields: ['c', 'plain'] },
  ]);
  assert.deepEqual(parseCsv('a,b'), [{ line: 1, fields: ['a', 'b'] }], 'no final line break');
  assert.deepEqual(parseCsv('a,,\n'), [{ line: 1, fields: ['a', '', ''] }], 'empty fields');
});

test('CSV: a broken quote stops the whole export, because every record after it would be misread', () => {
  assert.throws(() => parseCsv('id\n"open\nnever closed'), (e) => e instanceof ExportError && /line 2: a quoted field is never closed/.test(e.message));
  assert.throws(() => parseCsv('id\nab"c\n'), (e) => e instanceof ExportError && /line 2: a quote inside an unquoted field/.test(e.message));
  assert.throws(() => parseCsv('id\n"abc"d\n'), (e) => e instanceof ExportError && /line 2: text after a closing quote/.test(e.message));
});

test('CSV: the header must name the required columns once; unknown columns are listed, rows of the wrong width refused', () => {
  assert.throws(() => readExport('id,email\n', 'csv'), /lacks the column\(s\) emailVerified, createdAt, updatedAt/);
  assert.throws(() => readExport('id,email,email,emailVerified,createdAt,updatedAt\n', 'csv'), /names the column email twice/);
  assert.throws(() => readExport('', 'csv'), /empty/);
  const { records, refused, ignoredColumns } = readExport(
    'id,email,email_verified,created_at,updated_at,banReason\nu1,a@x.test,t,1,2,spam\nu2,b@x.test,t\n', 'csv');
  assert.deepEqual(records, [{ line: 2, values: { id: 'u1', email: 'a@x.test', emailVerified: 't', createdAt: '1', updatedAt: '2' } }]);
  assert.deepEqual(refused, [{ line: 3, id: 'u2', reason: 'has 3 fields where the header has 6' }]);
  assert.deepEqual(ignoredColumns, ['banReason']);
});

test('JSON lines: each line one object; anything else on a line is refused with its line number', () => {
  const { records, refused } = readExport('{"id":"a","email_verified":true}\n\n[1]\nnot json\n"text"\r\n{"id":"b","name":null}\n', 'jsonl');
  assert.deepEqual(records, [{ line: 1, values: { id: 'a', emailVerified: true } }, { line: 6, values: { id: 'b' } }]);
  assert.deepEqual(refused.map((r) => r.line), [3, 4, 5]);
  assert.ok(refused.every((r) => r.reason === 'is not a JSON object'));
  assert.throws(() => readExport('[{"id":"a"}]', 'jsonl'), /JSON array, not JSON lines/);
});

test('the format comes from --format or the extension, never a guess', () => {
  assert.equal(detectFormat('users.CSV'), 'csv');
  assert.equal(detectFormat('users.ndjson'), 'jsonl');
  assert.equal(detectFormat('users.txt', 'jsonl'), 'jsonl');
  assert.throws(() => detectFormat('users.json'), /--format csv or --format jsonl/);
  assert.throws(() => detectFormat('users.csv', 'xml'), /must be csv or jsonl/);
});

test('booleans and times are read in the spellings databases export, and nothing else', () => {
  for (const yes of [true, 1, 'true', 'T', ' yes ', '1']) assert.equal(parseBoolean(yes), true, String(yes));
  for (const no of [false, 0, 'false', 'f', 'NO', '0']) assert.equal(parseBoolean(no), false, String(no));
  for (const bad of ['', 'maybe', 2, null, undefined, {}]) assert.equal(parseBoolean(bad), null, String(bad));
  const t = 1717200000; // 2024-06-01T00:00:00Z
  for (const v of ['2024-06-01T00:00:00Z', '2024-06-01T00:00:00.999Z', '2024-06-01 00:00:00', '2024-06-01 00:00:00+00',
    '2024-06-01T02:00:00+02:00', '2024-06-01T02:00:00+0200', '2024-06-01', t, t * 1000, String(t), `${t * 1000}`]) {
    assert.equal(parseTimestamp(v), t, String(v));
  }
  for (const bad of ['2024-02-30T00:00:00Z', '2024-13-01', '01/06/2024', 'yesterday', '', -1, NaN, null, true]) {
    assert.equal(parseTimestamp(bad), null, String(bad));
  }
});

test('a good row becomes a user: name to first_name, role kept, a current ban deactivates', () => {
  const { rows, refused } = check(
    { image: 'https://img.example.test/a.png', role: 'admin' },
    { id: 'u2', email: 'b@example.test', name: '  ', role: '' },
    { id: 'u3', email: 'c@example.test', banned: true },
    { id: 'u4', email: 'd@example.test', banned: 'true', banExpires: NOW - 1 },
    { id: 'u5', email: 'e@example.test', banned: true, banExpires: (NOW + 60) * 1000 },
    { id: 42, email: 'f@example.test' },
  );
  assert.deepEqual(refused, []);
  assert.deepEqual(rows[0], {
    line: 1, id: 'u1', email: 'ada@example.test', name: 'Ada', image: 'https://img.example.test/a.png', role: 'admin',
    active: true, createdAt: 1704067200, updatedAt: 1704153600,
  });
  assert.deepEqual([rows[1].name, rows[1].role], [null, 'user']);
  assert.deepEqual(rows.map((r) => r.active), [true, true, false, true, false, true]);
  assert.equal(rows[5].id, '42');
});

test('each bad row is refused with the reason, and only that row', () => {
  assert.equal(reasonOf({ id: undefined }), 'id: missing');
  assert.match(reasonOf({ id: 'has space' }), /^id: must be 1-64 characters/);
  assert.match(reasonOf({ id: 'x'.repeat(65) }), /^id: must be/);
  assert.equal(reasonOf({ email: undefined }), 'email: missing');
  assert.equal(reasonOf({ email: '   ' }), 'email: missing');
  for (const email of ['no-at-sign', 'two@@x.test', 'sp ace@x.test', 'ctl\u0007@x.test', `${'a'.repeat(320)}@x.test`, 7]) {
    assert.equal(reasonOf({ email }), 'email: not an email address', String(email));
  }
  assert.equal(reasonOf({ emailVerified: false }), 'email not verified in better-auth');
  assert.equal(reasonOf({ emailVerified: 'f' }), 'email not verified in better-auth');
  assert.equal(reasonOf({ emailVerified: undefined }), 'emailVerified: missing or not a boolean');
  assert.match(reasonOf({ name: 'line\nbreak' }), /^name: /);
  assert.match(reasonOf({ name: 'n'.repeat(257) }), /^name: /);
  for (const image of ['javascript:alert(1)', 'data:image/png;base64,AAAA', 'not a url', `https://x.test/${'a'.repeat(2048)}`]) {
    assert.match(reasonOf({ image }), /^image: not an http\(s\) URL/, image.slice(0, 30));
  }
  assert.match(reasonOf({ role: 'superuser' }), /^role: "superuser" is not a role this worker has \(user, admin\)/);
  assert.match(reasonOf({ role: 'admin,user' }), /^role: /, 'several roles are not guessed at');
  assert.equal(reasonOf({ createdAt: 'soon' }), 'createdAt: missing or not a time');
  assert.equal(reasonOf({ updatedAt: undefined }), 'updatedAt: missing or not a time');
  assert.equal(reasonOf({ banned: 'perhaps' }), 'banned: not a boolean');
  assert.equal(reasonOf({ banned: true, banExpires: 'later' }), 'banExpires: not a time');
  const { rows, refused } = check({}, { id: 'ok2', email: 'ok2@example.test' }, { id: 'bad', emailVerified: false, email: 'x@example.test' });
  assert.deepEqual(rows.map((r) => r.id), ['u1', 'ok2']);
  assert.deepEqual(refused, [{ line: 3, id: 'bad', reason: 'email not verified in better-auth' }]);
});

test('rows sharing an id, or an email up to ASCII case, are all refused: nothing says which is the person', () => {
  const { rows, refused } = check(
    { id: 'a', email: 'Same@Example.test' },
    { id: 'b', email: 'other@example.test' },
    { id: 'c', email: 'same@example.TEST' },
    { id: 'b', email: 'third@example.test' },
    { id: 'd', email: 'ÉCOLE@example.test' },
    { id: 'e', email: 'école@example.test' },
  );
  assert.deepEqual(refused, [
    { line: 1, id: 'a', reason: 'duplicate email (also on line 3)' },
    { line: 2, id: 'b', reason: 'duplicate id (also on line 4)' },
    { line: 3, id: 'c', reason: 'duplicate email (also on line 1)' },
    { line: 4, id: 'b', reason: 'duplicate id (also on line 2)' },
  ]);
  // SQLite's NOCASE (the worker's comparison) folds ASCII only; the import compares the same way.
  assert.deepEqual(rows.map((r) => r.id), ['d', 'e']);
  assert.equal(foldEmail('ÉCOLE@X.test'), 'École@x.test');
});

test('SQL literals double quotes and refuse what is not text', () => {
  assert.equal(sqlText("O'Brien'); DROP TABLE users; --"), "'O''Brien''); DROP TABLE users; --'");
  assert.equal(sqlText(null), 'NULL');
  assert.throws(() => sqlText('nul\0'));
  assert.throws(() => sqlText(5));
});

test('batches are bounded by rows and by bytes, and keep every row once in order', () => {
  const many = Array.from({ length: 23 }, (_, i) => ({ ...check({ id: `u${i}`, email: `u${i}@example.test` }).rows[0] }));
  const byRows = makeBatches(many, { maxRows: 5 });
  assert.deepEqual(byRows.map((b) => b.length), [5, 5, 5, 5, 3]);
  const byBytes = makeBatches(many, { maxRows: 500, maxBytes: 2000 });
  assert.ok(byBytes.length > 1);
  for (const b of byBytes) assert.ok(Buffer.byteLength(batchSql(b, { write: true })) <= 2000, `${b.length} rows over the byte bound`);
  assert.deepEqual(byBytes.flat().map((r) => r.id), many.map((r) => r.id));
});

test('the statements import once, never over a taken id or email, and report what they did', async () => {
  // D1's own engine (Miniflare, in memory) with the real migrations.
  const mf = new Miniflare({ modules: true, script: 'export default {}', d1Databases: { DB: 'unit' } });
  try {
    const db = await mf.getD1Database('DB');
    await db.batch(migrationStatements().map((s) => db.prepare(s)));
    const all = async (sql) => (await db.prepare(sql).all()).results;
    await all("INSERT INTO users (id, workos_id, email, created_at, updated_at) VALUES ('usr_linked', 'user_w1', 'Linked@Example.test', 1, 1)");
    const { rows } = check({}, { id: 'u2', email: 'linked@example.test' }, { id: 'u3', email: "o'hara@example.test", name: "O'Hara" });
    // As wrangler runs a --command: split into statements, one batch.
    const runBatch = (write) => db.batch(batchSql(rows, { write }).split(';\n').map((s) => db.prepare(s)));
    const dry = classify(rows, await runBatch(false), { write: false });
    assert.deepEqual(dry.wouldImport.map((r) => r.id), ['u1', 'u3']);
    assert.match(dry.refused[0].reason, /email already belongs to a user who signs in through WorkOS \(usr_linked\)/);
    assert.equal((await all('SELECT COUNT(*) AS n FROM users'))[0].n, 1, 'the dry run read only');
    const first = classify(rows, await runBatch(true), { write: true });
    assert.deepEqual(first.imported.map((r) => r.id), ['u1', 'u3']);
    assert.deepEqual(first.refused.map((r) => r.id), ['u2']);
    const again = classify(rows, await runBatch(true), { write: true });
    assert.deepEqual([again.imported.length, again.present.map((r) => r.id)], [0, ['u1', 'u3']]);
    assert.deepEqual(await all("SELECT first_name, email_verified, workos_id FROM users WHERE id = 'u3'"),
      [{ first_name: "O'Hara", email_verified: 1, workos_id: null }]);
    assert.equal((await all('SELECT COUNT(*) AS n FROM users'))[0].n, 3);
    // An email another imported user holds, in any ASCII case, is not written a second time.
    assert.deepEqual(await all(insertSql({ ...rows[0], id: 'u9', email: 'ADA@example.test' })), []);
    assert.equal((await all(lookupSql([{ id: 'zz', email: 'ADA@EXAMPLE.TEST' }])))[0].id, 'u1');
  } finally {
    await mf.dispose();
  }
});
