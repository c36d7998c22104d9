//! The market of the web tests, committed as the indexer and the scheduler
//! would: nodes and leases through the indexer's own writer (real encoded
//! accounts, leases closed into tombstones), lease endings as the indexer
//! records them from `LeaseEnded`, heartbeat minutes and agent sessions as
//! the scheduler records them.

pub use iomesh::state::{encode_text, LeaseStatus, Node, NodeStatus};
pub use iomesh_tests::scheduler::{encode, lease, node, Chain};
pub use iomesh_web::{scores, search::Page};
use solana_keypair::Keypair;
pub use solana_pubkey::Pubkey;
pub use sqlx::PgPool;
use std::{path::PathBuf, sync::Arc};

/// The scores' reference time: a minute boundary.
pub const T: i64 = 1_800_000_000;
pub const DAY: i64 = 86_400;
pub const HOUR: i64 = 3_600;

/// A listed node: `gpus` GPUs of `model` at `price` USD micros per GPU-hour,
/// registered `age` seconds before `T`.
pub fn listed(model: &str, gpus: u16, price: u64, age: i64) -> Node {
    let mut n = node(&Pubkey::new_unique(), gpus);
    n.gpu_model = encode_text::<32>(model).unwrap();
    n.price_usd_micros_per_gpu_hour = price;
    n.registered_at = T - age;
    n
}

/// One minute of heartbeats for every minute of `[from, to)`.
pub async fn heartbeats(pool: &PgPool, node: &Pubkey, from: i64, to: i64) {
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
pub async fn ended_lease(
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
pub async fn connected(pool: &PgPool, node: &Pubkey) {
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
pub struct Market {
    pub steady: Pubkey,
    pub flawless: Pubkey,
    pub fresh: Pubkey,
}

pub async fn market(pool: &PgPool) -> (Chain, Market) {
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

/// Every route on an ephemeral port, with the scores snapshot taken at `T`.
/// No chain runs: the Actions' tests start their own with the server.
pub async fn serve(pool: &PgPool) -> String {
    scores::refresh(pool, T).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let actions = Arc::new(iomesh_web::actions::Actions::new(
        "http://127.0.0.1:9",
        &format!("http://{addr}"),
        iomesh_web::rewards::Epochs::default(),
    ));
    let server = axum::serve(
        listener,
        iomesh_web::app(
            pool.clone(),
            actions,
            Arc::new(iomesh_web::jobs::Jobs::new(None, None)),
            "solana:localnet".into(),
        ),
    );
    tokio::spawn(async move { server.await.unwrap() });
    format!("http://{addr}")
}

pub async fn get(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

pub async fn nodes(api: &str, query: &str) -> Vec<Pubkey> {
    let (status, body) = get(&format!("{api}/api/v1/nodes?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    let page: Page = serde_json::from_value(body).unwrap();
    page.nodes.iter().map(|offer| offer.node.0).collect()
}

/// `keypair` as a Solana CLI keypair file in `dir`, for a test wallet.
pub fn keypair_file(dir: &std::path::Path, name: &str, keypair: &Keypair) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(
        &path,
        serde_json::to_string(&keypair.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    path
}
