-- Issue 10, item 3: each side owns its tables. The program side keeps its own copy of the
-- network model it learns from the grid (flow 11; the demo loader and an upgrade copy it
-- once): nodes and effective-dated parent links, shaped like the grid's but written only by
-- the program side. Its service points and enrollments hang off these nodes, no longer off
-- the grid's network_nodes. The ids start equal to the grid's (copied below) so upgrading
-- moves nothing; at run time the two sides only share codes.
CREATE TABLE program_network_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('substation', 'feeder', 'transformer')),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX program_network_nodes_kind ON program_network_nodes (kind, code);

CREATE TABLE program_network_edges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    child_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    parent_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    valid_from TEXT NOT NULL,
    valid_to TEXT NULL,
    CHECK (valid_to IS NULL OR valid_from < valid_to)
);
CREATE UNIQUE INDEX program_network_edges_open_child ON program_network_edges (child_id) WHERE valid_to IS NULL;
CREATE INDEX program_network_edges_parent ON program_network_edges (parent_id) WHERE valid_to IS NULL;

-- The program side's current topology, like the grid's network_current.
CREATE VIEW program_network_current AS
SELECT n.id, n.kind, n.code, n.name, n.created_at, e.parent_id, e.valid_from AS linked_from
FROM program_network_nodes n
LEFT JOIN program_network_edges e ON e.child_id = n.id AND e.valid_to IS NULL;

INSERT INTO program_network_nodes (id, kind, code, name, created_at)
SELECT id, kind, code, name, created_at FROM network_nodes ORDER BY id;
INSERT INTO program_network_edges (id, child_id, parent_id, valid_from, valid_to)
SELECT id, child_id, parent_id, valid_from, valid_to FROM network_edges ORDER BY id;

-- Repoint device_locations and enrollments at the program side's nodes. SQLite changes a
-- foreign key only by rebuilding the table; the migration runs in a transaction, where
-- foreign_keys cannot be switched off, so the checks are deferred to the commit instead:
-- dropping a table counts the rows that referred to it, re-inserting them under the same
-- name counts them back, and the commit fails if anything is left dangling. Each table's
-- indexes and AUTOINCREMENT high-water mark are kept.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE moved_sequences AS
SELECT name, seq FROM sqlite_sequence WHERE name IN ('device_locations', 'enrollments');

CREATE TEMP TABLE moved_device_locations AS SELECT * FROM device_locations;
DROP TABLE device_locations;
CREATE TABLE device_locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_point_id TEXT NOT NULL UNIQUE,
    premise_id TEXT NOT NULL,
    street TEXT NOT NULL,
    city TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    transformer_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    feeder_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    substation_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    created_at TEXT NOT NULL
);
INSERT INTO device_locations (id, service_point_id, premise_id, street, city, postal_code,
    time_zone, transformer_id, feeder_id, substation_id, created_at)
SELECT id, service_point_id, premise_id, street, city, postal_code,
    time_zone, transformer_id, feeder_id, substation_id, created_at
FROM moved_device_locations ORDER BY id;
DROP TABLE moved_device_locations;
CREATE INDEX device_locations_transformer ON device_locations (transformer_id);
CREATE INDEX device_locations_feeder ON device_locations (feeder_id);

CREATE TEMP TABLE moved_enrollments AS SELECT * FROM enrollments;
DROP TABLE enrollments;
CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    program_id BIGINT NOT NULL REFERENCES programs (id),
    location_id BIGINT NOT NULL REFERENCES device_locations (id),
    feeder_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    substation_id BIGINT NOT NULL REFERENCES program_network_nodes (id),
    source TEXT NOT NULL CHECK (source IN ('X1BY', 'X1CC', 'X1SS')),
    ownership TEXT NOT NULL CHECK (ownership IN ('owned', 'leased', 'utility')),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'INACTIVE')),
    start_date TEXT NOT NULL,
    end_date TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO enrollments (id, customer_id, program_id, location_id, feeder_id, substation_id,
    source, ownership, status, start_date, end_date, created_at, updated_at)
SELECT id, customer_id, program_id, location_id, feeder_id, substation_id,
    source, ownership, status, start_date, end_date, created_at, updated_at
FROM moved_enrollments ORDER BY id;
DROP TABLE moved_enrollments;
CREATE INDEX enrollments_program_feeder ON enrollments (program_id, feeder_id, id);
CREATE INDEX enrollments_program_status ON enrollments (program_id, status, id);
CREATE INDEX enrollments_feeder ON enrollments (feeder_id, id);
CREATE INDEX enrollments_substation ON enrollments (substation_id, id);
CREATE INDEX enrollments_status ON enrollments (status, id);
CREATE INDEX enrollments_customer ON enrollments (customer_id);
CREATE INDEX enrollments_location ON enrollments (location_id);

-- AUTOINCREMENT never reuses an id: the rebuilt tables continue where the old ones were.
UPDATE sqlite_sequence
SET seq = (SELECT m.seq FROM moved_sequences m WHERE m.name = sqlite_sequence.name)
WHERE name IN (SELECT name FROM moved_sequences)
  AND seq < (SELECT m.seq FROM moved_sequences m WHERE m.name = sqlite_sequence.name);
DROP TABLE moved_sequences;
