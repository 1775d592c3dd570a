-- The address a change came from (the client behind a trusted proxy, else the connection's
-- peer): personal data, shown only to the roles that read the audit trail. NULL for changes
-- made outside a request (CLI, background work) and for rows written before this column.
ALTER TABLE audit_log ADD COLUMN client_address TEXT NULL;
