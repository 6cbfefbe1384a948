// Reading a better-auth `user` export and turning it into D1 statements, for
// scripts/import-better-auth.mjs. Pure: text in, rows, refusals and SQL out; no file, process or
// network access (the command does that), so every rule here is unit-tested on its own
// (tests/unit/better-auth-export.test.mjs).
//
// A row is imported whole or not at all: it becomes one guarded INSERT statement, so no failure can
// leave half of it written. Everything a row carries is checked before any SQL is made; a row that
// fails a check is refused with its line and the reason, never repaired.

/** The export's columns (better-auth's camelCase field names, or the snake_case some adapters use). */
const COLUMNS = {
  id: ['id'],
  email: ['email'],
  emailVerified: ['emailVerified', 'email_verified'],
  name: ['name'],
  image: ['image'],
  createdAt: ['createdAt', 'created_at'],
  updatedAt: ['updatedAt', 'updated_at'],
  // The admin plugin's fields.
  role: ['role'],
  banned: ['banned'],
  banExpires: ['banExpires', 'ban_expires'],
};
const REQUIRED = ['id', 'email', 'emailVerified', 'createdAt', 'updatedAt'];
const ALIASES = new Map(Object.entries(COLUMNS).flatMap(([key, names]) => names.map((n) => [n, key])));

/** The roles this worker gives meaning to (d1-migrations/SCHEMA.md: `users.role`). */
export const ROLES = new Set(['user', 'admin']);
/** The worker's rule for ids that come from elsewhere (domain/src/ids.rs, `is_opaque`). */
const OPAQUE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_EMAIL = 320;
const MAX_NAME = 256;
const MAX_IMAGE_URL = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const DEFAULT_BATCH_ROWS = 100;
export const MAX_BATCH_ROWS = 500;
/**
 * One batch's SQL stays under this: wrangler gets it as one command-line argument (Linux caps one at
 * 128 KiB), and D1 caps an SQL statement at 100 KB (its Limits page).
 */
export const MAX_BATCH_BYTES = 90_000;

/** A problem with the whole export (not one row): the command stops before writing anything. */
export class ExportError extends Error {}

/** `csv` or `jsonl`, from `--format` or else the file's extension. */
export function detectFormat(file, explicit) {
  const format = explicit ?? (/\.csv$/i.test(file) ? 'csv' : /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : null);
  if (format === 'csv' || format === 'jsonl') return format;
  if (explicit) throw new ExportError(`--format must be csv or jsonl, not ${JSON.stringify(explicit)}`);
  throw new ExportError(`cannot tell the format of ${file} from its extension: pass --format csv or --format jsonl`);
}

/**
 * RFC 4180 CSV: comma-separated, fields optionally in double quotes (a quote inside one doubled),
 * CRLF or LF line ends, line breaks allowed inside quotes. Returns [{line, fields}] with the line each
 * record starts on; blank lines are skipped. A broken quote breaks every record after it, so it is an
 * ExportError rather than one refused row.
 */
export function parseCsv(text) {
  const records = [];
  let fields = [];
  let field = '';
  let line = 1;
  let start = 1;
  let state = 'field'; // field | quoted | closed (just after a closing quote)
  const endRecord = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== '') records.push({ line: start, fields });
    fields = [];
    field = '';
  };
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const c = text[i];
    if (state === 'quoted') {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        state = 'closed';
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      state = 'field';
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      endRecord();
      line++;
      start = line;
      state = 'field';
    } else if (state === 'closed') {
      throw new ExportError(`line ${line}: text after a closing quote (a field is "quoted" whole or not at all)`);
    } else if (c === '"') {
      if (field !== '') throw new ExportError(`line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`);
      state = 'quoted';
    } else {
      field += c;
    }
  }
  if (state === 'quoted') throw new ExportError(`line ${start}: a quoted field is never closed`);
  endRecord();
  return records;
}

/**
 * The export's records as {line, values} with values under the canonical keys of COLUMNS (missing or
 * empty CSV cells are undefined), plus rows already refused for their shape and the columns ignored.
 */
export function readExport(text, format) {
  const refused = [];
  const ignored = new Set();
  const canonical = (name) => {
    const key = ALIASES.get(name);
    if (!key) ignored.add(name);
    return key;
  };
  const records = [];
  if (format === 'csv') {
    const [header, ...rows] = parseCsv(text);
    if (!header) throw new ExportError('the export is empty');
    const keys = header.fields.map((name) => canonical(name.trim()));
    for (const key of new Set(keys.filter(Boolean))) {
      if (keys.filter((k) => k === key).length > 1) throw new ExportError(`the header names the column ${key} twice`);
    }
    const missing = REQUIRED.filter((k) => !keys.includes(k));
    if (missing.length) throw new ExportError(`the header lacks the column(s) ${missing.join(', ')}`);
    for (const { line, fields } of rows) {
      if (fields.length !== keys.length) {
        const id = fields[keys.indexOf('id')];
        refused.push({ line, id: OPAQUE_ID.test(id ?? '') ? id : null, reason: `has ${fields.length} fields where the header has ${keys.length}` });
        continue;
      }
      const values = {};
      keys.forEach((key, i) => {
        if (key && fields[i] !== '') values[key] = fields[i];
      });
      records.push({ line, values });
    }
  } else {
    const lines = text.replace(/^\uFEFF/, '').split('\n');
    if (lines.find((l) => l.trim())?.trim().startsWith('[')) {
      throw new ExportError('this is a JSON array, not JSON lines: write one user object per line');
    }
    lines.forEach((raw, i) => {
      const l = raw.trim();
      if (!l) return;
      let obj;
      try {
        obj = JSON.parse(l);
      } catch {
        obj = undefined;
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
        refused.push({ line: i + 1, id: null, reason: 'is not a JSON object' });
        return;
      }
      const values = {};
      for (const [name, value] of Object.entries(obj)) {
        const key = canonical(name);
        if (key && values[key] === undefined && value !== null && value !== '') values[key] = value;
      }
      records.push({ line: i + 1, values });
    });
  }
  return { records, refused, ignoredColumns: [...ignored] };
}

/** true/false from a JSON boolean, 1/0, or the spellings databases export (true, t, yes, 1 …); else null. */
export function parseBoolean(v) {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v !== 'string') return null;
  const s = v.trim().toLowerCase();
  if (['true', 't', '1', 'yes'].includes(s)) return true;
  if (['false', 'f', '0', 'no'].includes(s)) return false;
  return null;
}

/**
 * Unix seconds from an RFC 3339 / ISO 8601 time (a space instead of `T` and Postgres's `+00` offset
 * accepted; no offset means UTC), or from epoch milliseconds or seconds as a number or digits
 * (below 10^11 they are seconds, as SQLite adapters store them; JavaScript's are milliseconds). Null
 * when it is none of these or names a day that does not exist.
 */
export function parseTimestamp(v) {
  const fromEpoch = (n) => (Number.isFinite(n) && n >= 0 && n < 1e15 ? Math.floor(n >= 1e11 ? n / 1000 : n) : null);
  if (typeof v === 'number') return fromEpoch(v);
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (/^\d{1,15}(\.\d+)?$/.test(s)) return fromEpoch(Number(s));
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return null;
  const tz = /^z$/i.test(zone) ? 'Z' : zone.length === 3 ? `${zone}:00` : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}${frac.slice(0, 4)}${tz}`);
  return Number.isFinite(ms) && ms >= 0 ? Math.floor(ms / 1000) : null;
}

/** ASCII-only case folding: what SQLite's NOCASE (the worker's email comparison) folds. */
export const foldEmail = (email) => email.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * Checks every record and returns {rows, refused}. A row: {line, id, email, name, image, role, active,
 * createdAt, updatedAt} ready for SQL. `now` (unix seconds) decides whether a ban has expired.
 */
export function validate(records, { now }) {
  const refused = [];
  const candidates = [];
  for (const { line, values: v } of records) {
    const id = typeof v.id === 'number' && Number.isSafeInteger(v.id) ? String(v.id) : v.id;
    const refuse = (reason) => refused.push({ line, id: typeof id === 'string' && OPAQUE_ID.test(id) ? id : null, reason });
    if (typeof id !== 'string' || !OPAQUE_ID.test(id)) {
      refuse(id === undefined ? 'id: missing' : 'id: must be 1-64 characters of A-Z a-z 0-9 _ - (the worker keeps it as the user id)');
      continue;
    }
    const email = typeof v.email === 'string' ? v.email.trim() : v.email;
    if (email === undefined || email === '') {
      refuse('email: missing');
      continue;
    }
    if (typeof email !== 'string' || email.length > MAX_EMAIL || CONTROL.test(email) || !/^[^\s@]+@[^\s@]+$/.test(email)) {
      refuse('email: not an email address');
      continue;
    }
    const verified = parseBoolean(v.emailVerified);
    if (verified === null) {
      refuse('emailVerified: missing or not a boolean');
      continue;
    }
    if (!verified) {
      // Nobody showed better-auth they own this address, so it cannot vouch for whoever signs in
      // with it at WorkOS; that person signs up anew.
      refuse('email not verified in better-auth');
      continue;
    }
    const name = typeof v.name === 'string' ? v.name.trim() || null : v.name ?? null;
    if (name !== null && (typeof name !== 'string' || name.length > MAX_NAME || CONTROL.test(name))) {
      refuse(`name: not text of at most ${MAX_NAME} characters without control characters`);
      continue;
    }
    const image = typeof v.image === 'string' ? v.image.trim() : v.image ?? null;
    if (image !== null && !isWebUrl(image)) {
      refuse(`image: not an http(s) URL of at most ${MAX_IMAGE_URL} characters`);
      continue;
    }
    const role = typeof v.role === 'string' ? v.role.trim() || 'user' : v.role ?? 'user';
    if (!ROLES.has(role)) {
      refuse(`role: ${JSON.stringify(String(role)).slice(0, 40)} is not a role this worker has (${[...ROLES].join(', ')})`);
      continue;
    }
    const createdAt = parseTimestamp(v.createdAt);
    const updatedAt = parseTimestamp(v.updatedAt);
    if (createdAt === null || updatedAt === null) {
      refuse(`${createdAt === null ? 'createdAt' : 'updatedAt'}: missing or not a time`);
      continue;
    }
    const banned = v.banned === undefined ? false : parseBoolean(v.banned);
    const banEnds = v.banExpires === undefined ? null : parseTimestamp(v.banExpires);
    if (banned === null || (v.banExpires !== undefined && banEnds === null)) {
      refuse(banned === null ? 'banned: not a boolean' : 'banExpires: not a time');
      continue;
    }
    // A ban with no end, or one that has not ended, is carried over as a deactivated account (the
    // worker has no timed bans): the person cannot sign in until an operator reactivates them.
    const active = !(banned && (banEnds === null || banEnds > now));
    candidates.push({ line, id, email, name, image, role, active, createdAt, updatedAt });
  }
  // Two rows for one id or one email: nothing says which is the person, so neither is imported.
  const lines = (key) => {
    const seen = new Map();
    for (const r of candidates) seen.set(key(r), [...(seen.get(key(r)) ?? []), r.line]);
    return seen;
  };
  const byId = lines((r) => r.id);
  const byEmail = lines((r) => foldEmail(r.email));
  const rows = [];
  for (const r of candidates) {
    const others = (seen, k) => seen.get(k).filter((l) => l !== r.line);
    if (others(byId, r.id).length) {
      refused.push({ line: r.line, id: r.id, reason: `duplicate id (also on line ${others(byId, r.id).join(', ')})` });
    } else if (others(byEmail, foldEmail(r.email)).length) {
      refused.push({ line: r.line, id: r.id, reason: `duplicate email (also on line ${others(byEmail, foldEmail(r.email)).join(', ')})` });
    } else {
      rows.push(r);
    }
  }
  refused.sort((a, b) => a.line - b.line);
  return { rows, refused };
}

function isWebUrl(s) {
  if (typeof s !== 'string' || s.length > MAX_IMAGE_URL || CONTROL.test(s)) return false;
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** An SQL string literal (text that passed validate has no control characters, NUL included). */
export function sqlText(s) {
  if (s === null) return 'NULL';
  if (typeof s !== 'string' || s.includes('\0')) throw new TypeError('sqlText: not text');
  return `'${s.replaceAll("'", "''")}'`;
}

function sqlInt(n) {
  if (!Number.isSafeInteger(n)) throw new TypeError('sqlInt: not an integer');
  return String(n);
}

/** What the database already holds for a batch's ids and emails (emails compared like NOCASE). */
export function lookupSql(batch) {
  const ids = batch.map((r) => sqlText(r.id)).join(', ');
  const emails = batch.map((r) => sqlText(r.email)).join(', ');
  return `SELECT id, email, workos_id IS NOT NULL AS linked FROM users WHERE id IN (${ids}) OR email COLLATE NOCASE IN (${emails})`;
}

/**
 * One user, inserted only when neither its id nor its email (any user's, linked or not) is taken;
 * RETURNING says whether it was. Running it again changes nothing.
 */
export function insertSql(r) {
  const values = [sqlText(r.id), sqlText(r.email), sqlText(r.name), sqlText(r.image), '1', sqlText(r.role),
    r.active ? '1' : '0', sqlInt(r.createdAt), sqlInt(r.updatedAt)].join(', ');
  return 'INSERT INTO users (id, email, first_name, profile_picture_url, email_verified, role, is_active, created_at, updated_at) '
    + `SELECT ${values} WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = ${sqlText(r.email)} COLLATE NOCASE) `
    + 'ON CONFLICT DO NOTHING RETURNING id';
}

/** The SQL of one batch: the lookup, then (unless dry) one insert per row. */
export function batchSql(batch, { write }) {
  return [lookupSql(batch), ...(write ? batch.map(insertSql) : [])].join(';\n');
}

/** Splits rows into batches of at most `maxRows` rows and `maxBytes` of SQL (batchSql with writes). */
export function makeBatches(rows, { maxRows = DEFAULT_BATCH_ROWS, maxBytes = MAX_BATCH_BYTES } = {}) {
  // What one row adds to batchSql, at most: its id and email in the lookup with their ", "
  // separators, and its insert with the ";\n" before it.
  const cost = (r) => Buffer.byteLength(sqlText(r.id)) + Buffer.byteLength(sqlText(r.email)) + 4 + Buffer.byteLength(insertSql(r)) + 2;
  const base = Buffer.byteLength(lookupSql([]));
  const batches = [];
  let current = [];
  let bytes = base;
  for (const r of rows) {
    const c = cost(r);
    if (current.length && (current.length >= maxRows || bytes + c > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = base;
    }
    current.push(r);
    bytes += c;
  }
  if (current.length) batches.push(current);
  return batches;
}

/**
 * Sorts a batch's rows by what happened, from wrangler's per-statement results (`[lookup, insert…]`):
 * {imported, present, wouldImport, refused}. `present` rows carry a `note` when the stored email
 * differs (WorkOS may have changed it since; the stored row is left as it is).
 */
export function classify(batch, results, { write }) {
  const found = results[0]?.results;
  if (!Array.isArray(found) || (write && results.length !== batch.length + 1)) {
    throw new Error(`wrangler answered ${results.length} results for ${write ? batch.length + 1 : 1} statements`);
  }
  const out = { imported: [], present: [], wouldImport: [], refused: [] };
  batch.forEach((r, i) => {
    if (write && results[i + 1].results?.some((row) => row.id === r.id)) {
      out.imported.push(r);
      return;
    }
    const sameId = found.find((row) => row.id === r.id);
    const sameEmail = found.find((row) => row.id !== r.id && foldEmail(String(row.email)) === foldEmail(r.email));
    if (sameId) {
      const note = foldEmail(String(sameId.email)) === foldEmail(r.email) ? undefined : 'the stored email differs; the stored row is left as it is';
      out.present.push({ ...r, note });
    } else if (sameEmail) {
      const whose = Number(sameEmail.linked) ? 'a user who signs in through WorkOS' : 'another imported user';
      out.refused.push({ line: r.line, id: r.id, reason: `email already belongs to ${whose} (${sameEmail.id})` });
    } else if (!write) {
      out.wouldImport.push(r);
    } else {
      out.refused.push({ line: r.line, id: r.id, reason: 'not written: the database changed during the import; run it again' });
    }
  });
  return out;
}
