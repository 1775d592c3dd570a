-- Issue 13, OpenADR 3.1: GridFlex is the VTN aggregators call as VENs. Grid side.
-- Which aggregator talks to a registered device (its VEN receives the device's events).
ALTER TABLE grid_devices ADD COLUMN aggregator_ref TEXT NULL;
CREATE INDEX grid_devices_aggregator ON grid_devices (aggregator_ref);

-- OpenADR clients: a VEN client per aggregator (`ven_ref` = the aggregator's external
-- reference) or a business-logic client (no VEN). Only a SHA-256 of the secret is kept.
CREATE TABLE openadr_clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    -- Comma-separated scopes (read_all, read_targets, ...).
    scopes TEXT NOT NULL,
    ven_ref TEXT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL
);

-- Bearer tokens issued by `auth/token`, stored as SHA-256 hashes, valid until `expires_at`.
CREATE TABLE openadr_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    client_id BIGINT NOT NULL REFERENCES openadr_clients (id),
    expires_at TEXT NOT NULL
);

-- Reports received from VENs, as received (the outcomes they carry are applied to
-- event_stage_devices in the same transaction).
CREATE TABLE openadr_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    client_id BIGINT NOT NULL REFERENCES openadr_clients (id),
    ven_ref TEXT NULL,
    event_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX openadr_reports_event ON openadr_reports (event_id);
