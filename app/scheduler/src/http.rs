//! The HTTP API: renters submit job specs; anyone can see leases with their
//! dispatch state and why a node gets no work. Plus /metrics and /health.

use crate::{db::epoch_ms, dispatch, Shared};
use anchor_lang::AccountDeserialize;
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use iomesh::state::{Market, Node};
use iomesh_agent_proto::{job_spec_hash, spec_submission_message, JobSpec, MAX_JOB_SPEC_BYTES};
use serde::Deserialize;
use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use sqlx::{postgres::PgRow, Row};
use std::sync::Arc;

/// Header carrying the renter's base58 signature over
/// `spec_submission_message(lease, sha256(body))`.
pub const SIGNATURE_HEADER: &str = "x-iomesh-signature";
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

fn b58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
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

const LEASE_SELECT: &str = concat!(
    "SELECT l.pubkey, l.status, l.node, l.renter, l.gpus, l.duration_secs, l.created_at, l.activated_at, \
       l.closed_slot, l.slot, j.sha256, ",
    epoch_ms!("j.submitted_at"),
    ", s.session_id IS NOT NULL, \
       a.id, a.attempt, a.state, a.replica, ",
    epoch_ms!("a.created_at"), ", ",
    epoch_ms!("a.sent_at"), ", ",
    epoch_ms!("a.acked_at"), ", ",
    epoch_ms!("a.running_at"), ", ",
    epoch_ms!("a.activated_at"), ", ",
    epoch_ms!("a.ended_at"), ", ",
    epoch_ms!("a.last_seen_at"), ", ",
    "a.last_error, a.activate_signature, a.failed_at, a.failure_signature, \
       j.ray_version, s.ray_version, s.ray_missing, l.in_cluster IS TRUE, \
       (SELECT count(*) FROM leases m WHERE l.in_cluster AND m.renter = l.renter \
          AND m.cluster_nonce = l.cluster_nonce AND m.in_cluster AND m.closed_slot IS NULL \
          AND NOT EXISTS (SELECT 1 FROM job_specs mj JOIN agent_sessions ms ON ms.node = m.node \
                WHERE mj.lease = m.pubkey AND mj.sha256 = m.job_spec_hash \
                  AND (mj.ray_version IS NULL OR mj.ray_version = ms.ray_version))) \
     FROM leases l \
     LEFT JOIN job_specs j ON j.lease = l.pubkey \
     LEFT JOIN agent_sessions s ON s.node = l.node \
     LEFT JOIN LATERAL (SELECT * FROM assignments b WHERE b.lease = l.pubkey ORDER BY b.attempt DESC LIMIT 1) a ON true "
);

fn lease_json(row: &PgRow) -> Result<Value, sqlx::Error> {
    let closed = row.try_get::<Option<i64>, _>(8)?.is_some();
    let status: String = row.try_get(1)?;
    let spec_hash: Option<Vec<u8>> = row.try_get(10)?;
    let agent_connected: bool = row.try_get(12)?;
    let assignment_id: Option<i64> = row.try_get(13)?;
    let assignment_state: Option<String> = row.try_get(15)?;
    let ended_at: Option<i64> = row.try_get(22)?;
    let open = assignment_id.is_some() && ended_at.is_none();
    let wanted_ray: Option<String> = row.try_get(28)?;
    let node_ray: Option<String> = row.try_get(29)?;
    let ray_mismatch = match (&wanted_ray, &node_ray) {
        (Some(wanted), Some(offered)) if wanted != offered => Some(format!(
            "the job needs Ray {wanted}; the node's agent offers Ray {offered}"
        )),
        (Some(wanted), None) => Some(format!(
            "the job needs Ray {wanted}; the node has none ({})",
            row.try_get::<Option<String>, _>(30)?
                .unwrap_or_else(|| "its agent reports no Ray".into())
        )),
        _ => None,
    };
    let unplaced_members: i64 = row.try_get(32)?;
    let cluster_waits = row.try_get::<bool, _>(31)? && unplaced_members > 0;
    let cluster_reason = format!(
        "{unplaced_members} lease(s) of its cluster not placed yet (job spec, agent or Ray missing): \
         no member starts before every one is"
    );
    // Where the lease is in its journey, and why it waits if it does.
    let (state, reason) = if closed {
        ("closed", "the lease was closed on-chain")
    } else if open {
        (
            assignment_state.as_deref().unwrap_or("assigned"),
            "assigned to its node's agent",
        )
    } else if status == "active" {
        ("active", "active on-chain without an open assignment")
    } else if spec_hash.is_none() {
        (
            "awaiting_job_spec",
            "the renter has not submitted the job spec",
        )
    } else if !agent_connected {
        ("awaiting_agent", "the node's agent is not connected")
    } else if let Some(mismatch) = &ray_mismatch {
        ("no_matching_ray", mismatch.as_str())
    } else if cluster_waits {
        ("awaiting_cluster", cluster_reason.as_str())
    } else {
        ("queued", "waiting for the dispatcher")
    };
    let assignment = match assignment_id {
        None => Value::Null,
        Some(id) => json!({
            "id": id,
            "attempt": row.try_get::<i32, _>(14)?,
            "state": assignment_state,
            "replica": row.try_get::<Option<String>, _>(16)?,
            "created_at_ms": row.try_get::<Option<i64>, _>(17)?,
            "sent_at_ms": row.try_get::<Option<i64>, _>(18)?,
            "acked_at_ms": row.try_get::<Option<i64>, _>(19)?,
            "running_at_ms": row.try_get::<Option<i64>, _>(20)?,
            "activated_at_ms": row.try_get::<Option<i64>, _>(21)?,
            "ended_at_ms": ended_at,
            "last_seen_at_ms": row.try_get::<Option<i64>, _>(23)?,
            "last_error": row.try_get::<Option<String>, _>(24)?,
            "activate_signature": row.try_get::<Option<String>, _>(25)?,
            // Set once a replica reported the silent agent on-chain.
            "failure_report": match row.try_get::<Option<i64>, _>(26)? {
                None => Value::Null,
                Some(failed_at) => json!({
                    "failed_at": failed_at,
                    "signature": row.try_get::<Option<String>, _>(27)?,
                }),
            },
        }),
    };
    Ok(json!({
        "lease": b58(row.try_get(0)?),
        "status": if closed { "closed".to_string() } else { status },
        "node": b58(row.try_get(2)?),
        "renter": b58(row.try_get(3)?),
        "gpus": row.try_get::<i32, _>(4)?,
        "duration_secs": row.try_get::<i64, _>(5)?,
        "created_at": row.try_get::<i64, _>(6)?,
        "activated_at": row.try_get::<i64, _>(7)?,
        "slot": row.try_get::<i64, _>(9)?,
        "job_spec": {
            "submitted": spec_hash.is_some(),
            "sha256": spec_hash.map(hex::encode),
            "submitted_at_ms": row.try_get::<Option<i64>, _>(11)?,
        },
        "dispatch": { "state": state, "reason": reason, "assignment": assignment },
    }))
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
    let rows = sqlx::query(&format!(
        "{LEASE_SELECT} WHERE ($1::bytea IS NULL OR l.node = $1) AND ($2::bytea IS NULL OR l.renter = $2) \
         AND ($3 OR l.closed_slot IS NULL) ORDER BY l.slot DESC, l.pubkey LIMIT $4"
    ))
    .bind(node.map(|n| n.to_bytes().to_vec()))
    .bind(renter.map(|r| r.to_bytes().to_vec()))
    .bind(closed)
    .bind(limit)
    .fetch_all(&shared.pool)
    .await?;
    let mut leases = rows.iter().map(lease_json).collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| row.try_get::<Vec<u8>, _>(0))
        .collect::<Result<_, _>>()?;
    let current = crate::phases::current(&shared.pool, &keys).await?;
    for (view, key) in leases.iter_mut().zip(&keys) {
        view["job"] = crate::phases::view(current.get(key), None, detailed);
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
    let row = sqlx::query(&format!("{LEASE_SELECT} WHERE l.pubkey = $1"))
        .bind(lease.as_ref())
        .fetch_optional(&shared.pool)
        .await?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("lease {lease} is not known (not created on-chain, or not indexed yet)"),
            )
        })?;
    let mut view = lease_json(&row)?;
    let history = crate::phases::of_lease(&shared.pool, lease.as_ref()).await?;
    view["job"] = crate::phases::view(history.last(), Some(&history), detailed);
    Ok(Json(view).into_response())
}

/// A node (by its address or its operator key): its status and every reason it gets no work.
async fn get_node(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = parse_pubkey("node", &key)?;
    let query = concat!(
        "SELECT n.pubkey, n.status, n.closed_slot, n.gpu_count, n.gpus_in_use, n.operator, n.data, \
           n.gpu_model, n.region, n.open_leases, s.replica, s.agent_version, ",
        epoch_ms!("s.connected_at"),
        ", ",
        epoch_ms!("s.last_heartbeat_at"),
        ", s.gpus::text, \
           (SELECT count(*) FROM assignments a WHERE a.node = n.pubkey AND a.ended_at IS NULL), \
           s.ray_version, s.ray_missing, s.advertised_address, s.job_ports_first, s.job_ports_last \
         FROM nodes n LEFT JOIN agent_sessions s ON s.node = n.pubkey WHERE n.pubkey = $1"
    );
    let mut row = sqlx::query(query)
        .bind(key.as_ref())
        .fetch_optional(&shared.pool)
        .await?;
    if row.is_none() {
        // Perhaps the operator key was given.
        row = sqlx::query(query)
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
    let market: Option<(bool, Vec<u8>)> =
        sqlx::query_as("SELECT paused, data FROM markets WHERE closed_slot IS NULL LIMIT 1")
            .fetch_optional(&shared.pool)
            .await?;

    let status: String = row.try_get(1)?;
    let retired = row.try_get::<Option<i64>, _>(2)?.is_some();
    let gpu_count: i32 = row.try_get(3)?;
    let gpus_in_use: i32 = row.try_get(4)?;
    let data: Vec<u8> = row.try_get(6)?;
    let online = row.try_get::<Option<String>, _>(10)?.is_some();
    let mut reasons: Vec<&str> = Vec::new();
    if retired {
        reasons.push("retired: the node account is closed on-chain");
    }
    if !online {
        reasons.push("offline: no agent session");
    }
    if status == "paused" {
        reasons.push("paused by its owner: new leases are refused");
    }
    if market.as_ref().is_some_and(|(paused, _)| *paused) {
        reasons.push("the market is paused");
    }
    let node = (!data.is_empty())
        .then(|| Node::try_deserialize(&mut data.as_slice()).ok())
        .flatten();
    let stake_per_gpu = market
        .as_ref()
        .and_then(|(_, data)| Market::try_deserialize(&mut data.as_slice()).ok())
        .map(|m| m.stake_per_gpu);
    let meets_stake = match (&node, stake_per_gpu) {
        (Some(node), Some(per_gpu)) => node.meets_stake(per_gpu).ok(),
        _ => None,
    };
    if meets_stake == Some(false) {
        reasons.push("no stake: staked IO is below the market's stake per GPU");
    }
    if !retired && gpus_in_use >= gpu_count {
        reasons.push("at capacity: every GPU is leased");
    }
    let gpus: Option<String> = row.try_get(14)?;
    let ray_version: Option<String> = row.try_get(16)?;
    // What the node runs besides processes: `ray` jobs only with a Ray, of the version they name.
    let capabilities = if online {
        json!({
            "ray_version": ray_version,
            "ray_jobs": match &ray_version {
                Some(version) => format!("takes `ray` jobs that name Ray {version}"),
                None => format!(
                    "takes no `ray` jobs: {}",
                    row.try_get::<Option<String>, _>(17)?
                        .unwrap_or_else(|| "its agent reports no Ray".into())
                ),
            },
            "advertised_address": row.try_get::<Option<String>, _>(18)?,
            "job_ports": match (row.try_get::<Option<i32>, _>(19)?, row.try_get::<Option<i32>, _>(20)?) {
                (Some(first), Some(last)) => json!([first, last]),
                _ => Value::Null,
            },
        })
    } else {
        Value::Null
    };
    Ok(Json(json!({
        "capabilities": capabilities,
        "node": b58(row.try_get(0)?),
        "operator": b58(row.try_get(5)?),
        "status": if retired { "retired".to_string() } else { status },
        "online": online,
        "gets_work": reasons.is_empty(),
        "no_work_reasons": reasons,
        "gpu_model": row.try_get::<String, _>(7)?,
        "region": row.try_get::<String, _>(8)?,
        "gpu_count": gpu_count,
        "gpus_in_use": gpus_in_use,
        "open_leases": row.try_get::<i64, _>(9)?,
        "staked": node.as_ref().map(|n| n.staked),
        "meets_stake": meets_stake,
        "session": if online { json!({
            "replica": row.try_get::<Option<String>, _>(10)?,
            "agent_version": row.try_get::<Option<String>, _>(11)?,
            "connected_at_ms": row.try_get::<Option<i64>, _>(12)?,
            "last_heartbeat_at_ms": row.try_get::<Option<i64>, _>(13)?,
            "gpus": gpus.and_then(|g| serde_json::from_str::<Value>(&g).ok()),
        }) } else { Value::Null },
        "open_assignments": row.try_get::<i64, _>(15)?,
    })))
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
