// Example MCP server worker: a protected resource (RFC 9728) whose authorization server is the
// `auth` worker. MCP clients (Claude, Cursor, VS Code, Codex, the MCP Inspector) discover the auth
// worker from this worker's 401 challenge and its protected resource metadata, sign the person in
// there, and come back with an access token bound to this server's resource URI.
//
// Every request is checked through the AUTH_SERVICE binding (no network hop): the token must have
// been issued for exactly MCP_RESOURCE, and a tool call needs the tool's `resource:action`
// permission in the token's scope and held by the person (OAUTH_RESOURCES in the auth worker maps
// tools to permissions). The client's token is never passed on to anything else (MCP forbids token
// passthrough): the tools see who is calling, not the token.
//
// Configuration: MCP_RESOURCE (this server's canonical resource URI, exactly as the auth worker's
// OAUTH_RESOURCES lists it) and the AUTH_SERVICE service binding. Bundle with wrangler (or esbuild
// with the `workerd` condition): the MCP SDK is an npm dependency.
/** @typedef {import('../../types/auth-service').AuthService} AuthService */
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import * as z from 'zod';

const handler = createMcpHandler(({ authInfo }) => {
  const server = new McpServer({ name: 'notes-example', version: '0.1.0' });
  const who = () => authInfo?.extra?.userId ?? 'unknown';
  server.registerTool(
    'search_notes',
    { description: 'Search your notes', inputSchema: z.object({ query: z.string().max(200) }) },
    async ({ query }) => ({ content: [{ type: 'text', text: `No notes match "${query}" for ${who()}.` }] }),
  );
  server.registerTool(
    'create_note',
    { description: 'Create a note', inputSchema: z.object({ text: z.string().max(2000) }) },
    async ({ text }) => ({ content: [{ type: 'text', text: `Created a note of ${text.length} characters for ${who()}.` }] }),
  );
  return server;
});

const json = (body, status, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers } });

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'WWW-Authenticate, Mcp-Session-Id',
};

/** The scopes this server offers (its metadata), read once per isolate. */
let metadataPromise;
function metadata(env) {
  metadataPromise ??= env.AUTH_SERVICE.getResourceMetadata(env.MCP_RESOURCE).catch((e) => {
    metadataPromise = undefined;
    throw e;
  });
  return metadataPromise;
}

const quoted = (s) => `"${String(s).replace(/["\\]/g, '')}"`;

/**
 * A Bearer challenge (RFC 6750 §3, RFC 9728 §5.1). No credentials: no error code, the scopes to ask
 * for. A refused token: `invalid_token`. Not enough scope: `insufficient_scope` with every scope the
 * operation needs.
 */
function challenge(status, prmUrl, { error, errorDescription, scope } = {}) {
  const params = [];
  if (error) params.push(`error=${quoted(error)}`);
  if (scope) params.push(`scope=${quoted(scope)}`);
  params.push(`resource_metadata=${quoted(prmUrl)}`);
  if (errorDescription) params.push(`error_description=${quoted(errorDescription)}`);
  return json(
    { error: error ?? 'unauthorized', error_description: errorDescription ?? 'Send an access token from the authorization server.' },
    status,
    { ...CORS, 'www-authenticate': `Bearer ${params.join(', ')}` },
  );
}

/** A header value in the transport's `=?base64?…?=` form (used for names that are not plain ASCII), decoded. */
function decodeHeaderValue(v) {
  const m = v === undefined ? null : /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(v);
  if (!m) return v;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

/**
 * What each JSON-RPC message of the body asks: `[method, tool]` pairs, read from the body itself (what
 * the MCP SDK will run). A 2026-07-28 client also sends them as `Mcp-Method` / `Mcp-Name` headers:
 * those must say the same as the body, or the request is refused (`null`), so a header can never
 * describe a cheaper call than the one that runs. A body with no request in it (a response to the
 * server, a notification batch, junk) asks nothing beyond a valid token.
 */
async function asked(request) {
  if (request.method !== 'POST') return [[undefined, undefined]];
  let body;
  try {
    body = await request.clone().json();
  } catch {
    body = undefined;
  }
  const messages = (Array.isArray(body) ? body : [body]).filter((m) => m && typeof m.method === 'string');
  const pairs = messages.map((m) => [m.method, m.method === 'tools/call' && typeof m.params?.name === 'string' ? m.params.name : undefined]);
  const headerMethod = request.headers.get('mcp-method');
  if (headerMethod !== null) {
    const headerTool = decodeHeaderValue(request.headers.get('mcp-name') ?? undefined);
    const agrees = pairs.length === 1 && pairs[0][0] === headerMethod && (pairs[0][1] === undefined || pairs[0][1] === headerTool);
    if (!agrees) return null;
  }
  return pairs.length ? pairs : [[undefined, undefined]];
}

export default {
  /** @param {Request} request @param {{AUTH_SERVICE: AuthService, MCP_RESOURCE: string}} env */
  async fetch(request, env) {
    const resource = new URL(env.MCP_RESOURCE);
    const path = resource.pathname === '/' ? '' : resource.pathname;
    const prmPath = `/.well-known/oauth-protected-resource${path}`;
    const prmUrl = `${resource.origin}${prmPath}`;
    const url = new URL(request.url);

    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: { ...CORS, 'access-control-allow-methods': 'GET, POST, DELETE', 'access-control-allow-headers': 'Authorization, Content-Type, MCP-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name', 'access-control-max-age': '86400' },
      });
    }
    // RFC 9728 §3: at the path-aware URL, and at the root (some clients look there).
    if (url.pathname === prmPath || url.pathname === '/.well-known/oauth-protected-resource') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return json({ error: 'method_not_allowed' }, 405, { allow: 'GET, HEAD' });
      return json(await metadata(env), 200, { ...CORS, 'cache-control': 'public, max-age=300' });
    }
    if (url.pathname !== (path || '/')) return json({ error: 'not_found' }, 404, CORS);

    // Only the Authorization header carries a token (never the query string).
    const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(request.headers.get('authorization') ?? '');
    if (!m) {
      const { scopes_supported: scopes } = await metadata(env);
      return challenge(401, prmUrl, { scope: scopes.join(' ') });
    }
    const token = m[1];
    const questions = await asked(request);
    let decision;
    for (const [method, tool] of questions ?? [[undefined, undefined]]) {
      decision = await env.AUTH_SERVICE.checkMcpRequest({ token, resource: env.MCP_RESOURCE, method, tool });
      if (!decision.allowed) {
        return challenge(decision.status, prmUrl, {
          error: decision.error,
          errorDescription: decision.errorDescription,
          scope: decision.requiredScope,
        });
      }
    }
    if (questions === null) {
      return json({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Mcp-Method / Mcp-Name do not match the request body' } }, 400, CORS);
    }
    const authInfo = {
      clientId: decision.clientId,
      scopes: decision.scope.split(' '),
      resource,
      extra: { userId: decision.user.id, organizationId: decision.user.organizationId },
    };
    const response = await handler.fetch(request, { authInfo });
    const headers = new Headers(response.headers);
    for (const [k, v] of Object.entries(CORS)) headers.set(k, v);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  },
};
