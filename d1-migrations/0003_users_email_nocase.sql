-- Directory-sync events find users by email case-insensitively; this index serves that lookup
-- (the index from 0001 uses binary collation and cannot).
CREATE INDEX idx_users_email_nocase ON users (email COLLATE NOCASE);
