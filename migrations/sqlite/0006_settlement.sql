-- Settlement (SQLite dialect; kept in step with migrations/postgres/0006_settlement.sql):
-- interval prices, settlement runs and one result per enrollment and event.

-- The readings are read by service point and time range only, so the table is rebuilt
-- WITHOUT ROWID: a range read is one walk of the primary-key tree, not a walk of the key
-- index plus a lookup per row.
CREATE TABLE interval_readings_clustered (
    service_point_id TEXT NOT NULL REFERENCES device_locations (service_point_id),
    interval_start TEXT NOT NULL,
    interval_minutes INTEGER NOT NULL CHECK (interval_minutes IN (15, 60)),
    kwh DOUBLE PRECISION NOT NULL CHECK (kwh >= 0),
    import_id BIGINT NULL REFERENCES meter_imports (id),
    PRIMARY KEY (service_point_id, interval_start)
) WITHOUT ROWID;
INSERT INTO interval_readings_clustered (service_point_id, interval_start, interval_minutes, kwh, import_id)
    SELECT service_point_id, interval_start, interval_minutes, kwh, import_id FROM interval_readings;
DROP TABLE interval_readings;
ALTER TABLE interval_readings_clustered RENAME TO interval_readings;

-- Energy price per program and interval for consumption-based credits; an interval with no
-- price here is paid at the program's credit_rate.
CREATE TABLE settlement_prices (
    program_id BIGINT NOT NULL REFERENCES programs (id),
    interval_start TEXT NOT NULL,
    price_per_kwh DOUBLE PRECISION NOT NULL CHECK (price_per_kwh >= 0),
    PRIMARY KEY (program_id, interval_start)
);

-- One settlement run: one program's part of one event (kind 'event'), or the whole season
-- of a program (kind 'season', which posts the credits of end-of-season programs).
CREATE TABLE settlement_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    program_id BIGINT NOT NULL REFERENCES programs (id),
    kind TEXT NOT NULL CHECK (kind IN ('event', 'season')),
    event_code TEXT NULL,
    season_start TEXT NOT NULL,
    season_end TEXT NOT NULL,
    run_by TEXT NOT NULL,
    run_at TEXT NOT NULL,
    enrollments INTEGER NOT NULL CHECK (enrollments >= 0),
    settled INTEGER NOT NULL CHECK (settled >= 0),
    changed INTEGER NOT NULL CHECK (changed >= 0),
    kwh_avoided DOUBLE PRECISION NOT NULL,
    credit DOUBLE PRECISION NOT NULL,
    CHECK ((kind = 'event') = (event_code IS NOT NULL))
);
CREATE INDEX settlement_runs_event ON settlement_runs (event_code, id);
CREATE INDEX settlement_runs_program ON settlement_runs (program_id, id);

-- The current result per program, event and enrollment (the customer's service point).
-- A recalculation replaces the row, raises `version` and writes what changed to the audit log.
CREATE TABLE settlements (
    program_id BIGINT NOT NULL REFERENCES programs (id),
    event_code TEXT NOT NULL,
    enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    service_point_id TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    devices INTEGER NOT NULL CHECK (devices >= 0),
    status TEXT NOT NULL CHECK (status IN ('settled', 'opted_out', 'no_baseline', 'no_data')),
    reason TEXT NULL,
    baseline_method TEXT NOT NULL,
    baseline_days INTEGER NOT NULL,
    adjustment DOUBLE PRECISION NOT NULL,
    baseline_kwh DOUBLE PRECISION NOT NULL,
    actual_kwh DOUBLE PRECISION NOT NULL,
    kwh_avoided DOUBLE PRECISION NOT NULL,
    kw_drop_max DOUBLE PRECISION NOT NULL,
    kw_drop_min DOUBLE PRECISION NOT NULL,
    kw_drop_avg DOUBLE PRECISION NOT NULL,
    settlement_method TEXT NOT NULL CHECK (settlement_method IN ('consumption', 'demand')),
    rate DOUBLE PRECISION NOT NULL,
    credit DOUBLE PRECISION NOT NULL CHECK (credit >= 0),
    posted BOOLEAN NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    run_id BIGINT NOT NULL REFERENCES settlement_runs (id),
    settled_at TEXT NOT NULL,
    PRIMARY KEY (program_id, event_code, enrollment_id)
);
CREATE INDEX settlements_event ON settlements (event_code, program_id);
CREATE INDEX settlements_customer ON settlements (customer_id, program_id);

-- The settled enrollments of one program part of an event, summed per quarter hour of the
-- event window: what the event report draws as measured against the baseline.
CREATE TABLE settlement_intervals (
    program_id BIGINT NOT NULL REFERENCES programs (id),
    event_code TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    baseline_kwh DOUBLE PRECISION NOT NULL,
    actual_kwh DOUBLE PRECISION NOT NULL,
    enrollments INTEGER NOT NULL CHECK (enrollments >= 0),
    PRIMARY KEY (program_id, event_code, interval_start)
);
