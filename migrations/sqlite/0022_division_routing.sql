-- Issue 12, division routing: the value map `division_routing` (published name
-- `OUTL-BRT-DRMSID-TO-DACSID`) maps a division to the grid instance that serves it. SQLite
-- cannot change a CHECK in place: the table is rebuilt with its rows and ids.
CREATE TABLE value_maps_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    map TEXT NOT NULL CHECK (map IN ('event_type', 'device_specification', 'instance_routing', 'id_mapping', 'division_routing')),
    source_value TEXT NOT NULL,
    target_value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (map, source_value)
);
INSERT INTO value_maps_new (id, map, source_value, target_value, updated_at)
    SELECT id, map, source_value, target_value, updated_at FROM value_maps;
DROP TABLE value_maps;
ALTER TABLE value_maps_new RENAME TO value_maps;
