-- What a replica reported on-chain when an agent went silent: the failure time
-- it sent (unix seconds: the renter pays up to it, the rest is refunded) and
-- the report_failure transaction. Kept as columns so the API, the demo's
-- books and operators read them without parsing last_error.
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS failed_at BIGINT;
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS failure_signature TEXT;
