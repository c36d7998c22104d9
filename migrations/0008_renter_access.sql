-- What renters see of their jobs, and how they are let in.

-- A job's phases, one row per phase an attempt reached, with its time (the
-- agent's clock for what the agent reports): assigned → starting → running
-- → exited (its exit code) / stopped (lease ended, cancelled, failed; the
-- reason) / refused (the agent's reason).
CREATE TABLE IF NOT EXISTS job_phases (
    lease     BYTEA       NOT NULL CHECK (octet_length(lease) = 32),
    attempt   INTEGER     NOT NULL,
    phase     TEXT        NOT NULL CHECK (phase IN
                  ('assigned', 'starting', 'running', 'exited', 'stopped', 'refused')),
    at        TIMESTAMPTZ NOT NULL,
    exit_code INTEGER,
    detail    TEXT,
    PRIMARY KEY (lease, attempt, phase)
);

-- Nonces of renter access tokens already used (a token is used once), kept
-- until the token would have expired anyway. `used_by` is the replica that
-- checked it: the replica holding the agent may accept a request another
-- replica forwards with that token once, right after.
CREATE TABLE IF NOT EXISTS access_nonces (
    nonce       TEXT        PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_by     TEXT        NOT NULL,
    used_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    forwarded   BOOLEAN     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS access_nonces_expiry ON access_nonces (expires_at);

-- Browser sessions on a lease's port: a token opens one, a cookie carries it.
CREATE TABLE IF NOT EXISTS access_sessions (
    id         TEXT        PRIMARY KEY,
    lease      BYTEA       NOT NULL CHECK (octet_length(lease) = 32),
    renter     BYTEA       NOT NULL CHECK (octet_length(renter) = 32),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS access_sessions_expiry ON access_sessions (expires_at);

-- Where a replica's HTTP API is reached by the other replicas: a renter's
-- request for logs or ports is forwarded to the replica holding the agent.
ALTER TABLE scheduler_replicas ADD COLUMN IF NOT EXISTS http_url TEXT;
