//! Typed tables: which columns each decoded account fills, and the one
//! `INSERT … SELECT FROM UNNEST … ON CONFLICT … DO UPDATE … WHERE older` that
//! writes a whole batch of them. Every table also gets `pubkey` first and
//! `data, lamports, slot, write_version` last.

use crate::decode::{Decoded, Kind, Vault};
use iomesh::state::{
    decode_text, Cluster, Credit, IosdConfig, Lease, LeaseStatus, Market, Node, NodeStatus,
    PaymentMint, PendingSlash, PriceSource, RewardEpoch,
};

/// How a column travels: every column is one binary Postgres array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Bytea,
    Bool,
    Int4,
    Int8,
    /// A u64 sent as the BIGINT with the same bits, stored as NUMERIC(20, 0).
    U64,
    Text,
}

impl ColumnType {
    fn array_type(self) -> &'static str {
        match self {
            ColumnType::Bytea => "bytea[]",
            ColumnType::Bool => "bool[]",
            ColumnType::Int4 => "int4[]",
            ColumnType::Int8 | ColumnType::U64 => "int8[]",
            ColumnType::Text => "text[]",
        }
    }
}

pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, ty }
}

use ColumnType::{Bool, Bytea, Int4, Int8, Text, U64};

/// A typed table and its decoded columns (between `pubkey` and the common tail).
pub struct Table {
    pub kind: Kind,
    pub name: &'static str,
    pub columns: &'static [Column],
}

const COMMON_HEAD: &[Column] = &[col("pubkey", Bytea)];
const COMMON_TAIL: &[Column] = &[
    col("data", Bytea),
    col("lamports", Int8),
    col("slot", Int8),
    col("write_version", Int8),
];

pub const MARKETS: Table = Table {
    kind: Kind::Market,
    name: "markets",
    columns: &[
        col("version", Int4),
        col("paused", Bool),
        col("authority", Bytea),
        col("pending_authority", Bytea),
        col("treasury", Bytea),
        col("scheduler_authority", Bytea),
        col("price_authority", Bytea),
        col("reward_authority", Bytea),
        col("activation_timeout_secs", Int8),
        col("min_lease_secs", Int8),
        col("max_lease_secs", Int8),
        col("failure_grace_secs", Int8),
        col("io_mint", Bytea),
        col("slash_authority", Bytea),
        col("stake_per_gpu", U64),
        col("unstake_cooldown_secs", Int8),
        col("slash_appeal_secs", Int8),
    ],
};

pub const PAYMENT_MINTS: Table = Table {
    kind: Kind::PaymentMint,
    name: "payment_mints",
    columns: &[
        col("version", Int4),
        col("mint", Bytea),
        col("token_program", Bytea),
        col("vault", Bytea),
        col("enabled", Bool),
        col("decimals", Int4),
        col("price_source", Text),
        col("fee_bps", Int4),
        col("max_price_age_secs", Int8),
        col("usd_price_micros", U64),
        col("price_updated_at", Int8),
        col("symbol", Text),
        col("unswept_fees", U64),
    ],
};

pub const NODES: Table = Table {
    kind: Kind::Node,
    name: "nodes",
    columns: &[
        col("version", Int4),
        col("owner", Bytea),
        col("operator", Bytea),
        col("status", Text),
        col("gpu_model", Text),
        col("region", Text),
        col("gpu_count", Int4),
        col("gpus_in_use", Int4),
        col("vram_mib", Int8),
        col("price_usd_micros_per_gpu_hour", U64),
        col("min_lease_secs", Int8),
        col("max_lease_secs", Int8),
        col("open_leases", Int8),
        col("leases_served", U64),
        col("failures", U64),
        col("gpu_seconds_delivered", U64),
        col("registered_at", Int8),
        col("staked", U64),
        col("unstaking", U64),
        col("unstake_ready_at", Int8),
        col("slashes_pending", Int4),
        col("slash_count", Int8),
    ],
};

pub const LEASES: Table = Table {
    kind: Kind::Lease,
    name: "leases",
    columns: &[
        col("version", Int4),
        col("status", Text),
        col("renter", Bytea),
        col("payer", Bytea),
        col("node", Bytea),
        col("mint", Bytea),
        col("nonce", U64),
        col("fee_bps", Int4),
        col("gpus", Int4),
        col("rate_per_gpu_hour", U64),
        col("deposited", U64),
        col("paid_out", U64),
        col("created_at", Int8),
        col("activated_at", Int8),
        col("settled_until", Int8),
        col("duration_secs", Int8),
        col("job_spec_hash", Bytea),
        col("in_cluster", Bool),
        col("cluster_nonce", U64),
        col("cluster_funding_deadline", Int8),
    ],
};

pub const CLUSTERS: Table = Table {
    kind: Kind::Cluster,
    name: "clusters",
    columns: &[
        col("version", Int4),
        col("renter", Bytea),
        col("nonce", U64),
        col("leases_expected", Int4),
        col("leases_funded", Int4),
        col("leases_unwound", Int4),
        col("funding_deadline", Int8),
        col("created_at", Int8),
        col("completed_at", Int8),
    ],
};

pub const PENDING_SLASHES: Table = Table {
    kind: Kind::PendingSlash,
    name: "pending_slashes",
    columns: &[
        col("version", Int4),
        col("reason", Int4),
        col("slash_index", Int8),
        col("node", Bytea),
        col("harmed", Bytea),
        col("evidence", Bytea),
        col("rent_payer", Bytea),
        col("amount", U64),
        col("harmed_amount", U64),
        col("slashed_at", Int8),
        col("appeal_ends_at", Int8),
    ],
};

pub const REWARD_EPOCHS: Table = Table {
    kind: Kind::RewardEpoch,
    name: "reward_epochs",
    columns: &[
        col("version", Int4),
        col("clawed_back", Bool),
        col("epoch", U64),
        col("merkle_root", Bytea),
        col("total_amount", U64),
        col("claimed_amount", U64),
        col("num_leaves", Int8),
        col("claims", Int8),
        col("published_at", Int8),
        col("claim_deadline", Int8),
        col("claimed_bitmap", Bytea),
    ],
};

pub const IOSD_CONFIG: Table = Table {
    kind: Kind::IosdConfig,
    name: "iosd_config",
    columns: &[
        col("version", Int4),
        col("max_confidence_bps", Int4),
        col("max_price_age_secs", Int8),
        col("window_secs", Int8),
        col("iosd_mint", Bytea),
        col("price_feed_id", Bytea),
        col("window_cap", U64),
        col("window_start", Int8),
        col("window_minted", U64),
        col("total_io_burned", U64),
        col("total_iosd_minted", U64),
    ],
};

pub const CREDITS: Table = Table {
    kind: Kind::Credit,
    name: "credits",
    columns: &[
        col("version", Int4),
        col("owner", Bytea),
        col("vault", Bytea),
        col("amount", U64),
        col("rent_payer", Bytea),
    ],
};

pub const VAULTS: Table = Table {
    kind: Kind::Vault,
    name: "vaults",
    columns: &[
        col("mint", Bytea),
        col("owner", Bytea),
        col("amount", U64),
        col("token_program", Bytea),
    ],
};

pub const TABLES: [&Table; 10] = [
    &MARKETS,
    &PAYMENT_MINTS,
    &NODES,
    &LEASES,
    &CLUSTERS,
    &PENDING_SLASHES,
    &REWARD_EPOCHS,
    &IOSD_CONFIG,
    &CREDITS,
    &VAULTS,
];

pub fn table_of(kind: Kind) -> Option<&'static Table> {
    TABLES.into_iter().find(|t| t.kind == kind)
}

/// Fills the decoded columns of one row, in the table's column order.
pub fn push_decoded(row: &mut RowWriter<'_>, decoded: &Decoded) {
    match decoded {
        Decoded::Market(m) => push_market(row, m),
        Decoded::PaymentMint(p) => push_payment_mint(row, p),
        Decoded::Node(n) => push_node(row, n),
        Decoded::Lease(l) => push_lease(row, l),
        Decoded::Cluster(c) => push_cluster(row, c),
        Decoded::PendingSlash(p) => push_pending_slash(row, p),
        Decoded::RewardEpoch(e, bitmap) => push_reward_epoch(row, e, bitmap),
        Decoded::IosdConfig(c) => push_iosd_config(row, c),
        Decoded::Credit(c) => push_credit(row, c),
        Decoded::Vault(v) => push_vault(row, v),
        Decoded::Unknown | Decoded::Undecodable(_) => {
            unreachable!("only typed kinds have a table")
        }
    }
}

fn push_market(row: &mut RowWriter<'_>, m: &Market) {
    row.int4(m.version.into())
        .boolean(m.paused)
        .bytes(m.authority.as_ref())
        .bytes(m.pending_authority.as_ref())
        .bytes(m.treasury.as_ref())
        .bytes(m.scheduler_authority.as_ref())
        .bytes(m.price_authority.as_ref())
        .bytes(m.reward_authority.as_ref())
        .int8(m.activation_timeout_secs.into())
        .int8(m.min_lease_secs.into())
        .int8(m.max_lease_secs.into())
        .int8(m.failure_grace_secs.into())
        .bytes(m.io_mint.as_ref())
        .bytes(m.slash_authority.as_ref())
        .u64(m.stake_per_gpu)
        .int8(m.unstake_cooldown_secs.into())
        .int8(m.slash_appeal_secs.into());
}

fn push_payment_mint(row: &mut RowWriter<'_>, p: &PaymentMint) {
    row.int4(p.version.into())
        .bytes(p.mint.as_ref())
        .bytes(p.token_program.as_ref())
        .bytes(p.vault.as_ref())
        .boolean(p.enabled)
        .int4(p.decimals.into())
        .text(match p.price_source {
            PriceSource::Stable => "stable",
            PriceSource::Authority => "authority",
            PriceSource::Oracle => "oracle",
        })
        .int4(p.fee_bps.into())
        .int8(p.max_price_age_secs.into())
        .u64(p.usd_price_micros)
        .int8(p.price_updated_at)
        .text(decode_text(&p.symbol))
        .u64(p.unswept_fees);
}

fn push_credit(row: &mut RowWriter<'_>, c: &Credit) {
    row.int4(c.version.into())
        .bytes(c.owner.as_ref())
        .bytes(c.vault.as_ref())
        .u64(c.amount)
        .bytes(c.rent_payer.as_ref());
}

fn push_node(row: &mut RowWriter<'_>, n: &Node) {
    row.int4(n.version.into())
        .bytes(n.owner.as_ref())
        .bytes(n.operator.as_ref())
        .text(match n.status {
            NodeStatus::Available => "available",
            NodeStatus::Paused => "paused",
        })
        .text(decode_text(&n.gpu_model))
        .text(decode_text(&n.region))
        .int4(n.gpu_count.into())
        .int4(n.gpus_in_use.into())
        .int8(n.vram_mib.into())
        .u64(n.price_usd_micros_per_gpu_hour)
        .int8(n.min_lease_secs.into())
        .int8(n.max_lease_secs.into())
        .int8(n.open_leases.into())
        .u64(n.leases_served)
        .u64(n.failures)
        .u64(n.gpu_seconds_delivered)
        .int8(n.registered_at)
        .u64(n.staked)
        .u64(n.unstaking)
        .int8(n.unstake_ready_at)
        .int4(n.slashes_pending.into())
        .int8(n.slash_count.into());
}

fn push_lease(row: &mut RowWriter<'_>, l: &Lease) {
    row.int4(l.version.into())
        .text(match l.status {
            LeaseStatus::Pending => "pending",
            LeaseStatus::Active => "active",
        })
        .bytes(l.renter.as_ref())
        .bytes(l.payer.as_ref())
        .bytes(l.node.as_ref())
        .bytes(l.mint.as_ref())
        .u64(l.nonce)
        .int4(l.fee_bps.into())
        .int4(l.gpus.into())
        .u64(l.rate_per_gpu_hour)
        .u64(l.deposited)
        .u64(l.paid_out)
        .int8(l.created_at)
        .int8(l.activated_at)
        .int8(l.settled_until)
        .int8(l.duration_secs.into())
        .bytes(&l.job_spec_hash)
        .boolean(l.in_cluster)
        .u64(l.cluster_nonce)
        .int8(l.cluster_funding_deadline);
}

fn push_cluster(row: &mut RowWriter<'_>, c: &Cluster) {
    row.int4(c.version.into())
        .bytes(c.renter.as_ref())
        .u64(c.nonce)
        .int4(c.leases_expected.into())
        .int4(c.leases_funded.into())
        .int4(c.leases_unwound.into())
        .int8(c.funding_deadline)
        .int8(c.created_at)
        .int8(c.completed_at);
}

fn push_pending_slash(row: &mut RowWriter<'_>, p: &PendingSlash) {
    row.int4(p.version.into())
        .int4(p.reason.into())
        .int8(p.index.into())
        .bytes(p.node.as_ref())
        .bytes(p.harmed.as_ref())
        .bytes(p.evidence.as_ref())
        .bytes(p.rent_payer.as_ref())
        .u64(p.amount)
        .u64(p.harmed_amount)
        .int8(p.slashed_at)
        .int8(p.appeal_ends_at);
}

fn push_reward_epoch(row: &mut RowWriter<'_>, e: &RewardEpoch, claimed_bitmap: &[u8]) {
    row.int4(e.version.into())
        .boolean(e.clawed_back)
        .u64(e.epoch)
        .bytes(&e.merkle_root)
        .u64(e.total_amount)
        .u64(e.claimed_amount)
        .int8(e.num_leaves.into())
        .int8(e.claims.into())
        .int8(e.published_at)
        .int8(e.claim_deadline)
        .bytes(claimed_bitmap);
}

fn push_iosd_config(row: &mut RowWriter<'_>, c: &IosdConfig) {
    row.int4(c.version.into())
        .int4(c.max_confidence_bps.into())
        .int8(c.max_price_age_secs.into())
        .int8(c.window_secs.into())
        .bytes(c.iosd_mint.as_ref())
        .bytes(&c.price_feed_id)
        .u64(c.window_cap)
        .int8(c.window_start)
        .u64(c.window_minted)
        .u64(c.total_io_burned)
        .u64(c.total_iosd_minted);
}

fn push_vault(row: &mut RowWriter<'_>, v: &Vault) {
    row.bytes(v.mint.as_ref())
        .bytes(v.owner.as_ref())
        .u64(v.amount)
        .bytes(v.token_program.as_ref());
}

/// One column's values across the rows of a batch.
#[derive(Debug)]
pub enum Values {
    Bytea(Vec<Vec<u8>>),
    Bool(Vec<bool>),
    Int4(Vec<i32>),
    Int8(Vec<i64>),
    Text(Vec<String>),
}

impl Values {
    fn new(ty: ColumnType, capacity: usize) -> Self {
        match ty {
            Bytea => Values::Bytea(Vec::with_capacity(capacity)),
            Bool => Values::Bool(Vec::with_capacity(capacity)),
            Int4 => Values::Int4(Vec::with_capacity(capacity)),
            Int8 | U64 => Values::Int8(Vec::with_capacity(capacity)),
            Text => Values::Text(Vec::with_capacity(capacity)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::Bytea(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Int4(v) => v.len(),
            Values::Int8(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }
}

/// The rows of one table in a batch, column by column.
pub struct Rows {
    pub table: &'static Table,
    columns: Vec<Values>,
}

impl Rows {
    pub fn new(table: &'static Table, capacity: usize) -> Self {
        let columns = all_columns(table)
            .map(|c| Values::new(c.ty, capacity))
            .collect();
        Self { table, columns }
    }

    pub fn len(&self) -> usize {
        self.columns[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a row with its pubkey; the caller fills the decoded columns and
    /// `finish`es it with the common tail.
    pub fn row(&mut self, pubkey: &[u8]) -> RowWriter<'_> {
        let mut row = RowWriter {
            rows: self,
            next: 0,
        };
        row.bytes(pubkey);
        row
    }

    pub fn into_columns(self) -> Vec<Values> {
        self.columns
    }
}

/// Appends one row, one column at a time, checking each value against the
/// column's declared type so the column lists above cannot drift from the
/// push functions unnoticed.
pub struct RowWriter<'a> {
    rows: &'a mut Rows,
    next: usize,
}

impl RowWriter<'_> {
    fn column(&mut self, ty: ColumnType) -> &mut Values {
        let column = all_columns(self.rows.table)
            .nth(self.next)
            .unwrap_or_else(|| panic!("{}: too many values for a row", self.rows.table.name));
        assert_eq!(
            column.ty, ty,
            "{}.{}: value pushed in the wrong order",
            self.rows.table.name, column.name
        );
        self.next += 1;
        &mut self.rows.columns[self.next - 1]
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        if let Values::Bytea(v) = self.column(Bytea) {
            v.push(value.to_vec());
        }
        self
    }

    pub fn boolean(&mut self, value: bool) -> &mut Self {
        if let Values::Bool(v) = self.column(Bool) {
            v.push(value);
        }
        self
    }

    pub fn int4(&mut self, value: i32) -> &mut Self {
        if let Values::Int4(v) = self.column(Int4) {
            v.push(value);
        }
        self
    }

    pub fn int8(&mut self, value: i64) -> &mut Self {
        if let Values::Int8(v) = self.column(Int8) {
            v.push(value);
        }
        self
    }

    /// The same 64 bits as a BIGINT; `iomesh_u64()` turns them back in SQL.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        if let Values::Int8(v) = self.column(U64) {
            v.push(value as i64);
        }
        self
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        if let Values::Text(v) = self.column(Text) {
            v.push(value.to_owned());
        }
        self
    }

    /// Appends the common tail and checks the row is complete.
    pub fn finish(mut self, data: &[u8], lamports: i64, slot: i64, write_version: i64) {
        self.bytes(data)
            .int8(lamports)
            .int8(slot)
            .int8(write_version);
        assert_eq!(
            self.next,
            self.rows.columns.len(),
            "{}: row is missing values",
            self.rows.table.name
        );
    }
}

/// Every column of a table's rows, in the order `Rows` holds them.
pub fn all_columns(table: &Table) -> impl Iterator<Item = &Column> {
    COMMON_HEAD
        .iter()
        .chain(table.columns)
        .chain(COMMON_TAIL.iter())
}

/// The batch upsert of a table: one array parameter per column; a row is only
/// replaced by a newer (slot, write_version), and a live write clears a tombstone.
pub fn upsert_sql(table: &Table) -> String {
    let columns: Vec<&Column> = all_columns(table).collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let params: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.ty.array_type()))
        .collect();
    let selected: Vec<String> = columns
        .iter()
        .map(|c| match c.ty {
            U64 => format!("iomesh_u64(u.{})", c.name),
            _ => format!("u.{}", c.name),
        })
        .collect();
    let updates: Vec<String> = names
        .iter()
        .skip(1)
        .map(|n| format!("{n} = EXCLUDED.{n}"))
        .collect();
    format!(
        "INSERT INTO {table} AS t ({names}, closed_slot) \
         SELECT {selected}, NULL FROM UNNEST({params}) AS u({names}) \
         ON CONFLICT (pubkey) DO UPDATE SET {updates}, closed_slot = NULL, updated_at = now() \
         WHERE (t.slot, t.write_version) < (EXCLUDED.slot, EXCLUDED.write_version)",
        table = table.name,
        names = names.join(", "),
        selected = selected.join(", "),
        params = params.join(", "),
        updates = updates.join(", "),
    )
}

/// A plain (logged, unindexed) table with the columns of `table`'s rows in
/// the types they travel in: what a binary COPY of those rows can fill.
pub fn copy_target_sql(table: &Table, name: &str) -> String {
    let columns: Vec<String> = all_columns(table)
        .map(|c| {
            let ty = match c.ty {
                Bytea => "BYTEA",
                Bool => "BOOLEAN",
                Int4 => "INTEGER",
                Int8 | U64 => "BIGINT",
                Text => "TEXT",
            };
            format!("{} {ty}", c.name)
        })
        .collect();
    format!("CREATE TABLE {name} ({})", columns.join(", "))
}

/// Appends `rows` to a binary COPY stream (the tuples only; the caller
/// writes the header and trailer).
pub fn encode_copy_rows(columns: &[Values], out: &mut Vec<u8>) {
    let rows = columns.first().map_or(0, Values::len);
    let width = i16::try_from(columns.len()).expect("fewer than 32768 columns");
    for row in 0..rows {
        out.extend_from_slice(&width.to_be_bytes());
        for column in columns {
            let mut field = |bytes: &[u8]| {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            };
            match column {
                Values::Bytea(v) => field(&v[row]),
                Values::Bool(v) => field(&[v[row] as u8]),
                Values::Int4(v) => field(&v[row].to_be_bytes()),
                Values::Int8(v) => field(&v[row].to_be_bytes()),
                Values::Text(v) => field(v[row].as_bytes()),
            }
        }
    }
}

/// Turns rows of a table into tombstones: the last decoded values stay, the
/// data is emptied and `closed_slot` set, when the closure is newer.
pub fn tombstone_sql(table: &Table) -> String {
    format!(
        "UPDATE {table} AS t SET closed_slot = u.slot, slot = u.slot, \
         write_version = u.write_version, lamports = 0, data = '\\x'::bytea, updated_at = now() \
         FROM UNNEST($1::bytea[], $2::int8[], $3::int8[]) AS u(pubkey, slot, write_version) \
         WHERE t.pubkey = u.pubkey AND (t.slot, t.write_version) < (u.slot, u.write_version)",
        table = table.name
    )
}
