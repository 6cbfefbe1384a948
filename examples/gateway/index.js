// Example API gateway worker. Every request needs `Authorization: Bearer <access token or API key>`,
// checked through the AUTH_SERVICE service binding (no network hop); the route decides which
// `resource:action` permission is required; allowed requests are forwarded to UPSTREAM with the
// caller's id. Bind it in wrangler.toml:
//   services = [{ binding = "AUTH_SERVICE", service = "auth" }, { binding = "UPSTREAM", service = "api" }]
/** @typedef {import('../../types/auth-service').AuthService} AuthService */

const ACTION_BY_METHOD = { GET: 'read', HEAD: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'delete' };

function json(status, body) {
  return Response.json(body, { status, headers: { 'cache-control': 'no-store' } });
}

/**
 * Authenticates the request; returns the validation result or a 401 response.
 * @param {Request} request @param {{AUTH_SERVICE: AuthService}} env
 */
export async function authenticate(request, env) {
  const header = request.headers.get('authorization') ?? '';
  if (!/^Bearer \S+$/i.test(header)) {
    return { response: json(401, { error: 'unauthenticated', error_description: 'Send Authorization: Bearer <token>.' }) };
  }
  const result = await env.AUTH_SERVICE.validateToken(header.slice(7).trim());
  if (!result.valid) {
    return { response: json(401, { error: result.error, error_description: 'The credential was refused.' }) };
  }
  return { auth: result };
}

export default {
  /** @param {Request} request @param {{AUTH_SERVICE: AuthService, UPSTREAM: Fetcher}} env */
  async fetch(request, env) {
    const url = new URL(request.url);
    // /api/<resource>/... ; the resource segment names the permission's resource.
    const [, prefix, resource] = url.pathname.split('/');
    if (prefix !== 'api' || !resource) return json(404, { error: 'not_found', error_description: 'Unknown route.' });
    const action = ACTION_BY_METHOD[request.method];
    if (!action) return json(405, { error: 'method_not_allowed', error_description: 'Unsupported method.' });

    const { auth, response } = await authenticate(request, env);
    if (response) return response;

    // The organization comes from the validated identity (the token's org, or the org an API key is
    // bound to), never from the request: a caller must not be able to pick which membership applies.
    const organizationId = auth.user.organizationId ?? undefined;
    const allowed = await env.AUTH_SERVICE.checkPermission({
      userId: auth.user.id,
      resource,
      action,
      organizationId,
      // An API key's scopes are a ceiling: passing them can only narrow the answer.
      scopes: auth.apiKey?.scopes ?? undefined,
    });
    if (!allowed) {
      return json(403, { error: 'forbidden', error_description: `This needs the ${resource}:${action} permission.` });
    }
    const headers = new Headers(request.headers);
    headers.delete('authorization'); // the upstream trusts the gateway, not the raw credential
    headers.set('x-auth-user-id', auth.user.id);
    if (organizationId) headers.set('x-auth-organization-id', organizationId);
    return env.UPSTREAM.fetch(new Request(request, { headers }));
  },
};
