//! Solana JSON-RPC over HTTP, wire-compatible with the stock `RpcClient`:
//! the envelope (single and batch calls, JSON-RPC errors) lives here, each
//! method family in its own module.

pub(crate) mod accounts;
mod cluster;
mod params;
mod tokens;
mod transactions;
mod validators;

use crate::bank::Chain;
use axum::{
    body::{to_bytes, Body},
    extract::{DefaultBodyLimit, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use jsonrpc_core::{Error, ErrorCode, Id, Output, Version};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// The outcome of one method call.
pub type RpcResult = Result<Value, Error>;

/// What every method handler sees.
pub struct RpcState {
    pub chain: Arc<Chain>,
    pub max_request_bytes: usize,
    /// Where this node serves JSON-RPC and PubSub (`getClusterNodes`).
    pub rpc_addr: std::net::SocketAddr,
    pub pubsub_addr: std::net::SocketAddr,
}

/// Serves JSON-RPC on `listener` until `shutdown` is cancelled.
pub fn spawn(
    listener: TcpListener,
    state: Arc<RpcState>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let app = Router::new()
        .route("/", post(handle))
        // Load balancers and stock tooling probe a validator's RPC here.
        .route("/health", get(|| async { "ok" }))
        // The limit is enforced in `handle`, to answer with a JSON-RPC error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(err) = server.await {
            tracing::error!(%err, "JSON-RPC server stopped");
        }
    })
}

async fn handle(State(state): State<Arc<RpcState>>, body: Body) -> Response {
    let limit = state.max_request_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = Error {
                code: ErrorCode::InvalidRequest,
                message: format!("request body larger than the {limit}-byte limit"),
                data: None,
            };
            return json(StatusCode::PAYLOAD_TOO_LARGE, &failure(error));
        }
    };
    // Bank work is CPU-bound: keep it off the async workers.
    match tokio::task::spawn_blocking(move || process(&state, &bytes)).await {
        Ok(reply) => json(StatusCode::OK, &reply),
        Err(err) => {
            tracing::error!(%err, "JSON-RPC handler panicked");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &failure(Error::internal_error()),
            )
        }
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn failure(error: Error) -> Output {
    Output::from(Err(error), Id::Null, Some(Version::V2))
}

/// Parses a request body (one call or a batch) and answers it.
fn process(state: &RpcState, bytes: &[u8]) -> jsonrpc_core::Response {
    let request: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(_) => return jsonrpc_core::Response::Single(failure(Error::parse_error())),
    };
    match request {
        Value::Array(calls) if calls.is_empty() => {
            jsonrpc_core::Response::Single(failure(Error::invalid_request()))
        }
        Value::Array(calls) => {
            jsonrpc_core::Response::Batch(calls.into_iter().map(|c| call(state, c)).collect())
        }
        single => jsonrpc_core::Response::Single(call(state, single)),
    }
}

fn call(state: &RpcState, request: Value) -> Output {
    let Value::Object(mut request) = request else {
        return failure(Error::invalid_request());
    };
    let id = request
        .remove("id")
        .and_then(|id| serde_json::from_value::<Id>(id).ok())
        .unwrap_or(Id::Null);
    let Some(Value::String(method)) = request.remove("method") else {
        return Output::from(Err(Error::invalid_request()), id, Some(Version::V2));
    };
    let params = request.remove("params").unwrap_or(Value::Null);
    let result = dispatch(state, &method, params);
    if let Err(err) = &result {
        tracing::debug!(%method, code = err.code.code(), message = %err.message, "rpc error");
    }
    Output::from(result, id, Some(Version::V2))
}

fn dispatch(state: &RpcState, method: &str, params: Value) -> RpcResult {
    let chain = &state.chain;
    match method {
        "getVersion" => cluster::get_version(params),
        "getHealth" => cluster::get_health(params),
        "getSlot" => cluster::get_slot(chain, params),
        "getBlockHeight" => cluster::get_block_height(chain, params),
        "getEpochInfo" => cluster::get_epoch_info(chain, params),
        "getEpochSchedule" => cluster::get_epoch_schedule(chain, params),
        "getBlockTime" => cluster::get_block_time(chain, params),
        "getBlocks" => cluster::get_blocks(chain, params),
        "getBlocksWithLimit" => cluster::get_blocks_with_limit(chain, params),
        "getTransactionCount" => cluster::get_transaction_count(chain, params),
        "getBlock" => transactions::get_block(chain, params),
        "getRecentPrioritizationFees" => {
            transactions::get_recent_prioritization_fees(chain, params)
        }
        "getHighestSnapshotSlot" => cluster::get_highest_snapshot_slot(params),
        "minimumLedgerSlot" | "getFirstAvailableBlock" => {
            cluster::get_first_complete_slot(chain, params)
        }
        "getSupply" => validators::get_supply(chain, params),
        "getVoteAccounts" => validators::get_vote_accounts(chain, params),
        "getLeaderSchedule" => validators::get_leader_schedule(chain, params),
        "getSlotLeader" => validators::get_slot_leader(chain, params),
        "getSlotLeaders" => validators::get_slot_leaders(chain, params),
        "getIdentity" => validators::get_identity(chain, params),
        "getClusterNodes" => validators::get_cluster_nodes(state, params),
        "getInflationReward" => validators::get_inflation_reward(chain, params),
        "getGenesisHash" => cluster::get_genesis_hash(chain, params),
        "getLatestBlockhash" => cluster::get_latest_blockhash(chain, params),
        "isBlockhashValid" => cluster::is_blockhash_valid(chain, params),
        "getFeeForMessage" => cluster::get_fee_for_message(chain, params),
        "getMinimumBalanceForRentExemption" => {
            cluster::get_minimum_balance_for_rent_exemption(chain, params)
        }
        "getBalance" => accounts::get_balance(chain, params),
        "getAccountInfo" => accounts::get_account_info(chain, params),
        "getMultipleAccounts" => accounts::get_multiple_accounts(chain, params),
        "getProgramAccounts" => accounts::get_program_accounts(chain, params),
        "getTokenAccountBalance" => tokens::get_token_account_balance(chain, params),
        "getTokenAccountsByOwner" => tokens::get_token_accounts_by_owner(chain, params),
        "getTokenSupply" => tokens::get_token_supply(chain, params),
        "getTokenAccountsByDelegate" => tokens::get_token_accounts_by_delegate(chain, params),
        "getTokenLargestAccounts" => tokens::get_token_largest_accounts(chain, params),
        "sendTransaction" => transactions::send_transaction(chain, params),
        "simulateTransaction" => transactions::simulate_transaction(chain, params),
        "getSignatureStatuses" => transactions::get_signature_statuses(chain, params),
        "getTransaction" => transactions::get_transaction(chain, params),
        "getSignaturesForAddress" => transactions::get_signatures_for_address(chain, params),
        "requestAirdrop" => transactions::request_airdrop(chain, params),
        _ => Err(Error::method_not_found()),
    }
}
