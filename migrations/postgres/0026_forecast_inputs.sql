-- Issue 14: the forecast's fitted feeder models are kept between requests (per process) for
-- as long as what they are fitted on is unchanged. Every writer of the feeder load history
-- or of the temperatures adds one to `version` in its transaction; `store_id` tells this
-- database from any other one a process (or a test run) talks to.
CREATE TABLE forecast_inputs (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    version BIGINT NOT NULL
);

INSERT INTO forecast_inputs (id, store_id, version) VALUES (1, md5(random()::text || clock_timestamp()::text), 0);
