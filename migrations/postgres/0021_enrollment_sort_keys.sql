-- Every sort the console offers on the enrollments page is answered from an index, for each
-- filter it offers (program, and program with feeder, substation or status; feeder,
-- substation or status alone), so a sorted page reads only its own rows (issue 14 item 4).
-- The customer's sort key is carried on the enrollment: a customer's name never changes
-- after it is created, and both writers (enrollment requests and the demo) set it. Byte
-- order (collation "C"), as on SQLite, so both databases page alike.
ALTER TABLE enrollments ADD COLUMN customer_key TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE enrollments e SET customer_key = c.name_key FROM customers c WHERE c.id = e.customer_id;
-- Oldest / newest first under a program filter (with a feeder or status one, 0001 has them).
CREATE INDEX enrollments_program_by_id ON enrollments (program_id, id);
CREATE INDEX enrollments_program_substation_by_id ON enrollments (program_id, substation_id, id);
CREATE INDEX enrollments_all_by_customer ON enrollments (customer_key, id);
CREATE INDEX enrollments_program_by_customer ON enrollments (program_id, customer_key, id);
CREATE INDEX enrollments_program_feeder_by_customer ON enrollments (program_id, feeder_id, customer_key, id);
CREATE INDEX enrollments_program_substation_by_customer ON enrollments (program_id, substation_id, customer_key, id);
CREATE INDEX enrollments_program_status_by_customer ON enrollments (program_id, status, customer_key, id);
CREATE INDEX enrollments_feeder_by_customer ON enrollments (feeder_id, customer_key, id);
CREATE INDEX enrollments_substation_by_customer ON enrollments (substation_id, customer_key, id);
CREATE INDEX enrollments_status_by_customer ON enrollments (status, customer_key, id);
CREATE INDEX enrollments_all_by_start ON enrollments (start_date, id);
CREATE INDEX enrollments_program_by_start ON enrollments (program_id, start_date, id);
CREATE INDEX enrollments_program_feeder_by_start ON enrollments (program_id, feeder_id, start_date, id);
CREATE INDEX enrollments_program_substation_by_start ON enrollments (program_id, substation_id, start_date, id);
CREATE INDEX enrollments_program_status_by_start ON enrollments (program_id, status, start_date, id);
CREATE INDEX enrollments_feeder_by_start ON enrollments (feeder_id, start_date, id);
CREATE INDEX enrollments_substation_by_start ON enrollments (substation_id, start_date, id);
CREATE INDEX enrollments_status_by_start ON enrollments (status, start_date, id);

-- How many enrollments each (program, status, substation, feeder) has, kept by every writer of
-- enrollments in the same transaction: the list's page count sums these few rows instead of
-- counting every match when it filters by nothing else.
CREATE TABLE enrollment_tallies (
    program_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    substation_id BIGINT NOT NULL,
    feeder_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (program_id, status, substation_id, feeder_id)
);
INSERT INTO enrollment_tallies (program_id, status, substation_id, feeder_id, n)
SELECT program_id, status, substation_id, feeder_id, COUNT(*) FROM enrollments
GROUP BY program_id, status, substation_id, feeder_id;
