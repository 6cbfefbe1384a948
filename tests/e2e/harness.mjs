// End-to-end harness: runs the real WASM build (build/) in workerd through Miniflare 4, with a local
// D1 database migrated from d1-migrations/, the WorkOS stand-in on loopback, and the example
// consumer workers bound to `auth` through real service bindings. The stand-in is the only fake.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { startStandin } from '../fixtures/workos-standin.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ORIGIN = 'http://localhost:8787';
export const TEST_JWT_SECRET = 'test-access-secret-that-is-long-enough-0001';
export const TEST_JWT_REFRESH_SECRET = 'test-refresh-secret-that-is-long-enough-0002';
const COMPAT_DATE = '2026-04-01';

const workerModules = {
  modules: true,
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  compatibilityDate: COMPAT_DATE,
};

/** Splits a migration file into statements (our SQL has no semicolons inside literals). */
export function migrationStatements() {
  const dir = path.join(ROOT, 'd1-migrations');
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.*\.sql$/.test(f))
    .sort()
    .flatMap((f) =>
      readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

export function authBindings(standin, overrides = {}) {
  const vars = {
    ENVIRONMENT: 'development',
    WORKOS_API_BASE: standin.url,
    WORKOS_CLIENT_ID: standin.clientId,
    WORKOS_API_KEY: standin.apiKey,
    WORKOS_WEBHOOK_SECRET: standin.webhookSecret,
    WORKOS_REDIRECT_URI: `${ORIGIN}/auth/callback`,
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET,
    ALLOWED_RETURN_ORIGINS: 'https://app.example.test',
    WORKOS_TIMEOUT_MS: '1500',
    SESSION_CACHE_TTL_SECONDS: '2',
    REFRESH_REUSE_GRACE_SECONDS: '2',
    ...overrides,
  };
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete vars[k];
  return vars;
}

/** Another instance of the auth build, reachable at http://<host>/, with its own bindings. */
export function authVariant(name, host, bindings) {
  return {
    name,
    ...workerModules,
    scriptPath: path.join(ROOT, 'build/index.js'),
    d1Databases: { DB: 'auth-e2e' },
    bindings: Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== undefined)),
    routes: [`${host}/*`],
  };
}

/**
 * Starts the stand-in and a Miniflare instance with: `auth` (the build), `gateway` and `mcp`
 * (examples/, bound to auth as AUTH_SERVICE), plus `extraWorkers` (a list, or a function of the
 * stand-in returning one).
 */
export async function startEnv({ vars = {}, standin: standinOptions = {}, extraWorkers = [] } = {}) {
  const standin = await startStandin({ seed: true, ...standinOptions });
  const logs = [];
  const capture = (stream) => {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      for (const line of chunk.split('\n')) if (line.trim()) logs.push(line);
    });
  };
  const mf = new Miniflare({
    workers: [
      {
        name: 'auth',
        ...workerModules,
        scriptPath: path.join(ROOT, 'build/index.js'),
        d1Databases: { DB: 'auth-e2e' },
        bindings: authBindings(standin, vars),
      },
      {
        name: 'gateway',
        modules: true,
        compatibilityDate: COMPAT_DATE,
        scriptPath: path.join(ROOT, 'examples/gateway/index.js'),
        serviceBindings: { AUTH_SERVICE: 'auth', UPSTREAM: 'upstream' },
        routes: ['gateway.local/*'],
      },
      {
        name: 'mcp',
        modules: true,
        compatibilityDate: COMPAT_DATE,
        scriptPath: path.join(ROOT, 'examples/mcp/index.js'),
        serviceBindings: { AUTH_SERVICE: 'auth' },
        routes: ['mcp.local/*'],
      },
      {
        // What the gateway forwards to: echoes who the gateway said the caller is.
        name: 'upstream',
        modules: true,
        compatibilityDate: COMPAT_DATE,
        script: `export default { fetch(req) { return Response.json({ upstream: true, path: new URL(req.url).pathname,
          userId: req.headers.get('x-auth-user-id'), authorization: req.headers.get('authorization') }); } }`,
      },
      {
        // Calls AUTH_SERVICE methods by name, so tests can drive the binding directly.
        name: 'rpc-probe',
        modules: true,
        compatibilityDate: COMPAT_DATE,
        serviceBindings: { AUTH_SERVICE: 'auth' },
        routes: ['probe.local/*'],
        script: `export default { async fetch(req, env) {
          const { method, args } = await req.json();
          try {
            // Call as a method: on an RPC stub, .apply would itself be taken as a remote method name.
            const result = await env.AUTH_SERVICE[method](...args);
            return Response.json({ ok: true, result: result === undefined ? null : result });
          } catch (e) { return Response.json({ ok: false, error: String(e && e.message || e) }); }
        } }`,
      },
      ...(typeof extraWorkers === 'function' ? extraWorkers(standin) : extraWorkers),
    ],
    handleRuntimeStdio(stdout, stderr) {
      capture(stdout);
      capture(stderr);
    },
  });
  await mf.ready;
  const db = await mf.getD1Database('DB', 'auth');
  await db.batch(migrationStatements().map((s) => db.prepare(s)));

  const env = {
    mf,
    db,
    standin,
    logs,
    /** Sends a request to the auth worker. `path` is relative to ORIGIN. */
    fetch(pathOrUrl, init = {}) {
      const url = pathOrUrl.startsWith('http') ? pathOrUrl : ORIGIN + pathOrUrl;
      return mf.dispatchFetch(url, { redirect: 'manual', ...init });
    },
    /** Calls env.AUTH_SERVICE[method](...args) from a bound worker; resolves {ok, result|error}. */
    async rpc(method, ...args) {
      const res = await mf.dispatchFetch('http://probe.local/', { method: 'POST', body: JSON.stringify({ method, args }) });
      return res.json();
    },
    async query(sql, ...params) {
      return (await db.prepare(sql).bind(...params).all()).results;
    },
    async count(table, where = '1=1', ...params) {
      const rows = await env.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, ...params);
      return rows[0].n;
    },
    async close() {
      await mf.dispose();
      await standin.close();
    },
  };
  return env;
}

/** A minimal cookie jar for driving the browser flow. */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }
  store(response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim().toLowerCase()).find((a) => a.startsWith('max-age='));
      if (maxAge === 'max-age=0') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name) {
    return this.cookies.get(name);
  }
}

/**
 * Runs the browser sign-in: /login → stand-in authorize (auto mode) → /auth/callback.
 * Returns the callback response; cookies land in `jar`.
 */
export async function browserLogin(env, jar, { returnTo = '/', login = {} } = {}) {
  if (Object.keys(login).length) env.standin.nextLogin(login);
  const start = jar.store(await env.fetch(`/login?return_to=${encodeURIComponent(returnTo)}`, { headers: { cookie: jar.header() } }));
  if (start.status !== 302) throw new Error(`authorize answered ${start.status}: ${await start.text()}`);
  const atWorkos = await fetch(start.headers.get('location'), { redirect: 'manual' });
  const back = atWorkos.headers.get('location');
  if (!back || !back.startsWith(ORIGIN)) throw new Error(`stand-in answered ${atWorkos.status} ${back}`);
  return jar.store(await env.fetch(back, { headers: { cookie: jar.header() } }));
}

/** Signs in through the JSON flow and returns {token, refreshToken, user}. */
export async function jsonLogin(env, login = {}) {
  const jar = new CookieJar();
  if (Object.keys(login).length) env.standin.nextLogin(login);
  const start = jar.store(await env.fetch('/login'));
  const atWorkos = await fetch(start.headers.get('location'), { redirect: 'manual' });
  const res = await env.fetch(atWorkos.headers.get('location'), { headers: { cookie: jar.header(), accept: 'application/json' } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`callback answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

export const bearer = (token) => ({ authorization: `Bearer ${token}` });
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
