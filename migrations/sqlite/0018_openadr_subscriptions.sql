-- Issue 13, OpenADR 3.1 subscriptions (grid side): a client asks to be called back when an
-- event or program it covers is created, updated or deleted. The notifications go out
-- through the integration outbox; the bearer tokens stay here and are read at delivery.
CREATE TABLE openadr_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL UNIQUE,
    client_id BIGINT NOT NULL REFERENCES openadr_clients (id),
    -- The subscriber's VEN (its aggregator's external reference); NULL for a business-logic client.
    ven_ref TEXT NULL,
    client_name TEXT NOT NULL,
    -- Only this program's objects, when set.
    program_id TEXT NULL,
    -- The objectOperations as received (JSON), bearer tokens included.
    object_operations TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX openadr_subscriptions_client ON openadr_subscriptions (client_id);
