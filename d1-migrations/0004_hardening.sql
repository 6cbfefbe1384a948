-- Hardening (see d1-migrations/SCHEMA.md): API keys bound to one organization, events the catch-up
-- could not apply (quarantined instead of blocking the cursor forever), and indexes for retention
-- pruning and the audit log reader.

-- A key may act inside one organization (its owner's membership role applies there); NULL = none.
ALTER TABLE api_keys ADD COLUMN organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE;

-- WorkOS events whose data this worker cannot apply. Recorded (and audited) so an operator can look
-- at them; the Events API cursor moves past them.
CREATE TABLE quarantined_events (
  id             TEXT PRIMARY KEY,
  event          TEXT NOT NULL,
  source         TEXT NOT NULL CHECK (source IN ('webhook', 'events_api')),
  reason         TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL
);

-- Retention: sessions are pruned by when they ended; audit rows are read and pruned by time.
CREATE INDEX idx_sessions_expires ON sessions (expires_at);
CREATE INDEX idx_sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX idx_audit_at ON audit_events (at, id);
CREATE INDEX idx_audit_action ON audit_events (action, at);
