-- Issue 13 (GET events for a VEN): the OpenADR events GridFlex publishes, kept rather than
-- grouped from every reserved device on each request. One row per stage, aggregator (by
-- external reference) and program, with the stage's event and the expected kW of the
-- reserved devices of that aggregator and program. Computed when an event is first
-- published (approved) and kept by the writers that change it afterwards: an opt-out (a
-- device released), a device moved to another aggregator (flow 2). Whether the event is
-- published now (its status), its stage's times and the aggregator's row are read with it.
CREATE TABLE openadr_events (
    stage_id BIGINT NOT NULL,
    aggregator_ref TEXT NOT NULL,
    program_code TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    expected_kw DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (stage_id, aggregator_ref, program_code)
);
-- A VEN's page in order: its aggregator's rows by stage.
CREATE INDEX openadr_events_ven ON openadr_events (aggregator_ref, stage_id, program_code);
CREATE INDEX openadr_events_program ON openadr_events (program_code, stage_id);
CREATE INDEX openadr_events_event ON openadr_events (event_id);

-- What is published already.
INSERT INTO openadr_events (stage_id, aggregator_ref, program_code, event_id, expected_kw)
SELECT d.stage_id, g.aggregator_ref, d.program_code, d.event_id, SUM(d.expected_kw)
FROM event_stage_devices d
JOIN grid_devices g ON g.id = d.grid_device_id
WHERE d.status = 'reserved' AND g.aggregator_ref IS NOT NULL
GROUP BY d.stage_id, g.aggregator_ref, d.program_code, d.event_id;
