-- The indexer's tables: every account of the iomesh program (and its vaults),
-- as typed rows for the scheduler and search, plus the raw bytes.
--
-- Conventions:
-- * Pubkeys are 32-byte BYTEA (compact and fast to compare; clients bind &[u8; 32]).
-- * u64 amounts and counters are NUMERIC(20, 0): they can exceed BIGINT.
--   u32 and i64 values are BIGINT, u8 / u16 are INTEGER.
-- * Every row carries (slot, write_version) of the update it holds. A write only
--   replaces a row whose stored (slot, write_version) is older, so replays and
--   out-of-order deliveries are harmless.
-- * A closed account keeps its row as a tombstone: closed_slot is set and data is
--   empty. A stale update (older slot) cannot revive it; a later re-creation at
--   the same address (newer slot) does.

-- u64 values travel as BIGINT with the same bits (one binary array per column);
-- this turns them back into the unsigned number.
CREATE OR REPLACE FUNCTION iomesh_u64(v BIGINT) RETURNS NUMERIC(20, 0)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN v < 0 THEN v::NUMERIC + 18446744073709551616 ELSE v::NUMERIC END $$;

-- The guard of every pubkey the indexer has seen: which table holds it and the
-- newest (slot, write_version) applied. Kinds without a typed table (unknown
-- discriminators, data that does not decode) keep their raw bytes here.
CREATE TABLE IF NOT EXISTS accounts (
    pubkey        BYTEA   PRIMARY KEY CHECK (octet_length(pubkey) = 32),
    -- market | payment_mint | node | lease | vault | unknown | undecodable;
    -- NULL for a closure of an account never seen alive.
    kind          TEXT,
    owner         BYTEA   NOT NULL,
    lamports      BIGINT  NOT NULL,
    slot          BIGINT  NOT NULL,
    write_version BIGINT  NOT NULL,
    closed_slot   BIGINT,
    -- Raw bytes of accounts without a typed table; NULL when a typed table holds them.
    data          BYTEA,
    -- Why the data did not decode (kind = undecodable).
    decode_error  TEXT,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS accounts_kind ON accounts (kind);

CREATE TABLE IF NOT EXISTS markets (
    pubkey                  BYTEA   PRIMARY KEY,
    version                 INTEGER NOT NULL,
    paused                  BOOLEAN NOT NULL,
    authority               BYTEA   NOT NULL,
    pending_authority       BYTEA   NOT NULL,
    treasury                BYTEA   NOT NULL,
    scheduler_authority     BYTEA   NOT NULL,
    price_authority         BYTEA   NOT NULL,
    reward_authority        BYTEA   NOT NULL,
    activation_timeout_secs BIGINT  NOT NULL,
    min_lease_secs          BIGINT  NOT NULL,
    max_lease_secs          BIGINT  NOT NULL,
    failure_grace_secs      BIGINT  NOT NULL,
    data                    BYTEA   NOT NULL,
    lamports                BIGINT  NOT NULL,
    slot                    BIGINT  NOT NULL,
    write_version           BIGINT  NOT NULL,
    closed_slot             BIGINT,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS payment_mints (
    pubkey             BYTEA   PRIMARY KEY,
    version            INTEGER NOT NULL,
    mint               BYTEA   NOT NULL,
    token_program      BYTEA   NOT NULL,
    vault              BYTEA   NOT NULL,
    enabled            BOOLEAN NOT NULL,
    decimals           INTEGER NOT NULL,
    -- stable | authority | oracle
    price_source       TEXT    NOT NULL,
    fee_bps            INTEGER NOT NULL,
    max_price_age_secs BIGINT  NOT NULL,
    usd_price_micros   NUMERIC(20, 0) NOT NULL,
    price_updated_at   BIGINT  NOT NULL,
    symbol             TEXT    NOT NULL,
    data               BYTEA   NOT NULL,
    lamports           BIGINT  NOT NULL,
    slot               BIGINT  NOT NULL,
    write_version      BIGINT  NOT NULL,
    closed_slot        BIGINT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payment_mints_mint ON payment_mints (mint);

CREATE TABLE IF NOT EXISTS nodes (
    pubkey                        BYTEA   PRIMARY KEY,
    version                       INTEGER NOT NULL,
    owner                         BYTEA   NOT NULL,
    operator                      BYTEA   NOT NULL,
    -- available | paused
    status                        TEXT    NOT NULL,
    gpu_model                     TEXT    NOT NULL,
    region                        TEXT    NOT NULL,
    gpu_count                     INTEGER NOT NULL,
    gpus_in_use                   INTEGER NOT NULL,
    vram_mib                      BIGINT  NOT NULL,
    price_usd_micros_per_gpu_hour NUMERIC(20, 0) NOT NULL,
    min_lease_secs                BIGINT  NOT NULL,
    max_lease_secs                BIGINT  NOT NULL,
    open_leases                   BIGINT  NOT NULL,
    leases_served                 NUMERIC(20, 0) NOT NULL,
    failures                      NUMERIC(20, 0) NOT NULL,
    gpu_seconds_delivered         NUMERIC(20, 0) NOT NULL,
    registered_at                 BIGINT  NOT NULL,
    data                          BYTEA   NOT NULL,
    lamports                      BIGINT  NOT NULL,
    slot                          BIGINT  NOT NULL,
    write_version                 BIGINT  NOT NULL,
    closed_slot                   BIGINT,
    updated_at                    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS nodes_owner ON nodes (owner);
-- Marketplace search: live nodes by model and region.
CREATE INDEX IF NOT EXISTS nodes_search ON nodes (gpu_model, region) WHERE closed_slot IS NULL;

CREATE TABLE IF NOT EXISTS leases (
    pubkey            BYTEA   PRIMARY KEY,
    version           INTEGER NOT NULL,
    -- pending | active
    status            TEXT    NOT NULL,
    renter            BYTEA   NOT NULL,
    payer             BYTEA   NOT NULL,
    node              BYTEA   NOT NULL,
    mint              BYTEA   NOT NULL,
    nonce             NUMERIC(20, 0) NOT NULL,
    fee_bps           INTEGER NOT NULL,
    gpus              INTEGER NOT NULL,
    rate_per_gpu_hour NUMERIC(20, 0) NOT NULL,
    deposited         NUMERIC(20, 0) NOT NULL,
    paid_out          NUMERIC(20, 0) NOT NULL,
    created_at        BIGINT  NOT NULL,
    activated_at      BIGINT  NOT NULL,
    settled_until     BIGINT  NOT NULL,
    duration_secs     BIGINT  NOT NULL,
    job_spec_hash     BYTEA   NOT NULL,
    data              BYTEA   NOT NULL,
    lamports          BIGINT  NOT NULL,
    slot              BIGINT  NOT NULL,
    write_version     BIGINT  NOT NULL,
    closed_slot       BIGINT,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The scheduler's queue: open leases per node and status.
CREATE INDEX IF NOT EXISTS leases_open_by_node ON leases (node, status) WHERE closed_slot IS NULL;
CREATE INDEX IF NOT EXISTS leases_renter ON leases (renter);

-- The escrow vaults (SPL Token / Token-2022 accounts `["vault", mint]`).
CREATE TABLE IF NOT EXISTS vaults (
    pubkey        BYTEA   PRIMARY KEY,
    mint          BYTEA   NOT NULL,
    owner         BYTEA   NOT NULL,
    amount        NUMERIC(20, 0) NOT NULL,
    token_program BYTEA   NOT NULL,
    data          BYTEA   NOT NULL,
    lamports      BIGINT  NOT NULL,
    slot          BIGINT  NOT NULL,
    write_version BIGINT  NOT NULL,
    closed_slot   BIGINT,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Where the stream resumes: the newest slot whose updates are all committed.
-- Written in the same transaction as the rows it covers.
CREATE TABLE IF NOT EXISTS indexer_cursor (
    id         TEXT   PRIMARY KEY,
    slot       BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
