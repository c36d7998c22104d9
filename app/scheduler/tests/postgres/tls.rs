//! TLS between agents and a replica: the real agent's dialer (`session::open`)
//! against a replica serving a self-signed certificate the agent pins, and
//! the clear errors when the two disagree (plaintext against TLS, TLS against
//! plaintext, a certificate the agent does not trust), and a replica refusing
//! half or unreadable TLS settings.

use crate::common::*;
use iomesh_agent::session::{self, SessionConfig, SessionError};
use iomesh_agent_proto::v1::{agent_message, scheduler_message, AgentMessage, Hello};
use iomesh_scheduler::Config;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// A self-signed certificate for 127.0.0.1 written under `dir`: (cert, key).
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

async fn tls_replica(
    pool: &PgPool,
    id: &str,
    cert: &Path,
    key: &Path,
) -> iomesh_scheduler::Running {
    let mut config = Config::new("unused: the pool is given");
    config.replica_id = Some(id.into());
    config.tls_cert = Some(cert.to_path_buf());
    config.tls_key = Some(key.to_path_buf());
    iomesh_scheduler::start(config, pool.clone())
        .await
        .expect("a TLS replica starts")
}

/// Dials `url` as the agent does and sends Hello for `operator`: the first
/// message back, or the dialer's error.
async fn dial(
    url: &str,
    ca: Option<&Path>,
    operator: &Keypair,
) -> Result<scheduler_message::Msg, SessionError> {
    let config = SessionConfig {
        scheduler_ca: ca.map(|path| std::fs::read(path).unwrap()),
        ..SessionConfig::new(url)
    };
    let (tx, rx) = mpsc::channel::<AgentMessage>(8);
    tx.send(AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            operator: operator.pubkey().to_string(),
            agent_version: "tls-test".into(),
            ..Hello::default()
        })),
    })
    .await
    .unwrap();
    let (_client, mut inbound) = session::open(&config, rx).await?;
    let first = inbound.message().await?.expect("a message");
    Ok(first.msg.expect("a message body"))
}

fn connect_detail(result: Result<scheduler_message::Msg, SessionError>) -> String {
    match result {
        Err(SessionError::Connect { detail, .. }) => detail,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn agents_reach_a_tls_replica_and_mismatches_say_what_is_wrong(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    chain.node(&operator.pubkey(), 4).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "scheduler");
    let tls = tls_replica(&pool, "replica-tls", &cert, &key).await;
    let url = tls.grpc_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // The pinned certificate: the session starts (the replica challenges).
    let first = dial(&url, Some(&cert), &operator)
        .await
        .expect("TLS session");
    assert!(
        matches!(first, scheduler_message::Msg::Challenge(_)),
        "{first:?}"
    );

    // Plaintext against TLS.
    let plain_url = url.replacen("https://", "http://", 1);
    let detail = connect_detail(dial(&plain_url, None, &operator).await);
    assert!(
        detail.contains("the scheduler may be serving TLS: use an https:// URL"),
        "{detail}"
    );

    // A certificate the agent was not told to trust.
    let (other, _) = certificate(dir.path(), "other");
    let detail = connect_detail(dial(&url, Some(&other), &operator).await);
    assert!(
        detail.contains("the scheduler's certificate is not trusted: pass --scheduler-ca"),
        "{detail}"
    );

    // TLS against a plaintext replica.
    let plain = replica(&pool, "replica-plain").await;
    let https_to_plain = plain.grpc_url().replacen("http://", "https://", 1);
    let detail = connect_detail(dial(&https_to_plain, Some(&cert), &operator).await);
    assert!(
        detail.contains("the scheduler does not serve TLS on this port"),
        "{detail}"
    );

    plain.stop().await.unwrap();
    tls.stop().await.unwrap();
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_replica_refuses_half_or_unreadable_tls_settings(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "scheduler");
    let start = |cert: Option<PathBuf>, key: Option<PathBuf>| {
        let mut config = Config::new("unused: the pool is given");
        config.tls_cert = cert;
        config.tls_key = key;
        iomesh_scheduler::start(config, pool.clone())
    };
    let error = |result: Result<iomesh_scheduler::Running, iomesh_scheduler::error::Error>| {
        result.err().expect("refused").to_string()
    };
    let half = error(start(Some(cert.clone()), None).await);
    assert!(
        half.contains("--tls-cert and --tls-key go together"),
        "{half}"
    );
    let missing = error(start(Some(dir.path().join("nope.crt")), Some(key.clone())).await);
    assert!(
        missing.contains("cannot read the TLS certificate") && missing.contains("nope.crt"),
        "{missing}"
    );
    let swapped = error(start(Some(key.clone()), Some(cert.clone())).await);
    assert!(
        swapped.contains("the TLS certificate file holds no PEM certificate"),
        "{swapped}"
    );
}
