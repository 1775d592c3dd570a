-- A bulk change (a settlement run, a plan) writes one audit entry carrying the count and
-- SHA-256 digest of the rows it left (in the entry's after_json, covered by the chain);
-- here the first 8 bytes of each row's hash, in order, so a check can name the first row
-- that no longer matches. Append-only like the log.
CREATE TABLE audit_digests (
    audit_id BIGINT PRIMARY KEY REFERENCES audit_log (id),
    row_count BIGINT NOT NULL CHECK (row_count >= 0),
    row_prints BLOB NOT NULL
);

CREATE TRIGGER audit_digests_no_update BEFORE UPDATE ON audit_digests
BEGIN SELECT RAISE(ABORT, 'audit_digests is append-only'); END;
CREATE TRIGGER audit_digests_no_delete BEFORE DELETE ON audit_digests
BEGIN SELECT RAISE(ABORT, 'audit_digests is append-only'); END;
