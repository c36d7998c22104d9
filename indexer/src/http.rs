//! `/metrics` (Prometheus text) and `/health` (lag of the committed cursor).

use crate::metrics::Metrics;
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct HttpState {
    metrics: Metrics,
    max_slot_lag: u64,
}

pub fn router(metrics: Metrics, max_slot_lag: u64) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/health", get(health))
        .with_state(Arc::new(HttpState {
            metrics,
            max_slot_lag,
        }))
}

async fn render_metrics(State(state): State<Arc<HttpState>>) -> String {
    state.metrics.render()
}

/// Healthy while streaming, once a cursor is committed, and while it is at most
/// `max_slot_lag` slots behind the newest slot the server reported.
async fn health(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<serde_json::Value>) {
    let chain = state.metrics.chain_slot.get();
    let committed = state.metrics.committed_slot.get();
    let lag = state.metrics.slot_lag.get();
    let connected = state.metrics.stream_connected.get() == 1;
    let healthy = connected && committed > 0 && lag as u64 <= state.max_slot_lag;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "healthy": healthy,
            "stream_connected": connected,
            "chain_slot": chain,
            "committed_slot": committed,
            "slot_lag": lag,
            "max_slot_lag": state.max_slot_lag,
        })),
    )
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
