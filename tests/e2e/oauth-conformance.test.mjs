// Conformance of the OAuth 2.1 authorization server (this worker) and of the example MCP server
// (examples/mcp, a resource server) with the MCP authorization specification, per dated revision:
// 2025-03-26, 2025-06-18, 2025-11-25 and 2026-07-28. Each revision's block speaks as a client of
// that revision would (no `resource` before 2025-06-18; the MCP-Protocol-Version header) and checks
// what that revision requires; the rules every revision shares run in every block.
//
// Black box: HTTP in, HTTP out, through workerd. Client metadata documents are served to the
// worker's outbound fetches by this file (as the client's own web server would), and the person's
// consent is given by posting the consent page's form, as a browser does.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEnv, ORIGIN, MCP_RESOURCE, OTHER_MCP_RESOURCE, OAUTH_CLIENTS } from './harness.mjs';
import { jwtPart } from './helpers.mjs';
import { OAuthClient, Browser, REVISIONS, since, mcpCall, challengeOf, pkce, callbackParams, ClientHosts, clientDocument } from './oauth-client.mjs';

// Client metadata documents, served to the worker's outbound fetches (see ClientHosts).
const hosts = new ClientHosts();
const DOC_HOST = 'https://client.example';
const TRUSTED_DOC = 'https://tools.trusted.example/oauth/client.json';

let env;
let ada;
let alan;
before(async () => {
  env = await startEnv({
    outbound: hosts.serve,
    vars: { OAUTH_CIMD_TRUSTED_HOSTS: '*.trusted.example', OAUTH_CIMD_BLOCKED_HOSTS: 'blocked.example' },
    variants: { 'nodcr.local': { OAUTH_DYNAMIC_REGISTRATION: 'off' } },
  });
  ada = await Browser.signedIn(env, { email: 'ada@acme.test', organizationId: [...env.standin.organizations.values()].find((o) => o.name === 'Acme Corp').id });
  alan = await Browser.signedIn(env, { email: 'alan@example.test' });
});
after(() => env?.close());

const client = (kind, revision) => {
  const c = OAUTH_CLIENTS[kind];
  return new OAuthClient(env, { id: c.client_id, redirectUri: c.redirect_uris[0], auth: c.token_endpoint_auth_method, secret: c.secret, revision });
};

/** Asserts an RFC 6749 §5.2 error answer: status, code, never cached. */
function oauthError(res, status, code, what = '') {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error, code, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error_description, 'string');
  assert.equal(res.headers.get('cache-control'), 'no-store');
}

/** Is the grant behind `accessToken` live? (validateToken for its audience.) */
async function live(accessToken, audience = MCP_RESOURCE) {
  return (await env.resolved('validateToken', accessToken, { audience })).valid;
}

for (const revision of REVISIONS) {
  describe(`MCP ${revision}: authorization server`, () => {
    test('publishes RFC 8414 metadata, also as openid-configuration, with the fields MCP clients rely on', async () => {
      const c = client('public', revision);
      for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
        const res = await c.fetch(path);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type'), /^application\/json/);
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
        const m = await res.json();
        assert.equal(m.issuer, ORIGIN, 'the issuer is exactly where the document was found');
        assert.equal(m.authorization_endpoint, `${ORIGIN}/oauth/authorize`);
        assert.equal(m.token_endpoint, `${ORIGIN}/oauth/token`);
        assert.equal(m.jwks_uri, `${ORIGIN}/.well-known/jwks.json`);
        assert.equal(m.revocation_endpoint, `${ORIGIN}/oauth/revoke`);
        assert.equal(m.introspection_endpoint, `${ORIGIN}/oauth/introspect`);
        assert.equal(m.registration_endpoint, `${ORIGIN}/oauth/register`);
        assert.deepEqual(m.response_types_supported, ['code']);
        assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
        assert.deepEqual(m.grant_types_supported, ['authorization_code', 'refresh_token']);
        assert.deepEqual([...m.token_endpoint_auth_methods_supported].sort(), ['client_secret_basic', 'client_secret_post', 'none']);
        assert.ok(m.scopes_supported.includes('notes:read') && m.scopes_supported.includes('offline_access'));
        assert.equal(m.client_id_metadata_document_supported, true);
        assert.equal(m.authorization_response_iss_parameter_supported, true);
      }
      const preflight = await c.fetch('/.well-known/oauth-authorization-server', {
        method: 'OPTIONS', headers: { origin: 'https://inspector.example', 'access-control-request-headers': 'mcp-protocol-version' },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers'), /MCP-Protocol-Version/i);
    });

    test('completes an authorization code flow with S256 PKCE: one code, state and iss echoed, tokens bound to the resource', async () => {
      const c = client('public', revision);
      const cb = await c.authorize(ada);
      assert.deepEqual([...new Set(cb.raw.keys())].sort(), ['code', 'iss', 'state']);
      assert.equal(cb.raw.getAll('code').length, 1);
      assert.equal(cb.raw.getAll('iss').length, 1);
      assert.equal(cb.state, c.state);
      assert.equal(cb.iss, ORIGIN, 'RFC 9207: iss is the metadata issuer, byte for byte');
      const res = await c.exchange(cb.code);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      assert.equal(res.body.token_type, 'Bearer');
      assert.ok(res.body.expires_in > 0 && res.body.expires_in <= 900);
      assert.equal(res.body.scope, 'notes:read notes:write notes:*');
      assert.ok(res.body.refresh_token);
      const claims = jwtPart(res.body.access_token, 1);
      assert.equal(claims.aud, MCP_RESOURCE, since(revision, '2025-06-18') ? 'the requested resource' : 'the default resource (no `resource` sent)');
      assert.equal(claims.client_id, c.id);
      assert.equal(claims.iss, ORIGIN);
      const mcp = await mcpCall(env, MCP_RESOURCE, res.body.access_token, 'tools/list');
      assert.equal(mcp.status, 200, JSON.stringify(mcp.body));
      assert.deepEqual(mcp.body.result.tools.map((t) => t.name).sort(), ['create_note', 'search_notes']);
    });

    test('refuses authorization requests without S256 PKCE, back to the client with iss', async () => {
      const c = client('public', revision);
      for (const [over, needle] of [
        [{ code_challenge: null, code_challenge_method: null }, 'code_challenge'],
        [{ code_challenge_method: 'plain' }, 'plain'],
        [{ code_challenge_method: null }, 'plain'],
        [{ code_challenge_method: 'S512' }, 'S256'],
        [{ code_challenge: 'too-short' }, '43-character'],
      ]) {
        const res = await c.authorizeRequest(over);
        assert.equal(res.status, 302, JSON.stringify(over));
        const cb = callbackParams(res.headers.get('location'), c.redirectUri);
        assert.equal(cb.error, 'invalid_request', JSON.stringify(over));
        assert.ok(cb.error_description.includes(needle), `${JSON.stringify(over)}: ${cb.error_description}`);
        assert.equal(cb.state, c.state);
        assert.equal(cb.iss, ORIGIN);
        assert.equal(cb.code, undefined);
      }
    });

    test('a wrong PKCE verifier is invalid_grant and does not use the code up', async () => {
      const c = client('public', revision);
      const cb = await c.authorize(ada);
      oauthError(await c.exchange(cb.code, { code_verifier: pkce().verifier }), 400, 'invalid_grant', 'other verifier');
      oauthError(await c.exchange(cb.code, { code_verifier: null }), 400, 'invalid_request', 'no verifier');
      assert.equal((await c.exchange(cb.code)).status, 200, 'the right verifier still redeems it');
    });

    test('never redirects to an unregistered redirect URI or for an unknown client', async () => {
      const c = client('public', revision);
      for (const redirect of [`${c.redirectUri}/`, 'http://127.0.0.1:8976/callback?x=1', 'https://evil.example/callback', 'http://localhost:8976/callback']) {
        const res = await c.authorizeRequest({ redirect_uri: redirect });
        assert.equal(res.status, 400, redirect);
        assert.equal(res.headers.get('location'), null, redirect);
        assert.equal((await res.json()).error, 'invalid_request');
      }
      const unknown = await c.authorizeRequest({ client_id: 'no-such-client' });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.headers.get('location'), null);
      const twice = await c.fetch(`/oauth/authorize?${c.authorizeParams()}&client_id=${c.id}`);
      assert.equal(twice.status, 400, 'a parameter given twice');
      assert.equal(twice.headers.get('location'), null);
    });

    test('a client with several redirect URIs must name one, exactly, and repeat it at the token endpoint', async () => {
      const c = client('post', revision);
      const none = await c.authorizeRequest({ redirect_uri: null });
      assert.equal(none.status, 400);
      assert.equal(none.headers.get('location'), null);
      c.redirectUri = OAUTH_CLIENTS.post.redirect_uris[1];
      const cb = await c.authorize(ada);
      oauthError(await c.exchange(cb.code, { redirect_uri: OAUTH_CLIENTS.post.redirect_uris[0] }), 400, 'invalid_grant', 'another registered URI');
      oauthError(await c.exchange(cb.code, { redirect_uri: null }), 400, 'invalid_grant', 'omitted');
      assert.equal((await c.exchange(cb.code)).status, 200, 'the code survived both refusals');
    });

    test('authenticates each client only with its registered method, without using the code up', async () => {
      const wrong = [
        ['basic', 'client_secret_post'],
        ['post', 'client_secret_basic'],
        ['public', 'client_secret_basic'],
        ['public', 'client_secret_post'],
        ['basic', 'none'],
      ];
      for (const [kind, how] of wrong) {
        const c = client(kind, revision);
        c.secret ??= 'a-secret-the-public-client-does-not-have';
        const cb = await c.authorize(ada);
        const res = await c.exchange(cb.code, {}, { how });
        oauthError(res, 401, 'invalid_client', `${kind} as ${how}`);
        assert.equal(res.body.error_description, 'Client authentication failed.');
        assert.equal(res.headers.get('www-authenticate')?.startsWith('Basic') ?? false, how === 'client_secret_basic', `${kind} as ${how}: challenge`);
        const right = await c.exchange(cb.code);
        assert.equal(right.status, 200, `${kind}: the code survived (${JSON.stringify(right.body)})`);
      }
      const c = client('basic', revision);
      const cb = await c.authorize(ada);
      c.secret = 'not-the-secret';
      oauthError(await c.exchange(cb.code), 401, 'invalid_client', 'wrong secret');
      c.secret = OAUTH_CLIENTS.basic.secret;
      assert.equal((await c.exchange(cb.code)).status, 200);
    });

    test('rejects a replayed code and revokes what it issued', async () => {
      const c = client('public', revision);
      const cb = await c.authorize(ada);
      const first = await c.exchange(cb.code);
      assert.equal(first.status, 200);
      assert.equal(await live(first.body.access_token), true);
      oauthError(await c.exchange(cb.code), 400, 'invalid_grant', 'replay');
      assert.equal(await live(first.body.access_token), false, 'the first exchange\'s access token is revoked');
      oauthError(await c.refresh(first.body.refresh_token), 400, 'invalid_grant', 'and its refresh token');
    });

    test('of concurrent redemptions of one code exactly one gets tokens, and the grant is then revoked', async () => {
      const c = client('public', revision);
      const cb = await c.authorize(ada);
      const answers = await Promise.all(Array.from({ length: 6 }, () => c.exchange(cb.code)));
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(ok.length, 1, answers.map((a) => a.status).join(','));
      for (const a of answers.filter((x) => x.status !== 200)) oauthError(a, 400, 'invalid_grant', 'a losing redemption');
      assert.equal(await live(ok[0].body.access_token), false, 'the winner\'s grant is revoked: the code was presented twice');
      const sessions = await env.query("SELECT revoked_reason FROM sessions WHERE id = ?", jwtPart(ok[0].body.access_token, 1).sid);
      assert.deepEqual(sessions, [{ revoked_reason: 'authorization_code_replay' }]);
    });

    test('rotates refresh tokens: a retry inside the grace window gets the same pair, reuse after it ends the grant', async () => {
      const c = client('public', revision);
      const t = await c.tokens(ada);
      const r1 = await c.refresh(t.refresh_token);
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.equal(r1.headers.get('cache-control'), 'no-store');
      assert.notEqual(r1.body.refresh_token, t.refresh_token, 'a new refresh token every time');
      assert.equal(jwtPart(r1.body.access_token, 1).aud, MCP_RESOURCE);
      const retry = await c.refresh(t.refresh_token);
      assert.equal(retry.status, 200, 'a concurrent retry inside the grace window');
      assert.equal(retry.body.refresh_token, r1.body.refresh_token, 'gets the same pair');
      await sleep(3100); // REFRESH_REUSE_GRACE_SECONDS=2 in the harness; timestamps are whole seconds
      oauthError(await c.refresh(t.refresh_token), 400, 'invalid_grant', 'reuse after the grace window');
      assert.equal(await live(r1.body.access_token), false, 'the whole grant is revoked');
      oauthError(await c.refresh(r1.body.refresh_token), 400, 'invalid_grant', 'the newest refresh token too');
    });

    test('a refresh may narrow the scope but never widen it or change the resource or client', async () => {
      const c = client('public', revision);
      const t = await c.tokens(ada, { scope: 'notes:read notes:write' });
      assert.equal(t.scope, 'notes:read notes:write');
      const narrow = await c.refresh(t.refresh_token, { scope: 'notes:read' });
      assert.equal(narrow.status, 200, JSON.stringify(narrow.body));
      assert.equal(narrow.body.scope, 'notes:read');
      assert.equal(jwtPart(narrow.body.access_token, 1).scope, 'notes:read');
      oauthError(await c.refresh(narrow.body.refresh_token, { scope: 'notes:*' }), 400, 'invalid_scope', 'wider');
      oauthError(await c.refresh(narrow.body.refresh_token, { scope: 'files:read' }), 400, 'invalid_scope', 'another resource\'s scope');
      oauthError(await c.refresh(narrow.body.refresh_token, { resource: OTHER_MCP_RESOURCE }), 400, 'invalid_target', 'another resource');
      const other = client('basic', revision);
      oauthError(await other.refresh(narrow.body.refresh_token), 400, 'invalid_grant', 'another client');
      const again = await c.refresh(narrow.body.refresh_token);
      assert.equal(again.status, 200, 'none of the refusals rotated or ended the grant');
      assert.equal(again.body.scope, 'notes:read notes:write', 'without `scope` the token has the grant\'s scope again');
    });

    test('revokes per RFC 7009: either token ends the grant, other clients and unknown tokens get 200 and change nothing', async () => {
      const c = client('basic', revision);
      const t = await c.tokens(ada);
      const other = client('post', revision);
      const foreign = await other.post('/oauth/revoke', { token: t.refresh_token });
      assert.equal(foreign.status, 200);
      assert.equal(await live(t.access_token), true, 'another client cannot revoke this grant');
      assert.equal((await c.post('/oauth/revoke', { token: 'not-a-token' })).status, 200, 'unknown tokens: 200');
      oauthError(await c.post('/oauth/revoke', { token: t.refresh_token }, { how: 'client_secret_post' }), 401, 'invalid_client', 'wrong method');
      assert.equal(await live(t.access_token), true);
      const revoked = await c.post('/oauth/revoke', { token: t.refresh_token, token_type_hint: 'refresh_token' });
      assert.equal(revoked.status, 200);
      assert.equal(await live(t.access_token), false, 'revoking the refresh token ends the grant');
      oauthError(await c.refresh(t.refresh_token), 400, 'invalid_grant', 'refresh after revocation');

      const t2 = await c.tokens(ada);
      assert.equal((await c.post('/oauth/revoke', { token: t2.access_token, token_type_hint: 'access_token' })).status, 200);
      assert.equal(await live(t2.access_token), false, 'revoking the access token ends the grant too');
      oauthError(await c.refresh(t2.refresh_token), 400, 'invalid_grant', 'its refresh token');
    });

    test('introspects only for an authenticated resource server, only tokens for its resource', async () => {
      const t = await client('public', revision).tokens(ada);
      const rs = new OAuthClient(env, { id: OAUTH_CLIENTS.resourceServer.client_id, redirectUri: '', auth: 'client_secret_basic', secret: OAUTH_CLIENTS.resourceServer.secret, revision });
      const active = await rs.post('/oauth/introspect', { token: t.access_token });
      assert.equal(active.status, 200);
      assert.equal(active.headers.get('cache-control'), 'no-store');
      assert.equal(active.body.active, true);
      assert.equal(active.body.client_id, OAUTH_CLIENTS.public.client_id);
      assert.equal(active.body.aud, MCP_RESOURCE);
      assert.equal(active.body.scope, 'notes:read notes:write notes:*');
      assert.equal(active.body.sub, jwtPart(t.access_token, 1).sub);
      assert.equal(active.body.iss, ORIGIN);
      for (const token of [t.refresh_token, 'garbage', t.access_token.slice(0, -2)]) {
        assert.deepEqual((await rs.post('/oauth/introspect', { token })).body, { active: false });
      }
      oauthError(await rs.post('/oauth/introspect', { token: t.access_token }, { how: 'skip' }), 401, 'invalid_client', 'no client authentication');
      const notAnRs = client('basic', revision);
      const refused = await notAnRs.post('/oauth/introspect', { token: t.access_token });
      assert.equal(refused.status, 403);
      rs.secret = 'wrong';
      oauthError(await rs.post('/oauth/introspect', { token: t.access_token }), 401, 'invalid_client', 'wrong secret');
    });

    test('puts iss on every redirect back to the client: success, denial and errors', async () => {
      const c = client('public', revision);
      const denied = await c.authorize(ada, { decision: 'deny' });
      assert.equal(denied.error, 'access_denied');
      assert.equal(denied.iss, ORIGIN);
      assert.equal(denied.state, c.state);
      assert.equal(denied.code, undefined);
      const bad = await c.authorizeRequest({ scope: 'admin:everything' });
      const cb = callbackParams(bad.headers.get('location'), c.redirectUri);
      assert.equal(cb.error, 'invalid_scope');
      assert.equal(cb.iss, ORIGIN);
      const unsupported = callbackParams((await c.authorizeRequest({ response_type: 'token' })).headers.get('location'), c.redirectUri);
      assert.equal(unsupported.error, 'unsupported_response_type');
      assert.equal(unsupported.iss, ORIGIN);
    });

    test('registers clients dynamically (RFC 7591): public ones idempotently, confidential ones with a secret', async () => {
      const c = client('public', revision);
      const register = (body, origin = ORIGIN) => c.fetch(`${origin}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const meta = { client_name: `Inspector ${revision}`, redirect_uris: ['http://localhost:6274/oauth/callback'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native' };
      const first = await register(meta);
      assert.equal(first.status, 201);
      assert.equal(first.headers.get('cache-control'), 'no-store');
      const a = await first.json();
      assert.match(a.client_id, /^cli_[a-z2-7]{26}$/);
      assert.equal(a.client_secret, undefined);
      assert.deepEqual(a.redirect_uris, meta.redirect_uris);
      assert.equal(a.token_endpoint_auth_method, 'none');
      assert.deepEqual(a.grant_types, ['authorization_code', 'refresh_token']);
      const again = await (await register({ ...meta })).json();
      assert.equal(again.client_id, a.client_id, 'the same public registration gives the same client');

      const conf = await (await register({ client_name: 'Server app', redirect_uris: ['https://srv.example.test/cb'], token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'] })).json();
      assert.match(conf.client_secret, /^ocs_/);
      assert.equal(conf.client_secret_expires_at, 0);
      const dyn = new OAuthClient(env, { id: conf.client_id, redirectUri: 'https://srv.example.test/cb', auth: 'client_secret_basic', secret: conf.client_secret, revision });
      const t = await dyn.tokens(ada);
      assert.equal(jwtPart(t.access_token, 1).client_id, conf.client_id);
      const stored = await env.query('SELECT secret_hash FROM oauth_clients WHERE id = ?', conf.client_id);
      assert.notEqual(stored[0].secret_hash, conf.client_secret, 'only a hash is stored');

      for (const bad of [
        { redirect_uris: ['https://a.example.test/cb'], grant_types: ['password'] },
        { redirect_uris: ['https://a.example.test/cb'], response_types: [] },
        { redirect_uris: ['https://a.example.test/cb'], token_endpoint_auth_method: 'private_key_jwt' },
        { redirect_uris: ['javascript:alert(1)'] },
        { client_name: 'no redirects' },
      ]) {
        const res = await register(bad);
        assert.equal(res.status, 400, JSON.stringify(bad));
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.match((await res.json()).error, /^invalid_(client_metadata|redirect_uri)$/);
      }
    });

    test('with dynamic registration off there is no registration endpoint', async () => {
      const c = new OAuthClient(env, { id: 'x', redirectUri: '', revision, origin: 'http://nodcr.local' });
      const m = await (await c.fetch('/.well-known/oauth-authorization-server')).json();
      assert.equal(m.registration_endpoint, undefined);
      const res = await c.fetch('/oauth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"redirect_uris":["https://a.example.test/cb"]}' });
      assert.equal(res.status, 404);
    });

    test('binds tokens to one resource: another resource is invalid_target and does not use the code up', async () => {
      const c = client('public', revision);
      const cb = await c.authorize(ada);
      oauthError(await c.exchange(cb.code, { resource: OTHER_MCP_RESOURCE }), 400, 'invalid_target', 'token request for another resource');
      oauthError(await c.exchange(cb.code, { resource: `${MCP_RESOURCE}/` }), 400, 'invalid_target', 'trailing slash');
      assert.equal((await c.exchange(cb.code, { resource: MCP_RESOURCE.replace('http://mcp', 'HTTP://MCP') })).status, 200,
        'an uppercase scheme and host are the same resource');
      for (const resource of [`${MCP_RESOURCE}#f`, 'http://mcp.local/other', 'not a uri']) {
        const res = await c.authorizeRequest({ resource });
        const back = callbackParams(res.headers.get('location'), c.redirectUri);
        assert.equal(back.error, 'invalid_target', resource);
        assert.equal(back.iss, ORIGIN);
      }
    });

    test('access tokens are for exactly their audience', async () => {
      const t = await client('public', revision).tokens(ada);
      assert.equal((await env.resolved('validateToken', t.access_token, { audience: MCP_RESOURCE })).valid, true);
      for (const audience of [`${MCP_RESOURCE}/`, 'http://MCP.local/mcp', OTHER_MCP_RESOURCE]) {
        assert.deepEqual(await env.resolved('validateToken', t.access_token, { audience }), { valid: false, error: 'invalid_token' }, audience);
      }
      assert.equal((await env.validate(t.access_token)).valid, false, 'not a token for this worker or the gateway');
      const me = await env.call('GET', '/auth/me', t.access_token);
      assert.equal(me.status, 401, 'not a token for this worker\'s own API');
      const other = await mcpCall(env, OTHER_MCP_RESOURCE, t.access_token, 'tools/list');
      assert.equal(other.status, 401, 'another MCP server refuses it');
      assert.equal(challengeOf(other.headers.get('www-authenticate')).params.error, 'invalid_token');
    });

    if (since(revision, '2025-06-18')) {
      test('the MCP server publishes RFC 9728 metadata at the path-aware URL and the root, naming this issuer', async () => {
        const expected = {
          resource: MCP_RESOURCE,
          authorization_servers: [ORIGIN],
          scopes_supported: ['notes:read', 'notes:write', 'notes:*'],
          bearer_methods_supported: ['header'],
          resource_name: 'Notes (example MCP server)',
        };
        for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
          const res = await env.mf.dispatchFetch(`http://mcp.local${path}`, { headers: { 'mcp-protocol-version': revision } });
          assert.equal(res.status, 200, path);
          assert.deepEqual(await res.json(), expected, path);
        }
      });

      test('the MCP server challenges a missing token with its metadata URL and a bad one with invalid_token', async () => {
        const none = await mcpCall(env, MCP_RESOURCE, null, 'tools/list', {}, { 'mcp-protocol-version': revision });
        assert.equal(none.status, 401);
        const ch = challengeOf(none.headers.get('www-authenticate'));
        assert.equal(ch.scheme, 'Bearer');
        assert.equal(ch.params.resource_metadata, 'http://mcp.local/.well-known/oauth-protected-resource/mcp');
        assert.equal(ch.params.error, undefined, 'no error code when no credentials were sent (RFC 6750 §3.1)');
        if (since(revision, '2025-11-25')) assert.equal(ch.params.scope, 'notes:read notes:write notes:*');
        for (const token of ['garbage', (await client('public', revision).tokens(ada)).refresh_token]) {
          const bad = await mcpCall(env, MCP_RESOURCE, token, 'tools/list');
          assert.equal(bad.status, 401);
          const c2 = challengeOf(bad.headers.get('www-authenticate'));
          assert.equal(c2.params.error, 'invalid_token');
          assert.equal(c2.params.resource_metadata, 'http://mcp.local/.well-known/oauth-protected-resource/mcp');
        }
        const inQuery = await env.mf.dispatchFetch(`${MCP_RESOURCE}?access_token=x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        assert.equal(inQuery.status, 401, 'a token in the query string is not a credential');
      });

      test('the MCP server accepts no API key and no first-party token (no token passthrough)', async () => {
        const session = await env.resolved('createSession', { userId: jwtPart((await client('public', revision).tokens(ada)).access_token, 1).sub });
        const firstParty = await mcpCall(env, MCP_RESOURCE, session.token, 'tools/list');
        assert.equal(firstParty.status, 401);
        const apiKey = await env.resolved('createApiKey', { userId: jwtPart(session.token, 1).sub, name: `mcp ${revision}` });
        const withKey = await mcpCall(env, MCP_RESOURCE, apiKey.apiKey.key, 'tools/list');
        assert.equal(withKey.status, 401);
      });
    }

    if (since(revision, '2025-11-25')) {
      test('a tool call without its scope is a 403 insufficient_scope naming every scope it needs, once', async () => {
        const c = client('public', revision);
        const t = await c.tokens(ada, { scope: 'notes:read' });
        const ok = await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/call', { name: 'search_notes', arguments: { query: 'x' } });
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        const res = await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/call', { name: 'create_note', arguments: { text: 'x' } });
        assert.equal(res.status, 403);
        const headers = res.headers.get('www-authenticate');
        assert.equal(headers.match(/Bearer /g).length, 1, 'a single challenge');
        const ch = challengeOf(headers);
        assert.equal(ch.params.error, 'insufficient_scope');
        assert.equal(ch.params.scope, 'notes:write');
        assert.equal(ch.params.resource_metadata, 'http://mcp.local/.well-known/oauth-protected-resource/mcp');
        assert.equal(res.body.error, 'insufficient_scope');
        // The 2026-07-28 header form of the same question is answered the same way.
        const viaHeaders = await mcpCall(env, MCP_RESOURCE, t.access_token, 'tools/call', { name: 'create_note', arguments: { text: 'x' } },
          { 'mcp-method': 'tools/call', 'mcp-name': 'create_note' });
        assert.equal(viaHeaders.status, 403);
      });

      test('a broader scope implies the narrower ones (scope hierarchy), and the person must hold the permission too', async () => {
        const c = client('public', revision);
        const broad = await c.tokens(ada, { scope: 'notes:*' });
        const res = await mcpCall(env, MCP_RESOURCE, broad.access_token, 'tools/call', { name: 'create_note', arguments: { text: 'hello' } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.match(res.body.result.content[0].text, /Created a note of 5 characters/);
        const alanToken = await c.tokens(alan, { scope: 'notes:*' });
        const forbidden = await mcpCall(env, MCP_RESOURCE, alanToken.access_token, 'tools/call', { name: 'create_note', arguments: { text: 'x' } });
        assert.equal(forbidden.status, 403);
        assert.equal(forbidden.body.error, 'forbidden', 'more scope would not help: the person lacks the permission');
      });

      test('offline_access is an authorization server scope only: never in the resource metadata or a challenge', async () => {
        const as = await (await env.fetch('/.well-known/oauth-authorization-server')).json();
        assert.ok(as.scopes_supported.includes('offline_access'));
        const prm = await (await env.mf.dispatchFetch('http://mcp.local/.well-known/oauth-protected-resource/mcp')).json();
        assert.ok(!prm.scopes_supported.includes('offline_access'));
        const none = await mcpCall(env, MCP_RESOURCE, null, 'tools/list');
        assert.ok(!none.headers.get('www-authenticate').includes('offline_access'));
        const c = client('public', revision);
        const t = await c.tokens(ada, { scope: 'notes:read offline_access' });
        assert.equal(t.scope, 'notes:read', 'asking for offline_access is accepted and does not become a token scope');
        assert.ok(t.refresh_token);
      });

      test('accepts a Client ID Metadata Document client: fetched once, cached, exact client_id, redirect URIs from the document', async () => {
        const url = `${DOC_HOST}/oauth/${revision}/client.json`;
        hosts.set(url, { body: clientDocument(url), headers: { 'cache-control': 'max-age=300' } });
        const c = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43111/callback', revision });
        const page = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
        assert.match(page.html, /Metadata Client/);
        assert.match(page.html, /id="unverified"/, 'an untrusted host is marked unverified');
        assert.match(page.html, /<code>https:\/\/client\.example\/oauth\//, 'the client_id (its host) is shown');
        assert.match(page.html, /id="loopback"/, 'a loopback redirect is warned about');
        const cb = callbackParams(await ada.decide(page, 'approve'), c.redirectUri);
        const t = await c.exchange(cb.code);
        assert.equal(t.status, 200, JSON.stringify(t.body));
        assert.equal(jwtPart(t.body.access_token, 1).client_id, url);
        await c.tokens(ada);
        assert.equal(hosts.fetched(url), 1, 'the document was cached (max-age=300)');
        const other = await c.authorizeRequest({ redirect_uri: 'http://127.0.0.1:43111/other' });
        assert.equal(other.status, 400, 'a redirect URI the document does not list');
        assert.equal(other.headers.get('location'), null);
        const port = await c.authorizeRequest({ redirect_uri: 'http://127.0.0.1:51234/callback' });
        assert.equal(port.status, 302, 'a loopback redirect URI on another port (RFC 8252 §7.3)');
        assert.match(port.headers.get('location'), /^\/oauth\/consent\?/);
      });

      test('refuses bad metadata documents and their URLs before any redirect', async () => {
        const cases = [
          ['mismatch', (u) => ({ body: clientDocument(`${u}x`) })],
          ['bad json', () => ({ body: '{"client_id": ' })],
          ['oversized', (u) => ({ body: clientDocument(u, { client_name: 'x'.repeat(90), padding: 'p'.repeat(6000) }) })],
          ['status 404', () => ({ status: 404, body: {} })],
          ['redirect', () => ({ status: 302, body: {}, headers: { location: 'https://127.0.0.1/x' } })],
          ['secret', (u) => ({ body: clientDocument(u, { client_secret: 's' }) })],
          ['no name', (u) => ({ body: clientDocument(u, { client_name: undefined }) })],
        ];
        for (const [name, spec] of cases) {
          const url = `${DOC_HOST}/refused/${revision}/${name.replace(/\W/g, '-')}.json`;
          hosts.set(url, spec(url));
          const c = new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43111/callback', revision });
          const res = await c.authorizeRequest();
          assert.equal(res.status, 400, name);
          assert.equal(res.headers.get('location'), null, name);
          const body = await res.json();
          assert.equal(body.error, 'invalid_request', name);
          assert.match(body.error_description, /metadata document/, name);
          await c.authorizeRequest();
          assert.equal(hosts.fetched(url), 2, `${name}: a refused document is not cached`);
        }
        for (const url of ['https://127.0.0.1/client.json', 'https://10.0.0.8/client.json', 'https://[::1]/client.json', 'https://localhost/client.json',
          'https://metadata.localhost/c.json', 'https://intranet/client.json', 'http://client.example/client.json', 'https://client.example/',
          'https://client.example/a/../client.json', 'https://blocked.example/client.json']) {
          const res = await new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43111/callback', revision }).authorizeRequest();
          assert.equal(res.status, 400, url);
          assert.equal(hosts.fetched(url), 0, `${url} is refused without being fetched`);
        }
      });

      test('a slow metadata document host is given up on after the time limit', async () => {
        const url = `${DOC_HOST}/slow/${revision}/client.json`;
        hosts.set(url, { body: clientDocument(url), delayMs: 6500 });
        const started = Date.now();
        const res = await new OAuthClient(env, { id: url, redirectUri: 'http://127.0.0.1:43111/callback', revision }).authorizeRequest();
        assert.equal(res.status, 400);
        assert.match((await res.json()).error_description, /did not answer within/);
        assert.ok(Date.now() - started < 6400, 'the worker stopped waiting at its limit');
      });

      test('a metadata document on a trusted host is not marked unverified', async () => {
        hosts.set(TRUSTED_DOC, { body: clientDocument(TRUSTED_DOC, { client_name: 'Trusted Tool', redirect_uris: ['https://tools.trusted.example/cb'] }) });
        const c = new OAuthClient(env, { id: TRUSTED_DOC, redirectUri: 'https://tools.trusted.example/cb', revision });
        const page = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
        assert.match(page.html, /Trusted Tool/);
        assert.doesNotMatch(page.html, /id="unverified"/);
        assert.doesNotMatch(page.html, /id="loopback"/);
        assert.match(page.html, /id="redirect-host">tools\.trusted\.example</);
      });
    }
  });
}

describe('consent', () => {
  test('the consent page names the client, the person, the resource and where the code goes, and cannot be framed', async () => {
    const c = client('basic', '2026-07-28');
    const page = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
    assert.match(page.html, /Authorize Example Web App\?/);
    assert.match(page.html, /ada@acme\.test/);
    assert.match(page.html, /Notes \(example MCP server\)/);
    assert.match(page.html, /id="redirect-host">app\.example\.test</);
    assert.doesNotMatch(page.html, /id="unverified"/, 'a configured client is vouched for');
    assert.match(page.csp, /frame-ancestors 'none'/);
    assert.match(page.csp, /form-action 'self'[^;]* https:\/\/app\.example\.test/, 'the form may redirect to the client');
  });

  test('asks the person to sign in first, then comes back to the same request', async () => {
    const c = client('public', '2026-07-28');
    const consent = (await c.authorizeRequest()).headers.get('location');
    const anonymous = new Browser(env);
    const res = await anonymous.fetch(ORIGIN + consent);
    assert.equal(res.status, 302);
    const to = new URL(res.headers.get('location'), ORIGIN);
    assert.equal(to.pathname, '/auth/authorize');
    assert.equal(to.searchParams.get('return_to'), consent);
  });

  test('a decision needs this session\'s form token, a same-origin post, and counts once', async () => {
    const c = client('public', '2026-07-28');
    const page = await ada.consentPage((await c.authorizeRequest()).headers.get('location'));
    const crossSite = await ada.submit({ request: page.request, form_token: page.formToken, decision: 'approve' }, ORIGIN, { origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);
    const forged = await ada.submit({ request: page.request, form_token: page.formToken.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')), decision: 'approve' });
    assert.equal(forged.status, 403);
    const otherPerson = await alan.submit({ request: page.request, form_token: page.formToken, decision: 'approve' });
    assert.equal(otherPerson.status, 403, 'another person\'s session cannot answer it');
    const cb = callbackParams(await ada.decide(page, 'approve'), c.redirectUri);
    assert.ok(cb.code);
    const again = await ada.submit({ request: page.request, form_token: page.formToken, decision: 'approve' });
    assert.equal(again.status, 400, 'a request is answered once');
  });

  test('codes live one minute and only their hashes are stored', async () => {
    const c = client('public', '2026-07-28');
    const cb = await c.authorize(ada);
    const rows = await env.query('SELECT code_hash, expires_at - created_at AS ttl FROM oauth_codes');
    assert.ok(rows.every((r) => r.code_hash !== cb.code && r.ttl === 60));
    await env.query('UPDATE oauth_codes SET expires_at = created_at');
    oauthError(await c.exchange(cb.code), 400, 'invalid_grant', 'expired code');
  });
});

describe('connected apps', () => {
  test('a person lists the apps they authorized and revokes one; an admin revokes a client everywhere', async () => {
    const me = await env.resolved('createSession', { userId: jwtPart((await client('public', '2026-07-28').tokens(ada)).access_token, 1).sub });
    const post = client('post', '2026-07-28');
    const t = await post.tokens(ada);
    const list = await env.call('GET', '/oauth/grants', me.token);
    assert.equal(list.status, 200);
    const g = list.body.grants.find((x) => x.id === jwtPart(t.access_token, 1).sid);
    assert.equal(g.clientId, 'web-post');
    assert.equal(g.clientName, 'Example Post App');
    assert.equal(g.resource, MCP_RESOURCE);
    assert.equal(g.redirectHost, 'post.example.test');
    assert.ok(g.createdAt && g.lastUsedAt && g.expiresAt);
    const sessions = await env.call('GET', '/auth/sessions', me.token);
    assert.ok(!sessions.body.sessions.some((s) => s.id === g.id), 'grants are not sign-in sessions');

    const other = await env.resolved('createSession', { userId: jwtPart((await client('public', '2026-07-28').tokens(alan)).access_token, 1).sub });
    assert.equal((await env.call('DELETE', `/oauth/grants/${g.id}`, other.token)).status, 404, 'not someone else\'s');
    assert.equal(await live(t.access_token), true);
    const revoked = await env.call('DELETE', `/oauth/grants/${g.id}`, me.token);
    assert.equal(revoked.status, 200);
    assert.equal(await live(t.access_token), false);

    const a = await post.tokens(ada);
    const b = await post.tokens(alan);
    assert.equal((await env.call('DELETE', '/oauth/grants?client_id=web-post', me.token)).status, 403, 'not an administrator');
    const root = await env.resolved('createSession', { userId: (await env.query("SELECT id FROM users WHERE email = 'ada@acme.test'"))[0].id });
    await env.query("UPDATE users SET role = 'admin' WHERE email = 'ada@acme.test'");
    const all = await env.call('DELETE', '/oauth/grants?client_id=web-post', root.token);
    assert.equal(all.status, 200);
    assert.ok(all.body.revoked >= 2);
    assert.equal(await live(a.access_token), false);
    assert.equal(await live(b.access_token), false);
    await env.query("UPDATE users SET role = 'user' WHERE email = 'ada@acme.test'");
    const audit = await env.query("SELECT action FROM audit_events WHERE action LIKE 'oauth.%' GROUP BY action ORDER BY action");
    assert.deepEqual(audit.map((r) => r.action), ['oauth.authorized', 'oauth.client_grants_revoked', 'oauth.client_registered', 'oauth.consent_denied']);
  });

  test('a first-party refresh never rotates an OAuth grant, and the token endpoint never rotates a sign-in session', async () => {
    const c = client('public', '2026-07-28');
    const t = await c.tokens(ada);
    const res = await env.call('POST', '/auth/refresh', undefined, { refreshToken: t.refresh_token });
    assert.equal(res.status, 401);
    const session = await env.resolved('createSession', { userId: jwtPart(t.access_token, 1).sub });
    oauthError(await c.refresh(session.refreshToken), 400, 'invalid_grant', 'a sign-in session\'s refresh token');
    assert.equal((await c.refresh(t.refresh_token)).status, 200, 'neither refusal touched the grant');
  });
});
