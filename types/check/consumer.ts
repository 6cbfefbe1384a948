// Type-checked by `npm test` (tsc -p types/check, against the pinned @cloudflare/workers-types): the
// README's requireAuth and the binding hints of types/auth-service.d.ts as a consumer worker writes them.
// Nothing here runs.
import type { AuthService } from '../auth-service';

interface Env {
  AUTH_SERVICE: AuthService;
}

/** The README's requireAuth, verbatim in substance. */
export async function requireAuth(request: Request, env: Env, resource: string, action: string) {
  const header = request.headers.get('authorization') ?? '';
  if (!header.startsWith('Bearer ')) return Response.json({ error: 'unauthenticated' }, { status: 401 });
  const auth = await env.AUTH_SERVICE.validateToken(header.slice(7));
  if (!auth.valid) return Response.json({ error: auth.error }, { status: 401 });
  const allowed = await env.AUTH_SERVICE.checkPermission({
    userId: auth.user.id, resource, action,
    organizationId: auth.user.organizationId ?? undefined,
    scopes: auth.apiKey?.scopes ?? undefined,
  });
  if (!allowed) return Response.json({ error: 'forbidden' }, { status: 403 });
  return auth;
}

/** A binding that is also fetched: the Fetcher of workers-types with the RPC methods. */
interface EnvWithFetch {
  AUTH_SERVICE: Fetcher & AuthService;
}

export default {
  async fetch(request: Request, env: EnvWithFetch): Promise<Response> {
    const health = await env.AUTH_SERVICE.fetch('https://auth/health');
    const answer = await requireAuth(request, env, 'documents', 'read');
    if (answer instanceof Response) return answer;
    const pair = await env.AUTH_SERVICE.refreshSession('refresh-token');
    return Response.json({ user: answer.user.id, health: health.status, token: pair.token.length });
  },
} satisfies ExportedHandler<EnvWithFetch>;

// The hint this file used to give does not type-check with current workers-types: keep it refused.
// @ts-expect-error Service<T> needs a WorkerEntrypoint type, and AuthService is a plain interface.
export type OldHint = Service<AuthService>;
