-- Issue 14, item 1 (stages stored as fast as they are planned): on PostgreSQL each foreign
-- key of event_stage_devices is a trigger that looks its parent up and locks it, row by row,
-- and each of the three cost 1.3-1.9 s per 134,000 stored devices. A reserved device's stage
-- and event are now one key, (stage_id, event_id) -> event_stages (id, event_id), which also
-- says what the two separate keys did not: the device's event is its stage's event (and that
-- event exists, through event_stages' own key). SQLite checks a foreign key with a plain
-- index lookup inside the insert, so its schema keeps the two keys (no migration there).
ALTER TABLE event_stages ADD CONSTRAINT event_stages_id_event UNIQUE (id, event_id);
ALTER TABLE event_stage_devices
    DROP CONSTRAINT event_stage_devices_stage_id_fkey,
    DROP CONSTRAINT event_stage_devices_event_id_fkey,
    ADD CONSTRAINT event_stage_devices_stage_event_fkey
        FOREIGN KEY (stage_id, event_id) REFERENCES event_stages (id, event_id);
