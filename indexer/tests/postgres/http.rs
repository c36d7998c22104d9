use iomesh_indexer::{http, metrics::Metrics};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

#[tokio::test]
async fn health_reports_lag_and_metrics_are_exposed() {
    let metrics = Metrics::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        http::router(metrics.clone(), 10),
        shutdown.clone(),
    ));

    // Nothing committed yet, not streaming.
    assert_eq!(get(addr, "/health").await.0, 503);
    metrics.stream_connected.set(1);
    metrics.observe_chain_slot(100);
    metrics.observe_committed_slot(95);
    let (status, body) = get(addr, "/health").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["slot_lag"], 5);
    // More than 10 slots behind.
    metrics.observe_chain_slot(120);
    assert_eq!(get(addr, "/health").await.0, 503);
    // Caught up, but the stream is down.
    metrics.observe_committed_slot(120);
    metrics.stream_connected.set(0);
    assert_eq!(get(addr, "/health").await.0, 503);

    metrics.updates_written.inc_by(3);
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "iomesh_indexer_updates_written_total 3",
        "iomesh_indexer_committed_slot 120",
        "iomesh_indexer_slot_lag 0",
        "iomesh_indexer_gaps_total 0",
        "iomesh_indexer_reconcile_runs_total 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "{line} missing from\n{body}"
        );
    }
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
