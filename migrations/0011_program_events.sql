-- Every event the program logged, from the live transaction stream and from
-- history backfills: the market's audit trail (registrations, leases and
-- their money, stakes, rewards) as rows, without reading transaction logs.
-- Fields are decoded with the IDL the indexer was built with; the raw
-- payload is kept, so an event that IDL did not describe is not lost.
CREATE TABLE IF NOT EXISTS program_events (
    signature    TEXT    NOT NULL,
    -- The event's place among the program's events in the transaction.
    event_index  INT     NOT NULL,
    slot         BIGINT  NOT NULL,
    -- The event type as the IDL names it (LeaseCreated, LeaseEnded, ...);
    -- NULL when the IDL does not describe the payload (see decode_error).
    name         TEXT,
    -- Its fields: pubkeys in base58, integers as numbers (128-bit ones as
    -- strings), byte arrays in hex, enums by variant name.
    fields       JSONB,
    -- Discriminator and Borsh body, as `Program data:` carried them.
    data         BYTEA   NOT NULL,
    decode_error TEXT,
    -- Unix seconds of the block, when known (history backfills).
    block_time   BIGINT,
    indexed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (signature, event_index)
);
CREATE INDEX IF NOT EXISTS program_events_name_slot ON program_events (name, slot);
CREATE INDEX IF NOT EXISTS program_events_lease ON program_events ((fields ->> 'lease'))
    WHERE fields ? 'lease';
CREATE INDEX IF NOT EXISTS program_events_node ON program_events ((fields ->> 'node'))
    WHERE fields ? 'node';
