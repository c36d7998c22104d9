//! The indexer's history across restarts: leases created and closed while it
//! was down are in Postgres afterwards, streamed again from the cursor
//! (within the gRPC replay window) or backfilled from transaction history
//! (beyond it); history the RPC no longer has is recorded as a gap.

use crate::faults;
use anchor_lang::AccountDeserialize;
use iomesh::state::Lease;
use iomesh_tests::{chain::*, indexer::*};
use solana_pubkey::Pubkey;
use sqlx::{PgPool, Row};
use std::{sync::Arc, time::Duration};

/// Leases that live and die while the indexer is down, each with its account
/// as the chain held it just before it closed.
async fn leases_come_and_go(
    chain: &Chain,
    node: &TestNode,
    renter: &solana_keypair::Keypair,
    nonces: std::ops::Range<u64>,
) -> Vec<(Pubkey, Lease)> {
    let mut closed = Vec::new();
    for nonce in nonces {
        let lease = chain.create_lease(node, renter, nonce, 1).await;
        if nonce % 2 == 0 {
            chain.activate(node, lease).await;
        }
        let account = chain.rpc.get_account(&lease).await.unwrap();
        let before = Lease::try_deserialize(&mut account.data.as_slice()).unwrap();
        chain.cancel(node, renter, lease).await;
        closed.push((lease, before));
    }
    closed
}

/// Each lease is a closed row in `leases` with the values it had on chain.
async fn assert_closed_rows(pool: &PgPool, leases: &[(Pubkey, Lease)]) {
    for (pubkey, lease) in leases {
        let row = sqlx::query(
            "SELECT renter, node, nonce::text, gpus, deposited::text, rate_per_gpu_hour::text, \
                    created_at, activated_at, duration_secs, job_spec_hash, fee_bps, closed_slot \
             FROM leases WHERE pubkey = $1",
        )
        .bind(pubkey.as_ref())
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("lease {pubkey} has no row in leases"));
        let closed: Option<i64> = row.get(11);
        assert!(closed.is_some(), "lease {pubkey} is not closed in Postgres");
        assert_eq!(row.get::<Vec<u8>, _>(0), lease.renter.to_bytes().to_vec());
        assert_eq!(row.get::<Vec<u8>, _>(1), lease.node.to_bytes().to_vec());
        assert_eq!(row.get::<String, _>(2), lease.nonce.to_string());
        assert_eq!(row.get::<i32, _>(3), i32::from(lease.gpus));
        assert_eq!(
            row.get::<String, _>(4),
            lease.deposited.to_string(),
            "{pubkey}"
        );
        assert_eq!(row.get::<String, _>(5), lease.rate_per_gpu_hour.to_string());
        assert_eq!(row.get::<i64, _>(6), lease.created_at);
        assert_eq!(row.get::<i64, _>(7), lease.activated_at, "{pubkey}");
        assert_eq!(row.get::<i64, _>(8), i64::from(lease.duration_secs));
        assert_eq!(row.get::<Vec<u8>, _>(9), lease.job_spec_hash.to_vec());
        assert_eq!(row.get::<i32, _>(10), i32::from(lease.fee_bps));
    }
}

/// Each lease has its `LeaseEnded` recorded at its closed slot: cancelled,
/// the escrow split exactly between payout and refund. A backfilled
/// tombstone holds the final paid_out (`final_row`); a streamed one keeps the
/// values from before the closing instruction, so it is not compared.
async fn assert_endings(pool: &PgPool, leases: &[(Pubkey, Lease)], final_row: bool) {
    for (pubkey, lease) in leases {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT e.reason, e.paid_out::text, e.refunded::text, l.paid_out::text \
             FROM lease_endings e JOIN leases l ON l.pubkey = e.lease AND l.closed_slot = e.slot \
             WHERE e.lease = $1",
        )
        .bind(pubkey.as_ref())
        .fetch_optional(pool)
        .await
        .unwrap();
        let (reason, paid, refunded, row_paid) =
            row.unwrap_or_else(|| panic!("lease {pubkey} has no ending at its closed slot"));
        assert_eq!(reason, "cancelled");
        let total = paid.parse::<u64>().unwrap() + refunded.parse::<u64>().unwrap();
        assert_eq!(total, lease.deposited, "{pubkey}");
        if final_row {
            assert_eq!(row_paid, paid, "{pubkey}");
        }
    }
}

/// Each lease's events are in `program_events`, decoded: its creation with
/// the deposit it made, its activation if it had one, and its ending, which
/// splits the deposit exactly. `backfilled`: the ending came from history,
/// which tells the block's time. No event of the program failed to decode.
pub async fn assert_lease_events(pool: &PgPool, leases: &[(Pubkey, Lease)], backfilled: bool) {
    for (pubkey, lease) in leases {
        let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT name, fields::text, block_time FROM program_events \
             WHERE fields ->> 'lease' = $1 ORDER BY name",
        )
        .bind(pubkey.to_string())
        .fetch_all(pool)
        .await
        .unwrap();
        let rows: Vec<(String, serde_json::Value, Option<i64>)> = rows
            .into_iter()
            .map(|(name, fields, time)| (name, serde_json::from_str(&fields).unwrap(), time))
            .collect();
        let mut names: Vec<&str> = rows.iter().map(|(name, ..)| name.as_str()).collect();
        // Cancelling an active lease first settles what it accrued.
        names.dedup_by(|a, b| *a == "LeaseSettled" && a == b);
        let expected: &[&str] = if lease.activated_at == 0 {
            &["LeaseCreated", "LeaseEnded"]
        } else {
            &[
                "LeaseActivated",
                "LeaseCreated",
                "LeaseEnded",
                "LeaseSettled",
            ]
        };
        assert_eq!(names, expected, "events of lease {pubkey}");
        let field = |name: &str, field: &str| {
            let (_, fields, _) = rows.iter().find(|(n, ..)| n == name).unwrap();
            fields[field].clone()
        };
        assert_eq!(field("LeaseCreated", "deposited"), lease.deposited);
        assert_eq!(field("LeaseCreated", "renter"), lease.renter.to_string());
        assert_eq!(field("LeaseCreated", "nonce"), lease.nonce);
        assert_eq!(field("LeaseEnded", "reason"), "Cancelled");
        let paid = field("LeaseEnded", "paid_out").as_u64().unwrap();
        let refunded = field("LeaseEnded", "refunded").as_u64().unwrap();
        assert_eq!(paid + refunded, lease.deposited, "{pubkey}");
        if backfilled {
            let (.., block_time) = rows.iter().find(|(n, ..)| n == "LeaseEnded").unwrap();
            assert!(
                block_time.is_some(),
                "a backfilled ending knows its block time"
            );
        }
    }
    let undecoded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM program_events WHERE name IS NULL OR decode_error IS NOT NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        undecoded, 0,
        "every event of the program decodes with its IDL"
    );
}

async fn confirmed_past(chain: &Chain, slot: u64) {
    while chain.localnet.slots().confirmed < slot {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the restarted indexer's cursor passes `slot`: everything of
/// the outage is then applied (streamed again, or backfilled and reconciled).
async fn caught_up(indexer: &Indexer, slot: u64) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while (indexer.metrics.committed_slot.get() as u64) < slot {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the indexer's cursor never passed slot {slot}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cursor(pool: &PgPool) -> u64 {
    let slot: i64 = sqlx::query_scalar("SELECT slot FROM indexer_cursor WHERE id = 'test'")
        .fetch_one(pool)
        .await
        .unwrap();
    slot as u64
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn leases_born_and_closed_while_down_stream_again_from_the_cursor(pool: PgPool) {
    // A replay window (100 s) far longer than the outage.
    let chain = Chain::start_with(|c| c.grpc_replay_slots = 2_000).await;
    let node = chain.register_node(16).await;
    let renter = chain.renter(10_000).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;
    indexer.stop().await;

    let closed = leases_come_and_go(&chain, &node, &renter, 0..4).await;
    let outage_end = chain.localnet.slots().confirmed;
    let restarted = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    caught_up(&restarted, outage_end).await;
    wait_until_postgres_matches_chain(&pool, &chain).await;
    assert_closed_rows(&pool, &closed).await;
    // The endings came with the replayed transactions.
    assert_endings(&pool, &closed, false).await;
    assert_lease_events(&pool, &closed, false).await;
    assert_eq!(
        restarted.metrics.gaps.get(),
        0,
        "the server replayed the outage"
    );
    assert_eq!(
        restarted.metrics.reconcile_runs.get(),
        0,
        "nothing to reconcile"
    );
    assert_eq!(restarted.metrics.backfills.get(), 0, "nothing to backfill");
    restarted.stop().await;
    chain.localnet.shutdown().await;
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn leases_born_and_closed_beyond_the_replay_window_are_backfilled(pool: PgPool) {
    // A replay window of 10 slots (0.5 s).
    let chain = Chain::start_with(|c| c.grpc_replay_slots = 10).await;
    let node = chain.register_node(16).await;
    let renter = chain.renter(10_000).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    // One lease Postgres sees alive before the outage, closed during it.
    let seen = chain.create_lease(&node, &renter, 100, 1).await;
    chain.activate(&node, seen).await;
    wait_until_postgres_matches_chain(&pool, &chain).await;
    indexer.stop().await;
    let down_at = cursor(&pool).await;

    let account = chain.rpc.get_account(&seen).await.unwrap();
    let seen_before = Lease::try_deserialize(&mut account.data.as_slice()).unwrap();
    chain.cancel(&node, &renter, seen).await;
    let mut closed = leases_come_and_go(&chain, &node, &renter, 0..6).await;
    closed.push((seen, seen_before));
    // And one born in the outage that is still alive.
    chain.create_lease(&node, &renter, 50, 2).await;
    confirmed_past(&chain, down_at + 40).await;

    let restarted = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    caught_up(&restarted, down_at + 40).await;
    wait_until_postgres_matches_chain(&pool, &chain).await;
    assert_closed_rows(&pool, &closed).await;
    assert_endings(&pool, &closed, true).await;
    assert_lease_events(&pool, &closed, true).await;
    let m = &restarted.metrics;
    assert!(m.gaps.get() >= 1, "the server could not replay the outage");
    assert!(m.backfills.get() >= 1, "so it was backfilled");
    // Each closed lease took at least a create and a cancel.
    assert!(m.backfill_transactions.get() >= 2 * closed.len() as u64);
    assert_eq!(m.history_gaps.get(), 0);
    let gaps: i64 = sqlx::query_scalar("SELECT count(*) FROM indexer_gaps")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(gaps, 0, "the whole history was there");
    let (from, done): (i64, i64) = sqlx::query_as(
        "SELECT from_slot, done_slot FROM indexer_backfill WHERE cursor_id = 'test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        from as u64 >= down_at && done > from,
        "progress {from}..{done}"
    );
    restarted.stop().await;
    chain.localnet.shutdown().await;
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn history_the_rpc_no_longer_has_is_recorded_as_a_gap(pool: PgPool) {
    // A short replay window and a ledger that keeps only 4 transactions.
    let chain = Chain::start_with(|c| {
        c.grpc_replay_slots = 10;
        c.ledger_capacity = 4;
    })
    .await;
    let node = chain.register_node(16).await;
    let renter = chain.renter(10_000).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;
    indexer.stop().await;
    let down_at = cursor(&pool).await;
    let first_lost = unix_now();

    let lost = leases_come_and_go(&chain, &node, &renter, 0..4).await;
    confirmed_past(&chain, down_at + 40).await;
    let restarted = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    caught_up(&restarted, down_at + 40).await;
    // The live accounts still match the chain (the reconcile's safety net).
    wait_until_postgres_matches_chain(&pool, &chain).await;
    assert!(restarted.metrics.history_gaps.get() >= 1);
    assert!(restarted.metrics.history_gap_slots.get() >= 1);
    let row = sqlx::query(
        "SELECT from_slot, to_slot, from_time, to_time, reason FROM indexer_gaps \
         WHERE cursor_id = 'test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (from_slot, to_slot): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        from_slot as u64,
        down_at + 1,
        "the gap starts after the cursor"
    );
    assert!(to_slot >= from_slot);
    // In time, it covers the outage, so an epoch over it overlaps the gap.
    let (from_time, to_time): (i64, i64) = (row.get(2), row.get(3));
    assert!(
        from_time <= first_lost && to_time >= first_lost,
        "{from_time}..{to_time}"
    );
    assert!(row.get::<String, _>(4).contains("pruned"));
    // The leases lost in the gap are the ones the ledger no longer had: they
    // may be missing, which is what the gap says.
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM leases WHERE pubkey = ANY($1)")
        .bind(
            lost.iter()
                .map(|(p, _)| p.to_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!((known as usize) < lost.len(), "the ledger kept every lease");
    restarted.stop().await;
    chain.localnet.shutdown().await;
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn a_restart_loop_under_load_loses_no_lease(pool: PgPool) {
    // A replay window of 1 s: some restarts resume, longer outages backfill.
    let chain = Arc::new(Chain::start_with(|c| c.grpc_replay_slots = 20).await);
    let url = faults::database_url(&pool).await;
    let node = chain.register_node(64).await;
    let renter = chain.renter(100_000).await;

    // Leases come and go the whole time: every third one stays.
    let load = {
        let chain = chain.clone();
        let renter = renter.insecure_clone();
        tokio::spawn(async move {
            let mut created = Vec::new();
            for nonce in 0..40u64 {
                let lease = chain.create_lease(&node, &renter, nonce, 1).await;
                if nonce % 3 != 0 {
                    if nonce % 2 == 0 {
                        chain.activate(&node, lease).await;
                    }
                    chain.cancel(&node, &renter, lease).await;
                }
                created.push((lease, nonce % 3 != 0));
            }
            created
        })
    };
    // Kills at fixed moments in CI: up between 300 and 1,000 ms, down
    // between 200 and 2,400 ms. `scripts/explore` sets a random seed instead.
    let mut schedule = KillSchedule::from_env();
    let mut round = 0u64;
    while !load.is_finished() {
        let (up, down) = schedule.next(round);
        let mut child = faults::spawn_binary(&url, &chain);
        tokio::time::sleep(up).await;
        child.kill().await.expect("SIGKILL");
        tokio::time::sleep(down).await;
        round += 1;
    }
    let created = load.await.unwrap();
    let _child = faults::spawn_binary(&url, &chain);
    wait_until_postgres_matches_chain(&pool, &chain).await;

    let mut closed_ok = 0;
    let mut missing = Vec::new();
    for (lease, closed) in &created {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT closed_slot FROM leases WHERE pubkey = $1")
                .bind(lease.as_ref())
                .fetch_optional(&pool)
                .await
                .unwrap();
        match row {
            None => missing.push(*lease),
            Some(closed_slot) => {
                assert_eq!(closed_slot.is_some(), *closed, "lease {lease}");
                closed_ok += usize::from(*closed);
            }
        }
    }
    let closed_total = created.iter().filter(|(_, c)| *c).count();
    println!(
        "kill loop: {} restarts, {} leases created, {} closed, {} indexed, {} missing",
        round + 1,
        created.len(),
        closed_total,
        created.len() - missing.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "leases missing from Postgres: {missing:?}"
    );
    assert_eq!(closed_ok, closed_total);
}

/// How long the indexer stays up and down in each round of the kill loop:
/// a fixed cycle, or random from `IOMESH_KILL_LOOP_SEED` (exploration).
struct KillSchedule {
    seed: Option<u64>,
}

impl KillSchedule {
    fn from_env() -> Self {
        let seed = std::env::var("IOMESH_KILL_LOOP_SEED")
            .ok()
            .map(|s| s.parse::<u64>().expect("IOMESH_KILL_LOOP_SEED is a number"));
        if let Some(seed) = seed {
            println!("kill loop: seed {seed}");
        }
        // xorshift never leaves 0.
        Self {
            seed: seed.map(|s| s | 1),
        }
    }

    fn next(&mut self, round: u64) -> (Duration, Duration) {
        let ms = Duration::from_millis;
        match &mut self.seed {
            None => (ms(300 + 100 * (round % 8)), ms(200 + 550 * (round % 5))),
            Some(state) => {
                // xorshift64: enough spread for timings.
                let mut draw = |limit: u64| {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    *state % limit
                };
                (ms(50 + draw(1_500)), ms(draw(3_000)))
            }
        }
    }
}
