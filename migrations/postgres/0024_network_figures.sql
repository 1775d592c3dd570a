-- Issue 14 item 5: the network roll-up's figures per transformer and per feeder, maintained
-- by the writers that change them (in the same transaction), so the network and forecast
-- pages read a few rows instead of grouping a million devices. Substations are summed from
-- their feeders when read.

-- Grid side: the service points it knows and the registered grid devices with their
-- nominal kW, per node of its network model.
CREATE TABLE grid_node_figures (
    node_id BIGINT PRIMARY KEY,
    service_points BIGINT NOT NULL,
    registered_devices BIGINT NOT NULL,
    registered_kw DOUBLE PRECISION NOT NULL
);

INSERT INTO grid_node_figures (node_id, service_points, registered_devices, registered_kw)
SELECT t.id,
       (SELECT COUNT(*) FROM grid_service_points g WHERE g.transformer_id = t.id),
       (SELECT COUNT(*) FROM grid_devices d WHERE d.transformer_id = t.id AND d.status = 'registered'),
       (SELECT COALESCE(SUM(d.nominal_kw), 0.0) FROM grid_devices d
         WHERE d.transformer_id = t.id AND d.status = 'registered')
FROM network_nodes t WHERE t.kind = 'transformer';

INSERT INTO grid_node_figures (node_id, service_points, registered_devices, registered_kw)
SELECT f.id, CAST(COALESCE(SUM(x.service_points), 0) AS BIGINT),
       CAST(COALESCE(SUM(x.registered_devices), 0) AS BIGINT), COALESCE(SUM(x.registered_kw), 0.0)
FROM network_nodes f
LEFT JOIN network_edges e ON e.parent_id = f.id AND e.valid_to IS NULL
LEFT JOIN grid_node_figures x ON x.node_id = e.child_id
WHERE f.kind = 'feeder'
GROUP BY f.id;

-- Program side: the active devices of active enrollments and their nominal kW, per node of
-- its own copy of the network (a transformer: the enrollments at its locations).
CREATE TABLE enrolled_node_figures (
    node_id BIGINT PRIMARY KEY,
    devices BIGINT NOT NULL,
    kw DOUBLE PRECISION NOT NULL
);

INSERT INTO enrolled_node_figures (node_id, devices, kw)
SELECT t.id, COALESCE(s.n, 0), COALESCE(s.kw, 0.0)
FROM program_network_nodes t
LEFT JOIN (SELECT l.transformer_id AS id, COUNT(*) AS n, SUM(d.nominal_kw) AS kw
           FROM device_locations l
           JOIN enrollments e ON e.location_id = l.id
           JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
           JOIN devices d ON d.id = ed.device_id
           WHERE e.status = 'ACTIVE' AND d.status = 'active'
           GROUP BY l.transformer_id) s ON s.id = t.id
WHERE t.kind = 'transformer';

INSERT INTO enrolled_node_figures (node_id, devices, kw)
SELECT f.id, CAST(COALESCE(SUM(x.devices), 0) AS BIGINT), COALESCE(SUM(x.kw), 0.0)
FROM program_network_nodes f
LEFT JOIN program_network_edges e ON e.parent_id = f.id AND e.valid_to IS NULL
LEFT JOIN enrolled_node_figures x ON x.node_id = e.child_id
WHERE f.kind = 'feeder'
GROUP BY f.id;
