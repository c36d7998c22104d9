//! Backfill from transaction history: what happened while the indexer could
//! not stream (down longer than the gRPC server's replay window). The
//! program's successful transactions of the missing slots come from
//! `getSignaturesForAddress` (paged back to the cursor) and `getTransaction`
//! (fetched with bounded concurrency, applied oldest first). From each one:
//! - the lease events (`LeaseCreated` … `LeaseEnded`) rebuild every lease it
//!   touched, starting from the `LeaseCreated` event or from the live row
//!   Postgres holds; the rebuilt lease is written as a live update at the slot
//!   of its last event, ordered before the closure of that slot;
//! - every writable key left with 0 lamports is a closure (as in the stream);
//! - every `LeaseEnded` becomes a `lease_endings` row.
//!
//! A lease created and closed in the gap thus lands as a tombstone holding
//! its final amounts. Progress (`indexer_backfill.done_slot`) commits in the
//! same transaction as the rows, at slot boundaries, so a backfill cut short
//! resumes where it stopped. Slots the RPC no longer has (before its
//! `minimumLedgerSlot`) are recorded in `indexer_gaps`.

use crate::{
    error::{Error, Result},
    events::{logged_events, program_events, ProgramEvent},
    metrics::Metrics,
    source::{is_writable_static_key, CLOSURE_WRITE_VERSION},
    update::AccountUpdate,
    writer::{LeaseEnding, LoggedEvent, Writer},
};
use anchor_lang::{AccountDeserialize, AccountSerialize};
use futures::StreamExt;
use iomesh::state::{AccountSpace, Lease, LeaseStatus, ACCOUNT_VERSION};
use serde::Deserialize;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::request::RpcRequest;
use std::{
    collections::{hash_map::Entry, HashMap, HashSet},
    str::FromStr,
    time::Duration,
};

/// Signatures per `getSignaturesForAddress` page (the RPC's maximum).
const SIGNATURES_PAGE: usize = 1_000;

/// `write_version` of a lease rebuilt from events: after every streamed write
/// of its slot, before the closure seen in the same slot.
const REBUILT_WRITE_VERSION: u64 = CLOSURE_WRITE_VERSION - 1;

/// What one backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackfillReport {
    pub transactions: usize,
    /// Leases rebuilt from their events and closed in the backfilled slots.
    pub leases_closed: usize,
    pub closures: usize,
    /// Slots whose history the RPC no longer had: `[from, to]`.
    pub gap: Option<(u64, u64)>,
}

pub struct History {
    rpc: RpcClient,
    program_id: Pubkey,
    commitment: CommitmentConfig,
    /// `getTransaction` requests in flight at once.
    concurrency: usize,
    /// Transactions applied per Postgres transaction (rounded up to a slot).
    chunk: usize,
}

/// A `getSignaturesForAddress` entry.
#[derive(Deserialize)]
struct SignatureInfo {
    signature: String,
    slot: u64,
    err: Option<serde_json::Value>,
}

/// The parts of a `getTransaction` (json encoding) the backfill reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchedTransaction {
    slot: u64,
    block_time: Option<i64>,
    meta: Option<Meta>,
    transaction: UiTransaction,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    err: Option<serde_json::Value>,
    #[serde(default)]
    log_messages: Option<Vec<String>>,
    pre_balances: Vec<u64>,
    post_balances: Vec<u64>,
    #[serde(default)]
    loaded_addresses: Option<LoadedAddresses>,
}

#[derive(Deserialize, Default)]
struct LoadedAddresses {
    #[serde(default)]
    writable: Vec<String>,
}

#[derive(Deserialize)]
struct UiTransaction {
    message: UiMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UiMessage {
    account_keys: Vec<String>,
    header: Header,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    num_required_signatures: usize,
    num_readonly_signed_accounts: usize,
    num_readonly_unsigned_accounts: usize,
}

impl FetchedTransaction {
    /// Writable keys (static, then loaded) with their balances before and after.
    fn writable_balances(&self) -> Vec<(Pubkey, u64, u64)> {
        let Some(meta) = &self.meta else {
            return Vec::new();
        };
        let message = &self.transaction.message;
        let keys = &message.account_keys;
        let header = &message.header;
        let is_writable = |i: usize| {
            is_writable_static_key(
                i,
                keys.len(),
                header.num_required_signatures,
                header.num_readonly_signed_accounts,
                header.num_readonly_unsigned_accounts,
            )
        };
        let loaded = meta
            .loaded_addresses
            .as_ref()
            .map(|l| l.writable.as_slice())
            .unwrap_or_default();
        keys.iter()
            .enumerate()
            .filter(|(i, _)| is_writable(*i))
            .chain(loaded.iter().enumerate().map(|(j, k)| (keys.len() + j, k)))
            .filter_map(|(i, key)| {
                Some((
                    Pubkey::from_str(key).ok()?,
                    *meta.pre_balances.get(i)?,
                    *meta.post_balances.get(i)?,
                ))
            })
            .collect()
    }
}

/// A lease being rebuilt: its state after the newest event applied.
struct Rebuilt {
    lease: Lease,
    lamports: u64,
    slot: u64,
}

/// What one chunk of slots writes.
#[derive(Default)]
struct Chunk {
    rebuilt: HashSet<Pubkey>,
    closures: HashMap<Pubkey, u64>,
    endings: Vec<LeaseEnding>,
    events: Vec<LoggedEvent>,
    transactions: usize,
    last_slot: Option<u64>,
}

impl History {
    /// The JSON-RPC client history is read with.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    pub fn new(rpc_url: String, program_id: Pubkey, commitment: CommitmentConfig) -> Self {
        Self {
            rpc: RpcClient::new_with_timeout_and_commitment(
                rpc_url,
                Duration::from_secs(60),
                commitment,
            ),
            program_id,
            commitment,
            concurrency: 8,
            chunk: 256,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: RpcRequest,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<T> {
        self.rpc
            .send(request, params)
            .await
            .map_err(|source| Error::Rpc {
                method,
                source: Box::new(source),
            })
    }

    /// The program's successful transactions in slots `(after, through]`,
    /// oldest first, and whether the history reached back past `after`.
    async fn signatures(&self, after: u64, through: u64) -> Result<(Vec<(String, u64)>, bool)> {
        let mut found = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut config = serde_json::json!({
                "limit": SIGNATURES_PAGE,
                "commitment": self.commitment.commitment.to_string(),
            });
            if let Some(before) = &before {
                config["before"] = before.clone().into();
            }
            let page: Vec<SignatureInfo> = self
                .call(
                    RpcRequest::GetSignaturesForAddress,
                    "getSignaturesForAddress",
                    serde_json::json!([self.program_id.to_string(), config]),
                )
                .await?;
            let full = page.len() == SIGNATURES_PAGE;
            before = page.last().map(|s| s.signature.clone());
            for info in page {
                if info.slot <= after {
                    found.reverse();
                    return Ok((found, true));
                }
                if info.slot <= through && info.err.is_none() {
                    found.push((info.signature, info.slot));
                }
            }
            if !full {
                found.reverse();
                return Ok((found, false));
            }
        }
    }

    async fn transaction(&self, signature: &str) -> Result<FetchedTransaction> {
        let fetched: Option<FetchedTransaction> = self
            .call(
                RpcRequest::GetTransaction,
                "getTransaction",
                serde_json::json!([signature, {
                    "encoding": "json",
                    "maxSupportedTransactionVersion": 0,
                    "commitment": self.commitment.commitment.to_string(),
                }]),
            )
            .await?;
        fetched.ok_or_else(|| {
            Error::Config(format!(
                "getTransaction: {signature} was listed by getSignaturesForAddress but is gone"
            ))
        })
    }

    /// The oldest slot whose history the RPC still has.
    async fn first_complete_slot(&self) -> Result<u64> {
        self.call(
            RpcRequest::MinimumLedgerSlot,
            "minimumLedgerSlot",
            serde_json::Value::Null,
        )
        .await
    }

    async fn block_time(&self, slot: u64) -> Option<i64> {
        self.call(
            RpcRequest::GetBlockTime,
            "getBlockTime",
            serde_json::json!([slot]),
        )
        .await
        .ok()
    }

    /// Applies the history of slots `(after, through]` (resuming a backfill of
    /// the same `after` cut short); records what the RPC no longer has as a gap.
    pub async fn backfill(
        &self,
        writer: &Writer,
        metrics: &Metrics,
        after: u64,
        through: u64,
    ) -> Result<BackfillReport> {
        let done = writer.backfill_start(after, through).await?;
        let mut report = BackfillReport::default();
        metrics.backfills.inc();
        metrics
            .backfill_remaining_slots
            .set(slots(through.saturating_sub(done)));
        let (signatures, reached) = self.signatures(done, through).await?;
        tracing::info!(
            after,
            done,
            through,
            transactions = signatures.len(),
            "backfilling the program's transactions from history"
        );
        if !reached {
            let first = self.first_complete_slot().await?;
            if first > done + 1 {
                let gap = (done + 1, first.saturating_sub(1).min(through));
                let from_time = match self.block_time(done).await {
                    Some(time) => time,
                    None => writer.cursor_time().await?.saturating_sub(60),
                };
                let to_time = match self.block_time(first).await {
                    Some(time) => time,
                    None => writer.now().await?,
                };
                writer
                    .record_gap(
                        gap,
                        (from_time, to_time),
                        &format!(
                            "the RPC's history starts at slot {first}; slots {}..={} are pruned",
                            gap.0, gap.1
                        ),
                    )
                    .await?;
                metrics.history_gaps.inc();
                metrics.history_gap_slots.inc_by(gap.1 - gap.0 + 1);
                tracing::error!(
                    from_slot = gap.0,
                    to_slot = gap.1,
                    "history gap: these slots can no longer be recovered"
                );
                report.gap = Some(gap);
            }
        }

        let mut leases: HashMap<Pubkey, Rebuilt> = HashMap::new();
        let mut chunk = Chunk::default();
        // Owned items: a closure over borrowed ones is not `Send` enough for
        // the spawned source task.
        let owned: Vec<(usize, String)> = signatures
            .iter()
            .enumerate()
            .map(|(i, (signature, _))| (i, signature.clone()))
            .collect();
        let mut fetched = futures::stream::iter(owned)
            .map(|(i, signature)| async move { (i, self.transaction(&signature).await) })
            .buffered(self.concurrency.max(1));
        while let Some((i, result)) = fetched.next().await {
            let (signature, slot) = &signatures[i];
            let tx = result?;
            // A chunk ends at a slot boundary: progress means "every
            // transaction of slots up to done_slot is applied".
            if chunk.transactions >= self.chunk && chunk.last_slot != Some(*slot) {
                self.commit(
                    writer,
                    metrics,
                    &mut leases,
                    &mut chunk,
                    &mut report,
                    through,
                )
                .await?;
            }
            self.apply(writer, &mut leases, &mut chunk, signature, &tx)
                .await?;
            chunk.last_slot = Some(*slot);
        }
        // Every transaction of the slots up to `through` is applied.
        chunk.last_slot = Some(through);
        self.commit(
            writer,
            metrics,
            &mut leases,
            &mut chunk,
            &mut report,
            through,
        )
        .await?;
        metrics.backfill_remaining_slots.set(0);
        tracing::info!(
            transactions = report.transactions,
            leases_closed = report.leases_closed,
            closures = report.closures,
            "backfill done"
        );
        Ok(report)
    }

    /// Folds one transaction into the leases being rebuilt and the chunk.
    async fn apply(
        &self,
        writer: &Writer,
        leases: &mut HashMap<Pubkey, Rebuilt>,
        chunk: &mut Chunk,
        signature: &str,
        tx: &FetchedTransaction,
    ) -> Result<()> {
        chunk.transactions += 1;
        let Some(meta) = &tx.meta else {
            return Ok(());
        };
        if meta.err.is_some() {
            return Ok(());
        }
        let logs = meta.log_messages.as_deref().unwrap_or_default();
        let balances = tx.writable_balances();
        chunk.events.extend(logged_events(
            &self.program_id,
            logs,
            tx.slot,
            signature,
            tx.block_time,
        ));
        for event in program_events(&self.program_id, logs) {
            let pubkey = event.lease();
            if let ProgramEvent::LeaseEnded(ended) = &event {
                chunk.endings.push(LeaseEnding::from_event(
                    ended,
                    tx.slot,
                    signature.to_owned(),
                    tx.block_time,
                ));
            }
            let rebuilt = match (leases.entry(pubkey), &event) {
                // A new lease (or its address reused after the old one closed).
                (entry, ProgramEvent::LeaseCreated(created)) => {
                    let created = Rebuilt {
                        lease: created_lease(&self.program_id, created),
                        lamports: 0,
                        slot: tx.slot,
                    };
                    entry.insert_entry(created).into_mut()
                }
                (Entry::Occupied(held), _) => held.into_mut(),
                (Entry::Vacant(vacant), _) => match writer.live_lease(&pubkey).await? {
                    Some((data, lamports, slot)) if slot < tx.slot => {
                        let lease =
                            Lease::try_deserialize(&mut data.as_slice()).map_err(|err| {
                                Error::Config(format!(
                                    "leases.data of {pubkey} does not decode: {err}"
                                ))
                            })?;
                        vacant.insert(Rebuilt {
                            lease,
                            lamports,
                            slot,
                        })
                    }
                    // Neither created in the history read nor known alive:
                    // only its closure can be recorded.
                    _ => continue,
                },
            };
            rebuilt.slot = tx.slot;
            apply_event(&mut rebuilt.lease, &event);
            chunk.rebuilt.insert(pubkey);
        }
        for (pubkey, pre, post) in balances {
            if let Some(rebuilt) = leases.get_mut(&pubkey) {
                // A closed lease keeps the lamports it had before closing.
                rebuilt.lamports = if post > 0 { post } else { pre };
            }
            if post == 0 {
                chunk.closures.insert(pubkey, tx.slot);
            }
        }
        Ok(())
    }

    /// Commits a chunk: rebuilt leases, then closures, the endings and the
    /// progress, in one Postgres transaction.
    async fn commit(
        &self,
        writer: &Writer,
        metrics: &Metrics,
        leases: &mut HashMap<Pubkey, Rebuilt>,
        chunk: &mut Chunk,
        report: &mut BackfillReport,
        through: u64,
    ) -> Result<()> {
        let chunk = std::mem::take(chunk);
        let Some(done) = chunk.last_slot else {
            return Ok(());
        };
        let mut states = Vec::with_capacity(chunk.rebuilt.len());
        for pubkey in &chunk.rebuilt {
            let rebuilt = &leases[pubkey];
            let mut data = Vec::with_capacity(Lease::SPACE);
            rebuilt.lease.try_serialize(&mut data).map_err(|err| {
                Error::Config(format!("encoding the rebuilt lease {pubkey}: {err}"))
            })?;
            states.push(AccountUpdate {
                pubkey: *pubkey,
                slot: rebuilt.slot,
                write_version: REBUILT_WRITE_VERSION,
                // A lease always holds its rent; 1 if the history did not say.
                lamports: rebuilt.lamports.max(1),
                owner: self.program_id,
                data,
                created_at: None,
            });
        }
        let closures: Vec<AccountUpdate> = chunk
            .closures
            .iter()
            .map(|(pubkey, slot)| AccountUpdate::closed(*pubkey, *slot, CLOSURE_WRITE_VERSION))
            .collect();
        let leases_closed = chunk
            .closures
            .keys()
            .filter(|p| chunk.rebuilt.contains(p))
            .count();
        writer
            .write_history(&[&states, &closures], &chunk.endings, &chunk.events, done)
            .await?;
        for pubkey in chunk.closures.keys() {
            leases.remove(pubkey);
        }
        report.transactions += chunk.transactions;
        report.closures += closures.len();
        report.leases_closed += leases_closed;
        metrics
            .backfill_transactions
            .inc_by(chunk.transactions as u64);
        metrics
            .backfill_remaining_slots
            .set(slots(through.saturating_sub(done)));
        tracing::info!(
            done_slot = done,
            through,
            transactions = report.transactions,
            "backfill progress"
        );
        Ok(())
    }
}

fn slots(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The lease a `LeaseCreated` event describes, as the program stored it.
fn created_lease(program_id: &Pubkey, e: &iomesh::events::LeaseCreated) -> Lease {
    let bump = Pubkey::find_program_address(
        &[
            iomesh::seeds::LEASE,
            e.renter.as_ref(),
            &e.nonce.to_le_bytes(),
        ],
        program_id,
    )
    .1;
    Lease {
        version: ACCOUNT_VERSION,
        bump,
        status: LeaseStatus::Pending,
        fee_bps: e.fee_bps,
        gpus: e.gpus,
        renter: e.renter,
        payer: e.payer,
        node: e.node,
        mint: e.mint,
        nonce: e.nonce,
        rate_per_gpu_hour: e.rate_per_gpu_hour,
        deposited: e.deposited,
        paid_out: 0,
        created_at: e.created_at,
        activated_at: 0,
        settled_until: 0,
        duration_secs: e.duration_secs,
        job_spec_hash: e.job_spec_hash,
        in_cluster: e.in_cluster,
        cluster_nonce: e.cluster_nonce,
        cluster_funding_deadline: e.cluster_funding_deadline,
        reserved: [0; 132],
    }
}

/// What the instruction that logged `event` did to the lease. Amounts
/// saturate: events come from the program, which checked them.
fn apply_event(lease: &mut Lease, event: &ProgramEvent) {
    match event {
        ProgramEvent::LeaseCreated(_) => {}
        ProgramEvent::LeaseActivated(e) => {
            lease.status = LeaseStatus::Active;
            lease.activated_at = e.activated_at;
            lease.settled_until = e.activated_at;
        }
        ProgramEvent::LeaseSettled(e) => {
            lease.paid_out = lease
                .paid_out
                .saturating_add(e.supplier_amount)
                .saturating_add(e.fee_amount);
            lease.settled_until = e.settled_until;
        }
        ProgramEvent::LeaseExtended(e) => {
            lease.duration_secs = e.duration_secs;
            lease.deposited = lease.deposited.saturating_add(e.added_deposit);
        }
        ProgramEvent::LeaseEnded(e) => {
            lease.paid_out = e.paid_out;
            if e.billed_until > 0 {
                lease.settled_until = e.billed_until;
            }
        }
    }
}
