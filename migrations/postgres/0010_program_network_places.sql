-- The program side's own copy of each service point's place in the network, filled from
-- the grid's network export (flow 11), so the program side answers "which transformer,
-- feeder and substation" without reading the grid's network model (issue 10: each side
-- owns its tables). Codes, not ids: the grid's node ids mean nothing to the program side.
CREATE TABLE program_network_places (
    service_point_id TEXT PRIMARY KEY,
    transformer_code TEXT NOT NULL,
    feeder_code TEXT,
    substation_code TEXT,
    transaction_id TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX program_network_places_feeder ON program_network_places (feeder_code);

-- An upgraded database keeps answering: every known service point starts where its
-- location points today.
INSERT INTO program_network_places
    (service_point_id, transformer_code, feeder_code, substation_code, transaction_id, updated_at)
SELECT l.service_point_id, t.code, f.code, s.code, NULL, l.created_at
FROM device_locations l
JOIN network_nodes t ON t.id = l.transformer_id
LEFT JOIN network_nodes f ON f.id = l.feeder_id
LEFT JOIN network_nodes s ON s.id = l.substation_id;
