-- Users imported from another system (scripts/import-better-auth.mjs) have no workos_id until their
-- first WorkOS sign-in links them by email. At most one such unlinked row may hold a given email
-- (compared like the sign-in compares it: ASCII case-insensitively), so a sign-in can never have two
-- rows to choose from and the import cannot write the same person twice. Rows that WorkOS created or
-- linked (workos_id set) are not constrained: WorkOS owns their email.
CREATE UNIQUE INDEX idx_users_unlinked_email ON users (email COLLATE NOCASE) WHERE workos_id IS NULL;
