// A plain HTTP OAuth client for the authorization server suites: it speaks to the worker the way an
// MCP client of a given revision does (PKCE S256, `resource` from 2025-06-18 on, the
// MCP-Protocol-Version header), and plays the person in the browser: a cookie jar signed in through
// the WorkOS stand-in, a consent page read and answered like a form post. Written from the RFCs, not
// from the worker's code; the official SDK client is exercised separately (mcp-sdk.test.mjs).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CookieJar, browserLogin, ORIGIN, MCP_RESOURCE } from './harness.mjs';

/** The MCP authorization revisions, oldest first. */
export const REVISIONS = ['2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'];
/** Does `rev` include what `first` introduced? */
export const since = (rev, first) => REVISIONS.indexOf(rev) >= REVISIONS.indexOf(first);

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * One client (`id`, `redirectUri`, `auth`: 'none' | 'client_secret_basic' | 'client_secret_post',
 * `secret`) of one revision, talking to the worker at `origin` (ORIGIN, or an auth variant's).
 */
export class OAuthClient {
  constructor(env, { id, redirectUri, auth = 'none', secret, revision = '2026-07-28', origin = ORIGIN }) {
    Object.assign(this, { env, id, redirectUri, auth, secret, revision, origin });
  }

  fetch(path, init = {}) {
    const url = path.startsWith('http') ? path : this.origin + path;
    return this.env.mf.dispatchFetch(url, {
      redirect: 'manual',
      ...init,
      headers: { 'mcp-protocol-version': this.revision, ...(init.headers ?? {}) },
    });
  }

  /** The authorization request's query: what this revision's client sends, with `over` on top (null removes). */
  authorizeParams(over = {}) {
    this.pkce = pkce();
    this.state = randomBytes(12).toString('hex');
    const p = {
      response_type: 'code',
      client_id: this.id,
      redirect_uri: this.redirectUri,
      code_challenge: this.pkce.challenge,
      code_challenge_method: 'S256',
      state: this.state,
      ...(since(this.revision, '2025-06-18') ? { resource: MCP_RESOURCE } : {}),
      ...over,
    };
    return new URLSearchParams(Object.entries(p).filter(([, v]) => v !== null && v !== undefined));
  }

  /** GET /oauth/authorize: the raw answer. */
  authorizeRequest(over = {}) {
    return this.fetch(`/oauth/authorize?${this.authorizeParams(over)}`);
  }

  /**
   * The whole authorization: request, consent page (as `person`, a signed-in Browser), the decision.
   * Resolves the client's callback parameters (code, state, iss or error...).
   */
  async authorize(person, { decision = 'approve', ...over } = {}) {
    const res = await this.authorizeRequest(over);
    assert.equal(res.status, 302, `authorize answered ${res.status}: ${await res.text()}`);
    const location = res.headers.get('location');
    if (!location.startsWith('/oauth/consent')) return callbackParams(location, this.redirectUri);
    const page = await person.consentPage(location, this.origin);
    return callbackParams(await person.decide(page, decision, this.origin), this.redirectUri);
  }

  /** Client authentication as registered (or `how`), applied to a form and headers. */
  authenticate(form, headers, how = this.auth) {
    if (how === 'client_secret_basic') headers.authorization = basic(this.id, this.secret);
    else if (how === 'client_secret_post') Object.assign(form, { client_id: this.id, client_secret: this.secret });
    else form.client_id = this.id;
  }

  /** POST to a token-endpoint-style route: {status, headers, body (JSON or null)}. */
  async post(path, form, { how, headers = {} } = {}) {
    const h = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
    const f = { ...form };
    if (how !== 'skip') this.authenticate(f, h, how);
    const res = await this.fetch(path, { method: 'POST', headers: h, body: new URLSearchParams(f).toString() });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }

  /** The code exchange for `code` (with this client's last PKCE verifier unless given). */
  exchange(code, over = {}, opts = {}) {
    const form = {
      grant_type: 'authorization_code',
      code,
      code_verifier: this.pkce.verifier,
      redirect_uri: this.redirectUri,
      ...(since(this.revision, '2025-06-18') ? { resource: MCP_RESOURCE } : {}),
      ...over,
    };
    return this.post('/oauth/token', dropNulls(form), opts);
  }

  refresh(refreshToken, over = {}, opts = {}) {
    const form = {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      ...(since(this.revision, '2025-06-18') ? { resource: MCP_RESOURCE } : {}),
      ...over,
    };
    return this.post('/oauth/token', dropNulls(form), opts);
  }

  /** authorize + exchange: the token response body. */
  async tokens(person, over = {}) {
    const cb = await this.authorize(person, over);
    assert.ok(cb.code, `no code: ${JSON.stringify(cb)}`);
    const res = await this.exchange(cb.code);
    assert.equal(res.status, 200, `token endpoint: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

const dropNulls = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

/** The parameters of a redirect to the client (asserting it goes to the client's redirect URI). */
export function callbackParams(location, redirectUri) {
  assert.ok(location.startsWith(`${redirectUri}?`), `redirected to ${location}, not to ${redirectUri}`);
  const u = new URL(location);
  const out = { raw: u.searchParams };
  for (const key of new Set(u.searchParams.keys())) out[key] = u.searchParams.get(key);
  return out;
}

/** A person in a browser, signed in as `login` (stand-in login options) on `origin`. */
export class Browser {
  constructor(env) {
    this.env = env;
    this.jar = new CookieJar();
  }

  static async signedIn(env, login) {
    const b = new Browser(env);
    await browserLogin(env, b.jar, { login });
    return b;
  }

  fetch(url, init = {}) {
    return this.env.mf.dispatchFetch(url, { redirect: 'manual', ...init, headers: { cookie: this.jar.header(), ...(init.headers ?? {}) } });
  }

  /** The consent page at `location` (relative to `origin`): {status, html, request, formToken, csp}. */
  async consentPage(location, origin = ORIGIN) {
    const res = this.jar.store(await this.fetch(origin + location));
    const html = await res.text();
    assert.equal(res.status, 200, `consent page answered ${res.status}: ${html.slice(0, 300)}`);
    return {
      html,
      csp: res.headers.get('content-security-policy'),
      request: /name="request" value="([^"]+)"/.exec(html)?.[1],
      formToken: /name="form_token" value="([^"]+)"/.exec(html)?.[1],
    };
  }

  /** Posts the consent form; resolves where the browser is sent. */
  async decide(page, decision, origin = ORIGIN, over = {}) {
    const res = await this.submit({ request: page.request, form_token: page.formToken, decision, ...over }, origin);
    assert.equal(res.status, 302, `consent answered ${res.status}: ${await res.text()}`);
    return res.headers.get('location');
  }

  submit(form, origin = ORIGIN, headers = { origin }) {
    return this.fetch(`${origin}/oauth/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }
}

/** A JSON-RPC request to an MCP server worker (`url` like http://mcp.local/mcp). */
export async function mcpCall(env, url, token, method, params = {}, headers = {}) {
  const res = await env.mf.dispatchFetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const text = await res.text();
  const data = text.startsWith('event:') ? JSON.parse(/^data: (.*)$/m.exec(text)[1]) : text ? JSON.parse(text) : null;
  return { status: res.status, headers: res.headers, body: data };
}

/** Parses a `WWW-Authenticate: Bearer k="v", ...` header into {scheme, params}. */
export function challengeOf(header) {
  assert.ok(header, 'no WWW-Authenticate header');
  const [scheme] = header.split(' ');
  const params = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme, params };
}

/**
 * OAuth clients' web servers, as the worker's outbound fetches meet them: serves the client metadata
 * documents a test sets, by exact URL ({body, status, headers, delayMs}), answers 404 for other URLs
 * on `*.example` hosts, and lets everything else through (the WorkOS stand-in). Every outbound
 * request is recorded in `seen`, so a test can tell whether, and where, the worker fetched. Pass
 * `serve` as startEnv's `outbound`.
 */
export class ClientHosts {
  constructor() {
    this.documents = new Map();
    this.seen = [];
    this.serve = (request) => this.#answer(request);
  }

  set(url, spec) {
    this.documents.set(url, spec);
  }

  /** How many times the worker requested `url`. */
  fetched(url) {
    return this.seen.filter((u) => u === url).length;
  }

  #answer(request) {
    this.seen.push(request.url);
    const spec = this.documents.get(request.url);
    if (!spec && !/\.example\.?$/.test(new URL(request.url).hostname)) return undefined;
    if (!spec) return new Response('not found', { status: 404 });
    const respond = () => new Response(typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body), {
      status: spec.status ?? 200,
      headers: { 'content-type': 'application/json', ...(spec.headers ?? {}) },
    });
    return spec.delayMs ? sleep(spec.delayMs).then(respond) : respond();
  }
}

/** A valid client metadata document for `url` (loopback redirect, refresh tokens) with `over` on top. */
export function clientDocument(url, over = {}) {
  return {
    client_id: url,
    client_name: 'Metadata Client',
    redirect_uris: ['http://127.0.0.1:43111/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...over,
  };
}
