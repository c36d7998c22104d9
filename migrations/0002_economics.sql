-- Typed tables for the economics accounts (clusters, slashes, reward epochs,
-- IOSD) and the new fields of markets, nodes and leases. Same conventions as
-- 0001: pubkeys BYTEA, u64 NUMERIC(20, 0), u32/i64 BIGINT, u8/u16 INTEGER,
-- (slot, write_version) guard on every row, closed accounts as tombstones.
--
-- The added columns of existing tables are nullable: a row written by an
-- older indexer has NULL there until it is written again. The indexer
-- reconciles every account with getProgramAccounts at each start, at a version
-- newer than anything streamed, so the first start after this migration fills
-- them (and moves accounts kept raw as `unknown` into their typed tables).

ALTER TABLE markets
    ADD COLUMN IF NOT EXISTS io_mint               BYTEA,
    ADD COLUMN IF NOT EXISTS slash_authority       BYTEA,
    ADD COLUMN IF NOT EXISTS stake_per_gpu         NUMERIC(20, 0),
    ADD COLUMN IF NOT EXISTS unstake_cooldown_secs BIGINT,
    ADD COLUMN IF NOT EXISTS slash_appeal_secs     BIGINT;

ALTER TABLE nodes
    ADD COLUMN IF NOT EXISTS staked           NUMERIC(20, 0),
    ADD COLUMN IF NOT EXISTS unstaking        NUMERIC(20, 0),
    ADD COLUMN IF NOT EXISTS unstake_ready_at BIGINT,
    ADD COLUMN IF NOT EXISTS slashes_pending  INTEGER,
    ADD COLUMN IF NOT EXISTS slash_count      BIGINT;

ALTER TABLE leases
    ADD COLUMN IF NOT EXISTS in_cluster               BOOLEAN,
    ADD COLUMN IF NOT EXISTS cluster_nonce            NUMERIC(20, 0),
    ADD COLUMN IF NOT EXISTS cluster_funding_deadline BIGINT;
-- A cluster's leases: same renter, in_cluster, cluster_nonce = clusters.nonce.
CREATE INDEX IF NOT EXISTS leases_cluster ON leases (renter, cluster_nonce) WHERE in_cluster;

-- `["cluster", renter, nonce]`: leases that start together.
CREATE TABLE IF NOT EXISTS clusters (
    pubkey           BYTEA   PRIMARY KEY,
    version          INTEGER NOT NULL,
    renter           BYTEA   NOT NULL,
    nonce            NUMERIC(20, 0) NOT NULL,
    leases_expected  INTEGER NOT NULL,
    leases_funded    INTEGER NOT NULL,
    leases_unwound   INTEGER NOT NULL,
    funding_deadline BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    -- 0 while incomplete.
    completed_at     BIGINT  NOT NULL,
    data             BYTEA   NOT NULL,
    lamports         BIGINT  NOT NULL,
    slot             BIGINT  NOT NULL,
    write_version    BIGINT  NOT NULL,
    closed_slot      BIGINT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS clusters_renter ON clusters (renter);

-- `["slash", node, index]`: stake taken from a node, reversible until appeal_ends_at.
CREATE TABLE IF NOT EXISTS pending_slashes (
    pubkey         BYTEA   PRIMARY KEY,
    version        INTEGER NOT NULL,
    -- slash_reason: 1 lease failure, 2 misrepresentation, 65535 other.
    reason         INTEGER NOT NULL,
    -- The program's `index`: the node's slash counter when it was taken.
    slash_index    BIGINT  NOT NULL,
    node           BYTEA   NOT NULL,
    harmed         BYTEA   NOT NULL,
    evidence       BYTEA   NOT NULL,
    rent_payer     BYTEA   NOT NULL,
    amount         NUMERIC(20, 0) NOT NULL,
    harmed_amount  NUMERIC(20, 0) NOT NULL,
    slashed_at     BIGINT  NOT NULL,
    appeal_ends_at BIGINT  NOT NULL,
    data           BYTEA   NOT NULL,
    lamports       BIGINT  NOT NULL,
    slot           BIGINT  NOT NULL,
    write_version  BIGINT  NOT NULL,
    closed_slot    BIGINT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pending_slashes_node ON pending_slashes (node) WHERE closed_slot IS NULL;

-- `["epoch", epoch]`: one published reward epoch and its claim bitmap.
CREATE TABLE IF NOT EXISTS reward_epochs (
    pubkey         BYTEA   PRIMARY KEY,
    version        INTEGER NOT NULL,
    clawed_back    BOOLEAN NOT NULL,
    epoch          NUMERIC(20, 0) NOT NULL,
    merkle_root    BYTEA   NOT NULL,
    total_amount   NUMERIC(20, 0) NOT NULL,
    claimed_amount NUMERIC(20, 0) NOT NULL,
    num_leaves     BIGINT  NOT NULL,
    claims         BIGINT  NOT NULL,
    published_at   BIGINT  NOT NULL,
    claim_deadline BIGINT  NOT NULL,
    -- Bit i (byte i / 8, bit i % 8) set once leaf i has claimed.
    claimed_bitmap BYTEA   NOT NULL,
    data           BYTEA   NOT NULL,
    lamports       BIGINT  NOT NULL,
    slot           BIGINT  NOT NULL,
    write_version  BIGINT  NOT NULL,
    closed_slot    BIGINT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reward_epochs_epoch ON reward_epochs (epoch);

-- `["iosd"]`: IOSD burn-and-mint configuration and circuit breaker.
CREATE TABLE IF NOT EXISTS iosd_config (
    pubkey             BYTEA   PRIMARY KEY,
    version            INTEGER NOT NULL,
    max_confidence_bps INTEGER NOT NULL,
    max_price_age_secs BIGINT  NOT NULL,
    window_secs        BIGINT  NOT NULL,
    iosd_mint          BYTEA   NOT NULL,
    price_feed_id      BYTEA   NOT NULL,
    window_cap         NUMERIC(20, 0) NOT NULL,
    window_start       BIGINT  NOT NULL,
    window_minted      NUMERIC(20, 0) NOT NULL,
    total_io_burned    NUMERIC(20, 0) NOT NULL,
    total_iosd_minted  NUMERIC(20, 0) NOT NULL,
    data               BYTEA   NOT NULL,
    lamports           BIGINT  NOT NULL,
    slot               BIGINT  NOT NULL,
    write_version      BIGINT  NOT NULL,
    closed_slot        BIGINT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Rows are rewritten in place constantly (every settle rewrites a lease, every
-- write the guard row). Free space in each page lets Postgres make those
-- updates HOT (no index entries rewritten, since no indexed column changes).
-- Applies to pages written from now on.
ALTER TABLE accounts SET (fillfactor = 80);
ALTER TABLE leases SET (fillfactor = 80);
ALTER TABLE nodes SET (fillfactor = 80);
ALTER TABLE vaults SET (fillfactor = 80);
