//! Typed account → Postgres: one transaction per batch. The `accounts` table is
//! the guard of every pubkey: a write lands only where the stored
//! (slot, write_version) is older, then the typed table of each applied update
//! is written (or tombstoned) with the same guard, the resume cursor moves and
//! one NOTIFY carries the highest slot, all in the same transaction.

use crate::{
    decode::{decode, Decoded, Kind},
    error::{Error, Result},
    tables::{self, Rows, Values},
    update::AccountUpdate,
};
use solana_pubkey::Pubkey;
use sqlx::{
    postgres::{PgArguments, PgPool},
    query::Query,
    Postgres, Row,
};
use std::collections::HashMap;

/// The channel every batch commit is announced on; the payload is the highest slot.
pub const NOTIFY_CHANNEL: &str = iomesh_db::channels::INDEXER;

/// Updates to commit together; at most one per pubkey (the newest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub updates: Vec<AccountUpdate>,
    /// Move the resume cursor here (never backwards) in the same transaction.
    pub cursor: Option<u64>,
    /// How leases ended in the batch's slots (from the program's events).
    pub endings: Vec<LeaseEnding>,
    /// Every event the program logged in the batch's slots.
    pub events: Vec<LoggedEvent>,
    /// The newest live write of each pubkey that `updates` closes, when the
    /// batch had both (an account created and closed within one batch, as
    /// when an outage is replayed): applied first, so the closure leaves a
    /// tombstone with the account's values rather than a bare guard row.
    pub live_before_closure: Vec<AccountUpdate>,
}

/// How a lease ended, from the program's `LeaseEnded` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseEnding {
    pub lease: Pubkey,
    pub slot: u64,
    pub signature: String,
    pub node: Pubkey,
    pub reason: &'static str,
    pub paid_out: u64,
    pub refunded: u64,
    pub billed_until: i64,
    pub block_time: Option<i64>,
}

impl LeaseEnding {
    /// The ending a `LeaseEnded` event of transaction `signature` records.
    pub fn from_event(
        ended: &iomesh::events::LeaseEnded,
        slot: u64,
        signature: String,
        block_time: Option<i64>,
    ) -> Self {
        Self {
            lease: ended.lease,
            slot,
            signature,
            node: ended.node,
            reason: crate::events::end_reason(ended.reason),
            paid_out: ended.paid_out,
            refunded: ended.refunded,
            billed_until: ended.billed_until,
            block_time,
        }
    }
}

/// One event the program logged (`program_events`), decoded with the IDL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    pub signature: String,
    /// Its place among the program's events in the transaction.
    pub index: u32,
    pub slot: u64,
    /// The event type and its fields; None when the IDL does not describe
    /// the payload (`decode_error` says why; `data` keeps it).
    pub name: Option<String>,
    pub fields: Option<serde_json::Value>,
    pub data: Vec<u8>,
    pub decode_error: Option<String>,
    pub block_time: Option<i64>,
}

/// `lease_endings` column by column, for one UNNEST insert.
#[derive(Default)]
struct EndingColumns {
    lease: Vec<Vec<u8>>,
    slot: Vec<i64>,
    signature: Vec<String>,
    node: Vec<Vec<u8>>,
    reason: Vec<String>,
    paid_out: Vec<String>,
    refunded: Vec<String>,
    billed_until: Vec<i64>,
    block_time: Vec<Option<i64>>,
}

/// What a committed batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Updates newer than what Postgres held.
    pub written: usize,
    /// Updates not newer than what Postgres held (replays, out of order).
    pub skipped: usize,
    pub closed: usize,
    pub unknown: usize,
    pub undecodable: usize,
    /// Highest slot of the batch's updates and cursor (the NOTIFY payload).
    pub highest_slot: Option<u64>,
}

const UPSERT_ACCOUNTS: &str = "\
INSERT INTO accounts AS a (pubkey, kind, owner, lamports, slot, write_version, closed_slot, data, decode_error) \
SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::bytea[], $9::text[]) \
ON CONFLICT (pubkey) DO UPDATE SET \
    kind = COALESCE(EXCLUDED.kind, a.kind), owner = EXCLUDED.owner, lamports = EXCLUDED.lamports, \
    slot = EXCLUDED.slot, write_version = EXCLUDED.write_version, closed_slot = EXCLUDED.closed_slot, \
    data = EXCLUDED.data, decode_error = EXCLUDED.decode_error, updated_at = now() \
WHERE (a.slot, a.write_version) < (EXCLUDED.slot, EXCLUDED.write_version) \
RETURNING pubkey, kind";

const ADVANCE_CURSOR_AND_NOTIFY: &str = "\
WITH cursor AS ( \
    INSERT INTO indexer_cursor (id, slot) VALUES ($1, $2) \
    ON CONFLICT (id) DO UPDATE SET slot = GREATEST(indexer_cursor.slot, EXCLUDED.slot), updated_at = now() \
) SELECT pg_notify($3, $4)";

const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Smallest range worth its own connection: smaller batches (light load, where
/// latency matters) are written in one transaction.
const MIN_SHARD_UPDATES: usize = 512;

fn highest_slot(batch: &Batch) -> Option<u64> {
    batch
        .updates
        .iter()
        .map(|u| u.slot)
        .chain(batch.cursor)
        .max()
}

impl WriteStats {
    fn add(&mut self, other: &WriteStats) {
        self.written += other.written;
        self.skipped += other.skipped;
        self.closed += other.closed;
        self.unknown += other.unknown;
        self.undecodable += other.undecodable;
    }
}

/// Closed accounts of one kind, column by column: pubkeys, slots, write versions.
type Tombstones = (Vec<Vec<u8>>, Vec<i64>, Vec<i64>);

/// Writes batches for one program into one database.
#[derive(Clone)]
pub struct Writer {
    pool: PgPool,
    program_id: Pubkey,
    cursor_id: String,
    upserts: HashMap<Kind, (String, String)>,
}

impl Writer {
    /// `cursor_id` names this indexer's resume cursor (one per program and source).
    pub fn new(pool: PgPool, program_id: Pubkey, cursor_id: impl Into<String>) -> Self {
        let upserts = tables::TABLES
            .iter()
            .map(|t| (t.kind, (tables::upsert_sql(t), tables::tombstone_sql(t))))
            .collect();
        Self {
            pool,
            program_id,
            cursor_id: cursor_id.into(),
            upserts,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn program_id(&self) -> &Pubkey {
        &self.program_id
    }

    /// The slot the stream resumes from, if any batch has committed one.
    pub async fn cursor(&self) -> Result<Option<u64>> {
        let slot: Option<i64> = sqlx::query_scalar("SELECT slot FROM indexer_cursor WHERE id = $1")
            .bind(&self.cursor_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(slot.map(|s| s as u64))
    }

    /// Commits a batch in one transaction. Nothing is written if it fails.
    pub async fn write(&self, batch: &Batch) -> Result<WriteStats> {
        let highest = highest_slot(batch);
        self.write_part(
            &batch.live_before_closure,
            &batch.updates,
            &batch.endings,
            &batch.events,
            batch.cursor,
            highest,
            std::future::ready(Ok(WriteStats::default())),
        )
        .await
    }

    /// Commits a batch over up to `shards` connections at once: the updates
    /// (sorted by pubkey) are cut into contiguous ranges, each written in its
    /// own transaction. The first range's transaction also moves the cursor
    /// and sends the NOTIFY, and it commits only after every other range has
    /// committed: so the cursor never covers an update that is not committed.
    /// If any range fails the batch fails and is retried whole; ranges that
    /// did commit are then skipped by the (slot, write_version) guard.
    pub async fn write_sharded(&self, batch: &Batch, shards: usize) -> Result<WriteStats> {
        let shards = shards.min(batch.updates.len() / MIN_SHARD_UPDATES).max(1);
        if shards == 1 {
            return self.write(batch).await;
        }
        let mut ranges = batch.updates.chunks(batch.updates.len().div_ceil(shards));
        let first = ranges.next().expect("at least two ranges");
        let (others_done, others) = tokio::sync::oneshot::channel();
        let write_others = async {
            let results = futures::future::join_all(ranges.map(|r| {
                self.write_part(
                    live_in(&batch.live_before_closure, r),
                    r,
                    &[],
                    &[],
                    None,
                    None,
                    std::future::ready(Ok(WriteStats::default())),
                )
            }))
            .await;
            let mut total = WriteStats::default();
            let mut outcome = Ok(());
            for result in results {
                match result {
                    Ok(stats) => total.add(&stats),
                    Err(err) => outcome = outcome.and(Err(err)),
                }
            }
            let _ = others_done.send(outcome.map(|()| total));
        };
        let write_first = self.write_part(
            live_in(&batch.live_before_closure, first),
            first,
            &batch.endings,
            &batch.events,
            batch.cursor,
            highest_slot(batch),
            async {
                others.await.unwrap_or_else(|_| {
                    Err(Error::Config("a shard of the batch was abandoned".into()))
                })
            },
        );
        let ((), result) = tokio::join!(write_others, write_first);
        result
    }

    /// Writes `updates`, `endings` and `events` in one transaction; with `notify_slot`, also moves the
    /// cursor to `cursor` and sends the NOTIFY. `before_commit` is awaited
    /// just before the cursor moves; its failure rolls this transaction back.
    async fn write_part(
        &self,
        live_before_closure: &[AccountUpdate],
        updates: &[AccountUpdate],
        endings: &[LeaseEnding],
        events: &[LoggedEvent],
        cursor: Option<u64>,
        notify_slot: Option<u64>,
        before_commit: impl std::future::Future<Output = Result<WriteStats>>,
    ) -> Result<WriteStats> {
        let mut tx = self.pool.begin().await?;
        // Their own counts do not matter: the closures that follow replace them.
        self.apply(&mut tx, live_before_closure).await?;
        let mut stats = self.apply(&mut tx, updates).await?;
        stats.highest_slot = notify_slot;
        self.insert_endings(&mut tx, endings).await?;
        self.insert_events(&mut tx, events).await?;

        let others = before_commit.await?;
        stats.add(&others);
        if let Some(highest) = notify_slot {
            self.advance_and_notify(&mut tx, cursor, highest).await?;
        }
        tx.commit().await?;
        Ok(stats)
    }

    /// Moves the cursor (if given) and sends the NOTIFY carrying `highest`.
    async fn advance_and_notify(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        cursor: Option<u64>,
        highest: u64,
    ) -> Result<()> {
        let payload = highest.to_string();
        match cursor {
            Some(cursor) => {
                sqlx::query(ADVANCE_CURSOR_AND_NOTIFY)
                    .bind(&self.cursor_id)
                    .bind(to_i64("cursor slot", cursor, &self.program_id)?)
                    .bind(NOTIFY_CHANNEL)
                    .bind(payload)
                    .execute(&mut **tx)
                    .await?;
            }
            None => {
                sqlx::query(NOTIFY)
                    .bind(NOTIFY_CHANNEL)
                    .bind(payload)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Applies `updates` (at most one per pubkey) inside `tx`: the guard rows,
    /// then the typed rows and tombstones of those that were newer.
    async fn apply(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        updates: &[AccountUpdate],
    ) -> Result<WriteStats> {
        let mut stats = WriteStats::default();
        let decoded: Vec<Option<Decoded>> = updates
            .iter()
            .map(|u| (!u.is_closed()).then(|| decode(&self.program_id, &u.owner, &u.data)))
            .collect();

        let applied = if updates.is_empty() {
            HashMap::new()
        } else {
            self.upsert_accounts(tx, updates, &decoded).await?
        };
        stats.written = applied.len();
        stats.skipped = updates.len() - applied.len();

        let mut rows: HashMap<Kind, Rows> = HashMap::new();
        let mut tombstones: HashMap<Kind, Tombstones> = HashMap::new();
        for (update, decoded) in updates.iter().zip(&decoded) {
            let Some(stored_kind) = applied.get(update.pubkey.as_ref()) else {
                continue;
            };
            match decoded {
                None => {
                    stats.closed += 1;
                    // A closure keeps the kind the account had; tombstone its typed row.
                    if let Some(kind) = stored_kind.filter(|k| k.table().is_some()) {
                        let t = tombstones.entry(kind).or_default();
                        t.0.push(update.pubkey.to_bytes().to_vec());
                        t.1.push(to_i64("slot", update.slot, &update.pubkey)?);
                        t.2.push(to_i64(
                            "write_version",
                            update.write_version,
                            &update.pubkey,
                        )?);
                    }
                }
                Some(Decoded::Unknown) => stats.unknown += 1,
                Some(Decoded::Undecodable(_)) => stats.undecodable += 1,
                Some(decoded) => {
                    let table = tables::table_of(decoded.kind()).expect("typed kind");
                    let rows = rows
                        .entry(decoded.kind())
                        .or_insert_with(|| Rows::new(table, updates.len()));
                    let mut row = rows.row(update.pubkey.as_ref());
                    tables::push_decoded(&mut row, decoded);
                    row.finish(
                        &update.data,
                        to_i64("lamports", update.lamports, &update.pubkey)?,
                        to_i64("slot", update.slot, &update.pubkey)?,
                        to_i64("write_version", update.write_version, &update.pubkey)?,
                    );
                }
            }
        }

        for (kind, rows) in rows {
            let mut query = sqlx::query(&self.upserts[&kind].0);
            for values in rows.into_columns() {
                query = bind_values(query, values);
            }
            query.execute(&mut **tx).await?;
        }
        for (kind, (pubkeys, slots, write_versions)) in tombstones {
            sqlx::query(&self.upserts[&kind].1)
                .bind(pubkeys)
                .bind(slots)
                .bind(write_versions)
                .execute(&mut **tx)
                .await?;
        }
        Ok(stats)
    }

    /// Commits one chunk of a backfill in one transaction: each step of
    /// updates in order (a pubkey may appear once per step), the lease
    /// endings, the events, the backfill's progress, and a NOTIFY.
    pub async fn write_history(
        &self,
        steps: &[&[AccountUpdate]],
        endings: &[LeaseEnding],
        events: &[LoggedEvent],
        done_slot: u64,
    ) -> Result<WriteStats> {
        let mut tx = self.pool.begin().await?;
        let mut stats = WriteStats::default();
        for updates in steps {
            stats.add(&self.apply(&mut tx, updates).await?);
        }
        self.insert_endings(&mut tx, endings).await?;
        self.insert_events(&mut tx, events).await?;
        let done = to_i64("backfill slot", done_slot, &self.program_id)?;
        sqlx::query(
            "UPDATE indexer_backfill SET done_slot = GREATEST(done_slot, $2), updated_at = now() \
             WHERE cursor_id = $1",
        )
        .bind(&self.cursor_id)
        .bind(done)
        .execute(&mut *tx)
        .await?;
        let highest = steps
            .iter()
            .flat_map(|s| s.iter().map(|u| u.slot))
            .chain([done_slot])
            .max()
            .unwrap_or(done_slot);
        stats.highest_slot = Some(highest);
        self.advance_and_notify(&mut tx, None, highest).await?;
        tx.commit().await?;
        Ok(stats)
    }

    /// Records how leases ended; an ending already recorded is kept.
    pub async fn insert_endings(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        endings: &[LeaseEnding],
    ) -> Result<()> {
        if endings.is_empty() {
            return Ok(());
        }
        let mut columns = EndingColumns::default();
        for e in endings {
            columns.lease.push(e.lease.to_bytes().to_vec());
            columns.slot.push(to_i64("slot", e.slot, &e.lease)?);
            columns.signature.push(e.signature.clone());
            columns.node.push(e.node.to_bytes().to_vec());
            columns.reason.push(e.reason.to_owned());
            columns.paid_out.push(e.paid_out.to_string());
            columns.refunded.push(e.refunded.to_string());
            columns.billed_until.push(e.billed_until);
            columns.block_time.push(e.block_time);
        }
        sqlx::query(
            "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, \
                                        billed_until, block_time) \
             SELECT l, s, sig, n, r, p::numeric, f::numeric, b, t FROM UNNEST($1::bytea[], \
                 $2::int8[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[], \
                 $8::int8[], $9::int8[]) AS x(l, s, sig, n, r, p, f, b, t) \
             ON CONFLICT (lease, slot) DO NOTHING",
        )
        .bind(columns.lease)
        .bind(columns.slot)
        .bind(columns.signature)
        .bind(columns.node)
        .bind(columns.reason)
        .bind(columns.paid_out)
        .bind(columns.refunded)
        .bind(columns.billed_until)
        .bind(columns.block_time)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records the program's events; an event already recorded (a replayed
    /// slot, a backfill over streamed history) is kept.
    pub async fn insert_events(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        events: &[LoggedEvent],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut signature = Vec::with_capacity(events.len());
        let mut index = Vec::with_capacity(events.len());
        let mut slot = Vec::with_capacity(events.len());
        let mut name = Vec::with_capacity(events.len());
        let mut fields = Vec::with_capacity(events.len());
        let mut data = Vec::with_capacity(events.len());
        let mut decode_error = Vec::with_capacity(events.len());
        let mut block_time = Vec::with_capacity(events.len());
        for e in events {
            signature.push(e.signature.clone());
            index.push(e.index as i32);
            slot.push(to_i64("slot", e.slot, &self.program_id)?);
            name.push(e.name.clone());
            fields.push(e.fields.as_ref().map(|f| f.to_string()));
            data.push(e.data.clone());
            decode_error.push(e.decode_error.clone());
            block_time.push(e.block_time);
        }
        sqlx::query(
            "INSERT INTO program_events (signature, event_index, slot, name, fields, data, \
                                         decode_error, block_time) \
             SELECT sig, i, s, n, f::jsonb, d, err, t FROM UNNEST($1::text[], $2::int4[], \
                 $3::int8[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::int8[]) \
                 AS x(sig, i, s, n, f, d, err, t) \
             ON CONFLICT (signature, event_index) DO NOTHING",
        )
        .bind(signature)
        .bind(index)
        .bind(slot)
        .bind(name)
        .bind(fields)
        .bind(data)
        .bind(decode_error)
        .bind(block_time)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Starts (or resumes) the backfill of slots `(after, through]`; returns
    /// the slot through which its history is already applied.
    pub async fn backfill_start(&self, after: u64, through: u64) -> Result<u64> {
        let after = to_i64("backfill slot", after, &self.program_id)?;
        let through = to_i64("backfill slot", through, &self.program_id)?;
        // The same gap (same start) resumes; another one starts over.
        let done: i64 = sqlx::query_scalar(
            "INSERT INTO indexer_backfill AS b (cursor_id, from_slot, to_slot, done_slot) \
             VALUES ($1, $2, $3, $2) \
             ON CONFLICT (cursor_id) DO UPDATE SET \
                 done_slot = CASE WHEN b.from_slot = EXCLUDED.from_slot THEN b.done_slot \
                                  ELSE EXCLUDED.done_slot END, \
                 started_at = CASE WHEN b.from_slot = EXCLUDED.from_slot THEN b.started_at \
                                   ELSE now() END, \
                 from_slot = EXCLUDED.from_slot, to_slot = EXCLUDED.to_slot, updated_at = now() \
             RETURNING done_slot",
        )
        .bind(&self.cursor_id)
        .bind(after)
        .bind(through)
        .fetch_one(&self.pool)
        .await?;
        Ok(done.max(0) as u64)
    }

    /// Records slots `[from, to]` as history that cannot be recovered.
    pub async fn record_gap(
        &self,
        slots: (u64, u64),
        times: (i64, i64),
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO indexer_gaps (cursor_id, from_slot, to_slot, from_time, to_time, reason) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (cursor_id, from_slot) DO UPDATE SET \
                 to_slot = GREATEST(indexer_gaps.to_slot, EXCLUDED.to_slot), \
                 to_time = GREATEST(indexer_gaps.to_time, EXCLUDED.to_time)",
        )
        .bind(&self.cursor_id)
        .bind(to_i64("gap slot", slots.0, &self.program_id)?)
        .bind(to_i64("gap slot", slots.1, &self.program_id)?)
        .bind(times.0)
        .bind(times.1)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Unix seconds at which the cursor last moved (now if there is none).
    pub async fn cursor_time(&self) -> Result<i64> {
        let time: Option<i64> = sqlx::query_scalar(
            "SELECT floor(extract(epoch FROM updated_at))::int8 FROM indexer_cursor WHERE id = $1",
        )
        .bind(&self.cursor_id)
        .fetch_optional(&self.pool)
        .await?;
        match time {
            Some(time) => Ok(time),
            None => self.now().await,
        }
    }

    /// The database's clock, in unix seconds.
    pub async fn now(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT floor(extract(epoch FROM now()))::int8")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A lease Postgres holds alive: its account bytes, lamports and slot.
    pub async fn live_lease(&self, pubkey: &Pubkey) -> Result<Option<(Vec<u8>, u64, u64)>> {
        let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT data, lamports, slot FROM leases WHERE pubkey = $1 AND closed_slot IS NULL",
        )
        .bind(pubkey.to_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(data, lamports, slot)| (data, lamports.max(0) as u64, slot.max(0) as u64)))
    }

    /// Upserts the guard rows; returns the pubkeys whose update was newer, with
    /// the kind now stored (for a closure: the kind the account had).
    async fn upsert_accounts(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        updates: &[AccountUpdate],
        decoded: &[Option<Decoded>],
    ) -> Result<HashMap<Vec<u8>, Option<Kind>>> {
        let n = updates.len();
        let mut pubkeys = Vec::with_capacity(n);
        let mut kinds: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        let mut lamports = Vec::with_capacity(n);
        let mut slots = Vec::with_capacity(n);
        let mut write_versions = Vec::with_capacity(n);
        let mut closed_slots: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut data: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        let mut errors: Vec<Option<String>> = Vec::with_capacity(n);
        for (update, decoded) in updates.iter().zip(decoded) {
            let slot = to_i64("slot", update.slot, &update.pubkey)?;
            pubkeys.push(update.pubkey.to_bytes().to_vec());
            owners.push(update.owner.to_bytes().to_vec());
            lamports.push(to_i64("lamports", update.lamports, &update.pubkey)?);
            slots.push(slot);
            write_versions.push(to_i64(
                "write_version",
                update.write_version,
                &update.pubkey,
            )?);
            match decoded {
                None => {
                    kinds.push(None);
                    closed_slots.push(Some(slot));
                    data.push(None);
                    errors.push(None);
                }
                Some(decoded) => {
                    let kind = decoded.kind();
                    kinds.push(Some(kind.as_str()));
                    closed_slots.push(None);
                    // Typed kinds keep their bytes in their own table.
                    data.push(kind.table().is_none().then(|| update.data.clone()));
                    errors.push(match decoded {
                        Decoded::Undecodable(reason) => Some(reason.clone()),
                        _ => None,
                    });
                }
            }
        }
        let rows = sqlx::query(UPSERT_ACCOUNTS)
            .bind(pubkeys)
            .bind(kinds)
            .bind(owners)
            .bind(lamports)
            .bind(slots)
            .bind(write_versions)
            .bind(closed_slots)
            .bind(data)
            .bind(errors)
            .fetch_all(&mut **tx)
            .await?;
        rows.into_iter()
            .map(|row| {
                let pubkey: Vec<u8> = row.try_get(0)?;
                let kind: Option<String> = row.try_get(1)?;
                Ok((pubkey, kind.as_deref().and_then(Kind::parse)))
            })
            .collect()
    }

    /// Pubkeys of program accounts (and vaults) Postgres holds as alive.
    pub async fn live_pubkeys(&self) -> Result<Vec<Pubkey>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT pubkey FROM accounts WHERE closed_slot IS NULL")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|bytes| {
                Pubkey::try_from(bytes.as_slice()).map_err(|_| {
                    Error::Config(format!("accounts holds a {}-byte pubkey", bytes.len()))
                })
            })
            .collect()
    }
}

/// The writes of `live` whose pubkeys fall in `range` (both sorted by pubkey).
fn live_in<'a>(live: &'a [AccountUpdate], range: &[AccountUpdate]) -> &'a [AccountUpdate] {
    let (Some(first), Some(last)) = (range.first(), range.last()) else {
        return &[];
    };
    let start = live.partition_point(|u| u.pubkey < first.pubkey);
    let end = live.partition_point(|u| u.pubkey <= last.pubkey);
    &live[start..end]
}

fn bind_values<'q>(
    query: Query<'q, Postgres, PgArguments>,
    values: Values,
) -> Query<'q, Postgres, PgArguments> {
    match values {
        Values::Bytea(v) => query.bind(v),
        Values::Bool(v) => query.bind(v),
        Values::Int4(v) => query.bind(v),
        Values::Int8(v) => query.bind(v),
        Values::Text(v) => query.bind(v),
    }
}

fn to_i64(what: &'static str, value: u64, pubkey: &Pubkey) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange {
        what,
        value,
        pubkey: *pubkey,
    })
}
