-- Interval meter data (SQLite dialect; kept in step with migrations/postgres/0005_measurement.sql):
-- one record per imported file and the interval readings it brought.
-- Programs already name their baseline method (`programs.baseline_method`, '10in10' or
-- 'high5of10' in 0001); the baseline calculations use those values unchanged.

-- One row per imported file: the same content (sha256) is imported once; a second import
-- answers this record's report and changes nothing.
CREATE TABLE meter_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL CHECK (format IN ('csv', 'espi')),
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    rows_accepted INTEGER NOT NULL CHECK (rows_accepted >= 0),
    rows_rejected INTEGER NOT NULL CHECK (rows_rejected >= 0),
    report_json TEXT NOT NULL
);

-- Energy in kWh per service point and interval [interval_start, + interval_minutes).
CREATE TABLE interval_readings (
    service_point_id TEXT NOT NULL REFERENCES device_locations (service_point_id),
    interval_start TEXT NOT NULL,
    interval_minutes INTEGER NOT NULL CHECK (interval_minutes IN (15, 60)),
    kwh DOUBLE PRECISION NOT NULL CHECK (kwh >= 0),
    import_id BIGINT NULL REFERENCES meter_imports (id),
    PRIMARY KEY (service_point_id, interval_start)
);
