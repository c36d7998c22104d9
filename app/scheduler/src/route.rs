//! Getting a renter's request to the replica that holds the lease's agent.
//!
//! Any replica takes a renter's request. The replica holding the node's
//! agent session (`agent_sessions.replica`) is the only one that can open a
//! tunnel or read logs through it; another replica forwards the whole
//! request (streamed body, streamed answer, WebSocket upgrade included) to
//! that replica's HTTP address (`scheduler_replicas.http_url`), once: a
//! forwarded request that finds the session gone answers 503 so that the
//! client retries.

use crate::{access::FORWARDED_BY, Shared};
use axum::{
    body::Body,
    http::{header, HeaderValue, Request, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use hyper_util::rt::TokioIo;
use serde_json::json;
use solana_pubkey::Pubkey;

/// Where a lease's agent is reached from this replica.
pub enum Place {
    /// This replica holds the agent's session.
    Here { node: Pubkey },
    /// Another replica does, at this HTTP address.
    There { replica: String, url: String },
}

/// Why a request for a lease's job cannot go on.
#[derive(Debug)]
pub enum Unreachable {
    UnknownLease(Pubkey),
    Closed(Pubkey),
    NoAgent { lease: Pubkey, node: Pubkey },
    Moved,
    Db(sqlx::Error),
}

impl IntoResponse for Unreachable {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Unreachable::UnknownLease(lease) => (
                StatusCode::NOT_FOUND,
                format!("lease {lease} is not known (not created on-chain, or not indexed yet)"),
            ),
            Unreachable::Closed(lease) => (
                StatusCode::GONE,
                format!("lease {lease} is closed: its job has ended"),
            ),
            Unreachable::NoAgent { lease, node } => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the agent of node {node} (lease {lease}) is not connected to any scheduler replica now; retry later"),
            ),
            Unreachable::Moved => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the node's agent moved to another scheduler replica; retry".to_string(),
            ),
            Unreachable::Db(err) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database error: {err}"),
            ),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

/// Finds the replica holding `lease`'s agent. `closed_ok`: a closed lease's
/// agent may still be asked (its logs outlive it).
/// node, closed_slot, the replica holding the node's session, its HTTP URL.
type LeaseRoute = (Vec<u8>, Option<i64>, Option<String>, Option<String>);

pub async fn locate(
    shared: &Shared,
    lease: &Pubkey,
    closed_ok: bool,
) -> Result<Place, Unreachable> {
    let row: Option<LeaseRoute> = sqlx::query_as(
        "SELECT l.node, l.closed_slot, s.replica, r.http_url FROM leases l \
         LEFT JOIN agent_sessions s ON s.node = l.node \
         LEFT JOIN scheduler_replicas r ON r.id = s.replica \
         WHERE l.pubkey = $1",
    )
    .bind(lease.as_ref())
    .fetch_optional(&shared.pool)
    .await
    .map_err(Unreachable::Db)?;
    let (node, closed, replica, url) = row.ok_or(Unreachable::UnknownLease(*lease))?;
    let node = Pubkey::try_from(node.as_slice()).map_err(|_| Unreachable::UnknownLease(*lease))?;
    if closed.is_some() && !closed_ok {
        return Err(Unreachable::Closed(*lease));
    }
    match (replica, url) {
        (Some(replica), _)
            if replica == shared.replica_id && shared.sessions.get(&node).is_some() =>
        {
            Ok(Place::Here { node })
        }
        (Some(replica), Some(url)) if replica != shared.replica_id => {
            Ok(Place::There { replica, url })
        }
        _ => Err(Unreachable::NoAgent {
            lease: *lease,
            node,
        }),
    }
}

/// Sends `request` on to the replica at `url` and returns its answer,
/// streaming both bodies; an upgrade (WebSocket) is spliced through.
pub async fn forward(shared: &Shared, url: &str, mut request: Request<Body>) -> Response {
    if request.headers().contains_key(FORWARDED_BY) {
        return Unreachable::Moved.into_response();
    }
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let target: Uri = match format!("{}{path}", url.trim_end_matches('/')).parse() {
        Ok(uri) => uri,
        Err(_) => return bad_gateway(format!("replica address {url:?} is not a URL")),
    };
    let Some(authority) = target.authority().map(|a| a.to_string()) else {
        return bad_gateway(format!("replica address {url:?} has no host"));
    };
    let stream = match tokio::net::TcpStream::connect(&authority).await {
        Ok(stream) => stream,
        Err(err) => return bad_gateway(format!("cannot reach replica at {url}: {err}")),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => return bad_gateway(format!("replica at {url}: {err}")),
        };
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let incoming_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, body) = request.into_parts();
    parts.uri = Uri::builder()
        .path_and_query(path.as_str())
        .build()
        .unwrap_or_default();
    parts.headers.insert(
        FORWARDED_BY,
        HeaderValue::from_str(&shared.replica_id).unwrap_or(HeaderValue::from_static("replica")),
    );
    if let Ok(host) = HeaderValue::from_str(&authority) {
        parts.headers.insert(header::HOST, host);
    }
    let mut answer = match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(answer) => answer,
        Err(err) => return bad_gateway(format!("replica at {url}: {err}")),
    };
    splice_upgrade(incoming_upgrade, &mut answer);
    answer.map(Body::new)
}

/// When `answer` switches protocols (a WebSocket), joins the two upgraded
/// connections once both sides have switched: the renter's and the one
/// the answer came on.
pub fn splice_upgrade(
    incoming: hyper::upgrade::OnUpgrade,
    answer: &mut hyper::Response<hyper::body::Incoming>,
) {
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    let outgoing = hyper::upgrade::on(answer);
    tokio::spawn(async move {
        if let (Ok(incoming), Ok(outgoing)) = (incoming.await, outgoing.await) {
            let _ = tokio::io::copy_bidirectional(
                &mut TokioIo::new(incoming),
                &mut TokioIo::new(outgoing),
            )
            .await;
        }
    });
}

fn bad_gateway(message: String) -> Response {
    (StatusCode::BAD_GATEWAY, Json(json!({ "error": message }))).into_response()
}
