-- Issue 10, each side owns its tables. The grid side's own record of the service points it
-- has heard of (the demo's network data, enrollment syncs: flow 2) and the transformer each
-- hangs off, so exporting the network model (flow 11) reads nothing of the program side.
-- A service point's feeder and substation follow from its transformer in network_current.
CREATE TABLE grid_service_points (
    service_point_id TEXT PRIMARY KEY,
    transformer_id BIGINT NOT NULL REFERENCES network_nodes (id),
    updated_at TEXT NOT NULL
);
CREATE INDEX grid_service_points_transformer ON grid_service_points (transformer_id);

-- An upgraded database exports what it exported before: every service point known today.
INSERT INTO grid_service_points (service_point_id, transformer_id, updated_at)
SELECT service_point_id, transformer_id, created_at FROM device_locations;

-- The program side now records a service point's place whenever it learns the service
-- point (demo load, enrollment requests), not only from flow 11; fill in those created
-- since 0010 so every known service point has its place.
INSERT INTO program_network_places
    (service_point_id, transformer_code, feeder_code, substation_code, transaction_id, updated_at)
SELECT l.service_point_id, t.code, f.code, s.code, NULL, l.created_at
FROM device_locations l
JOIN network_nodes t ON t.id = l.transformer_id
LEFT JOIN network_nodes f ON f.id = l.feeder_id
LEFT JOIN network_nodes s ON s.id = l.substation_id
WHERE NOT EXISTS (
    SELECT 1 FROM program_network_places p WHERE p.service_point_id = l.service_point_id
);
