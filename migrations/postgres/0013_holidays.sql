-- The utility's holidays (issue 11): local dates in the calendar's zone that are never
-- baseline days. Shared calendar configuration like the zone itself (neither side owns it;
-- settlement reads it, the admin edits it, every change is audited). One name per date.
-- A fresh install has none; the demo loader adds the US federal holidays of its years.
CREATE TABLE holidays (
    day DATE NOT NULL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    updated_at TIMESTAMPTZ NOT NULL
);
