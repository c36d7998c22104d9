use crate::common::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;
use tonic::Code;

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn handshake_welcomes_the_operator_and_refuses_any_other_key(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 4).await;
    let replica = replica(&pool, "replica-a").await;

    let agent = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .expect("the operator is welcomed");
    assert_eq!(agent.welcome.node, node.to_string());
    assert_eq!(agent.welcome.heartbeat_interval_ms, 200);
    let (replica_id, session_id, gpus): (String, String, String) = sqlx::query_as(
        "SELECT replica, session_id, gpus::text FROM agent_sessions WHERE node = $1",
    )
    .bind(node.as_ref())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(replica_id, "replica-a");
    assert_eq!(session_id, agent.welcome.session_id);
    assert!(gpus.contains("GPU-test"), "{gpus}");

    // Someone else claiming to be the operator: refused, nothing stored.
    let impostor = Keypair::new();
    let refused = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &impostor, &[])
        .await
        .err()
        .expect("a signature by another key is refused");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("does not verify")
            && refused.message().contains(&operator.pubkey().to_string()),
        "{}",
        refused.message()
    );
    let session_now: String =
        sqlx::query_scalar("SELECT session_id FROM agent_sessions WHERE node = $1")
            .bind(node.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        session_now, agent.welcome.session_id,
        "the impostor took nothing over"
    );

    // A key with no node at all.
    let stranger = Keypair::new();
    let refused = TestAgent::connect(&replica.grpc_url(), &stranger.pubkey(), &stranger, &[])
        .await
        .err()
        .expect("an operator without a node is refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("no node"),
        "{}",
        refused.message()
    );

    drop(agent);
    replica.stop().await.unwrap();
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_second_connection_of_a_node_replaces_the_first(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 1).await;
    let a = replica(&pool, "replica-a").await;
    let b = replica(&pool, "replica-b").await;

    let mut first = TestAgent::connect(&a.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    // The same node on the same replica: the first stream is closed.
    let mut second = TestAgent::connect(&a.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    let closed = first.recv().await.expect_err("the first stream ends");
    assert_eq!(closed.code(), Code::Aborted, "{closed:?}");
    assert!(
        closed.message().contains("replaced"),
        "{}",
        closed.message()
    );

    // ...and on another replica: the row moves; the old replica lets go at its next heartbeat.
    let third = TestAgent::connect(&b.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    let (replica_id, session_id): (String, String) =
        sqlx::query_as("SELECT replica, session_id FROM agent_sessions WHERE node = $1")
            .bind(node.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (replica_id.as_str(), session_id.as_str()),
        ("replica-b", third.welcome.session_id.as_str())
    );
    second.heartbeat(&[]).await;
    let closed = second.recv().await.expect_err("the replaced stream ends");
    assert_eq!(closed.code(), Code::Aborted, "{closed:?}");
    // The old session's cleanup did not delete the new row.
    let still: String = sqlx::query_scalar("SELECT session_id FROM agent_sessions WHERE node = $1")
        .bind(node.as_ref())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(still, third.welcome.session_id);
    drop(third);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
