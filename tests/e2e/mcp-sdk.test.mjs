// The official MCP TypeScript SDK client (@modelcontextprotocol/client) signs in against this
// worker and calls tools on examples/mcp, end to end in workerd: discovery from the 401 challenge
// (protected resource metadata, then this worker's metadata, with the issuer checks the 2026-07-28
// revision asks clients to make), a Client ID Metadata Document as client id, PKCE, `resource`, the
// person's sign-in at the WorkOS stand-in and their consent, the code exchange with `iss`
// validated, and a refresh when the access token has expired. Only the browser is simulated: the
// provider's redirect hook plays it with a cookie jar, following the same redirects a person's
// browser would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { startEnv, CookieJar, ORIGIN, MCP_RESOURCE, OTHER_MCP_RESOURCE } from './harness.mjs';
import { jwtPart } from './helpers.mjs';
import { mcpCall } from './oauth-client.mjs';

const CLIENT_DOC = 'https://client.example/oauth/mcp-sdk-client.json';
const REDIRECT = 'http://127.0.0.1:43117/callback';
const ACCESS_TTL = 3;

let env;
before(async () => {
  env = await startEnv({
    vars: { ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TTL), SESSION_CACHE_TTL_SECONDS: '0' },
    outbound: (request) => {
      if (request.url !== CLIENT_DOC) return undefined;
      return Response.json({
        client_id: CLIENT_DOC,
        client_name: 'SDK Test Client',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      });
    },
  });
});
after(() => env?.close());

/** Every HTTP request of the SDK goes into workerd (Miniflare picks the worker by host). */
const workerdFetch = (url, init = {}) => env.mf.dispatchFetch(String(url), { ...init, redirect: 'manual' });

/** The person's browser: signs in at the stand-in as `email` and allows the consent page. */
class Browser {
  /** `email` of someone in Acme Corp, where their membership role gives them the notes permissions. */
  constructor(email) {
    this.login = { email, organizationId: [...env.standin.organizations.values()].find((o) => o.name === 'Acme Corp').id };
    this.jar = new CookieJar();
  }

  /** Follows redirects from `url` until the client's redirect URI; answers the consent page on the way. */
  async visit(url) {
    let next = new URL(url);
    for (let hop = 0; hop < 12; hop++) {
      if (next.href.startsWith(REDIRECT)) return next.searchParams;
      let res;
      if (next.origin === env.standin.url) {
        env.standin.nextLogin(this.login);
        res = await fetch(next, { redirect: 'manual' });
      } else {
        res = this.jar.store(await workerdFetch(next, { headers: { cookie: this.jar.header() } }));
      }
      if (res.status === 200 && next.pathname === '/oauth/consent') {
        const html = await res.text();
        assert.match(html, /SDK Test Client/);
        const form = new URLSearchParams({
          request: /name="request" value="([^"]+)"/.exec(html)[1],
          form_token: /name="form_token" value="([^"]+)"/.exec(html)[1],
          decision: 'approve',
        });
        res = this.jar.store(await workerdFetch(`${ORIGIN}/oauth/consent`, {
          method: 'POST',
          headers: { cookie: this.jar.header(), origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        }));
      }
      assert.ok(res.status >= 300 && res.status < 400, `${next} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      next = new URL(res.headers.get('location'), next);
    }
    throw new Error('too many redirects');
  }
}

/** An OAuthClientProvider that keeps everything in memory and sends the person's browser along. */
class Provider {
  constructor(browser) {
    this.browser = browser;
    this.store = {};
    this.clientMetadataUrl = CLIENT_DOC;
  }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: 'SDK Test Client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  state() { return (this.store.state = crypto.randomUUID()); }
  clientInformation() { return this.store.client; }
  saveClientInformation(info) { this.store.client = info; }
  tokens() { return this.store.tokens; }
  saveTokens(tokens) { this.store.tokens = tokens; }
  saveCodeVerifier(v) { this.store.verifier = v; }
  codeVerifier() { return this.store.verifier; }
  saveDiscoveryState(s) { this.store.discovery = s; }
  discoveryState() { return this.store.discovery; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') delete this.store.tokens;
    if (scope === 'all' || scope === 'client') delete this.store.client;
  }
  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    this.callback = await this.browser.visit(url);
    // The SDK does not check `state`; a client must.
    assert.equal(this.callback.get('state'), this.store.state);
  }
}

function transport(provider, url = MCP_RESOURCE) {
  return new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: workerdFetch });
}

/** Runs the SDK's authorization flow for `provider` and returns a connected client. */
async function signIn(provider, versionNegotiation) {
  const first = transport(provider);
  await assert.rejects(new Client({ name: 'sdk-test', version: '0.0.0' }).connect(first), (e) => e instanceof UnauthorizedError);
  await first.finishAuth(provider.callback); // validates `iss` against the metadata's issuer (RFC 9207)
  const client = new Client({ name: 'sdk-test', version: '0.0.0' }, versionNegotiation ? { versionNegotiation } : undefined);
  await client.connect(transport(provider));
  return client;
}

test('the official MCP client signs in with a Client ID Metadata Document and calls a tool over the 2026-07-28 protocol', async () => {
  const provider = new Provider(new Browser('ada@acme.test'));
  const client = await signIn(provider, { mode: { pin: '2026-07-28' } });
  const auth = provider.authorizationUrl;
  assert.equal(auth.origin + auth.pathname, `${ORIGIN}/oauth/authorize`, 'found through the 401 and both metadata documents');
  assert.equal(auth.searchParams.get('client_id'), CLIENT_DOC);
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(auth.searchParams.get('resource'), MCP_RESOURCE);
  assert.equal(provider.callback.get('iss'), ORIGIN);
  const tokens = provider.tokens();
  assert.equal(jwtPart(tokens.access_token, 1).aud, MCP_RESOURCE);
  assert.equal(jwtPart(tokens.access_token, 1).client_id, CLIENT_DOC);
  assert.ok(tokens.refresh_token);

  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['create_note', 'search_notes']);
  const result = await client.callTool({ name: 'create_note', arguments: { text: 'from the SDK' } });
  assert.equal(result.isError ?? false, false, JSON.stringify(result));
  assert.match(result.content[0].text, /Created a note of 12 characters/);
  await client.close();
});

test('the SDK client refreshes when the access token expires, and its token is refused by another MCP server', async () => {
  const provider = new Provider(new Browser('grace@acme.test'));
  const client = await signIn(provider);
  const before = provider.tokens();
  assert.equal((await client.callTool({ name: 'search_notes', arguments: { query: 'a' } })).isError ?? false, false);
  await sleep((ACCESS_TTL + 1) * 1000);
  const expired = await mcpCall(env, MCP_RESOURCE, before.access_token, 'tools/list');
  assert.equal(expired.status, 401, 'the old access token has expired');
  // The next call meets the 401, refreshes with the rotating refresh token, and retries.
  const again = await client.callTool({ name: 'search_notes', arguments: { query: 'b' } });
  assert.equal(again.isError ?? false, false, JSON.stringify(again));
  const after = provider.tokens();
  assert.notEqual(after.access_token, before.access_token);
  assert.notEqual(after.refresh_token, before.refresh_token, 'the refresh token rotated');
  assert.equal(jwtPart(after.access_token, 1).sid, jwtPart(before.access_token, 1).sid, 'the same grant');
  await client.close();

  const elsewhere = await mcpCall(env, OTHER_MCP_RESOURCE, after.access_token, 'tools/list');
  assert.equal(elsewhere.status, 401, 'a token for another resource is refused');
  assert.match(elsewhere.headers.get('www-authenticate'), /error="invalid_token"/);
});

test('the SDK client asks again for a wider scope when a tool needs it (insufficient_scope step-up)', async () => {
  const provider = new Provider(new Browser('ada@acme.test'));
  // Sign in for reading only, as a client would after a challenge asking only for notes:read.
  const first = transport(provider);
  await assert.rejects(new Client({ name: 'sdk-test', version: '0.0.0' }).connect(first), (e) => e instanceof UnauthorizedError);
  const narrow = new URL(provider.authorizationUrl);
  narrow.searchParams.set('scope', 'notes:read');
  provider.callback = await provider.browser.visit(narrow);
  await first.finishAuth(provider.callback);
  assert.equal(provider.tokens().scope, 'notes:read');
  const reading = transport(provider);
  const client = new Client({ name: 'sdk-test', version: '0.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(reading);
  assert.equal((await client.callTool({ name: 'search_notes', arguments: { query: 'q' } })).isError ?? false, false);
  // create_note needs notes:write: the 403 names it; the SDK starts a new authorization asking for it
  // (with the scopes it had), which needs the person again, so the call fails as unauthorized.
  await assert.rejects(client.callTool({ name: 'create_note', arguments: { text: 'needs write' } }), (e) => e instanceof UnauthorizedError);
  const stepUp = provider.authorizationUrl.searchParams.get('scope').split(' ');
  assert.ok(stepUp.includes('notes:write') && stepUp.includes('notes:read'), stepUp.join(' '));
  await reading.finishAuth(provider.callback);
  assert.ok(provider.tokens().scope.split(' ').includes('notes:write'), provider.tokens().scope);
  const writer = new Client({ name: 'sdk-test', version: '0.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await writer.connect(transport(provider));
  const result = await writer.callTool({ name: 'create_note', arguments: { text: 'needs write' } });
  assert.equal(result.isError ?? false, false, JSON.stringify(result));
  await client.close();
  await writer.close();
});
