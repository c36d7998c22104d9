use crate::common::*;
use iomesh::state::NodeStatus;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;

fn reasons(view: &serde_json::Value) -> Vec<String> {
    view["no_work_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn node_status_names_every_reason_it_gets_no_work(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    // A market that requires stake, and a node that is paused, full and unstaked.
    let mut market = market();
    market.stake_per_gpu = 1_000;
    chain
        .write(vec![(iomesh_client::pda::market(), encode(&market))])
        .await;
    let operator = Keypair::new();
    let address = iomesh_client::pda::node(&operator.pubkey());
    let mut node = node(&operator.pubkey(), 2);
    node.status = NodeStatus::Paused;
    node.gpus_in_use = 2;
    chain.write(vec![(address, encode(&node))]).await;
    let replica = replica(&pool, "replica-a").await;
    let url = format!("{}/v1/nodes/{address}", replica.http_url());

    let (status, view) = get_json(&url).await;
    assert_eq!(status, 200, "{view}");
    let why = reasons(&view);
    for expected in ["offline", "paused", "no stake", "at capacity"] {
        assert!(
            why.iter().any(|r| r.starts_with(expected)),
            "{expected} missing from {why:?}"
        );
    }
    assert_eq!(view["gets_work"], false);
    assert_eq!(view["meets_stake"], false);

    // Staked, resumed, a GPU free and the agent connected: it gets work.
    node.status = NodeStatus::Available;
    node.gpus_in_use = 1;
    node.staked = 2_000;
    chain.write(vec![(address, encode(&node))]).await;
    let _agent = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    let (_, view) = get_json(&url).await;
    assert_eq!(reasons(&view), Vec::<String>::new(), "{view}");
    assert_eq!(view["gets_work"], true);
    assert_eq!(view["online"], true);
    assert_eq!(view["session"]["replica"], "replica-a");

    // Retired (closed on-chain): said so, and its agent is refused.
    chain.close(&address).await;
    let (_, view) = get_json(&url).await;
    assert_eq!(view["status"], "retired", "{view}");
    assert!(reasons(&view).iter().any(|r| r.starts_with("retired")));
    let refused = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .err()
        .expect("a retired node's agent is refused");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(
        refused.message().contains("retired"),
        "{}",
        refused.message()
    );
    replica.stop().await.unwrap();
}
