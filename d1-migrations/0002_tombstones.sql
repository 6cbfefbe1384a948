-- WorkOS objects that were deleted. WorkOS delivers events in no guaranteed order, so a late
-- `*.created` / `*.updated` for a deleted membership or organization must not bring it back
-- (a removed member would regain access). WorkOS never reuses these ids.
CREATE TABLE tombstones (
  id         TEXT PRIMARY KEY,
  object     TEXT NOT NULL CHECK (object IN ('organization', 'organization_membership')),
  deleted_at INTEGER NOT NULL
);
