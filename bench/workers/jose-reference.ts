// The reference a user would write without this worker: a TypeScript worker that verifies an HS256
// access token with `jose` and answers from its claims (no session check at all). Bundled with
// esbuild by bench/validate-token.mjs.
import { WorkerEntrypoint } from 'cloudflare:workers';
import { jwtVerify } from 'jose';

interface Env {
  JWT_SECRET: string;
  ISSUER: string;
}

let key: Uint8Array | undefined;

export default class JoseReference extends WorkerEntrypoint<Env> {
  async validateToken(token: string) {
    key ??= new TextEncoder().encode(this.env.JWT_SECRET);
    try {
      const { payload } = await jwtVerify(token, key, { issuer: this.env.ISSUER, algorithms: ['HS256'], typ: 'at+jwt' });
      return {
        valid: true,
        user: { id: payload.sub, email: payload.email, role: payload.role, organizationId: payload.org_id ?? null },
        session: { id: payload.sid, expiresAt: new Date((payload.exp ?? 0) * 1000).toISOString() },
      };
    } catch {
      return { valid: false, error: 'invalid_token' };
    }
  }
}
