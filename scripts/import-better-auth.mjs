#!/usr/bin/env node
// Imports a better-auth `user` export (JSON lines or CSV) into this worker's D1 `users` table, keeping
// every user's id, so that rows other services keep under those ids still name the same person and
// each person's first WorkOS sign-in links to their row (README: "Moving from better-auth").
//
//   npm run import:better-auth -- users.jsonl --remote --dry-run
//   npm run import:better-auth -- users.csv --local [--persist-to DIR] [--batch-size 100] [--json]
//
// Every read and write goes through the repo's own wrangler (`wrangler d1 execute`); this script
// makes no network request itself. Rows are checked first (scripts/lib/better-auth-export.mjs), then
// written in batches of at most --batch-size users, each user one guarded INSERT: a row is written
// whole or not at all, one whose id is already stored is counted as present, and a second run
// changes nothing. --dry-run only reads. Output names rows by line and id, never by email.
// Exit status: 0 all rows imported or present, 2 some rows refused (listed), 1 the export could not
// be read or a batch failed (the summary says which; the batches before it are written).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_BATCH_ROWS, MAX_BATCH_ROWS, ExportError, batchSql, classify, detectFormat, makeBatches, readExport, validate,
} from './lib/better-auth-export.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const USAGE = `usage: npm run import:better-auth -- <export.jsonl|export.csv> (--local | --remote) [options]
  --dry-run            read D1 and report what would be imported; write nothing
  --format csv|jsonl   when the file's extension does not say
  --batch-size N       users per wrangler call (1-${MAX_BATCH_ROWS}, default ${DEFAULT_BATCH_ROWS})
  --database NAME      the D1 database in wrangler.toml (default auth)
  --config FILE        the wrangler configuration (default: the repo's wrangler.toml)
  --persist-to DIR     with --local: wrangler's local state directory (default .wrangler/state)
  --json               print the summary as JSON`;

class UsageError extends Error {}

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        local: { type: 'boolean' }, remote: { type: 'boolean' }, 'dry-run': { type: 'boolean' },
        format: { type: 'string' }, 'batch-size': { type: 'string' }, database: { type: 'string' },
        config: { type: 'string' }, 'persist-to': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new UsageError(e.message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { help: true };
  if (positionals.length !== 1) throw new UsageError('give exactly one export file');
  if (Boolean(v.local) === Boolean(v.remote)) throw new UsageError('say where to import: --local or --remote');
  if (v['persist-to'] && !v.local) throw new UsageError('--persist-to goes with --local');
  const batchSize = v['batch-size'] === undefined ? DEFAULT_BATCH_ROWS : Number(v['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_ROWS) {
    throw new UsageError(`--batch-size must be a whole number from 1 to ${MAX_BATCH_ROWS}`);
  }
  return {
    file: positionals[0],
    target: v.local ? ['--local', ...(v['persist-to'] ? ['--persist-to', path.resolve(v['persist-to'])] : [])] : ['--remote'],
    where: v.local ? 'local' : 'remote',
    dryRun: Boolean(v['dry-run']),
    format: v.format,
    batchSize,
    database: v.database ?? 'auth',
    config: path.resolve(v.config ?? path.join(ROOT, 'wrangler.toml')),
    json: Boolean(v.json),
  };
}

/** Runs one `wrangler d1 execute --json --command` and returns its per-statement results. */
function execute(opts, sql) {
  if (!existsSync(WRANGLER)) throw new Error(`wrangler is not installed at ${path.relative(ROOT, WRANGLER)}: run npm ci`);
  const args = [WRANGLER, 'd1', 'execute', opts.database, ...opts.target, '--config', opts.config, '--json', '--command', sql];
  const run = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  if (run.error) throw new Error(`could not run wrangler: ${run.error.message}`);
  let out;
  try {
    out = JSON.parse(run.stdout);
  } catch {
    out = undefined;
  }
  if (run.status !== 0 || !Array.isArray(out)) {
    // wrangler --json reports failures as {"error":{"text"}}; keep the operator's view short.
    const why = String(out?.error?.text ?? `${run.stdout}\n${run.stderr}`.trim()).slice(0, 600);
    const hint = /no such table/.test(why) ? ` (apply the migrations first: npx wrangler d1 migrations apply ${opts.database} ${opts.target.join(' ')})` : '';
    throw new Error(`wrangler d1 execute failed (exit ${run.status}): ${why}${hint}`);
  }
  return out;
}

function run(opts, log) {
  let text;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (e) {
    throw new ExportError(`cannot read ${opts.file}: ${e.code ?? e.message}`);
  }
  const format = detectFormat(opts.file, opts.format);
  const shape = readExport(text, format);
  const checked = validate(shape.records, { now: Math.floor(Date.now() / 1000) });
  const summary = {
    file: path.basename(opts.file), format, target: opts.where, database: opts.database, dryRun: opts.dryRun,
    rows: shape.records.length + shape.refused.length,
    imported: 0, importedDeactivated: 0, wouldImport: 0, alreadyPresent: 0,
    refused: [...shape.refused, ...checked.refused],
    notes: [],
    ignoredColumns: shape.ignoredColumns,
  };
  const batches = makeBatches(checked.rows, { maxRows: opts.batchSize });
  for (const [i, batch] of batches.entries()) {
    log(`batch ${i + 1}/${batches.length}: ${batch.length} user(s)${opts.dryRun ? ' (dry run: read only)' : ''}`);
    let done;
    try {
      done = classify(batch, execute(opts, batchSql(batch, { write: !opts.dryRun })), { write: !opts.dryRun });
    } catch (e) {
      // The batches before this one are written (each row whole); running the command again
      // finds them present and goes on from here.
      summary.stopped = { batch: i + 1, of: batches.length, error: e.message };
      break;
    }
    summary.imported += done.imported.length;
    summary.importedDeactivated += done.imported.filter((r) => !r.active).length;
    summary.wouldImport += done.wouldImport.length;
    summary.alreadyPresent += done.present.length;
    summary.refused.push(...done.refused);
    summary.notes.push(...done.present.filter((r) => r.note).map((r) => ({ line: r.line, id: r.id, note: r.note })));
  }
  summary.refused.sort((a, b) => a.line - b.line);
  return summary;
}

function report(s) {
  const lines = [];
  const refusedCount = s.refused.length;
  if (s.dryRun) {
    lines.push(`dry run (${s.target} ${s.database}): would import ${s.wouldImport}, already present ${s.alreadyPresent}, refused ${refusedCount}; nothing was written`);
  } else {
    const deactivated = s.importedDeactivated ? ` (${s.importedDeactivated} deactivated: banned in better-auth)` : '';
    lines.push(`imported ${s.imported}${deactivated}, already present ${s.alreadyPresent}, refused ${refusedCount} (${s.target} ${s.database}, ${s.rows} rows read)`);
  }
  for (const r of s.refused) lines.push(`  refused line ${r.line}${r.id ? ` (id ${r.id})` : ''}: ${r.reason}`);
  for (const n of s.notes) lines.push(`  note line ${n.line} (id ${n.id}): ${n.note}`);
  if (s.ignoredColumns.length) lines.push(`  columns not imported: ${s.ignoredColumns.join(', ')}`);
  if (s.stopped) {
    lines.push(`STOPPED at batch ${s.stopped.batch} of ${s.stopped.of}: ${s.stopped.error}`);
    lines.push('  the counts above cover the batches before it; run the same command again to go on');
  }
  return lines.join('\n');
}

function main() {
  let opts;
  try {
    opts = options(process.argv.slice(2));
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    return 1;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const summary = run(opts, (line) => console.error(`[import] ${line}`));
    console.log(opts.json ? JSON.stringify(summary, null, 2) : report(summary));
    if (summary.stopped) return 1;
    return summary.refused.length ? 2 : 0;
  } catch (e) {
    // Only problems with the export as a whole arrive here, before anything is written.
    console.error(`[import] the export cannot be read: ${e.message}`);
    return 1;
  }
}

process.exitCode = main();
