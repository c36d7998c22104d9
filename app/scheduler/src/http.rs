//! The HTTP API: renters submit job specs; anyone can see leases with their
//! dispatch state and why a node gets no work (the views: `views`). Plus
//! /metrics and /health.

use crate::{
    dispatch,
    views::{LeaseRow, LeaseView, MarketRow, NodeRow, NodeView, LEASE_SELECT, NODE_SELECT},
    Shared,
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use iomesh_agent_proto::{job_spec_hash, spec_submission_message, JobSpec, MAX_JOB_SPEC_BYTES};
use serde::Deserialize;
use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use std::sync::Arc;

/// Header carrying the renter's base58 signature over
/// `spec_submission_message(lease, sha256(body))`.
pub use iomesh_agent_proto::SPEC_SIGNATURE_HEADER as SIGNATURE_HEADER;
/// Bodies are read up to this size, so that a too large spec gets our own error.
const BODY_LIMIT: usize = 1024 * 1024;
const DEFAULT_LIST_LIMIT: i64 = 100;
const MAX_LIST_LIMIT: i64 = 1_000;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/leases", get(list_leases))
        .route("/v1/leases/{lease}", get(get_lease))
        .route("/v1/leases/{lease}/job-spec", post(submit_job_spec))
        .route("/v1/nodes/{node}", get(get_node))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(crate::renter::routes())
        .with_state(shared)
}

/// An error answer: a status and a sentence saying what was wrong.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        tracing::warn!(%err, "HTTP API query failed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database error: {err}"),
        )
    }
}

impl From<crate::error::Error> for ApiError {
    fn from(err: crate::error::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

fn bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

fn parse_pubkey(what: &str, value: &str) -> Result<Pubkey, ApiError> {
    value
        .parse()
        .map_err(|_| bad_request(format!("{what} {value:?} is not a base58 pubkey")))
}

async fn submit_job_spec(
    State(shared): State<Arc<Shared>>,
    Path(lease): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let lease = parse_pubkey("lease", &lease)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "job spec is larger than {BODY_LIMIT} bytes; the limit is {MAX_JOB_SPEC_BYTES}"
                ),
            )
        } else {
            bad_request(format!("cannot read the request body: {rejection}"))
        }
    })?;
    if body.len() > MAX_JOB_SPEC_BYTES {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "job spec is {} bytes; the limit is {MAX_JOB_SPEC_BYTES}",
                body.len()
            ),
        ));
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                format!("missing header {SIGNATURE_HEADER}: the renter's base58 signature over the spec submission message"),
            )
        })?
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<Signature>().ok())
        .ok_or_else(|| {
            bad_request(format!(
                "header {SIGNATURE_HEADER} is not a base58 ed25519 signature (64 bytes)"
            ))
        })?;

    let row: Option<(Vec<u8>, Vec<u8>, Option<i64>)> =
        sqlx::query_as("SELECT renter, job_spec_hash, closed_slot FROM leases WHERE pubkey = $1")
            .bind(lease.as_ref())
            .fetch_optional(&shared.pool)
            .await?;
    let Some((renter, expected_hash, closed_slot)) = row else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("lease {lease} is not known (not created on-chain, or not indexed yet)"),
        ));
    };
    if closed_slot.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("lease {lease} is closed on-chain; it takes no job spec"),
        ));
    }
    let hash = job_spec_hash(&body);
    if hash.as_slice() != expected_hash.as_slice() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "sha256 of the job spec is {}; lease {lease} commits to {}",
                hex::encode(hash),
                hex::encode(&expected_hash)
            ),
        ));
    }
    let renter = crate::error::pubkey("leases.renter", &renter)?;
    if !signature.verify(
        renter.as_ref(),
        &spec_submission_message(&lease.to_bytes(), &hash),
    ) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("the signature is not the renter's ({renter}) over the submission message of lease {lease} and this spec"),
        ));
    }
    let spec = JobSpec::parse(&body)
        .map_err(|err| ApiError(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()))?;

    let inserted = sqlx::query(
        "INSERT INTO job_specs (lease, spec, sha256, renter_signature, runtime, ray_version) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lease) DO NOTHING",
    )
    .bind(lease.as_ref())
    .bind(body.as_ref())
    .bind(hash.as_slice())
    .bind(signature.as_ref())
    .bind(spec.runtime().as_str())
    .bind(spec.ray_version())
    .execute(&shared.pool)
    .await?
    .rows_affected()
        == 1;
    dispatch::notify_replicas(&shared, &lease).await?;
    shared.wake.notify_one();
    let status = if inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "lease": lease.to_string(),
            "sha256": hex::encode(hash),
            "stored": if inserted { "new" } else { "already submitted" },
        })),
    ))
}

#[derive(Deserialize)]
struct ListParams {
    node: Option<String>,
    renter: Option<String>,
    /// Include closed leases (tombstones).
    closed: Option<String>,
    limit: Option<String>,
}

async fn list_leases(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<ListParams>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let node = params
        .node
        .as_deref()
        .map(|n| parse_pubkey("node", n))
        .transpose()?;
    let renter = params
        .renter
        .as_deref()
        .map(|r| parse_pubkey("renter", r))
        .transpose()?;
    // The renter's own list, with its renter-wide token, shows exit codes and reasons.
    let detailed = crate::access::token_of(&headers, query.as_deref()).is_some();
    if detailed {
        let Some(renter) = &renter else {
            return Err(bad_request(
                "a token lists a renter's leases in detail: add renter=<your wallet>".into(),
            ));
        };
        if let Err(denied) =
            crate::access::authorize_renter(&shared, &headers, query.as_deref(), renter).await
        {
            return Ok(denied.into_response());
        }
    }
    let closed = match params.closed.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "closed must be true or false, got {other:?}"
            )))
        }
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIST_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIST_LIMIT).contains(l))
            .ok_or_else(|| {
                bad_request(format!(
                    "limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {l:?}"
                ))
            })?,
    };
    let rows: Vec<LeaseRow> = sqlx::query_as(&format!(
        "{LEASE_SELECT} WHERE ($1::bytea IS NULL OR l.node = $1) AND ($2::bytea IS NULL OR l.renter = $2) \
         AND ($3 OR l.closed_slot IS NULL) ORDER BY l.slot DESC, l.pubkey LIMIT $4"
    ))
    .bind(node.map(|n| n.to_bytes().to_vec()))
    .bind(renter.map(|r| r.to_bytes().to_vec()))
    .bind(closed)
    .bind(limit)
    .fetch_all(&shared.pool)
    .await?;
    let keys: Vec<Vec<u8>> = rows.iter().map(|row| row.pubkey.clone()).collect();
    let current = crate::phases::current(&shared.pool, &keys).await?;
    let mut leases: Vec<LeaseView> = rows.into_iter().map(LeaseRow::into_view).collect();
    for (view, key) in leases.iter_mut().zip(&keys) {
        view.job = crate::phases::view(current.get(key), None, detailed);
    }
    Ok(Json(json!({ "leases": leases })).into_response())
}

/// A lease with its dispatch state and its job's phase; in detail (exit
/// code, reasons, every phase) when the request carries the renter's token.
async fn get_lease(
    State(shared): State<Arc<Shared>>,
    Path(lease): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lease = parse_pubkey("lease", &lease)?;
    let detailed = crate::access::token_of(&headers, query.as_deref()).is_some();
    if detailed {
        if let Err(denied) =
            crate::access::authorize(&shared, &headers, query.as_deref(), &lease).await
        {
            return Ok(denied.into_response());
        }
    }
    let row: LeaseRow = sqlx::query_as(&format!("{LEASE_SELECT} WHERE l.pubkey = $1"))
        .bind(lease.as_ref())
        .fetch_optional(&shared.pool)
        .await?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("lease {lease} is not known (not created on-chain, or not indexed yet)"),
            )
        })?;
    let mut view = row.into_view();
    let history = crate::phases::of_lease(&shared.pool, lease.as_ref()).await?;
    view.job = crate::phases::view(history.last(), Some(&history), detailed);
    Ok(Json(view).into_response())
}

/// A node (by its address or its operator key): its status and every reason it gets no work.
async fn get_node(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
) -> Result<Json<NodeView>, ApiError> {
    let key = parse_pubkey("node", &key)?;
    let mut row: Option<NodeRow> = sqlx::query_as(NODE_SELECT)
        .bind(key.as_ref())
        .fetch_optional(&shared.pool)
        .await?;
    if row.is_none() {
        // Perhaps the operator key was given.
        row = sqlx::query_as(NODE_SELECT)
            .bind(iomesh_client::pda::node(&key).as_ref())
            .fetch_optional(&shared.pool)
            .await?;
    }
    let row = row.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no node {key} (nor a node operated by {key}) is indexed"),
        )
    })?;
    let market: Option<MarketRow> =
        sqlx::query_as("SELECT paused, data FROM markets WHERE closed_slot IS NULL LIMIT 1")
            .fetch_optional(&shared.pool)
            .await?;
    Ok(Json(row.into_view(market.as_ref())))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    shared.metrics.render()
}

async fn health(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    sqlx::query("SELECT 1").execute(&shared.pool).await?;
    Ok(Json(json!({
        "replica": shared.replica_id,
        "sessions": shared.sessions.len(),
    })))
}
