//! The epoch reward job against indexed rows written by the indexer's Writer
//! and uptime minutes as the scheduler records them.

use crate::common::*;
use iomesh::state::{encode_text, LeaseStatus};
use iomesh_rewards::EpochFile;
use iomesh_scheduler::rewards::{check_history, compute, ClassWeights, EpochRewards, NodeReward};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;

/// Window start: a minute boundary.
const T: i64 = 1_700_000_040;
const HOUR: i64 = 3_600;

struct Fixture {
    chain: Chain,
}

impl Fixture {
    async fn new(pool: &PgPool, stake_per_gpu: u64) -> Self {
        let chain = Chain::new(pool).await;
        let mut market = market();
        market.stake_per_gpu = stake_per_gpu;
        chain
            .write(vec![(iomesh_client::pda::market(), encode(&market))])
            .await;
        Fixture { chain }
    }

    /// A node of `model` with `gpus` GPUs and `staked` IO; returns (node, owner).
    async fn node(&self, model: &str, gpus: u16, staked: u64) -> (Pubkey, Pubkey) {
        let operator = Pubkey::new_unique();
        let address = iomesh_client::pda::node(&operator);
        let mut n = node(&operator, gpus);
        n.gpu_model = encode_text::<32>(model).unwrap();
        n.staked = staked;
        self.chain.write(vec![(address, encode(&n))]).await;
        (address, n.owner)
    }

    /// An active lease of `gpus` on `node`, settled over [activated_at, settled_until].
    async fn lease(
        &self,
        node: &Pubkey,
        gpus: u16,
        activated_at: i64,
        settled_until: i64,
    ) -> Pubkey {
        let renter = Pubkey::new_unique();
        let address = iomesh_client::pda::lease(&renter, 1);
        let mut l = lease(&renter, node, 1, [7; 32]);
        l.status = LeaseStatus::Active;
        l.gpus = gpus;
        l.activated_at = activated_at;
        l.settled_until = settled_until;
        self.chain.write(vec![(address, encode(&l))]).await;
        address
    }
}

fn line<'a>(rewards: &'a EpochRewards, node: &Pubkey) -> &'a NodeReward {
    rewards
        .nodes
        .iter()
        .find(|n| n.node == *node)
        .unwrap_or_else(|| panic!("node {node} missing from {:?}", rewards.nodes))
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn epoch_allocation_is_exact_and_the_file_verifies(pool: PgPool) {
    let f = Fixture::new(&pool, 100).await;

    // H100, 2 GPUs, staked exactly the minimum (2 × 100).
    let (h100, h100_owner) = f.node("H100 SXM", 2, 200).await;
    // Active since before the window, settled 1,200 s into it: 2 × 1,200.
    f.lease(&h100, 2, T - 600, T + 1_200).await;
    // Closed lease (tombstone) settled 600 s into the window's end: 1 × 600.
    let closed = f.lease(&h100, 1, T + 3_000, T + 4_000).await;
    f.chain.close(&closed).await;
    // Three minutes in the window, one before and one at its end (outside).
    uptime(&pool, &h100, [T - 60, T, T + 60, T + 120, T + HOUR]).await;

    // RTX 4090, 1 GPU: a lease settled 600 s (still running, settled partially).
    let (rtx, rtx_owner) = f.node("RTX 4090", 1, 100).await;
    f.lease(&rtx, 1, T + 1_800, T + 2_400).await;
    uptime(&pool, &rtx, (0..10).map(|m| T + 60 * m)).await;

    // An unlisted model: weight 1.0, uptime only (5 minutes).
    let (t4, t4_owner) = f.node("Tesla T4", 1, 100).await;
    uptime(&pool, &t4, (0..5).map(|m| T + 600 + 60 * m)).await;

    // A100 with 4 GPUs but 399 staked (< 400): work done, excluded.
    let (unstaked, _) = f.node("A100 80GB", 4, 399).await;
    f.lease(&unstaked, 4, T, T + HOUR).await;
    uptime(&pool, &unstaked, [T]).await;

    // A node that only has a pending (never activated) lease: nothing to pay.
    let (idle, _) = f.node("H100", 1, 100).await;
    let renter = Pubkey::new_unique();
    f.chain
        .write(vec![(
            iomesh_client::pda::lease(&renter, 1),
            encode(&lease(&renter, &idle, 1, [1; 32])),
        )])
        .await;

    // A node closed after delivering work in the window.
    let (gone, _) = f.node("H100", 1, 100).await;
    f.lease(&gone, 1, T, T + 100).await;
    f.chain.close(&gone).await;

    let amount = 1_000_000_007u64;
    let rewards = compute(&pool, 5, T, T + HOUR, amount, &ClassWeights::default())
        .await
        .expect("the epoch computes");

    // By hand: score = weight‰ × (10 × gpu_seconds + gpu_count × uptime_seconds).
    let h = line(&rewards, &h100);
    assert_eq!(
        (h.gpu_seconds, h.uptime_seconds, h.weight_permille),
        (3_000, 180, 3_000)
    );
    assert_eq!(h.score, 3_000 * (10 * 3_000 + 2 * 180)); // 91,080,000
    let r = line(&rewards, &rtx);
    assert_eq!(
        (r.gpu_seconds, r.uptime_seconds, r.weight_permille),
        (600, 600, 1_200)
    );
    assert_eq!(r.score, 1_200 * (10 * 600 + 600)); // 7,920,000
    let t = line(&rewards, &t4);
    assert_eq!(
        (t.gpu_seconds, t.uptime_seconds, t.weight_permille),
        (0, 300, 1_000)
    );
    assert_eq!(t.score, 1_000 * 300); // 300,000
                                      // Σ score = 99,300,000; amount_i = floor(1,000,000,007 × score_i / Σ).
    assert_eq!(h.amount, 917_220_550);
    assert_eq!(r.amount, 79_758_308);
    assert_eq!(t.amount, 3_021_148);
    for eligible in [h, r, t] {
        assert_eq!(eligible.excluded, None);
    }
    // One base unit of rounding stays in the reserve.
    assert_eq!(rewards.tree.total(), amount - 1);

    let u = line(&rewards, &unstaked);
    assert_eq!(u.amount, 0);
    assert_eq!(u.gpu_seconds, 4 * HOUR as u128);
    assert!(
        u.excluded
            .as_deref()
            .unwrap()
            .starts_with("stake below minimum (399 < 100 × 4"),
        "{:?}",
        u.excluded
    );
    assert_eq!(
        line(&rewards, &idle).excluded.as_deref(),
        Some("no delivered GPU-seconds and no uptime in the window")
    );
    let g = line(&rewards, &gone);
    assert_eq!(
        (g.excluded.as_deref(), g.gpu_seconds, g.amount),
        (Some("closed"), 100, 0)
    );

    // The leaves pay the owners; the file verifies and matches.
    let leaves: Vec<(Pubkey, Pubkey, u64)> = rewards
        .tree
        .allocations()
        .iter()
        .map(|a| (a.node, a.owner, a.amount))
        .collect();
    let mut expected = vec![
        (h100, h100_owner, 917_220_550),
        (rtx, rtx_owner, 79_758_308),
        (t4, t4_owner, 3_021_148),
    ];
    expected.sort_by_key(|(node, _, _)| node.to_bytes());
    assert_eq!(leaves, expected);

    let path = std::env::temp_dir().join(format!("iomesh-epoch-{}.json", Pubkey::new_unique()));
    rewards.tree.to_file().write_json(&path).unwrap();
    let file = EpochFile::read_json(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let verified = file.verify().expect("the epoch file verifies");
    assert_eq!(verified.root(), rewards.tree.root());
    assert_eq!(
        (file.epoch, file.total_amount, file.num_leaves),
        (5, amount - 1, 3)
    );
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn class_weights_file_overrides_defaults(pool: PgPool) {
    let f = Fixture::new(&pool, 0).await;
    let (h100, _) = f.node("H100 SXM", 1, 0).await;
    let (other, _) = f.node("MI300X", 1, 0).await;
    f.lease(&h100, 1, T, T + 100).await;
    f.lease(&other, 1, T, T + 100).await;
    let weights = ClassWeights::from_json(r#"{"h100": 1000, "default": 3000}"#).unwrap();
    let rewards = compute(&pool, 1, T, T + HOUR, 400, &weights).await.unwrap();
    assert_eq!(line(&rewards, &h100).amount, 100);
    assert_eq!(line(&rewards, &other).amount, 300);

    let bad = ClassWeights::from_json(r#"{"H100": 1.5}"#).unwrap_err();
    assert!(
        format!("{bad:#}").contains("integer weight per mille"),
        "{bad:#}"
    );
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn bad_input_is_refused_with_a_clear_error(pool: PgPool) {
    let f = Fixture::new(&pool, 100).await;
    let w = ClassWeights::default();
    let err = |e: anyhow::Error| format!("{e:#}");

    let e = err(compute(&pool, 1, T, T, 10, &w).await.err().unwrap());
    assert!(
        e.contains("--from") && e.contains("must be before --to"),
        "{e}"
    );
    let e = err(compute(&pool, 1, T + 1, T, 10, &w).await.err().unwrap());
    assert!(e.contains("must be before --to"), "{e}");
    let e = err(compute(&pool, 1, T, T + HOUR, 0, &w).await.err().unwrap());
    assert!(e.contains("--amount must be more than 0"), "{e}");

    // Only an unstaked node did work: nobody is eligible.
    let (node, _) = f.node("H100", 1, 0).await;
    f.lease(&node, 1, T, T + HOUR).await;
    let e = err(compute(&pool, 1, T, T + HOUR, 10, &w).await.err().unwrap());
    assert!(e.contains("no eligible node"), "{e}");
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn heartbeats_record_one_uptime_row_per_minute(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 1).await;
    let replica = replica(&pool, "replica-a").await;
    let agent = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .expect("the operator is welcomed");
    for _ in 0..3 {
        assert!(agent.heartbeat(&[]).await);
    }
    let minutes: Vec<i64> = eventually("an uptime minute", || {
        let pool = pool.clone();
        async move {
            let rows: Vec<i64> =
                sqlx::query_scalar("SELECT minute FROM node_uptime_minutes WHERE node = $1")
                    .bind(node.to_bytes().as_slice())
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            (!rows.is_empty()).then_some(rows)
        }
    })
    .await;
    // Three heartbeats within a second: one minute, or two across a boundary.
    assert!(minutes.len() <= 2, "{minutes:?}");
    let now = now();
    for m in &minutes {
        assert_eq!(m % 60, 0);
        assert!((now - 120..=now).contains(m), "{m} vs {now}");
    }
    drop(agent);
    replica.stop().await.unwrap();
}

/// An assignment of `lease` as the scheduler leaves it once the lease closed.
async fn ended_assignment(
    pool: &PgPool,
    lease: &Pubkey,
    node: &Pubkey,
    last_seen_at: i64,
    failed_at: Option<i64>,
) {
    sqlx::query(
        "INSERT INTO assignments (lease, node, attempt, replica, session_id, state, \
           last_seen_at, failed_at, ended_at) \
         VALUES ($1, $2, 1, 'r', 's', $3, to_timestamp($4), $5, now())",
    )
    .bind(lease.to_bytes().as_slice())
    .bind(node.to_bytes().as_slice())
    .bind(if failed_at.is_some() {
        "failed"
    } else {
        "ended"
    })
    .bind(last_seen_at as f64)
    .bind(failed_at)
    .execute(pool)
    .await
    .unwrap();
}

/// A closed lease is a tombstone holding its values from before the final
/// settlement (here: never settled at all): its work is counted up to what
/// that settlement paid for, not to the stale `settled_until`.
#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn closed_leases_count_what_their_final_settlement_paid_for(pool: PgPool) {
    let f = Fixture::new(&pool, 0).await;
    let now = now();
    let (from, to) = (now - 3 * HOUR, now + HOUR);
    let (node, _) = f.node("H100", 8, 0).await;

    // Ran its whole hour and was closed after its end: 2 GPUs × 3,600 s.
    let ended = f.lease(&node, 2, now - 2 * HOUR, now - 2 * HOUR).await;
    ended_assignment(&pool, &ended, &node, now - HOUR - 1, None).await;
    f.chain.close(&ended).await;
    // Cancelled 10 minutes into its hour; its agent was last seen serving it
    // 300 s after activation: 1 × 300 s.
    let cancelled = f.lease(&node, 1, now - 600, now - 600).await;
    ended_assignment(&pool, &cancelled, &node, now - 300, None).await;
    f.chain.close(&cancelled).await;
    // Reported failed at 120 s, whatever was seen later: 1 × 120 s.
    let failed = f.lease(&node, 1, now - 900, now - 900).await;
    ended_assignment(&pool, &failed, &node, now - 600, Some(now - 780)).await;
    f.chain.close(&failed).await;
    // Cancelled before its agent ever reported it: nothing beyond what settled.
    let unseen = f.lease(&node, 1, now - 500, now - 450).await;
    f.chain.close(&unseen).await;
    // Still open: what it has settled, 50 s.
    f.lease(&node, 1, now - 100, now - 50).await;

    let rewards = compute(&pool, 9, from, to, 1_000, &ClassWeights::default())
        .await
        .expect("the epoch computes");
    assert_eq!(
        line(&rewards, &node).gpu_seconds,
        2 * 3_600 + 300 + 120 + 50 + 50
    );
}

/// Uptime minutes past the retention are deleted (in batches larger than
/// one statement's), those inside it stay and still count.
#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn uptime_minutes_past_the_retention_are_pruned(pool: PgPool) {
    let f = Fixture::new(&pool, 0).await;
    let (node, _) = f.node("H100", 1, 0).await;
    let this_minute = now() / 60 * 60;
    let day = 86_400;
    // 60,000 minutes ending 91 days ago (more than one delete batch), and
    // the last 10 minutes.
    sqlx::query(
        "INSERT INTO node_uptime_minutes (node, minute) \
         SELECT $1, $2 - m * 60 FROM generate_series(0, 59999) m",
    )
    .bind(node.to_bytes().as_slice())
    .bind(this_minute - 91 * day)
    .execute(&pool)
    .await
    .unwrap();
    uptime(&pool, &node, (1..=10).map(|m| this_minute - 60 * m)).await;

    let deleted = iomesh_scheduler::retention::prune_uptime(&pool, 90)
        .await
        .unwrap();
    assert_eq!(deleted, 60_000);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM node_uptime_minutes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 10);
    assert_eq!(
        iomesh_scheduler::retention::prune_uptime(&pool, 90)
            .await
            .unwrap(),
        0
    );
    let rewards = compute(
        &pool,
        1,
        this_minute - 3_600,
        this_minute,
        1_000,
        &ClassWeights::default(),
    )
    .await
    .unwrap();
    assert_eq!(line(&rewards, &node).uptime_seconds, 600);
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_recorded_ending_bills_what_it_paid_for(pool: PgPool) {
    let f = Fixture::new(&pool, 0).await;
    let (node, _) = f.node("H100", 1, 0).await;
    // Active from T for an hour, last settled at T + 100, then cancelled at
    // T + 500: the tombstone alone cannot tell when it ended.
    let lease = f.lease(&node, 2, T, T + 100).await;
    f.chain.close(&lease).await;
    let closed_slot: i64 = sqlx::query_scalar("SELECT closed_slot FROM leases WHERE pubkey = $1")
        .bind(lease.to_bytes().as_slice())
        .fetch_one(&pool)
        .await
        .unwrap();
    let w = ClassWeights::default();
    let guessed = compute(&pool, 1, T, T + HOUR, 10, &w).await.unwrap();
    assert_ne!(line(&guessed, &node).gpu_seconds, 2 * 500);

    // The indexer recorded its LeaseEnded: billed until T + 500.
    sqlx::query(
        "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, \
                                    billed_until) VALUES ($1, $2, 'sig', $3, 'cancelled', 5, 1, $4)",
    )
    .bind(lease.to_bytes().as_slice())
    .bind(closed_slot)
    .bind(node.to_bytes().as_slice())
    .bind(T + 500)
    .execute(&pool)
    .await
    .unwrap();
    let exact = compute(&pool, 1, T, T + HOUR, 10, &w).await.unwrap();
    assert_eq!(line(&exact, &node).gpu_seconds, 2 * 500);
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn an_epoch_over_unrecovered_history_is_refused_unless_allowed(pool: PgPool) {
    let gap = |from_time: i64, to_time: i64, from_slot: i64| {
        sqlx::query(
            "INSERT INTO indexer_gaps (cursor_id, from_slot, to_slot, from_time, to_time, reason) \
             VALUES ('default', $1, $1 + 99, $2, $3, 'the RPC''s history starts later')",
        )
        .bind(from_slot)
        .bind(from_time)
        .bind(to_time)
    };
    // Gaps before and after the window do not concern it.
    gap(T - 500, T - 1, 100).execute(&pool).await.unwrap();
    gap(T + HOUR, T + HOUR + 60, 900)
        .execute(&pool)
        .await
        .unwrap();
    check_history(&pool, T, T + HOUR, false)
        .await
        .expect("no gap inside the window");

    // One that ends inside the window does.
    gap(T - 30, T + 30, 500).execute(&pool).await.unwrap();
    let refused = check_history(&pool, T, T + HOUR, false)
        .await
        .expect_err("the window overlaps a gap");
    let message = format!("{refused:#}");
    assert!(
        message.contains("slots 500..=599")
            && message.contains("history starts later")
            && message.contains("--allow-history-gaps"),
        "{message}"
    );
    check_history(&pool, T, T + HOUR, true)
        .await
        .expect("allowed by the flag");
}
