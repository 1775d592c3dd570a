-- Forecast inputs (SQLite dialect; kept in step with migrations/postgres/0004_forecast.sql):
-- feeder load history, hourly temperatures (observed and forecast) and the editable table
-- of expected reduction per device type, hour range and temperature band.

-- Metered load per feeder and 15-minute interval.
CREATE TABLE feeder_load_history (
    feeder_id BIGINT NOT NULL REFERENCES network_nodes (id),
    interval_start TEXT NOT NULL,
    kw DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (feeder_id, interval_start)
);

-- One temperature for the whole service territory per hour: what was observed, and the
-- forecast (replaced hour by hour by uploads).
CREATE TABLE temperatures (
    kind TEXT NOT NULL CHECK (kind IN ('observed', 'forecast')),
    hour_start TEXT NOT NULL,
    temperature_c DOUBLE PRECISION NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, hour_start)
);

-- Expected reduction as a share of a device's nominal kW, for local hours
-- [hour_from, hour_to) and temperatures [temp_from_c, temp_to_c).
CREATE TABLE reduction_factors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_type TEXT NOT NULL CHECK (device_type IN ('thermostat', 'ev_charger', 'battery', 'water_heater', 'pool_pump', 'smart_inverter')),
    hour_from INTEGER NOT NULL CHECK (hour_from BETWEEN 0 AND 23),
    hour_to INTEGER NOT NULL CHECK (hour_to BETWEEN 1 AND 24),
    temp_from_c DOUBLE PRECISION NOT NULL,
    temp_to_c DOUBLE PRECISION NOT NULL,
    share DOUBLE PRECISION NOT NULL CHECK (share >= 0 AND share <= 1),
    updated_at TEXT NOT NULL,
    CHECK (hour_from < hour_to),
    CHECK (temp_from_c < temp_to_c)
);
CREATE INDEX reduction_factors_type ON reduction_factors (device_type, hour_from);

-- The network roll-up reads registered devices and their kW per transformer from this
-- index alone (no table lookups over a million rows).
CREATE INDEX grid_devices_rollup ON grid_devices (transformer_id, status, nominal_kw);
