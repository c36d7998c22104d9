//! Solana Actions: "rent this node" (`rent`), "extend this lease" (`extend`),
//! "cancel this lease" (`cancel`) and "claim this reward" (`claim`) as links any Solana wallet or Blink client can render and sign.
//! `GET /actions.json` maps the pages to the Action API; a GET describes an
//! Action and its parameters; its POST builds the transaction for the posted
//! `account`, who is its only signer and its fee payer. Every answer carries
//! the spec's CORS headers, and errors are the spec's `{message}`.
//!
//! Transactions are built from the chain's accounts, not from Postgres: what
//! the program will check is what the Action checked.

mod cancel;
mod claim;
mod extend;
mod rent;

pub(crate) use rent::hour_limits;

use crate::{http::ApiError, rewards::Epochs};
use axum::{
    extract::rejection::JsonRejection,
    http::{HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::Engine;
use iomesh_client::{Client, Error as ClientError, LeaseAccounts};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use std::{str::FromStr, sync::Arc};
use tokio::sync::OnceCell;

/// The version of the Actions spec these answers follow.
pub const ACTION_VERSION: &str = "2.4";

/// What the Action routes need: the chain, the address people reach us at
/// and the reward epochs' files.
pub struct Actions {
    pub(crate) client: Client,
    pub(crate) epochs: Epochs,
    /// Absolute base of the links and the icon (the spec wants absolute icons).
    public_url: String,
    /// `solana:<genesis hash>` (CAIP-2), read from the chain once.
    blockchain_id: OnceCell<String>,
}

impl Actions {
    pub fn new(rpc_url: &str, public_url: &str, epochs: Epochs) -> Self {
        Self {
            epochs,
            client: Client::new(
                rpc_url,
                solana_commitment_config::CommitmentConfig::confirmed(),
            ),
            public_url: public_url.trim_end_matches('/').to_string(),
            blockchain_id: OnceCell::new(),
        }
    }

    async fn blockchain_id(&self) -> Result<&str, ApiError> {
        self.blockchain_id
            .get_or_try_init(|| async {
                let genesis = self
                    .client
                    .rpc()
                    .get_genesis_hash()
                    .await
                    .map_err(|e| self.client.rpc_error(e))?;
                // CAIP-2 names a Solana cluster by its genesis hash's first 32 characters.
                let mut id = genesis.to_string();
                id.truncate(32);
                Ok::<_, ClientError>(format!("solana:{id}"))
            })
            .await
            .map(String::as_str)
            .map_err(|e| self.chain_error(e))
    }

    /// A client error as an answer: the caller's mistake is a 4xx that
    /// names it, an unreachable chain a 503.
    fn chain_error(&self, err: ClientError) -> ApiError {
        match err {
            ClientError::Unreachable { .. } | ClientError::Rpc { .. } => {
                tracing::warn!(%err, rpc = %self.client.url(), "chain request failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the chain's RPC endpoint is unavailable; try again",
                )
            }
            ClientError::UnknownNode(_) | ClientError::UnknownEpoch(..) => {
                ApiError::new(StatusCode::NOT_FOUND, err.to_string())
            }
            err => ApiError::new(StatusCode::BAD_REQUEST, err.to_string()),
        }
    }
}

pub fn router(actions: Arc<Actions>) -> Router {
    Router::new()
        .route("/actions.json", get(actions_json).options(preflight))
        .route(
            "/api/actions/rent/{node}",
            get(rent::describe).post(rent::build).options(preflight),
        )
        .route(
            "/api/actions/cancel/{lease}",
            get(cancel::describe).post(cancel::build).options(preflight),
        )
        .route(
            "/api/actions/claim/{epoch}/{node}",
            get(claim::describe).post(claim::build).options(preflight),
        )
        .route(
            "/api/actions/extend/{lease}",
            get(extend::describe).post(extend::build).options(preflight),
        )
        .layer(middleware::map_response(with_cors))
        .with_state(actions)
}

/// The lease account, read from the chain with everything its instructions
/// touch (and the node, market and mint they were read from).
pub(super) async fn lease_accounts(
    actions: &Actions,
    lease: &str,
) -> Result<(Pubkey, LeaseAccounts), ApiError> {
    let address = Pubkey::from_str(lease).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{lease} is not a lease address (base58, 32 bytes)"),
        )
    })?;
    match actions.client.lease_accounts(&address).await {
        Ok(accounts) => Ok((address, accounts)),
        Err(ClientError::UnknownLease(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no open lease {address}: it may have ended and been closed"),
        )),
        Err(err) => Err(actions.chain_error(err)),
    }
}

/// An Action's `hours` parameter in seconds, or a 400 naming what is wrong.
fn hours_param(text: &str) -> Result<u32, ApiError> {
    iomesh_client::units::parse_hours(text).map_err(|err| {
        let message = match err {
            iomesh_client::units::ParseError::TooPrecise { .. } => {
                format!("hours `{text}` has more than 2 decimals")
            }
            err => format!("hours: {err}"),
        };
        ApiError::new(StatusCode::BAD_REQUEST, message)
    })
}

/// The headers every Actions answer carries, preflight or not, error or not.
async fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET,POST,PUT,OPTIONS"),
        (
            "access-control-allow-headers",
            "Content-Type, Authorization, Content-Encoding, Accept-Encoding, \
             X-Accept-Action-Version, X-Accept-Blockchain-Ids",
        ),
        (
            "access-control-expose-headers",
            "X-Action-Version, X-Blockchain-Ids",
        ),
        ("x-action-version", ACTION_VERSION),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Blink clients on a node page's URL find its Action here.
async fn actions_json() -> Json<Value> {
    Json(json!({
        "rules": [
            { "pathPattern": "/nodes/*/rent", "apiPath": "/api/actions/rent/*" },
            { "pathPattern": "/leases/*/cancel", "apiPath": "/api/actions/cancel/*" },
            { "pathPattern": "/leases/*/extend", "apiPath": "/api/actions/extend/*" },
            { "pathPattern": "/rewards/*/*/claim", "apiPath": "/api/actions/claim/*/*" },
            { "pathPattern": "/api/actions/**", "apiPath": "/api/actions/**" },
        ]
    }))
}

/// The Action as a Blink renders it (the spec's `ActionGetResponse`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionGetResponse {
    #[serde(rename = "type")]
    pub kind: String,
    pub icon: String,
    pub title: String,
    pub description: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ActionError>,
    pub links: ActionLinks,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ActionError {
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ActionLinks {
    pub actions: Vec<LinkedAction>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinkedAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub href: String,
    pub label: String,
    pub parameters: Vec<ActionParameter>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ActionParameter {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub label: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ParameterOption>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ParameterOption {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub selected: bool,
}

/// A transaction as the Actions spec carries it: base64 of its wire bytes.
fn serialize(tx: &impl Serialize) -> Result<String, ApiError> {
    let bytes = bincode::serialize(tx).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the transaction: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn with_chain(body: impl IntoResponse, chain: &str) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(chain) {
        response.headers_mut().insert("x-blockchain-ids", value);
    }
    response
}

/// The spec's `ActionPostRequest`.
#[derive(Debug, Deserialize)]
pub struct ActionPostRequest {
    pub account: String,
}

/// The spec's `ActionPostResponse` for a transaction.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionPostResponse {
    #[serde(rename = "type")]
    pub kind: String,
    /// base64 of the serialized, unsigned transaction.
    pub transaction: String,
    pub message: String,
}

/// The posted account: the body the spec's clients send, `{"account": …}`.
fn posted_account(
    body: Result<Json<ActionPostRequest>, JsonRejection>,
) -> Result<Pubkey, ApiError> {
    let Json(body) = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be JSON {{\"account\": \"<base58 address>\"}}: {}",
                rejection.body_text()
            ),
        )
    })?;
    Pubkey::from_str(body.account.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "account `{}` is not a Solana address (base58, 32 bytes)",
                body.account
            ),
        )
    })
}
