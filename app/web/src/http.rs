//! The JSON API: `GET /api/v1/nodes` (the search), `GET
//! /api/v1/nodes/{node}/scores` (one node's scores as of the last
//! refresh, as the search ranks it), `/health`. Every
//! error is `{"message": …}` with a 4xx for bad input, as the Solana Actions
//! spec answers, so one client handles both.

use crate::{scores, search};
use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::str::FromStr;

pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/api/v1/nodes", get(search_nodes))
        .route("/api/v1/nodes/{node}/scores", get(node_scores))
        .route("/health", get(health))
        .with_state(pool)
}

/// An error answer: the status and what was wrong.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        tracing::warn!(%err, "query failed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the market database is unavailable; try again".into(),
        )
    }
}

async fn search_nodes(
    State(pool): State<PgPool>,
    params: Result<Query<search::SearchParams>, QueryRejection>,
) -> Result<Json<search::Page>, ApiError> {
    let Query(params) =
        params.map_err(|rejection| ApiError(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let search = search::Search::new(params)
        .map_err(|message| ApiError(StatusCode::BAD_REQUEST, message))?;
    Ok(Json(search::run(&pool, &search).await?))
}

async fn node_scores(
    State(pool): State<PgPool>,
    Path(node): Path<String>,
) -> Result<Json<scores::NodeScore>, ApiError> {
    let node = Pubkey::from_str(&node).map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("{node} is not a node address (base58, 32 bytes)"),
        )
    })?;
    scores::latest(&pool, node.as_ref())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no node {node} is listed")))
}

async fn health(State(pool): State<PgPool>) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(Json(json!({ "ok": true })))
}
