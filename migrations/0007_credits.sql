-- Pull payments: what the program keeps for a wallet whose token account
-- could not take a payout or refund (closed, frozen, given away), and the
-- network fees the treasury's token account could not take.

ALTER TABLE payment_mints
    ADD COLUMN IF NOT EXISTS unswept_fees NUMERIC(20, 0);

-- `["credit", vault, owner]`: base units owed to `owner`, held in `vault`.
CREATE TABLE IF NOT EXISTS credits (
    pubkey        BYTEA   PRIMARY KEY,
    version       INTEGER NOT NULL,
    owner         BYTEA   NOT NULL,
    vault         BYTEA   NOT NULL,
    amount        NUMERIC(20, 0) NOT NULL,
    rent_payer    BYTEA   NOT NULL,
    data          BYTEA   NOT NULL,
    lamports      BIGINT  NOT NULL,
    slot          BIGINT  NOT NULL,
    write_version BIGINT  NOT NULL,
    closed_slot   BIGINT,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS credits_owner ON credits (owner);
