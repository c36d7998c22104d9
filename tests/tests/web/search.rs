//! The market API (iomesh-web) against a real Postgres (one database per test): nodes
//! and leases committed through the indexer's own writer (real encoded
//! accounts, leases closed into tombstones), lease endings as the indexer
//! records them from `LeaseEnded`, heartbeat minutes and agent sessions as
//! the scheduler records them; the API served over a socket.

use iomesh::state::{encode_text, LeaseStatus, Node, NodeStatus};
use iomesh_tests::scheduler::{encode, lease, node, Chain};
use iomesh_web::{http, scores, search::Page};
use solana_pubkey::Pubkey;
use sqlx::PgPool;

/// The scores' reference time: a minute boundary.
const T: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// A listed node: `gpus` GPUs of `model` at `price` USD micros per GPU-hour,
/// registered `age` seconds before `T`.
fn listed(model: &str, gpus: u16, price: u64, age: i64) -> Node {
    let mut n = node(&Pubkey::new_unique(), gpus);
    n.gpu_model = encode_text::<32>(model).unwrap();
    n.price_usd_micros_per_gpu_hour = price;
    n.registered_at = T - age;
    n
}

/// One minute of heartbeats for every minute of `[from, to)`.
async fn heartbeats(pool: &PgPool, node: &Pubkey, from: i64, to: i64) {
    sqlx::query(
        "INSERT INTO node_uptime_minutes (node, minute) \
         SELECT $1, m FROM generate_series($2::BIGINT, $3::BIGINT - 60, 60) AS m",
    )
    .bind(node.as_ref())
    .bind(from)
    .bind(to)
    .execute(pool)
    .await
    .unwrap();
}

/// A lease of `gpus` GPUs on `node` paid at `created`, activated `wait`
/// seconds later (never, if `wait` is None), billed for `billed` seconds,
/// ended for `reason`: committed, closed into a tombstone, and its ending
/// recorded.
#[allow(clippy::too_many_arguments)]
async fn ended_lease(
    pool: &PgPool,
    chain: &Chain,
    node: &Pubkey,
    gpus: u16,
    created: i64,
    wait: Option<i64>,
    billed: i64,
    reason: &str,
) {
    let renter = Pubkey::new_unique();
    let mut l = lease(&renter, node, 0, [0; 32]);
    l.gpus = gpus;
    l.created_at = created;
    l.activated_at = wait.map_or(0, |w| created + w);
    l.status = if wait.is_some() {
        LeaseStatus::Active
    } else {
        LeaseStatus::Pending
    };
    let address = Pubkey::new_unique();
    chain.write(vec![(address, encode(&l))]).await;
    chain.close(&address).await;
    let billed_until = if wait.is_some() {
        l.activated_at + billed
    } else {
        0
    };
    sqlx::query(
        "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, billed_until) \
         VALUES ($1, 1, 'sig', $2, $3, 0, 0, $4)",
    )
    .bind(address.as_ref())
    .bind(node.as_ref())
    .bind(reason)
    .bind(billed_until)
    .execute(pool)
    .await
    .unwrap();
}

/// An agent of `node` connected to a scheduler replica.
async fn connected(pool: &PgPool, node: &Pubkey) {
    sqlx::query("INSERT INTO scheduler_replicas (id) VALUES ('r') ON CONFLICT DO NOTHING")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO agent_sessions (node, operator, replica, session_id) VALUES ($1, $1, 'r', $2)",
    )
    .bind(node.as_ref())
    .bind(node.to_string())
    .execute(pool)
    .await
    .unwrap();
}

/// The market of these tests. `steady` has run 40 days with 3/4 uptime: a
/// completed, a failed, a cancelled and an expired lease. `flawless` is the
/// same without the failure. `fresh` registered 3 days ago.
struct Market {
    steady: Pubkey,
    flawless: Pubkey,
    fresh: Pubkey,
}

async fn market(pool: &PgPool) -> (Chain, Market) {
    let chain = Chain::new(pool).await;
    let m = Market {
        steady: Pubkey::new_unique(),
        flawless: Pubkey::new_unique(),
        fresh: Pubkey::new_unique(),
    };
    let mut fresh = listed("RTX 4090", 8, 1_500_000, 3 * DAY);
    fresh.min_lease_secs = 2 * 3_600;
    chain
        .write(vec![
            (
                m.steady,
                encode(&listed("RTX 4090", 8, 2_000_000, 40 * DAY)),
            ),
            (m.flawless, encode(&listed("H100", 8, 3_500_000, 40 * DAY))),
            (m.fresh, encode(&fresh)),
        ])
        .await;
    for node in [&m.steady, &m.flawless] {
        // 22,500 of the window's 43,200 minutes, then the last 9,900: 3/4.
        heartbeats(pool, node, T - 30 * DAY, T - 30 * DAY + 22_500 * 60).await;
        heartbeats(pool, node, T - 9_900 * 60, T).await;
        // Completed: 2 GPUs billed 10 hours, activated 30 s after payment.
        ended_lease(
            pool,
            &chain,
            node,
            2,
            T - 10 * DAY,
            Some(30),
            10 * HOUR,
            "completed",
        )
        .await;
        // Cancelled by its renter after an hour on 4 GPUs (60 s to activate).
        ended_lease(
            pool,
            &chain,
            node,
            4,
            T - 8 * DAY,
            Some(60),
            HOUR,
            "cancelled",
        )
        .await;
        // Never activated.
        ended_lease(pool, &chain, node, 1, T - 7 * DAY, None, 0, "expired").await;
    }
    // The steady node's failure: 1 GPU billed 2 hours, then reported failed.
    ended_lease(
        pool,
        &chain,
        &m.steady,
        1,
        T - 5 * DAY,
        Some(90),
        2 * HOUR,
        "failed",
    )
    .await;
    heartbeats(pool, &m.fresh, T - HOUR, T).await;
    (chain, m)
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn scores_are_exact_new_nodes_are_marked_and_failures_rank_lower(pool: PgPool) {
    let (_chain, m) = market(&pool).await;

    let steady = scores::of_node(&pool, m.steady.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        steady,
        scores::NodeScore {
            age_secs: 40 * DAY,
            uptime_minutes: 32_400,
            window_minutes: 43_200,
            uptime_bps: 7_500,
            completed_gpu_secs: 2 * 10 * HOUR,
            failed_gpu_secs: 2 * HOUR,
            cancelled_gpu_secs: 4 * HOUR,
            expired_leases: 1,
            // 72,000 / 79,200 of the paid GPU-seconds ran to the end.
            success_bps: Some(9_090),
            // Activation waits 30, 60, 90 s.
            median_activation_secs: Some(60),
            slash_count: Some(0),
            is_new: false,
            // 7,500 × 9,090 / 10,000.
            score_bps: Some(6_817),
        }
    );
    let flawless = scores::of_node(&pool, m.flawless.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flawless.success_bps, Some(10_000));
    assert_eq!(flawless.score_bps, Some(7_500));
    assert_eq!(flawless.median_activation_secs, Some(30));

    // Three days old: its hour of heartbeats over a 3-day window, and no score.
    let fresh = scores::of_node(&pool, m.fresh.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.is_new);
    assert_eq!(
        (fresh.uptime_minutes, fresh.window_minutes),
        (60, 3 * 24 * 60)
    );
    assert_eq!(fresh.uptime_bps, 138);
    assert_eq!((fresh.success_bps, fresh.score_bps), (None, None));

    assert_eq!(
        scores::of_node(&pool, Pubkey::new_unique().as_ref(), T)
            .await
            .unwrap(),
        None
    );
}

/// The API on an ephemeral port, with the scores snapshot taken at `T`.
async fn serve(pool: &PgPool) -> String {
    scores::refresh(pool, T).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum::serve(listener, http::router(pool.clone()));
    tokio::spawn(async move { server.await.unwrap() });
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn nodes(api: &str, query: &str) -> Vec<Pubkey> {
    let (status, body) = get(&format!("{api}/api/v1/nodes?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    let page: Page = serde_json::from_value(body).unwrap();
    page.nodes.iter().map(|offer| offer.node.0).collect()
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn search_filters_sorts_pages_and_hides_stale_nodes(pool: PgPool) {
    let (chain, m) = market(&pool).await;
    // A node with no agent connected, and a paused one: stale.
    let (offline, paused) = (Pubkey::new_unique(), Pubkey::new_unique());
    let mut pause = listed("RTX 4090", 8, 1_000_000, 40 * DAY);
    pause.status = NodeStatus::Paused;
    chain
        .write(vec![
            (offline, encode(&listed("RTX 4090", 8, 1_000_000, 40 * DAY))),
            (paused, encode(&pause)),
        ])
        .await;
    for node in [&m.steady, &m.flawless, &m.fresh, &paused] {
        connected(&pool, node).await;
    }
    let api = serve(&pool).await;

    // Cheapest first; stale nodes only when asked.
    assert_eq!(nodes(&api, "").await, [m.fresh, m.steady, m.flawless]);
    let all = nodes(&api, "include_stale=true").await;
    assert_eq!(all.len(), 5);
    assert!(all.contains(&offline) && all.contains(&paused));
    // Reliability: the flawless node above the one with a reported
    // failure; the new node, unscored, after both.
    assert_eq!(
        nodes(&api, "sort=reliability").await,
        [m.flawless, m.steady, m.fresh]
    );
    // All-in for one hour: the new node's two-hour minimum makes it dearer
    // than the steady one.
    let (status, body) = get(&format!(
        "{api}/api/v1/nodes?sort=total_cost&hours=1&gpus=2"
    ))
    .await;
    assert_eq!(status, 200);
    let page: Page = serde_json::from_value(body).unwrap();
    let order: Vec<_> = page
        .nodes
        .iter()
        .map(|o| (o.node.0, o.total_cost_usd_micros))
        .collect();
    assert_eq!(
        order,
        [
            (m.steady, 4_000_000),
            (m.fresh, 6_000_000),
            (m.flawless, 7_000_000)
        ]
    );
    let steady = &page.nodes[0];
    assert_eq!(
        (steady.score_bps, steady.is_new),
        (Some(6_817), Some(false))
    );
    assert!(steady.connected);

    // Filters.
    assert_eq!(nodes(&api, "gpu_model=h100").await, [m.flawless]);
    assert_eq!(
        nodes(&api, "max_price_usd_micros=2000000").await,
        [m.fresh, m.steady]
    );
    assert_eq!(nodes(&api, "min_score_bps=7000").await, [m.flawless]);
    assert_eq!(nodes(&api, "gpus=9").await, Vec::<Pubkey>::new());
    assert_eq!(
        nodes(&api, "region=EU-WEST&min_vram_mib=24576").await.len(),
        3
    );

    // Pages of one: no row twice, the last page says so.
    let mut seen = Vec::new();
    for page in 0..3 {
        let (_, body) = get(&format!("{api}/api/v1/nodes?per_page=1&page={page}")).await;
        let page_of: Page = serde_json::from_value(body).unwrap();
        assert_eq!(page_of.next_page, (page < 2).then_some(page + 1));
        seen.extend(page_of.nodes.iter().map(|o| o.node.0));
    }
    assert_eq!(seen, [m.fresh, m.steady, m.flawless]);

    // Bad input: 400 and what was wrong.
    for (query, message) in [
        ("gpus=0", "gpus must be at least 1"),
        ("per_page=500", "per_page must be between 1 and 200"),
        ("sort=cheapest", "unknown variant `cheapest`"),
        ("colour=red", "unknown field `colour`"),
        ("min_vram_mib=lots", "invalid digit"),
    ] {
        let (status, body) = get(&format!("{api}/api/v1/nodes?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let text = body["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
    }
    let (status, body) = get(&format!("{api}/api/v1/nodes/not-a-key/scores")).await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not a node address"));
    let (status, _) = get(&format!(
        "{api}/api/v1/nodes/{}/scores",
        Pubkey::new_unique()
    ))
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&format!("{api}/api/v1/nodes/{}/scores", m.steady)).await;
    assert_eq!(status, 200);
    assert_eq!(body["completed_gpu_secs"], 72_000);
}
