-- Schema v1 of the auth worker. Documented table by table in d1-migrations/SCHEMA.md.
-- Times are INTEGER unix seconds unless the column name ends in _ms. Ids are ours ("usr_…", "ses_…")
-- except organizations and memberships, which keep WorkOS's ids ("org_…", "om_…") because callers pass them.
-- D1 enforces foreign keys; every child row cascades with its parent.

CREATE TABLE users (
  id                TEXT PRIMARY KEY,
  workos_id         TEXT UNIQUE,
  email             TEXT NOT NULL,
  first_name        TEXT,
  last_name         TEXT,
  profile_picture_url TEXT,
  email_verified    INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  role              TEXT NOT NULL DEFAULT 'user',
  is_active         INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_login_at     INTEGER,
  workos_updated_ms INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX idx_users_email ON users (email);

CREATE TABLE organizations (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL,
  workos_updated_ms INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);

CREATE TABLE organization_memberships (
  id                TEXT PRIMARY KEY,
  user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id   TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  role              TEXT NOT NULL DEFAULT 'member',
  status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'pending')),
  workos_updated_ms INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (user_id, organization_id)
);
CREATE INDEX idx_memberships_org ON organization_memberships (organization_id);

CREATE TABLE sessions (
  id                    TEXT PRIMARY KEY,
  user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id       TEXT REFERENCES organizations (id) ON DELETE CASCADE,
  refresh_hash          TEXT NOT NULL,
  previous_refresh_hash TEXT,
  rotated_at            INTEGER,
  device                TEXT,
  ip_address            TEXT,
  user_agent            TEXT,
  workos_session_id     TEXT,
  created_at            INTEGER NOT NULL,
  last_used_at          INTEGER NOT NULL,
  expires_at            INTEGER NOT NULL,
  revoked_at            INTEGER,
  revoked_reason        TEXT
);
CREATE INDEX idx_sessions_user ON sessions (user_id, expires_at);
CREATE INDEX idx_sessions_workos ON sessions (workos_session_id);
CREATE INDEX idx_sessions_org ON sessions (organization_id);

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL CHECK (prefix IN ('sk_live_', 'sk_test_')),
  start        TEXT NOT NULL,
  scopes       TEXT,
  last_used_at INTEGER,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, created_at);

CREATE TABLE permissions (
  id              TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  resource        TEXT NOT NULL,
  action          TEXT NOT NULL,
  organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
  granted_by      TEXT,
  created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX idx_permissions_unique ON permissions (user_id, resource, action, COALESCE(organization_id, ''));
CREATE INDEX idx_permissions_org ON permissions (organization_id);

CREATE TABLE role_permissions (
  role     TEXT NOT NULL,
  resource TEXT NOT NULL,
  action   TEXT NOT NULL,
  PRIMARY KEY (role, resource, action)
);
-- Defaults for the WorkOS membership role slugs; custom slugs get nothing until rows are added here.
INSERT INTO role_permissions (role, resource, action) VALUES
  ('admin', '*', '*'),
  ('member', '*', 'read'),
  ('member', '*', 'write'),
  ('viewer', '*', 'read');

CREATE TABLE login_flows (
  state_hash TEXT PRIMARY KEY,
  return_to  TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX idx_login_flows_expires ON login_flows (expires_at);

CREATE TABLE webhook_events (
  id           TEXT PRIMARY KEY,
  event        TEXT NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('webhook', 'events_api')),
  processed_at INTEGER NOT NULL
);
CREATE INDEX idx_webhook_events_processed ON webhook_events (processed_at);

CREATE TABLE sync_state (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE audit_events (
  id            TEXT PRIMARY KEY,
  at            INTEGER NOT NULL,
  actor_user_id TEXT,
  action        TEXT NOT NULL,
  target_type   TEXT,
  target_id     TEXT,
  ip_address    TEXT,
  detail        TEXT
);
CREATE INDEX idx_audit_actor ON audit_events (actor_user_id, at);
CREATE INDEX idx_audit_target ON audit_events (target_type, target_id);
