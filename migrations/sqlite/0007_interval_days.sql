-- Interval data by service point and UTC day, for reading many service points at once
-- (settlement). interval_readings stays the record of what was imported; this holds the
-- same energy as 96 quarter-hour slots of whole watt-hours (little-endian 32-bit integers,
-- -1 where no reading covers the quarter; an hourly reading is spread over its quarters).
-- The server keeps it in step with interval_readings in the same transaction, and fills it
-- from the stored readings when this migration is applied.
CREATE TABLE interval_days (
    service_point_id TEXT NOT NULL REFERENCES device_locations (service_point_id),
    day TEXT NOT NULL,
    quarters BLOB NOT NULL CHECK (length(quarters) = 384),
    PRIMARY KEY (service_point_id, day)
) WITHOUT ROWID;
