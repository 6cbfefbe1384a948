// The development settings npm run dev and npm run token share: .dev.vars (created from .dev.vars.example by
// setup.sh), or the example itself before setup has run, as { NAME: value }.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function devVars() {
  const file = [path.join(root, '.dev.vars'), path.join(root, '.dev.vars.example')].find((f) => existsSync(f));
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
}

/** The worker's configured origin (that of WORKOS_REDIRECT_URI) and the WorkOS stand-in's URL. */
export function devOrigins(vars = devVars()) {
  return {
    origin: new URL(vars.WORKOS_REDIRECT_URI ?? 'http://localhost:8787/auth/callback').origin,
    standin: vars.WORKOS_API_BASE ?? 'http://127.0.0.1:8788',
  };
}
