-- Integration message layer (SQLite dialect); in step with migrations/postgres/0002_integration.sql.

-- Outbox and inbox in one table: `direction` tells which. A message id is unique per
-- direction, which is what makes receiving the same message twice change nothing.
CREATE TABLE integration_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    flow TEXT NOT NULL,
    correlation_id TEXT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'delivering', 'delivered', 'business_error', 'technical_failure', 'parked', 'processed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_until TEXT NULL,
    last_error TEXT NULL,
    result TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT NULL,
    UNIQUE (direction, message_id)
);
CREATE INDEX integration_messages_due ON integration_messages (direction, status, next_attempt_at);
CREATE INDEX integration_messages_flow ON integration_messages (flow, status, id);
CREATE INDEX integration_messages_correlation ON integration_messages (correlation_id);

CREATE TABLE integration_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_pk BIGINT NOT NULL REFERENCES integration_messages (id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    latency_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'business_error', 'technical_failure')),
    error TEXT NULL
);
CREATE INDEX integration_attempts_message ON integration_attempts (message_pk, attempt);

-- Codes translated at the boundary, edited by admins.
CREATE TABLE value_maps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    map TEXT NOT NULL CHECK (map IN ('event_type', 'device_specification', 'instance_routing', 'id_mapping')),
    source_value TEXT NOT NULL,
    target_value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (map, source_value)
);

-- The grid side's registry of controllable devices, fed by enrollment sync (flow 2).
CREATE TABLE grid_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    head_end TEXT NOT NULL,
    nic_id TEXT NOT NULL,
    enrollment_id BIGINT NOT NULL,
    program_code TEXT NOT NULL,
    device_type TEXT NOT NULL,
    nominal_kw DOUBLE PRECISION NOT NULL,
    transformer_id BIGINT NULL REFERENCES network_nodes (id),
    status TEXT NOT NULL CHECK (status IN ('registered', 'unregistered')),
    control_score DOUBLE PRECISION NULL,
    scored_on TEXT NULL,
    registered_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (head_end, nic_id)
);
CREATE INDEX grid_devices_transformer ON grid_devices (transformer_id);

-- The grid side's copies of what the program side tells it (flows 8, 9, 10, 12).

CREATE TABLE grid_unavailability (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    window_id TEXT NOT NULL UNIQUE,
    head_end TEXT NOT NULL,
    nic_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    updated_at TEXT NOT NULL
);
CREATE INDEX grid_unavailability_device ON grid_unavailability (head_end, nic_id, starts_at);

CREATE TABLE grid_program_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    program_code TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    rule_json TEXT NOT NULL,
    linked BOOLEAN NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (program_code, effective_from)
);

CREATE TABLE grid_aggregators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_ref TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NULL,
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    program_codes TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The program side's view of events (flows 4, 5, 6): each stage is a "program event".
CREATE TABLE program_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL UNIQUE,
    event_external_id TEXT NOT NULL,
    program_code TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('X1SD', 'X1IP', 'F1CO', 'F1CN')),
    reason TEXT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX program_events_event ON program_events (event_external_id);

CREATE TABLE program_event_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL,
    head_end TEXT NOT NULL,
    nic_id TEXT NOT NULL,
    enrollment_id BIGINT NULL,
    expected_kw DOUBLE PRECISION NOT NULL,
    outcome TEXT NULL CHECK (outcome IS NULL OR outcome IN ('D1SP', 'D1ND', 'D1IO', 'D1ER', 'D1CN')),
    participation_start TEXT NULL,
    participation_end TEXT NULL,
    opted_out_at TEXT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (external_id, head_end, nic_id)
);
CREATE INDEX program_event_devices_device ON program_event_devices (head_end, nic_id);

-- Opt-outs the grid side was told of (flow 7).
CREATE TABLE grid_opt_outs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_external_id TEXT NOT NULL,
    head_end TEXT NOT NULL,
    nic_id TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (event_external_id, head_end, nic_id)
);
