-- The scheduler's tables: job specs submitted by renters, agent sessions held
-- by scheduler replicas, and assignments of leases to agents.
--
-- Conventions as in 0001: pubkeys are 32-byte BYTEA. Scheduler times are
-- TIMESTAMPTZ (wall clock of Postgres, one clock for every replica).

-- Every running scheduler replica; a replica refreshes last_seen_at, and a row
-- left stale is reaped by another replica, which releases what it held.
CREATE TABLE IF NOT EXISTS scheduler_replicas (
    id           TEXT        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS scheduler_replicas_last_seen ON scheduler_replicas (last_seen_at);

-- The job spec of a lease, exactly as the renter submitted it. Its sha256 is
-- the lease's job_spec_hash (checked on submission and joined on at dispatch).
CREATE TABLE IF NOT EXISTS job_specs (
    lease            BYTEA       PRIMARY KEY CHECK (octet_length(lease) = 32),
    spec             BYTEA       NOT NULL,
    sha256           BYTEA       NOT NULL CHECK (octet_length(sha256) = 32),
    -- ed25519 signature of the renter over spec_submission_message(lease, sha256).
    renter_signature BYTEA       NOT NULL CHECK (octet_length(renter_signature) = 64),
    submitted_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The authenticated agent of a node: at most one per node, held by one replica.
-- Deleting a replica deletes its sessions.
CREATE TABLE IF NOT EXISTS agent_sessions (
    node              BYTEA       PRIMARY KEY CHECK (octet_length(node) = 32),
    operator          BYTEA       NOT NULL CHECK (octet_length(operator) = 32),
    replica           TEXT        NOT NULL REFERENCES scheduler_replicas (id) ON DELETE CASCADE,
    session_id        TEXT        NOT NULL UNIQUE,
    agent_version     TEXT        NOT NULL DEFAULT '',
    connected_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The GPUs the agent reported: [{index, model, vram_mib, uuid}].
    gpus              JSONB       NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX IF NOT EXISTS agent_sessions_replica ON agent_sessions (replica);

-- One attempt to run a lease on its node. Open (ended_at IS NULL) while it is
-- created → sent → acked → running; it ends as ended (job over, lease closed),
-- failed (the job failed), refused (the agent refused it) or released (its
-- session or replica went away before the job started; the lease is dispatched again).
CREATE TABLE IF NOT EXISTS assignments (
    id                  BIGSERIAL   PRIMARY KEY,
    lease               BYTEA       NOT NULL CHECK (octet_length(lease) = 32),
    node                BYTEA       NOT NULL CHECK (octet_length(node) = 32),
    attempt             INTEGER     NOT NULL CHECK (attempt >= 1),
    -- The replica and session it was sent through (adopted on reconnect).
    replica             TEXT        NOT NULL,
    session_id          TEXT        NOT NULL,
    state               TEXT        NOT NULL CHECK (state IN
                            ('created', 'sent', 'acked', 'running', 'ended', 'failed', 'refused', 'released')),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at             TIMESTAMPTZ,
    acked_at            TIMESTAMPTZ,
    running_at          TIMESTAMPTZ,
    -- When the agent reported the activate_lease transaction.
    activated_at        TIMESTAMPTZ,
    activate_signature  TEXT,
    -- Last time the agent reported the job running (heartbeat or job update).
    last_seen_at        TIMESTAMPTZ,
    -- When a replica sent report_failure for the lease (the watchdog's claim).
    failure_reported_at TIMESTAMPTZ,
    ended_at            TIMESTAMPTZ,
    last_error          TEXT,
    UNIQUE (lease, attempt),
    CHECK ((ended_at IS NULL) = (state IN ('created', 'sent', 'acked', 'running')))
);
-- A lease is assigned at most once at a time: a database fact, whatever the
-- number of replicas.
CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_open_per_lease ON assignments (lease) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS assignments_open_by_node ON assignments (node) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS assignments_open_by_replica ON assignments (replica) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS assignments_by_lease ON assignments (lease, attempt DESC);

-- The dispatcher's queue: pending open leases (0001 indexes by node, status).
CREATE INDEX IF NOT EXISTS leases_pending ON leases (node) WHERE closed_slot IS NULL AND status = 'pending';
CREATE INDEX IF NOT EXISTS leases_active ON leases (pubkey) WHERE closed_slot IS NULL AND status = 'active';
