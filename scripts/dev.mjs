// `npm run dev`: the worker on http://localhost:8787 with embedded defaults — local D1 (migrations
// applied), development secrets from .dev.vars (created from .dev.vars.example by setup.sh), and the
// WorkOS stand-in on http://127.0.0.1:8788 with a sign-in page listing seeded users. Ctrl-C stops all.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStandin } from '../tests/fixtures/workos-standin.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const wrangler = path.join(root, 'node_modules/.bin/wrangler');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

function devVars() {
  const file = existsSync('.dev.vars') ? '.dev.vars' : '.dev.vars.example';
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
}

const vars = devVars();
const standinPort = Number(new URL(vars.WORKOS_API_BASE ?? 'http://127.0.0.1:8788').port || 8788);
const standin = await startStandin({
  port: standinPort,
  mode: 'interactive',
  clientId: vars.WORKOS_CLIENT_ID,
  apiKey: vars.WORKOS_API_KEY,
  webhookSecret: vars.WORKOS_WEBHOOK_SECRET,
  webhookUrl: 'http://localhost:8787/webhooks/workos',
});
console.log(`[dev] WorkOS stand-in on ${standin.url} (sign-in page lists seeded users)`);

console.log('[dev] applying D1 migrations to the local database');
// CI=true answers wrangler's confirmation prompt for local migrations.
const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'auth', '--local'], { stdio: 'inherit', env: { ...env, CI: 'true' } });
if (migrate.status !== 0) {
  await standin.close();
  process.exit(migrate.status ?? 1);
}

console.log('[dev] starting wrangler dev on http://localhost:8787 — open http://localhost:8787/login');
const dev = spawn(wrangler, ['dev', '--port', '8787', '--ip', '127.0.0.1', '--local'], { stdio: 'inherit', env });
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  dev.kill('SIGTERM');
  await standin.close();
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
dev.on('exit', (code) => stop(code ?? 0));
