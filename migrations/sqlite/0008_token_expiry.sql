-- API tokens may expire (a token past its expires_at is refused like a revoked one), and an
-- integration token may speak for one side only (scope 'programs' or 'grid': it may post only
-- the flows that side sends).
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN scope TEXT NULL CHECK (scope IN ('programs', 'grid'));
