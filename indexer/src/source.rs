//! The Yellowstone gRPC source: program accounts, the vaults, the program's
//! transactions (for closures) and slot statuses, at one commitment, turned
//! into `Event`s on a bounded channel (sending waits when it is full).
//!
//! Closures: a closed account is reported with the System program as owner, so
//! no owner filter matches it, and a pubkey filter does not scale to millions of
//! leases. The program's transactions do: every account a closing instruction
//! empties is a writable key of a transaction that includes the program, with a
//! post-balance of 0. Such a key becomes a closure at (slot, CLOSURE_WRITE_VERSION),
//! ordered after every write of the slot. If the same pubkey also has a live
//! write in that slot (closed and re-created within one slot), the order inside
//! the slot is not known from the stream, so that pubkey is re-read over RPC once
//! the slot completes.
//!
//! Gaps: every completed slot's parent must be the previous completed slot. A
//! break, a silent server (watchdog) or a dropped stream reconnects from the
//! last committed cursor, and so does a start; a cursor older than the
//! server's replay window (OutOfRange) is counted as a gap, backfilled from
//! transaction history and reconciled over RPC.

use crate::{
    error::Result,
    events::{logged_events, program_events, ProgramEvent},
    metrics::Metrics,
    reconcile::Reconciler,
    update::{AccountUpdate, Event, SNAPSHOT_WRITE_VERSION},
    writer::{LeaseEnding, LoggedEvent, Writer},
};
use futures::{SinkExt, StreamExt};
use solana_pubkey::Pubkey;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, SystemTime},
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_request_filter_accounts_filter::Filter as AccountsFilter,
        subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData,
        subscribe_update::UpdateOneof, CommitmentLevel, SlotStatus, SubscribeRequest,
        SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
        SubscribeRequestFilterAccountsFilterMemcmp, SubscribeRequestFilterSlots,
        SubscribeRequestFilterTransactions, SubscribeRequestPing, SubscribeUpdate,
        SubscribeUpdateAccount, SubscribeUpdateTransaction,
    },
    tonic::Code,
};

/// `write_version` of a closure seen in a transaction: after every streamed
/// write of its slot, before an RPC snapshot of that slot.
pub const CLOSURE_WRITE_VERSION: u64 = SNAPSHOT_WRITE_VERSION - 1;

/// Byte offset of the authority (`owner`) field in an SPL token account.
const TOKEN_ACCOUNT_OWNER_OFFSET: u64 = 32;

#[derive(Clone)]
pub struct SourceConfig {
    pub endpoint: String,
    pub x_token: Option<String>,
    pub program_id: Pubkey,
    pub commitment: CommitmentLevel,
    /// Reconnect when nothing (pings included) arrives for this long.
    pub watchdog: Duration,
    /// Transaction size of a reconciliation.
    pub reconcile_chunk: usize,
}

/// What the source does before its next subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// The process started: refresh the live accounts, resume from the cursor.
    Start,
    /// Resume from the committed cursor.
    Resume,
    /// Backfill and reconcile, then stream from the snapshot's slot.
    Reconcile,
}

/// Why one connection ended.
#[derive(Debug)]
pub enum Ended {
    Shutdown,
    /// Reconnect from the committed cursor.
    Reconnect(String),
    /// The server cannot replay from the cursor: reconcile first.
    ReplayUnavailable(String),
}

/// Runs until `shutdown`: reconciles, streams, reconnects. Returns when
/// shutdown is requested (dropping its sender lets the batcher flush and stop).
pub async fn run(
    config: SourceConfig,
    writer: Writer,
    reconciler: Reconciler,
    events: mpsc::Sender<Event>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<()> {
    // First a start: resume from the committed cursor (the server replays
    // what happened while the indexer was down), after refreshing the live
    // accounts; with no cursor, or when the server cannot replay that far,
    // reconcile (which backfills the missing slots from history).
    let mut next = Next::Start;
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let cursor = match next {
            Next::Reconcile => None,
            Next::Start | Next::Resume => match writer.cursor().await {
                Ok(cursor) => cursor,
                Err(err) => {
                    tracing::warn!(%err, "reading the resume cursor failed");
                    if wait(&shutdown, &mut backoff).await {
                        return Ok(());
                    }
                    continue;
                }
            },
        };
        let prepared = match (next, cursor) {
            (Next::Resume, Some(cursor)) => Ok(cursor),
            (Next::Start, Some(cursor)) => reconciler
                .refresh(&writer, config.reconcile_chunk)
                .await
                .map(|_| cursor),
            (_, _) => {
                metrics.reconcile_runs.inc();
                reconciler
                    .reconcile(&writer, config.reconcile_chunk, &metrics)
                    .await
            }
        };
        let from_slot = match prepared {
            Ok(slot) => {
                metrics.observe_committed_slot(slot);
                next = Next::Resume;
                slot
            }
            Err(err) => {
                tracing::warn!(%err, retry_in = ?backoff, "preparing to stream failed");
                if wait(&shutdown, &mut backoff).await {
                    return Ok(());
                }
                continue;
            }
        };
        let connected_at = Instant::now();
        let ended = stream(
            &config,
            from_slot,
            &reconciler,
            &events,
            &metrics,
            &shutdown,
        )
        .await;
        metrics.stream_connected.set(0);
        match ended {
            Ended::Shutdown => return Ok(()),
            Ended::Reconnect(reason) => {
                metrics.reconnects.inc();
                tracing::warn!(from_slot, %reason, "stream ended; resuming from the committed cursor");
            }
            Ended::ReplayUnavailable(reason) => {
                metrics.reconnects.inc();
                metrics.gaps.inc();
                tracing::warn!(from_slot, %reason,
                    "the server cannot replay from the committed cursor: backfilling from \
                     history and reconciling");
                next = Next::Reconcile;
            }
        }
        if connected_at.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        if wait(&shutdown, &mut backoff).await {
            return Ok(());
        }
    }
}

/// Sleeps `backoff` (doubling it, up to 5 s); true if shutdown came first.
async fn wait(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
    let delay = *backoff;
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = shutdown.cancelled() => true,
    }
}

/// The subscription: program accounts, vaults (token accounts whose authority
/// is the market PDA), transactions that include the program, slot statuses.
pub fn subscribe_request(config: &SourceConfig, from_slot: Option<u64>) -> SubscribeRequest {
    let program = config.program_id.to_string();
    let market = Pubkey::find_program_address(&[iomesh::seeds::MARKET], &config.program_id).0;
    let mut request = SubscribeRequest {
        commitment: Some(config.commitment as i32),
        from_slot,
        ..SubscribeRequest::default()
    };
    request.accounts.insert(
        "program".into(),
        SubscribeRequestFilterAccounts {
            owner: vec![program.clone()],
            ..Default::default()
        },
    );
    request.accounts.insert(
        "vaults".into(),
        SubscribeRequestFilterAccounts {
            owner: vec![
                spl_token_interface::ID.to_string(),
                spl_token_2022_interface::ID.to_string(),
            ],
            filters: vec![SubscribeRequestFilterAccountsFilter {
                filter: Some(AccountsFilter::Memcmp(
                    SubscribeRequestFilterAccountsFilterMemcmp {
                        offset: TOKEN_ACCOUNT_OWNER_OFFSET,
                        data: Some(MemcmpData::Bytes(market.to_bytes().to_vec())),
                    },
                )),
            }],
            ..Default::default()
        },
    );
    request.transactions.insert(
        "closures".into(),
        SubscribeRequestFilterTransactions {
            vote: Some(false),
            failed: Some(false),
            account_include: vec![program],
            ..Default::default()
        },
    );
    request.slots.insert(
        "slots".into(),
        SubscribeRequestFilterSlots {
            filter_by_commitment: Some(true),
            interslot_updates: Some(false),
        },
    );
    request
}

/// Per-connection bookkeeping of the slots not yet complete.
#[derive(Default)]
struct Slots {
    /// Pubkeys with a live write, per slot.
    live: BTreeMap<u64, HashSet<Pubkey>>,
    /// Pubkeys closed by a transaction, per slot.
    closed: BTreeMap<u64, HashSet<Pubkey>>,
    /// Pubkeys closed and written in the same slot: re-read when it completes.
    recheck: BTreeMap<u64, HashSet<Pubkey>>,
    last_complete: Option<u64>,
}

impl Slots {
    fn forget_through(&mut self, slot: u64) {
        for map in [&mut self.live, &mut self.closed, &mut self.recheck] {
            *map = map.split_off(&(slot + 1));
        }
    }
}

/// One connection: streams from `from_slot` until it ends (shutdown, a
/// dropped or silent stream, a gap). `run` wraps it with reconnects.
pub async fn stream(
    config: &SourceConfig,
    from_slot: u64,
    reconciler: &Reconciler,
    events: &mpsc::Sender<Event>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Ended {
    let client = GeyserGrpcClient::build_from_shared(config.endpoint.clone())
        .and_then(|builder| builder.x_token(config.x_token.clone()));
    let builder = match client {
        Ok(builder) => builder,
        Err(err) => return Ended::Reconnect(format!("gRPC client: {err}")),
    };
    let mut client = match builder
        .connect_timeout(Duration::from_secs(10))
        .max_decoding_message_size(64 * 1024 * 1024)
        .connect()
        .await
    {
        Ok(client) => client,
        Err(err) => return Ended::Reconnect(format!("connecting: {err}")),
    };
    let (mut sink, mut updates) = match client
        .subscribe_with_request(Some(subscribe_request(config, Some(from_slot))))
        .await
    {
        Ok(pair) => pair,
        Err(yellowstone_grpc_client::GeyserGrpcClientError::TonicStatus(status)) => {
            return classify(status)
        }
        Err(err) => return Ended::Reconnect(format!("subscribing: {err}")),
    };
    tracing::info!(from_slot, endpoint = %config.endpoint, "subscribed");
    metrics.stream_connected.set(1);
    let mut slots = Slots::default();
    // One watchdog timer for the connection, re-armed only when it fires
    // (a timer per message would cost more than decoding the message).
    let mut last_received = Instant::now();
    let watchdog = tokio::time::sleep(config.watchdog);
    tokio::pin!(watchdog);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            _ = &mut watchdog => {
                let due = last_received + config.watchdog;
                if Instant::now() >= due {
                    return Ended::Reconnect(format!(
                        "watchdog: nothing received for {:?}",
                        config.watchdog
                    ));
                }
                watchdog.as_mut().reset(due);
                continue;
            }
            next = updates.next() => next,
        };
        last_received = Instant::now();
        let update = match next {
            None => return Ended::Reconnect("the server closed the stream".into()),
            Some(Err(status)) => return classify(status),
            Some(Ok(update)) => update,
        };
        let created_at = update.created_at.and_then(|t| {
            let nanos = u32::try_from(t.nanos).ok()?;
            let secs = u64::try_from(t.seconds).ok()?;
            Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
        });
        let sent = match update.update_oneof {
            Some(UpdateOneof::Account(account)) => match account_update(account, created_at) {
                Some(update) => {
                    if slots
                        .closed
                        .get(&update.slot)
                        .is_some_and(|c| c.contains(&update.pubkey))
                    {
                        slots
                            .recheck
                            .entry(update.slot)
                            .or_default()
                            .insert(update.pubkey);
                    }
                    slots
                        .live
                        .entry(update.slot)
                        .or_default()
                        .insert(update.pubkey);
                    events.send(Event::Account(update)).await
                }
                None => {
                    tracing::warn!("account update without a valid pubkey; ignored");
                    Ok(())
                }
            },
            Some(UpdateOneof::Transaction(tx)) => {
                let slot = tx.slot;
                let mut result = Ok(());
                let (endings, logged) = logged_in(&config.program_id, &tx);
                for event in endings
                    .into_iter()
                    .map(Event::Ending)
                    .chain(logged.into_iter().map(Event::Logged))
                {
                    result = events.send(event).await;
                    if result.is_err() {
                        break;
                    }
                }
                for pubkey in emptied_writable_keys(&tx) {
                    if slots.live.get(&slot).is_some_and(|l| l.contains(&pubkey)) {
                        slots.recheck.entry(slot).or_default().insert(pubkey);
                    }
                    slots.closed.entry(slot).or_default().insert(pubkey);
                    let closure = AccountUpdate {
                        created_at,
                        ..AccountUpdate::closed(pubkey, slot, CLOSURE_WRITE_VERSION)
                    };
                    result = events.send(Event::Account(closure)).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
            Some(UpdateOneof::Slot(slot_update)) => {
                if slot_update.status != slot_status(config.commitment) as i32 {
                    continue;
                }
                let slot = slot_update.slot;
                metrics.observe_chain_slot(slot);
                if let (Some(last), Some(parent)) = (slots.last_complete, slot_update.parent) {
                    if slot <= last {
                        continue;
                    }
                    if parent != last {
                        return Ended::Reconnect(format!(
                            "slot {slot} has parent {parent} but the last complete slot was {last}: \
                             the stream skipped slots"
                        ));
                    }
                }
                if let Some(pubkeys) = slots.recheck.get(&slot) {
                    let pubkeys: Vec<Pubkey> = pubkeys.iter().copied().collect();
                    tracing::info!(
                        slot,
                        count = pubkeys.len(),
                        "accounts closed and written in one slot; re-reading them over RPC"
                    );
                    match reconciler.accounts(&pubkeys, slot).await {
                        Ok(fresh) => {
                            for update in fresh {
                                if events.send(Event::Account(update)).await.is_err() {
                                    return Ended::Shutdown;
                                }
                            }
                        }
                        Err(err) => {
                            return Ended::Reconnect(format!(
                                "re-reading accounts of slot {slot}: {err}"
                            ))
                        }
                    }
                }
                slots.last_complete = Some(slot);
                slots.forget_through(slot);
                events.send(Event::SlotComplete(slot)).await
            }
            Some(UpdateOneof::Ping(_)) => {
                // Answer with a ping-only request: it does not replace the filters.
                let pong = SubscribeRequest {
                    ping: Some(SubscribeRequestPing { id: 1 }),
                    ..SubscribeRequest::default()
                };
                if let Err(err) = sink.send(pong).await {
                    // The server stopped reading requests because it ended the
                    // subscription; the stream's last item says why, and an
                    // OutOfRange must reach `classify` or the resume loops.
                    return ending_status(&mut updates, config.watchdog)
                        .await
                        .unwrap_or_else(|| Ended::Reconnect(format!("answering a ping: {err}")));
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if sent.is_err() {
            // The batcher is gone: only happens on shutdown.
            return Ended::Shutdown;
        }
    }
}

/// Reads what is left of a stream the server has ended, up to its final
/// status. Updates read here are dropped: the resume starts from the
/// committed cursor, which is before them.
async fn ending_status<S>(updates: &mut S, wait: Duration) -> Option<Ended>
where
    S: futures::Stream<Item = Result<SubscribeUpdate, yellowstone_grpc_proto::tonic::Status>>
        + Unpin,
{
    loop {
        match tokio::time::timeout(wait, updates.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(status))) => return Some(classify(status)),
            Ok(None) | Err(_) => return None,
        }
    }
}

fn classify(status: yellowstone_grpc_proto::tonic::Status) -> Ended {
    let message = status.message().to_owned();
    // Servers before the OutOfRange change said the same with Internal.
    if status.code() == Code::OutOfRange
        || (status.code() == Code::Internal && message.contains("is not available"))
    {
        Ended::ReplayUnavailable(message)
    } else {
        Ended::Reconnect(format!("{:?}: {message}", status.code()))
    }
}

fn slot_status(commitment: CommitmentLevel) -> SlotStatus {
    match commitment {
        CommitmentLevel::Processed => SlotStatus::SlotProcessed,
        CommitmentLevel::Confirmed => SlotStatus::SlotConfirmed,
        CommitmentLevel::Finalized => SlotStatus::SlotFinalized,
    }
}

fn account_update(
    update: SubscribeUpdateAccount,
    created_at: Option<SystemTime>,
) -> Option<AccountUpdate> {
    let account = update.account?;
    Some(AccountUpdate {
        pubkey: Pubkey::try_from(account.pubkey.as_slice()).ok()?,
        slot: update.slot,
        write_version: account.write_version,
        lamports: account.lamports,
        owner: Pubkey::try_from(account.owner.as_slice()).ok()?,
        data: account.data,
        created_at,
    })
}

/// What a streamed transaction logged: its `LeaseEnded` events as lease
/// endings, and every event of the program.
fn logged_in(
    program_id: &Pubkey,
    update: &SubscribeUpdateTransaction,
) -> (Vec<LeaseEnding>, Vec<LoggedEvent>) {
    let Some(info) = &update.transaction else {
        return Default::default();
    };
    let Some(meta) = &info.meta else {
        return Default::default();
    };
    let signature = bs58::encode(&info.signature).into_string();
    let logged = logged_events(
        program_id,
        &meta.log_messages,
        update.slot,
        &signature,
        None,
    );
    let endings = program_events(program_id, &meta.log_messages)
        .into_iter()
        .filter_map(|event| match event {
            ProgramEvent::LeaseEnded(ended) => Some(LeaseEnding::from_event(
                &ended,
                update.slot,
                signature.clone(),
                None,
            )),
            _ => None,
        })
        .collect();
    (endings, logged)
}

/// Whether static key `index` of a message is writable, from its header:
/// signed keys come first (the read-only ones last among them), then the
/// unsigned ones (the read-only ones last).
pub fn is_writable_static_key(
    index: usize,
    keys: usize,
    signed: usize,
    readonly_signed: usize,
    readonly_unsigned: usize,
) -> bool {
    let writable_signed = signed.saturating_sub(readonly_signed);
    let writable_unsigned_end = keys.saturating_sub(readonly_unsigned);
    index < writable_signed || (index >= signed && index < writable_unsigned_end)
}

/// Writable accounts of a transaction left with zero lamports: closed by it.
pub fn emptied_writable_keys(update: &SubscribeUpdateTransaction) -> Vec<Pubkey> {
    let Some(info) = &update.transaction else {
        return Vec::new();
    };
    let (Some(tx), Some(meta)) = (&info.transaction, &info.meta) else {
        return Vec::new();
    };
    let Some(message) = &tx.message else {
        return Vec::new();
    };
    let Some(header) = &message.header else {
        return Vec::new();
    };
    let keys = &message.account_keys;
    let is_writable = |i: usize| {
        is_writable_static_key(
            i,
            keys.len(),
            header.num_required_signatures as usize,
            header.num_readonly_signed_accounts as usize,
            header.num_readonly_unsigned_accounts as usize,
        )
    };
    // Balances follow the static keys, then the loaded writable, then the loaded readonly.
    let writable = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| is_writable(*i))
        .chain(
            meta.loaded_writable_addresses
                .iter()
                .enumerate()
                .map(|(j, key)| (keys.len() + j, key)),
        );
    let mut seen = HashMap::new();
    for (i, key) in writable {
        if meta.post_balances.get(i) == Some(&0) {
            if let Ok(pubkey) = Pubkey::try_from(key.as_slice()) {
                seen.insert(pubkey, ());
            }
        }
    }
    seen.into_keys().collect()
}
