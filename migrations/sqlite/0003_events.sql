-- Event operations (SQLite dialect); in step with migrations/postgres/0003_events.sql.

-- A reusable template for events. Zone, programs and device groups are small JSON arrays:
-- they are read whole, never queried into.
CREATE TABLE strategies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    zone_node_ids TEXT NOT NULL,
    program_codes TEXT NOT NULL,
    device_groups TEXT NOT NULL,
    event_type TEXT NOT NULL CHECK (event_type IN ('Emergency', 'Reliability', 'Economic', 'DeviceTest')),
    priority INTEGER NOT NULL,
    ba_check BOOLEAN NOT NULL,
    objective TEXT NOT NULL CHECK (objective IN ('Manual', 'MaxDemandThreshold', 'LoadReduction', 'MaximumReduction')),
    target_mw DOUBLE PRECISION NULL,
    max_increase_pct DOUBLE PRECISION NULL,
    control_level TEXT NOT NULL CHECK (control_level IN ('full', 'cycle_75', 'cycle_50', 'setback')),
    override_rules BOOLEAN NOT NULL,
    archived_at TEXT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- An event copies its strategy's settings when it is created, so editing the strategy later
-- never changes an event already planned or approved.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    strategy_id BIGINT NOT NULL REFERENCES strategies (id),
    status TEXT NOT NULL CHECK (status IN ('New', 'Submitted', 'Approved', 'Denied', 'Scheduled', 'InProgress', 'Completed', 'Canceled')),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    zone_node_ids TEXT NOT NULL,
    program_codes TEXT NOT NULL,
    device_groups TEXT NOT NULL,
    event_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    ba_check BOOLEAN NOT NULL,
    objective TEXT NOT NULL,
    target_mw DOUBLE PRECISION NULL,
    max_increase_pct DOUBLE PRECISION NULL,
    control_level TEXT NOT NULL,
    override_rules BOOLEAN NOT NULL,
    plan_summary TEXT NULL,
    planned_at TEXT NULL,
    second_approval_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    submitted_by TEXT NULL,
    submitted_at TEXT NULL,
    approved_by TEXT NULL,
    approved_at TEXT NULL,
    second_approved_by TEXT NULL,
    second_approved_at TEXT NULL,
    denied_by TEXT NULL,
    canceled_by TEXT NULL,
    decision_reason TEXT NULL,
    started_at TEXT NULL,
    completed_at TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX events_status ON events (status, starts_at);

-- The forecast and the plan per 15-minute interval (event window plus a tail for rebound).
CREATE TABLE event_intervals (
    event_id BIGINT NOT NULL REFERENCES events (id),
    idx INTEGER NOT NULL,
    starts_at TEXT NOT NULL,
    baseline_kw DOUBLE PRECISION NOT NULL,
    planned_kw DOUBLE PRECISION NOT NULL,
    actual_kw DOUBLE PRECISION NULL,
    PRIMARY KEY (event_id, idx)
);

CREATE TABLE event_stages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES events (id),
    seq INTEGER NOT NULL,
    external_id TEXT NOT NULL UNIQUE,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    expected_kw DOUBLE PRECISION NOT NULL,
    device_count INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'scheduled', 'in_progress', 'completed', 'canceled')),
    UNIQUE (event_id, seq)
);

-- Devices per stage. `program_code` is kept because each stage is sent per program.
CREATE TABLE event_stage_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage_id BIGINT NOT NULL REFERENCES event_stages (id),
    event_id BIGINT NOT NULL REFERENCES events (id),
    grid_device_id BIGINT NOT NULL REFERENCES grid_devices (id),
    program_code TEXT NOT NULL,
    expected_kw DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'opted_out')),
    outcome TEXT NULL CHECK (outcome IS NULL OR outcome IN ('D1SP', 'D1ND', 'D1IO', 'D1ER', 'D1CN')),
    actual_kw DOUBLE PRECISION NULL,
    participation_start TEXT NULL,
    participation_end TEXT NULL
);
CREATE INDEX event_stage_devices_stage ON event_stage_devices (stage_id, id);
CREATE INDEX event_stage_devices_event ON event_stage_devices (event_id, grid_device_id);
CREATE INDEX event_stage_devices_device ON event_stage_devices (grid_device_id);
