-- The OAuth 2.1 authorization server for MCP clients (see d1-migrations/SCHEMA.md). A grant an MCP
-- client obtains is a session row (so rotation, reuse detection, revocation and the liveness check
-- are the ones sessions already have) that names its client, resource and scope.

-- NULL client_id: a first-party session (browser or API sign-in). Otherwise an OAuth grant.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN client_name TEXT;
ALTER TABLE sessions ADD COLUMN redirect_uri TEXT;
ALTER TABLE sessions ADD COLUMN resource TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
-- 1: the client receives refresh tokens for this grant.
ALTER TABLE sessions ADD COLUMN refresh_allowed INTEGER NOT NULL DEFAULT 1;
CREATE INDEX idx_sessions_client ON sessions (client_id, revoked_at) WHERE client_id IS NOT NULL;

-- Clients registered through POST /oauth/register (RFC 7591), when OAUTH_DYNAMIC_REGISTRATION is on.
CREATE TABLE oauth_clients (
  id            TEXT PRIMARY KEY,
  name          TEXT,
  redirect_uris TEXT NOT NULL,
  auth_method   TEXT NOT NULL CHECK (auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
  refresh       INTEGER NOT NULL,
  secret_hash   TEXT,
  -- The same public registration twice gives the same client (registration is idempotent on it).
  fingerprint   TEXT UNIQUE,
  created_at    INTEGER NOT NULL
);

-- An authorization request waiting for the person's consent (after sign-in).
CREATE TABLE oauth_requests (
  id_hash            TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL,
  client_name        TEXT NOT NULL,
  redirect_uri       TEXT NOT NULL,
  redirect_uri_given INTEGER NOT NULL,
  state              TEXT,
  code_challenge     TEXT NOT NULL,
  resource           TEXT NOT NULL,
  scope              TEXT NOT NULL,
  refresh_allowed    INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL
);
CREATE INDEX idx_oauth_requests_expires ON oauth_requests (expires_at);

-- Authorization codes. consumed_at and session_id record the one redemption, so a replay can revoke
-- what the code produced (RFC 6749 §4.1.2).
CREATE TABLE oauth_codes (
  code_hash          TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL,
  client_name        TEXT NOT NULL,
  redirect_uri       TEXT NOT NULL,
  redirect_uri_given INTEGER NOT NULL,
  code_challenge     TEXT NOT NULL,
  resource           TEXT NOT NULL,
  scope              TEXT NOT NULL,
  refresh_allowed    INTEGER NOT NULL,
  user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id    TEXT REFERENCES organizations (id) ON DELETE CASCADE,
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  consumed_at        INTEGER,
  session_id         TEXT
);
CREATE INDEX idx_oauth_codes_expires ON oauth_codes (expires_at);
