-- A premise meter shared by several enrollments is settled once: its savings are apportioned
-- among the enrollments at it that took part, in proportion to their dispatched kW. Each
-- result keeps its share (1 where the enrollment is alone at its meter, 0 where it did not
-- take part); rows settled before keep 1, which is what they were credited.
ALTER TABLE settlements ADD COLUMN meter_share DOUBLE PRECISION NOT NULL DEFAULT 1.0
    CHECK (meter_share >= 0 AND meter_share <= 1);
