//! What a renter reaches of its job through the scheduler, authorised by its
//! wallet's access token (`access`), on whichever replica it asks (`route`):
//!
//! - `GET /v1/leases/{lease}/logs?tail=N&since=…&after=SEQ&follow=true`: the
//!   job's log lines as JSON lines (`{"seq","t","stream","line"}`); `follow`
//!   keeps the answer open while the job runs; `after` resumes after a
//!   sequence number (what `iomesh lease logs -f` does when a replica goes);
//! - `/v1/leases/{lease}/ports/{port}/…`: HTTP to a port the job spec lists,
//!   WebSocket upgrades included; the first request's token opens a port
//!   session (cookie) for the requests that follow, as a browser makes them;
//! - `GET /v1/leases/{lease}/forward/{port}` (WebSocket): raw TCP to the port,
//!   binary messages both ways, an empty message ending one direction; what
//!   `iomesh lease forward` carries a local port's connections on.

use crate::{
    access::{self, SESSION_COOKIE, SESSION_SECS},
    logs,
    rendezvous::OpenError,
    route::{self, Place},
    tunnel::{self, TunnelIo, FRAME_BYTES},
    Shared,
};
use axum::{
    body::{Body, Bytes},
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        FromRequest, Path, RawQuery, State,
    },
    http::{header, HeaderValue, Request, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get},
    Json, Router,
};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use iomesh_agent_proto::{
    access::{TOKEN_COOKIE, TOKEN_QUERY},
    relay::{both_ways, Leg},
};
use serde_json::json;
use solana_pubkey::Pubkey;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/leases/{lease}/logs", get(read_logs))
        .route("/v1/leases/{lease}/ports/{port}", any(port_root))
        // The root with its slash, as a browser opens a web app (relative
        // links then stay under the port).
        .route("/v1/leases/{lease}/ports/{port}/", any(port_root))
        .route("/v1/leases/{lease}/ports/{port}/{*path}", any(port_path))
        .route("/v1/leases/{lease}/forward/{port}", get(forward_tcp))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A path parameter that is not what the route needs; answered 400.
struct BadPath(String);

impl IntoResponse for BadPath {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

fn parse_lease(lease: &str) -> Result<Pubkey, BadPath> {
    lease
        .parse()
        .map_err(|_| BadPath(format!("lease {lease:?} is not a base58 pubkey")))
}

fn parse_port(port: &str) -> Result<u16, BadPath> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| BadPath(format!("port {port:?} is not a TCP port (1-65535)")))
}

/// The lease's node when this replica holds its agent's session; else the
/// answer: the replica that holds it answered the forwarded request, or
/// nobody can (boxed: a response is large beside a pubkey).
async fn here_or_forwarded(
    shared: &Arc<Shared>,
    lease: &Pubkey,
    closed_ok: bool,
    request: Request<Body>,
) -> Result<(Pubkey, Request<Body>), Box<Response>> {
    match route::locate(shared, lease, closed_ok).await {
        Ok(Place::Here { node }) => Ok((node, request)),
        Ok(Place::There { url, .. }) => Err(Box::new(route::forward(shared, &url, request).await)),
        Err(unreachable) => Err(Box::new(unreachable.into_response())),
    }
}

/// The renter's access checked (its token, in a header or the query), then
/// where the lease's job is: here, or the answer of the replica that has it.
async fn authorized_here(
    shared: &Arc<Shared>,
    lease: &Pubkey,
    query: Option<&str>,
    closed_ok: bool,
    request: Request<Body>,
) -> Result<(Pubkey, Request<Body>), Box<Response>> {
    if let Err(denied) = access::authorize(shared, request.headers(), query, lease).await {
        return Err(Box::new(denied.into_response()));
    }
    here_or_forwarded(shared, lease, closed_ok, request).await
}

fn open_failed(err: OpenError) -> Response {
    let status = match err {
        OpenError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        OpenError::Refused(_) => StatusCode::BAD_GATEWAY,
        OpenError::Gone => StatusCode::SERVICE_UNAVAILABLE,
        OpenError::NoLogs(_) => StatusCode::NOT_FOUND,
        OpenError::LogsDeleted(_) => StatusCode::GONE,
    };
    error(status, err.to_string())
}

// ---------------------------------------------------------------- logs

/// `since`: unix milliseconds, or a duration back from now (`90s`, `10m`, `2h`).
fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: i64 = number
        .parse()
        .map_err(|_| format!("since {text:?}: give unix milliseconds or a duration such as 10m"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("since {text:?}: the duration unit is s, m, h or d")),
    };
    Ok(now_ms - value.saturating_mul(unit_ms))
}

fn logs_query(query: Option<&str>) -> Result<logs::Query, String> {
    let mut q = logs::Query::default();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "tail" => {
                q.tail = value
                    .parse()
                    .map_err(|_| format!("tail {value:?} is not a number of lines"))?
            }
            "since" => q.since_ms = parse_since(value, crate::agent::now_ms())?,
            "after" => {
                q.after_seq = Some(
                    value
                        .parse()
                        .map_err(|_| format!("after {value:?} is not a sequence number"))?,
                )
            }
            "follow" => {
                q.follow = match value {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("follow must be true or false, got {value:?}")),
                }
            }
            TOKEN_QUERY => {}
            other => {
                return Err(format!(
                    "unknown parameter {other:?} (tail, since, after, follow)"
                ))
            }
        }
    }
    Ok(q)
}

async fn read_logs(
    State(shared): State<Arc<Shared>>,
    Path(lease): Path<String>,
    RawQuery(query): RawQuery,
    request: Request<Body>,
) -> Response {
    let lease = match parse_lease(&lease) {
        Ok(lease) => lease,
        Err(bad) => return bad.into_response(),
    };
    let q = match logs_query(query.as_deref()) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (node, _) = match authorized_here(&shared, &lease, query.as_deref(), true, request).await {
        Ok(here) => here,
        Err(answer) => return *answer,
    };
    let lines = match logs::read(&shared, &node, &lease, q).await {
        Ok(lines) => lines,
        Err(err) => return open_failed(err),
    };
    let body = lines.map(|line| {
        let mut text = match line {
            Ok(line) => serde_json::to_vec(&line),
            Err(message) => serde_json::to_vec(&json!({ "error": message })),
        }
        .unwrap_or_default();
        text.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(text))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

// ---------------------------------------------------------------- HTTP ports

async fn port_root(
    state: State<Arc<Shared>>,
    Path((lease, port)): Path<(String, String)>,
    query: RawQuery,
    request: Request<Body>,
) -> Response {
    port_request(state, lease, port, String::new(), query, request).await
}

async fn port_path(
    state: State<Arc<Shared>>,
    Path((lease, port, path)): Path<(String, String, String)>,
    query: RawQuery,
    request: Request<Body>,
) -> Response {
    port_request(state, lease, port, path, query, request).await
}

/// Who may use the port: a live port session (cookie), else a token (which
/// opens a session for the requests that follow).
enum Entry {
    Session,
    Token(Pubkey),
}

async fn port_request(
    State(shared): State<Arc<Shared>>,
    lease: String,
    port: String,
    path: String,
    RawQuery(query): RawQuery,
    request: Request<Body>,
) -> Response {
    let (lease, port) = match (parse_lease(&lease), parse_port(&port)) {
        (Ok(lease), Ok(port)) => (lease, port),
        (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
    };
    let entry = match access::session(&shared, request.headers(), &lease).await {
        Ok(Some(_)) => Entry::Session,
        Ok(None) => {
            match access::authorize(&shared, request.headers(), query.as_deref(), &lease).await {
                Ok(renter) => Entry::Token(renter),
                Err(denied) => return denied.into_response(),
            }
        }
        Err(denied) => return denied.into_response(),
    };
    let (node, request) = match here_or_forwarded(&shared, &lease, false, request).await {
        Ok(here) => here,
        Err(answer) => return *answer,
    };
    let tunnel = match tunnel::open(&shared, &node, &lease, port).await {
        Ok(tunnel) => tunnel,
        Err(err) => return open_failed(err),
    };
    let mut response = proxy_http(tunnel, request, port, &path, query.as_deref()).await;
    if let Entry::Token(renter) = entry {
        match access::open_session(&shared, &lease, &renter).await {
            Ok(id) => {
                let cookie = format!(
                    "{SESSION_COOKIE}={id}; Path=/v1/leases/{lease}/ports/{port}; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict"
                );
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            Err(denied) => tracing::warn!(?denied, "cannot open a port session"),
        }
    }
    response
}

/// The request as the job's server should see it: its own path and query,
/// its host, and none of the renter's iomesh credentials.
fn job_request(
    request: Request<Body>,
    port: u16,
    path: &str,
    query: Option<&str>,
) -> Request<Body> {
    let (mut parts, body) = request.into_parts();
    let kept_query: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&format!("{TOKEN_QUERY}=")))
        .collect();
    let mut target = format!("/{path}");
    if !kept_query.is_empty() {
        target.push('?');
        target.push_str(&kept_query.join("&"));
    }
    parts.uri = target.parse().unwrap_or_else(|_| Uri::from_static("/"));
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove(crate::access::FORWARDED_BY);
    let cookies: Vec<String> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            !c.starts_with(&format!("{TOKEN_COOKIE}="))
                && !c.starts_with(&format!("{SESSION_COOKIE}="))
        })
        .map(str::to_string)
        .collect();
    parts.headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookies.join("; ")) {
        if !cookies.is_empty() {
            parts.headers.insert(header::COOKIE, value);
        }
    }
    if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        parts.headers.insert(header::HOST, host);
    }
    Request::from_parts(parts, body)
}

/// One HTTP exchange with the job's server over a tunnel; an upgrade
/// (WebSocket) is spliced through.
async fn proxy_http(
    tunnel: TunnelIo,
    mut request: Request<Body>,
    port: u16,
    path: &str,
    query: Option<&str>,
) -> Response {
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(tunnel)).await {
            Ok(pair) => pair,
            Err(err) => return error(StatusCode::BAD_GATEWAY, format!("job's port {port}: {err}")),
        };
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let incoming_upgrade = hyper::upgrade::on(&mut request);
    let mut answer = match sender
        .send_request(job_request(request, port, path, query))
        .await
    {
        Ok(answer) => answer,
        Err(err) => {
            return error(
                StatusCode::BAD_GATEWAY,
                format!("the job's server on port {port} did not answer HTTP: {err}"),
            )
        }
    };
    route::splice_upgrade(incoming_upgrade, &mut answer);
    answer.map(Body::new)
}

// ---------------------------------------------------------------- raw TCP

async fn forward_tcp(
    State(shared): State<Arc<Shared>>,
    Path((lease, port)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request<Body>,
) -> Response {
    let (lease, port) = match (parse_lease(&lease), parse_port(&port)) {
        (Ok(lease), Ok(port)) => (lease, port),
        (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
    };
    let (node, request) =
        match authorized_here(&shared, &lease, query.as_deref(), false, request).await {
            Ok(here) => here,
            Err(answer) => return *answer,
        };
    let upgrade = match WebSocketUpgrade::from_request(request, &shared).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let tunnel = match tunnel::open(&shared, &node, &lease, port).await {
        Ok(tunnel) => tunnel,
        Err(err) => return open_failed(err),
    };
    upgrade
        .max_message_size(2 * FRAME_BYTES)
        .on_upgrade(move |socket| relay(socket, tunnel))
}

/// Bytes between a WebSocket and a tunnel. An empty binary message is the
/// end of one direction (a half-close); the socket closes once both ended.
/// A failure on either side ends both.
async fn relay(socket: WebSocket, tunnel: TunnelIo) {
    let (mut to_renter, mut from_renter) = socket.split();
    let (mut from_job, mut to_job) = tunnel.split();
    // Both directions pass the WebSocket's and the agent's buffers through
    // as they are: no copy on this hop.
    let upstream = async {
        loop {
            match from_renter.next().await {
                Some(Ok(Message::Binary(data))) if data.is_empty() => break,
                Some(Ok(Message::Binary(data))) => {
                    if to_job.send(data).await.is_err() {
                        return Leg::Broken;
                    }
                }
                Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
                // The renter's connection went away without ending its side.
                Some(Err(_)) | None => return Leg::Broken,
            }
        }
        to_job.finish();
        Leg::Finished
    };
    let downstream = async {
        loop {
            match from_job.chunk().await {
                Ok(None) => break,
                Err(_) => return Leg::Broken,
                Ok(Some(data)) => {
                    if to_renter.send(Message::Binary(data)).await.is_err() {
                        return Leg::Broken;
                    }
                }
            }
        }
        match to_renter.send(Message::Binary(Bytes::new())).await {
            Ok(()) => Leg::Finished,
            Err(_) => Leg::Broken,
        }
    };
    // A break drops the tunnel, which tells the agent to drop the job's side.
    if both_ways(upstream, downstream).await == Leg::Finished {
        let _ = to_renter.send(Message::Close(None)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries_are_parsed_and_bad_ones_named() {
        let q = logs_query(Some("tail=50&follow=true&after=12&iomesh_token=x")).unwrap();
        assert_eq!((q.tail, q.follow, q.after_seq), (50, true, Some(12)));
        assert_eq!(parse_since("10m", 1_000_000).unwrap(), 400_000);
        assert_eq!(parse_since("1700000000000", 0).unwrap(), 1_700_000_000_000);
        assert!(logs_query(Some("tail=-1")).unwrap_err().contains("tail"));
        assert!(logs_query(Some("since=10y")).unwrap_err().contains("unit"));
        assert!(logs_query(Some("lines=3"))
            .unwrap_err()
            .contains("unknown parameter"));
    }

    #[test]
    fn the_job_sees_its_own_path_and_none_of_the_renters_credentials() {
        let request = Request::builder()
            .uri("/v1/leases/L/ports/8080/api/x?iomesh_token=T&q=1")
            .header(header::AUTHORIZATION, "Bearer T")
            .header(header::COOKIE, "iomesh_session=S; theirs=keep")
            .body(Body::empty())
            .unwrap();
        let job = job_request(request, 8080, "api/x", Some("iomesh_token=T&q=1"));
        assert_eq!(job.uri(), "/api/x?q=1");
        assert!(job.headers().get(header::AUTHORIZATION).is_none());
        assert_eq!(job.headers()[header::COOKIE], "theirs=keep");
        assert_eq!(job.headers()[header::HOST], "127.0.0.1:8080");
    }
}
