-- The indexer's history across restarts: how leases ended (from the
-- program's LeaseEnded events), the progress of a backfill from transaction
-- history, and the slot ranges whose history could not be recovered.

-- One row per ending of a lease address (an address can be reused with the
-- same nonce after its lease closed, hence the slot in the key).
CREATE TABLE IF NOT EXISTS lease_endings (
    lease        BYTEA   NOT NULL,
    slot         BIGINT  NOT NULL,
    signature    TEXT    NOT NULL,
    node         BYTEA   NOT NULL,
    -- completed | cancelled | failed | expired | unwound
    reason       TEXT    NOT NULL,
    -- Base units paid out over the lease's life (supplier + fee).
    paid_out     NUMERIC(20, 0) NOT NULL,
    -- Base units returned to the payer.
    refunded     NUMERIC(20, 0) NOT NULL,
    -- Unix seconds up to which service was paid; 0 if never activated.
    billed_until BIGINT  NOT NULL,
    -- Unix seconds of the block, when the RPC told it.
    block_time   BIGINT,
    PRIMARY KEY (lease, slot)
);
CREATE INDEX IF NOT EXISTS lease_endings_node ON lease_endings (node);

-- A backfill in progress: the history of slots (from_slot, to_slot] is
-- applied through done_slot. Committed with the rows it covers, so a killed
-- backfill resumes where it stopped.
CREATE TABLE IF NOT EXISTS indexer_backfill (
    cursor_id  TEXT   PRIMARY KEY,
    from_slot  BIGINT NOT NULL,
    to_slot    BIGINT NOT NULL,
    done_slot  BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Slots [from_slot, to_slot] whose transactions the RPC no longer had when
-- the indexer needed them: leases created and closed in there may be missing.
-- from_time / to_time (unix seconds) bound them in time for the rewards job.
CREATE TABLE IF NOT EXISTS indexer_gaps (
    cursor_id   TEXT   NOT NULL,
    from_slot   BIGINT NOT NULL,
    to_slot     BIGINT NOT NULL,
    from_time   BIGINT NOT NULL,
    to_time     BIGINT NOT NULL,
    reason      TEXT   NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (cursor_id, from_slot)
);
