-- Issue 12, the published contract: an enrollment received in the published program-side
-- REST shape keeps what that shape carries and GridFlex's own record does not (division,
-- county, state, country, premise, service agreement, installation method, business phone,
-- each asset's sequence and id), and the document as received, which the read-back
-- returns. Program side; one row per enrollment, written in the transaction that creates it.
CREATE TABLE published_enrollments (
    enrollment_id BIGINT NOT NULL PRIMARY KEY REFERENCES enrollments (id),
    transaction_id TEXT NOT NULL UNIQUE,
    location_ref TEXT NULL,
    division TEXT NULL,
    county TEXT NULL,
    state TEXT NULL,
    country TEXT NULL,
    premise_id TEXT NOT NULL,
    service_agreement_id TEXT NULL,
    installation_method TEXT NULL,
    business_phone TEXT NULL,
    -- JSON list of {sequence, assetId, headEndSystem, nicId}.
    assets TEXT NOT NULL,
    -- The published document as checked (JSON): customerInfo, programInfo, locationInfo, assetInfo.
    document TEXT NOT NULL,
    created_at TEXT NOT NULL
);
