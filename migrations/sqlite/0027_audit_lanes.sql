-- Issue 13 (POST reports throughput): the audit hash chain is kept in lanes. Each row links
-- to the previous row of its own lane, so writers on PostgreSQL take any free lane instead of
-- queueing on one chain head; every row written before this migration is in lane 0, and a
-- single writer at a time (SQLite, or a quiet PostgreSQL) always writes lane 0. The lane is
-- not in the row's hash, so the hashes of existing rows are unchanged; moving a row to
-- another lane still breaks both lanes' links.
ALTER TABLE audit_log ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_log_lane ON audit_log (lane, id);
