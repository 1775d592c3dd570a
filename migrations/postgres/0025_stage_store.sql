-- Issue 14 item 1: a plan stores hundreds of thousands of reserved devices at once, and each
-- index of event_stage_devices costs every one of them. No query looks a reserved device up
-- by its device alone: by event (event_id, grid_device_id), or by stage (stage_id, id), and
-- outcomes by stage and device go through their stage's event (db/openadr.rs). The index on
-- the device alone was the one that grew everywhere in the table with each plan.
DROP INDEX event_stage_devices_device;
