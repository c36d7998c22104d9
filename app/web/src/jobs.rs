//! The renter's job, through the scheduler's renter API: what the page shows
//! of a lease's dispatch and job phase (the scheduler's public view, read on
//! the server), and the two requests a wallet signs, relayed to the
//! scheduler so the page needs no cross-origin access to it:
//!
//! - `POST /api/jobs/{lease}/spec`: the job spec with the renter's signature
//!   over the submission message (`x-iomesh-signature`), as `iomesh lease
//!   submit-spec` sends it;
//! - `GET /api/jobs/{lease}/logs?tail=&since=&after=&follow=`: the job's log
//!   lines (JSON lines, streamed while `follow`), authorised by the renter's
//!   access token (`Authorization: Bearer`), which only the scheduler checks.
//!
//! The relay adds no authority: every check is the scheduler's. A job's
//! ports are not relayed: the page opens them at the scheduler's public
//! address, with a token the wallet signs (the scheduler then keeps a port
//! session in a cookie of its own origin).

use crate::http::ApiError;
use axum::{
    body::{Body, Bytes},
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use iomesh_agent_proto::SPEC_SIGNATURE_HEADER;
use serde::Deserialize;
use serde_json::json;
use solana_pubkey::Pubkey;
use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

/// The scheduler the pages relay to, when one is configured.
#[derive(Clone)]
pub struct Jobs {
    scheduler: Option<String>,
    /// Where browsers reach it (a job's ports open there, not through the relay).
    public: Option<String>,
    http: reqwest::Client,
}

/// A lease's state at the scheduler, as its public view tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    /// The scheduler's dispatch state: `awaiting_job_spec`, `awaiting_agent`,
    /// `queued`, an assignment's state (`sent`, `running`…), `closed`.
    pub dispatch: String,
    /// What it waits for, in words.
    pub reason: String,
    /// The job's phase reported by the agent (`starting`, `running`, `exited`…).
    pub phase: Option<String>,
}

/// The scheduler's public lease list, as much of it as the page uses.
#[derive(Deserialize)]
struct LeaseList {
    leases: Vec<ListedLease>,
}

#[derive(Deserialize)]
struct ListedLease {
    lease: String,
    dispatch: Dispatch,
    #[serde(default)]
    job: serde_json::Value,
}

#[derive(Deserialize)]
struct Dispatch {
    state: String,
    reason: String,
}

impl Jobs {
    pub fn new(scheduler: Option<&str>, public: Option<&str>) -> Self {
        let trimmed = |url: &str| url.trim_end_matches('/').to_string();
        Self {
            scheduler: scheduler.map(trimmed),
            public: public.or(scheduler).map(trimmed),
            // No overall timeout: a followed log stream stays open.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client with default TLS settings"),
        }
    }

    pub fn configured(&self) -> bool {
        self.scheduler.is_some()
    }

    /// The scheduler's address for browsers: a job's port opens at
    /// `{public}/v1/leases/{lease}/ports/{port}/`.
    pub fn public_url(&self) -> Option<&str> {
        self.public.as_deref()
    }

    fn base(&self) -> Result<&str, ApiError> {
        self.scheduler.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this marketplace has no scheduler configured (iomesh-web --scheduler URL): \
                 jobs are reached with `iomesh --scheduler URL lease …`",
            )
        })
    }

    fn unreachable(&self, err: reqwest::Error) -> ApiError {
        tracing::warn!(%err, "the scheduler did not answer");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "cannot reach the scheduler at {}: try again",
                self.scheduler.as_deref().unwrap_or_default()
            ),
        )
    }

    /// The scheduler's public view of `renter`'s open leases, by lease
    /// address; None when no scheduler is configured or it does not answer
    /// (the page then says the job's state is unknown, and still renders).
    pub async fn states(&self, renter: &Pubkey) -> Option<HashMap<String, JobState>> {
        let base = self.scheduler.as_deref()?;
        let answer = self
            .http
            .get(format!("{base}/v1/leases"))
            .query(&[("renter", renter.to_string()), ("limit", "500".into())])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let list: LeaseList = match answer {
            Ok(response) => match response.json().await {
                Ok(list) => list,
                Err(err) => {
                    tracing::warn!(%err, "the scheduler's lease list is not what it should be");
                    return None;
                }
            },
            Err(err) => {
                tracing::warn!(%err, "the scheduler did not list the renter's leases");
                return None;
            }
        };
        Some(
            list.leases
                .into_iter()
                .map(|lease| {
                    let phase = lease.job["phase"].as_str().map(str::to_string);
                    (
                        lease.lease,
                        JobState {
                            dispatch: lease.dispatch.state,
                            reason: lease.dispatch.reason,
                            phase,
                        },
                    )
                })
                .collect(),
        )
    }
}

pub fn router(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/api/jobs/{lease}/spec", post(submit_spec))
        .route("/api/jobs/{lease}/logs", get(read_logs))
        .with_state(jobs)
}

fn lease_key(lease: &str) -> Result<Pubkey, ApiError> {
    Pubkey::from_str(lease).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{lease} is not a lease address (base58, 32 bytes)"),
        )
    })
}

/// The scheduler's answer passed on: its status and content type, its body
/// streamed as it comes; its `{"error"}` answers become `{"message"}`, as
/// every error of this service is.
async fn relayed(response: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the scheduler answered {status}"));
        return (status, Json(json!({ "message": message }))).into_response();
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let mut answer = Body::from_stream(response.bytes_stream()).into_response();
    *answer.status_mut() = status;
    if let Some(content_type) = content_type {
        answer
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    // Log lines are shown as they come: no proxy in front may hold them back.
    answer.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    answer
}

async fn submit_spec(
    State(jobs): State<Arc<Jobs>>,
    Path(lease): Path<String>,
    headers: HeaderMap,
    spec: Bytes,
) -> Result<Response, ApiError> {
    let lease = lease_key(&lease)?;
    let mut request = jobs
        .http
        .post(format!("{}/v1/leases/{lease}/job-spec", jobs.base()?))
        .body(spec)
        .timeout(Duration::from_secs(30));
    // A missing or bad signature is the scheduler's to refuse, by name.
    if let Some(signature) = headers.get(SPEC_SIGNATURE_HEADER) {
        request = request.header(SPEC_SIGNATURE_HEADER, signature.clone());
    }
    let response = request.send().await.map_err(|e| jobs.unreachable(e))?;
    Ok(relayed(response).await)
}

async fn read_logs(
    State(jobs): State<Arc<Jobs>>,
    Path(lease): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lease = lease_key(&lease)?;
    let authorization = headers.get(header::AUTHORIZATION).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the job's logs need the renter's access token, signed by its wallet \
             (Authorization: Bearer <token>)",
        )
    })?;
    let mut url = format!("{}/v1/leases/{lease}/logs", jobs.base()?);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(&query);
    }
    let response = jobs
        .http
        .get(url)
        .header(header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| jobs.unreachable(e))?;
    Ok(relayed(response).await)
}
