// Types for workers that call the `auth` worker through a service binding:
//   wrangler.toml:  services = [{ binding = "AUTH_SERVICE", service = "auth" }]
//   interface Env { AUTH_SERVICE: AuthService }   (Fetcher & AuthService to also call its fetch)
// Not `Service<AuthService>`: @cloudflare/workers-types' Service<T> wants a WorkerEntrypoint class (or its
// branded instance type) as T, and this is a plain interface (types/check/consumer.ts type-checks all this).
// Every method is JS RPC on the auth worker's default entrypoint. Timestamps are RFC 3339 strings.
// Object arguments must be plain data (at most 4 levels deep, 256 values); anything else is refused
// with invalid_request.

export interface AuthUser {
  id: string;
  email: string;
  /** Global role of the user in this service: "user" or "admin". */
  role: string;
  /** The organization the credential acts in, if any (WorkOS organization id): the one the session
   *  was signed into, or the one an API key is bound to. Never take it from the request instead. */
  organizationId: string | null;
}

export type ValidateTokenResult =
  | {
      valid: true;
      user: AuthUser;
      /** Present for access tokens. */
      session?: { id: string; expiresAt: string };
      /** Present for API keys; `scopes` null means the owner's full permissions as the ceiling. */
      apiKey?: { id: string; name: string; scopes: string[] | null };
      /** Present for a token an OAuth (MCP) client holds: the client and its granted scope
       *  (space-separated `resource:action` names, a ceiling on the user's permissions). */
      clientId?: string;
      scope?: string;
    }
  | {
      valid: false;
      /** e.g. invalid_token, token_expired, session_revoked, user_deactivated, api_key_malformed,
       *  invalid_api_key, api_key_revoked, api_key_expired, invalid_request (a non-string or one over
       *  4096 characters) */
      error: string;
    };

export interface PermissionQuery {
  userId: string;
  resource: string;
  action: string;
  organizationId?: string;
  /** Optional ceiling (e.g. an API key's scopes from validateToken): can only narrow the answer. */
  scopes?: string[];
}

export interface CreateApiKeyParams {
  userId: string;
  name: string;
  /** 1-365, default 90. */
  expiresInDays?: number;
  environment?: 'live' | 'test';
  /** `resource:action` strings within the owner's permissions; omitted = owner's full permissions.
   *  The reserved `account:manage` lets the key manage its owner's sessions and keys over HTTP. */
  scopes?: string[];
  /** Binds the key to one organization the owner is an active member of. */
  organizationId?: string;
}

export type CreateApiKeyResult =
  | {
      success: true;
      /** `key` is shown once; only its hash is stored. */
      apiKey: {
        id: string; key: string; prefix: 'sk_live_' | 'sk_test_'; start: string; name: string;
        scopes: string[] | null; organizationId: string | null; lastUsedAt: string | null; expiresAt: string; createdAt: string;
      };
    }
  /** e.g. invalid_request, user_not_found, user_deactivated, scope_not_allowed, forbidden, rate_limited */
  | { success: false; error: string; error_description: string };

export interface TokenPair {
  token: string;
  refreshToken: string;
}

export interface CreateSessionParams {
  userId: string;
  ipAddress?: string;
  userAgent?: string;
  device?: string;
}

export interface McpRequestQuery {
  /** The Bearer token the MCP client sent (never forward it anywhere else). */
  token: string;
  /** This MCP server's resource URI, exactly as configured in the auth worker's OAUTH_RESOURCES. */
  resource: string;
  /** The JSON-RPC method (the `Mcp-Method` header, or the body's `method`). */
  method?: string;
  /** For `tools/call`: the tool (the `Mcp-Name` header, or `params.name`). */
  tool?: string;
}

export type McpRequestDecision =
  | { allowed: true; user: AuthUser; clientId: string; scope: string }
  | {
      allowed: false;
      /** Answer with this status: 401 (then challenge with `WWW-Authenticate: Bearer resource_metadata=...`)
       *  or 403. */
      status: 401 | 403;
      /** invalid_token, insufficient_scope (asking the person again can help) or forbidden (it cannot). */
      error: 'invalid_token' | 'insufficient_scope' | 'forbidden';
      errorDescription: string;
      /** insufficient_scope: every scope the operation needs, for the challenge's `scope`. */
      requiredScope?: string;
    };

/** RFC 9728 protected resource metadata, ready to serve at /.well-known/oauth-protected-resource<path>. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: [string];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name: string;
}

export interface SignedInUser {
  id: string;
  email: string;
  name: string | null;
  firstName: string | null;
  lastName: string | null;
  picture: string | null;
  emailVerified: boolean;
  role: string;
}

export interface AuthService {
  /** Access token or API key. Never rejects. With `audience`, an access token is valid only when its
   *  `aud` holds exactly that string (an MCP server passes its own resource URL) and an API key (which
   *  has no audience) is refused; without it, only this worker's own audience (`JWT_AUDIENCE`) is. */
  validateToken(token: string, options?: { audience?: string }): Promise<ValidateTokenResult>;
  /** Rejects only on malformed arguments. Unknown or deactivated users get false. */
  checkPermission(query: PermissionQuery): Promise<boolean>;
  createApiKey(params: CreateApiKeyParams): Promise<CreateApiKeyResult>;
  /** false when that user has no key with this id. */
  revokeApiKey(userId: string, keyId: string): Promise<boolean>;
  /** Rejects ("invalid_refresh_token: ...") when the refresh token is not valid, "rate_limited: ..."
   *  when this session refreshes too often. */
  refreshSession(refreshToken: string): Promise<TokenPair>;
  revokeSession(sessionId: string): Promise<boolean>;
  /** Rejects "rate_limited: ..." when this user has created too many keys and sessions lately. */
  createSession(params: CreateSessionParams): Promise<TokenPair & { session: { id: string; expiresAt: string } }>;
  /** May the holder of this token make this request to this MCP server? Accepts only access tokens
   *  issued by the auth worker's OAuth server to a client for exactly `resource`; a `tools/call`
   *  needs the tool's `resource:action` permission in the token's scope and held by the user.
   *  Rejects only for malformed arguments or an unconfigured `resource`. */
  checkMcpRequest(query: McpRequestQuery): Promise<McpRequestDecision>;
  /** The protected resource metadata to serve for `resource` (rejects for an unconfigured one). */
  getResourceMetadata(resource: string): Promise<ProtectedResourceMetadata>;
  /** `redirectUri`: where WorkOS returns the code (this worker's origin or an allowed origin).
   *  Keep `state` (generated when omitted; it is in the URL) and pass it to exchangeWorkOSCode. */
  getWorkOSAuthURL(redirectUri: string, state?: string): Promise<string>;
  /** Our own tokens for the signed-in user. `state` is the one getWorkOSAuthURL used (it carries the
   *  PKCE verifier). Rejects with a code (e.g. "invalid_grant: ...", "invalid_request: ..."). */
  exchangeWorkOSCode(code: string, state: string): Promise<{ accessToken: string; refreshToken: string; user: SignedInUser }>;
}
