-- GridFlex foundation schema (SQLite dialect). Kept column-for-column in step with
-- migrations/postgres/0001_foundation.sql; the schema_parity test compares them.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('program_manager', 'operator', 'approver', 'auditor', 'admin')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('program_manager', 'operator', 'approver', 'auditor', 'admin', 'integration')),
    token_hash TEXT NOT NULL UNIQUE,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    last_used_at TEXT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE network_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('substation', 'feeder', 'transformer')),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    rated_kva DOUBLE PRECISION NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX network_nodes_kind ON network_nodes (kind, code);

-- Effective-dated parent links: feeder -> substation, transformer -> feeder.
-- Moving a node ends its open link (valid_to) and starts a new one.
CREATE TABLE network_edges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    child_id BIGINT NOT NULL REFERENCES network_nodes (id),
    parent_id BIGINT NOT NULL REFERENCES network_nodes (id),
    valid_from TEXT NOT NULL,
    valid_to TEXT NULL,
    CHECK (valid_to IS NULL OR valid_from < valid_to)
);
CREATE UNIQUE INDEX network_edges_open_child ON network_edges (child_id) WHERE valid_to IS NULL;
CREATE INDEX network_edges_parent ON network_edges (parent_id) WHERE valid_to IS NULL;

-- A service point. transformer_id/feeder_id/substation_id cache the *current* path so
-- list filters and roll-ups are one indexed query; network transfers rewrite them in the
-- same transaction that moves the edge.
CREATE TABLE device_locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_point_id TEXT NOT NULL UNIQUE,
    premise_id TEXT NOT NULL,
    street TEXT NOT NULL,
    city TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    transformer_id BIGINT NOT NULL REFERENCES network_nodes (id),
    feeder_id BIGINT NOT NULL REFERENCES network_nodes (id),
    substation_id BIGINT NOT NULL REFERENCES network_nodes (id),
    created_at TEXT NOT NULL
);
CREATE INDEX device_locations_transformer ON device_locations (transformer_id);
CREATE INDEX device_locations_feeder ON device_locations (feeder_id);

CREATE TABLE programs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    device_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'suspended', 'closed')),
    season_start TEXT NOT NULL,
    season_end TEXT NOT NULL,
    settlement_method TEXT NOT NULL CHECK (settlement_method IN ('consumption', 'demand')),
    settlement_timing TEXT NOT NULL CHECK (settlement_timing IN ('per_event', 'end_of_season')),
    baseline_method TEXT NOT NULL CHECK (baseline_method IN ('10in10', 'high5of10')),
    credit_rate DOUBLE PRECISION NOT NULL,
    opt_out_allowed BOOLEAN NOT NULL,
    opt_out_cutoff_minutes INTEGER NOT NULL,
    unavailability_allowed BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (season_start <= season_end)
);

CREATE TABLE program_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    program_id BIGINT NOT NULL REFERENCES programs (id),
    effective_from TEXT NOT NULL,
    cycle TEXT NOT NULL CHECK (cycle IN ('weekly', 'monthly')),
    week_start INTEGER NOT NULL CHECK (week_start BETWEEN 0 AND 6),
    max_events_per_cycle INTEGER NOT NULL,
    max_minutes_per_cycle INTEGER NOT NULL,
    min_gap_minutes INTEGER NOT NULL,
    min_event_minutes INTEGER NOT NULL,
    max_event_minutes INTEGER NOT NULL,
    max_overrides INTEGER NOT NULL,
    window_start_minute INTEGER NOT NULL,
    window_end_minute INTEGER NOT NULL,
    activation_cost DOUBLE PRECISION NOT NULL,
    burn_rate_factor DOUBLE PRECISION NOT NULL,
    score_factor DOUBLE PRECISION NOT NULL,
    overridable BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (program_id, effective_from),
    CHECK (min_event_minutes <= max_event_minutes),
    CHECK (window_start_minute < window_end_minute)
);

CREATE TABLE aggregators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    start_date TEXT NOT NULL,
    end_date TEXT NULL,
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    external_ref TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE aggregator_programs (
    aggregator_id BIGINT NOT NULL REFERENCES aggregators (id),
    program_id BIGINT NOT NULL REFERENCES programs (id),
    PRIMARY KEY (aggregator_id, program_id)
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX customers_name_key ON customers (name_key);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    head_end TEXT NOT NULL,
    nic_id TEXT NOT NULL,
    device_type TEXT NOT NULL CHECK (device_type IN ('thermostat', 'ev_charger', 'battery', 'water_heater', 'pool_pump', 'smart_inverter')),
    specification TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    badge TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    registered BOOLEAN NOT NULL,
    nominal_kw DOUBLE PRECISION NOT NULL CHECK (nominal_kw >= 0),
    control_score DOUBLE PRECISION NOT NULL,
    location_id BIGINT NOT NULL REFERENCES device_locations (id),
    aggregator_id BIGINT NULL REFERENCES aggregators (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (head_end, nic_id)
);
CREATE INDEX devices_nic ON devices (nic_id);
CREATE INDEX devices_serial ON devices (serial_number);
CREATE INDEX devices_location ON devices (location_id);
CREATE INDEX devices_type ON devices (device_type, id);

CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    program_id BIGINT NOT NULL REFERENCES programs (id),
    location_id BIGINT NOT NULL REFERENCES device_locations (id),
    feeder_id BIGINT NOT NULL REFERENCES network_nodes (id),
    substation_id BIGINT NOT NULL REFERENCES network_nodes (id),
    source TEXT NOT NULL CHECK (source IN ('X1BY', 'X1CC', 'X1SS')),
    ownership TEXT NOT NULL CHECK (ownership IN ('owned', 'leased', 'utility')),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'INACTIVE')),
    start_date TEXT NOT NULL,
    end_date TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX enrollments_program_feeder ON enrollments (program_id, feeder_id, id);
CREATE INDEX enrollments_program_status ON enrollments (program_id, status, id);
CREATE INDEX enrollments_feeder ON enrollments (feeder_id, id);
CREATE INDEX enrollments_substation ON enrollments (substation_id, id);
CREATE INDEX enrollments_status ON enrollments (status, id);
CREATE INDEX enrollments_customer ON enrollments (customer_id);
CREATE INDEX enrollments_location ON enrollments (location_id);

-- Which devices belong to a subscription, and when; a replacement ends one row and
-- starts another, so history is never overwritten.
CREATE TABLE enrollment_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
    device_id BIGINT NOT NULL REFERENCES devices (id),
    joined_at TEXT NOT NULL,
    left_at TEXT NULL
);
CREATE INDEX enrollment_devices_enrollment ON enrollment_devices (enrollment_id);
CREATE INDEX enrollment_devices_device ON enrollment_devices (device_id);

CREATE TABLE device_replacements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
    old_device_id BIGINT NOT NULL REFERENCES devices (id),
    new_device_id BIGINT NOT NULL REFERENCES devices (id),
    replaced_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX device_replacements_enrollment ON device_replacements (enrollment_id);

CREATE TABLE enrollment_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
    from_status TEXT NULL,
    to_status TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX enrollment_status_history_enrollment ON enrollment_status_history (enrollment_id, id);

CREATE TABLE unavailability_windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id BIGINT NOT NULL REFERENCES devices (id),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    created_at TEXT NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX unavailability_windows_device ON unavailability_windows (device_id, starts_at);

-- Append-only. hash = sha256(prev_hash | fields); `gridflex audit verify` walks the chain.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before_json TEXT NULL,
    after_json TEXT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
