// End-to-end harness: runs the real WASM build (build/) in workerd through Miniflare 4, with a local
// D1 database migrated from d1-migrations/, the WorkOS stand-in on loopback, and the example
// consumer workers bound to `auth` through real service bindings. The stand-in is the only fake.
// `startEnv` also gives the suites their one way to call the binding (`env.rpc` and the asserting
// `env.resolved`, `env.rejected`, `env.validate`, `env.may`) and the worker's HTTP API (`env.call`).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { buildSync } from 'esbuild';
import { startStandin } from '../fixtures/workos-standin.mjs';
import { TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, TEST_SIGNING_KEY, readJson } from './helpers.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ORIGIN = 'http://localhost:8787';
export const COMPAT_DATE = '2026-04-01';

/** The MCP servers the suites run (examples/mcp, twice) and the resource URIs the auth worker knows them by. */
export const MCP_RESOURCE = 'http://mcp.local/mcp';
export const OTHER_MCP_RESOURCE = 'http://other-mcp.local/mcp';
/** OAuth clients registered in OAUTH_CLIENTS (their secrets are only here; the worker gets hashes). */
export const OAUTH_CLIENTS = {
  public: { client_id: 'cli-public', client_name: 'Example CLI', redirect_uris: ['http://127.0.0.1:8976/callback'], token_endpoint_auth_method: 'none' },
  basic: { client_id: 'web-basic', client_name: 'Example Web App', redirect_uris: ['https://app.example.test/oauth/callback'], token_endpoint_auth_method: 'client_secret_basic', secret: 'basic-client-secret-0123456789abcdef' },
  post: { client_id: 'web-post', client_name: 'Example Post App', redirect_uris: ['https://post.example.test/cb', 'https://post.example.test/cb2'], token_endpoint_auth_method: 'client_secret_post', secret: 'post-client-secret-0123456789abcdef' },
  resourceServer: { client_id: 'notes-rs', client_name: 'Notes MCP server', token_endpoint_auth_method: 'client_secret_basic', secret: 'rs-client-secret-0123456789abcdef', introspection_resource: MCP_RESOURCE },
};
const sha256hexOf = (s) => createHash('sha256').update(s).digest('hex');
function oauthClientsVar() {
  return JSON.stringify(Object.values(OAUTH_CLIENTS).map(({ secret, ...c }) => (secret ? { ...c, client_secret_sha256: sha256hexOf(secret) } : c)));
}
function oauthResourcesVar() {
  return JSON.stringify([
    { resource: MCP_RESOURCE, name: 'Notes (example MCP server)', scopes: ['notes:read', 'notes:write', 'notes:*'],
      tools: { search_notes: 'notes:read', create_note: 'notes:write' } },
    { resource: OTHER_MCP_RESOURCE, name: 'Another MCP server', scopes: ['files:read'], tools: { search_notes: 'files:read' } },
  ]);
}

/** examples/mcp bundled with its npm dependencies, as wrangler would (once per test process). */
let mcpBundle;
export function mcpExampleScript() {
  mcpBundle ??= buildSync({
    entryPoints: [path.join(ROOT, 'examples/mcp/index.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker'],
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  }).outputFiles[0].text;
  return mcpBundle;
}

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
    JWT_SIGNING_KEY: TEST_SIGNING_KEY,
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_REFRESH_SECRET: TEST_JWT_REFRESH_SECRET,
    ALLOWED_RETURN_ORIGINS: 'https://app.example.test',
    WORKOS_TIMEOUT_MS: '1500',
    SESSION_CACHE_TTL_SECONDS: '2',
    REFRESH_REUSE_GRACE_SECONDS: '2',
    OAUTH_RESOURCES: oauthResourcesVar(),
    OAUTH_CLIENTS: oauthClientsVar(),
    OAUTH_DYNAMIC_REGISTRATION: 'on',
    ...overrides,
  };
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete vars[k];
  return vars;
}

/**
 * Another instance of the auth build, reachable at http://<host>/, with its own bindings (and so its own
 * isolate and caches). It shares the D1 database `auth-e2e` unless `database` names another one.
 */
export function authVariant(name, host, bindings, database = 'auth-e2e', outboundService = undefined) {
  return {
    name,
    ...workerModules,
    scriptPath: path.join(ROOT, 'build/index.js'),
    d1Databases: { DB: database },
    bindings: Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== undefined)),
    ratelimits: rateLimits(1000),
    routes: [`${host}/*`],
    ...(outboundService ? { outboundService } : {}),
  };
}

/**
 * The auth worker's way out when a suite passes `outbound`: `outbound(request)` answers what it
 * serves (an OAuth client's metadata document on its https host, say) and returns undefined for the
 * rest, which goes to the network as usual (the WorkOS stand-in).
 */
function outboundVia(outbound) {
  if (!outbound) return undefined;
  return async (request) => {
    const served = await outbound(request);
    if (served) return served;
    const body = ['GET', 'HEAD'].includes(request.method) ? undefined : await request.arrayBuffer();
    return fetch(request.url, { method: request.method, headers: request.headers, body, redirect: 'manual' });
  };
}

/**
 * A worker reachable at http://<host>/ with the auth worker bound as AUTH_SERVICE (plus `serviceBindings`);
 * `code` is `{ scriptPath }` or `{ script }`.
 */
export function authConsumer(name, host, code, serviceBindings = {}) {
  return {
    name,
    modules: true,
    compatibilityDate: COMPAT_DATE,
    ...code,
    serviceBindings: { AUTH_SERVICE: 'auth', ...serviceBindings },
    routes: [`${host}/*`],
  };
}

/**
 * The `[[ratelimits]]` of wrangler.toml as Miniflare options: `{ NAME: { simple: { limit, period } } }`.
 * `scale` multiplies every limit (suites that are not about limits run with the production shape but
 * far more room); `overrides` sets exact values for some.
 */
export function rateLimits(scale = 1, overrides = {}) {
  const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const out = {};
  for (const block of toml.split('[[ratelimits]]').slice(1)) {
    const name = /name\s*=\s*"([A-Z_]+)"/.exec(block)?.[1];
    const simple = /simple\s*=\s*\{\s*limit\s*=\s*(\d+)\s*,\s*period\s*=\s*(\d+)\s*\}/.exec(block);
    if (!name || !simple) throw new Error(`wrangler.toml: unreadable [[ratelimits]] block: ${block.slice(0, 120)}`);
    out[name] = { simple: { limit: Number(simple[1]) * scale, period: Number(simple[2]) } };
  }
  for (const [name, simple] of Object.entries(overrides)) out[name] = { simple };
  return out;
}

/** Log lines must never carry a token, an API key or a configured secret (every suite checks on close). */
const SECRET_SHAPES = [
  /eyJ[\w-]{8,}\.eyJ[\w-]{8,}/, // a JWT
  /sk_(live|test)_[0-9A-Za-z]{38}/, // an API key of ours
];

export function assertNoSecretsLogged(logs, secrets = []) {
  const leaks = logs.filter((line) => SECRET_SHAPES.some((re) => re.test(line)) || secrets.some((s) => s && line.includes(s)));
  assert.deepEqual(leaks, [], 'a log line carries a token, key or secret');
}

/** The `database_id` of the `DB` database in wrangler.toml: what wrangler's local D1 is keyed by. */
export function wranglerDatabaseId() {
  const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const id = /\[\[d1_databases\]\][^[]*?database_id\s*=\s*"([^"]+)"/.exec(toml)?.[1];
  if (!id) throw new Error('wrangler.toml: no database_id in [[d1_databases]]');
  return id;
}

/**
 * Starts the stand-in and a Miniflare instance with: `auth` (the build, its bindings overridden by
 * `vars`), `gateway` and `mcp` (examples/, bound to auth as AUTH_SERVICE), `variants` (host → binding
 * overrides: one more auth instance per host, see authVariant; an override `DB` names its D1 database
 * instead), plus `extraWorkers` (a list, or a function of the stand-in returning one). Every auth
 * instance gets the rate limiters of wrangler.toml with 1000 times their limits, except those set
 * exactly in `ratelimits` ({ NAME: { limit, period } }). With `persistTo` (what was given to
 * `wrangler ... --local --persist-to`), `auth`'s D1 is the local database wrangler keeps there, as
 * wrangler left it (migrated by wrangler, not here); otherwise a fresh in-memory one, migrated here.
 * `outbound` answers some of the auth worker's outbound fetches (see outboundVia); `port` fixes the
 * loopback port it listens on.
 */
export async function startEnv({ vars = {}, standin: standinOptions = {}, variants = {}, extraWorkers = [], ratelimits = {}, outbound, persistTo, port } = {}) {
  const standin = await startStandin({ seed: true, ...standinOptions });
  const logs = [];
  const capture = (stream) => {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      for (const line of chunk.split('\n')) if (line.trim()) logs.push(line);
    });
  };
  const mf = new Miniflare({
    // `port`: a fixed loopback port for a real browser (browser.test.mjs); otherwise any free one.
    ...(port ? { host: '127.0.0.1', port } : {}),
    workers: [
      {
        name: 'auth',
        ...workerModules,
        scriptPath: path.join(ROOT, 'build/index.js'),
        d1Databases: { DB: persistTo ? wranglerDatabaseId() : 'auth-e2e' },
        bindings: authBindings(standin, vars),
        ratelimits: rateLimits(1000, ratelimits),
        ...(outbound ? { outboundService: outboundVia(outbound) } : {}),
      },
      authConsumer('gateway', 'gateway.local', { scriptPath: path.join(ROOT, 'examples/gateway/index.js') }, { UPSTREAM: 'upstream' }),
      authConsumer('mcp', 'mcp.local', { script: mcpExampleScript(), bindings: { MCP_RESOURCE } }),
      authConsumer('other-mcp', 'other-mcp.local', { script: mcpExampleScript(), bindings: { MCP_RESOURCE: OTHER_MCP_RESOURCE } }),
      {
        // What the gateway forwards to: echoes who the gateway said the caller is.
        name: 'upstream',
        modules: true,
        compatibilityDate: COMPAT_DATE,
        script: `export default { fetch(req) { return Response.json({ upstream: true, path: new URL(req.url).pathname,
          userId: req.headers.get('x-auth-user-id'), authorization: req.headers.get('authorization') }); } }`,
      },
      // Calls AUTH_SERVICE methods by name, so tests can drive the binding directly.
      authConsumer('rpc-probe', 'probe.local', {
        script: `export default { async fetch(req, env) {
          const { method, args } = await req.json();
          try {
            // Call as a method: on an RPC stub, .apply would itself be taken as a remote method name.
            const result = await env.AUTH_SERVICE[method](...args);
            return Response.json({ ok: true, result: result === undefined ? null : result });
          } catch (e) { return Response.json({ ok: false, error: String(e && e.message || e) }); }
        } }`,
      }),
      ...Object.entries(variants).map(([host, { DB, ...overrides }]) =>
        authVariant(`auth-${host.replace(/\W/g, '-')}`, host, authBindings(standin, overrides), DB, outboundVia(outbound))),
      ...(typeof extraWorkers === 'function' ? extraWorkers(standin) : extraWorkers),
    ],
    // wrangler keeps local D1 under <persist-to>/v3/d1 (its executeLocally), keyed by database_id.
    ...(persistTo ? { d1Persist: path.join(persistTo, 'v3', 'd1') } : {}),
    handleRuntimeStdio(stdout, stderr) {
      capture(stdout);
      capture(stderr);
    },
  });
  await mf.ready;
  const db = await mf.getD1Database('DB', 'auth');
  if (!persistTo) await db.batch(migrationStatements().map((s) => db.prepare(s)));

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
    /**
     * A browser's navigation to `pathOrUrl` (GET, `Sec-Fetch-Mode: navigate`, a browser's Accept, plus
     * `headers`), sent over real HTTP to Miniflare's socket with the URL's host as Host: `env.fetch`
     * cannot, because Node's fetch always replaces Sec-Fetch-Mode with `cors`. Resolves a Response.
     */
    async navigate(pathOrUrl, headers = {}) {
      const url = new URL(pathOrUrl.startsWith('http') ? pathOrUrl : ORIGIN + pathOrUrl);
      const socket = new URL(await mf.ready);
      const sent = {
        host: url.host,
        accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        ...headers,
      };
      for (const [k, v] of Object.entries(sent)) if (v === undefined) delete sent[k];
      return new Promise((resolve, reject) => {
        http.get({ hostname: socket.hostname, port: socket.port, path: url.pathname + url.search, headers: sent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const h = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              for (const v of [value].flat()) h.append(name, v);
            }
            const body = res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status: res.statusCode, headers: h }));
          });
        }).on('error', reject);
      });
    },
    /**
     * `method path` on the auth worker with an optional Bearer `credential` and body (an object is sent
     * as JSON, a string as it is). Resolves the response read once: {status, headers, body (parsed JSON),
     * text()}; it fails the test when the answer is not JSON. `text()` lets expectError and readJson
     * take it like a Response.
     */
    async call(method, path, credential, body) {
      const headers = credential ? bearer(credential) : {};
      const init = { method, headers };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await env.fetch(path, init);
      const text = await res.text();
      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch {
        assert.fail(`${method} ${path}: expected JSON, got ${res.status}: ${text.slice(0, 200)}`);
      }
      return { status: res.status, headers: res.headers, body: parsed, text: async () => text };
    },
    /** Calls env.AUTH_SERVICE[method](...args) from a bound worker; resolves {ok, result|error}. */
    async rpc(method, ...args) {
      const res = await mf.dispatchFetch('http://probe.local/', { method: 'POST', body: JSON.stringify({ method, args }) });
      return readJson(res);
    },
    /** The binding method resolved (never rejected); returns its result. */
    async resolved(method, ...args) {
      const r = await env.rpc(method, ...args);
      assert.equal(r.ok, true, `${method} rejected: ${r.error}`);
      return r.result;
    },
    /** The binding method rejected with "<code>: <description>"; returns the message. */
    async rejected(method, code, ...args) {
      const r = await env.rpc(method, ...args);
      assert.equal(r.ok, false, `${method} resolved ${JSON.stringify(r.result)?.slice(0, 200)}, expected a ${code} rejection`);
      assert.match(r.error, new RegExp(`^${code}: \\S`), `${method}: ${r.error}`);
      return r.error;
    },
    /** validateToken(token) through the binding: {valid, user?, session?, apiKey?, error?}. */
    validate(token) {
      return env.resolved('validateToken', token);
    },
    /** checkPermission({userId, resource, action, organizationId?, scopes?}) through the binding: a boolean. */
    async may(question) {
      const allowed = await env.resolved('checkPermission', question);
      assert.equal(typeof allowed, 'boolean', `checkPermission answered ${JSON.stringify(allowed)}`);
      return allowed;
    },
    async query(sql, ...params) {
      return (await db.prepare(sql).bind(...params).all()).results;
    },
    async count(table, where = '1=1', ...params) {
      const rows = await env.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, ...params);
      return rows[0].n;
    },
    /** Stops everything, then fails if any log line carried a token, a key or a secret. */
    async close() {
      await mf.dispose();
      await standin.close();
      assertNoSecretsLogged(logs, [TEST_JWT_SECRET, TEST_JWT_REFRESH_SECRET, TEST_SIGNING_KEY, standin.apiKey, standin.webhookSecret,
        ...Object.values(OAUTH_CLIENTS).map((c) => c.secret)]);
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

/**
 * Takes a sign-in up to the moment the browser comes back with the code: returns the callback
 * request {url, cookie}, to be sent later (e.g. several at once, so first sign-ins race).
 */
export async function upToCallback(env, login) {
  const jar = new CookieJar();
  env.standin.nextLogin(login);
  const start = jar.store(await env.fetch('/login'));
  const atWorkos = await fetch(start.headers.get('location'), { redirect: 'manual' });
  return { url: atWorkos.headers.get('location'), cookie: jar.header() };
}

/** Signs in through the JSON flow and returns {token, refreshToken, user}. */
export async function jsonLogin(env, login = {}) {
  const jar = new CookieJar();
  if (Object.keys(login).length) env.standin.nextLogin(login);
  const start = jar.store(await env.fetch('/login'));
  if (start.status !== 302) throw new Error(`authorize answered ${start.status}: ${await start.text()}`);
  const atWorkos = await fetch(start.headers.get('location'), { redirect: 'manual' });
  const res = await env.fetch(atWorkos.headers.get('location'), { headers: { cookie: jar.header(), accept: 'application/json' } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`callback answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Signs in the people the permission suites share, one after another (the stand-in's login queue is
 * first in, first out): ada (admin) and grace (member) in Acme Corp, vic (viewer) in Globex, alan and
 * root without an organization, root then made a global admin in D1; then one person per address in
 * `more`, named by its local part. Returns {who: {name: {token, refreshToken, user}}, acme, globex}.
 */
export async function signInCast(env, more = []) {
  const orgs = [...env.standin.organizations.values()];
  const acme = orgs.find((o) => o.name === 'Acme Corp').id;
  const globex = orgs.find((o) => o.name === 'Globex').id;
  const logins = [
    ['ada', { email: 'ada@acme.test', organizationId: acme }],
    ['grace', { email: 'grace@acme.test', organizationId: acme }],
    ['vic', { email: 'vic@globex.test', organizationId: globex }],
    ['alan', { email: 'alan@example.test' }],
    ['root', { email: 'root@example.test' }],
    ...more.map((email) => [email.split('@')[0], { email }]),
  ];
  const who = {};
  for (const [name, login] of logins) who[name] = await jsonLogin(env, login);
  await env.query("UPDATE users SET role = 'admin' WHERE id = ?", who.root.user.id);
  return { who, acme, globex };
}

export const bearer = (token) => ({ authorization: `Bearer ${token}` });
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
