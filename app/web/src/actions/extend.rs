//! "Extend this lease": its renter (or the payer who funded it) buys more
//! hours at the price locked when the lease was created; the deposit grows
//! by the program's own rounded-up cost of the new duration.

use super::{
    hours_param, lease_accounts, posted_account, serialize, with_chain, ActionGetResponse,
    ActionLinks, ActionParameter, ActionPostRequest, ActionPostResponse, Actions, LinkedAction,
};
use crate::http::ApiError;
use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::Response,
    Json,
};
use iomesh_client::{
    extension_deposit,
    iomesh::state::{decode_text, LeaseStatus},
    units, LeaseAccounts,
};
use serde::Deserialize;
use std::sync::Arc;

/// The longest extension the program accepts at `now`, in seconds: the
/// prepaid time still to run may not exceed the node's or the market's
/// maximum. Err: why the lease cannot be extended at all.
fn room(accounts: &LeaseAccounts, now: i64) -> Result<u32, String> {
    let LeaseAccounts {
        lease,
        node,
        market,
        ..
    } = accounts;
    if market.paused {
        return Err("the market is paused: no lease can be extended now".into());
    }
    let remaining = match lease.status {
        LeaseStatus::Pending => {
            let deadline = lease
                .activation_deadline(market.activation_timeout_secs)
                .map_err(|e| e.to_string())?;
            if now > deadline {
                return Err("the lease was never started and its activation deadline has passed: cancel it for a refund".into());
            }
            i64::from(lease.duration_secs)
        }
        LeaseStatus::Active => {
            let ends = lease.ends_at().map_err(|e| e.to_string())?;
            if now >= ends {
                return Err("the lease has run to its end".into());
            }
            ends - now
        }
    };
    let horizon = i64::from(market.max_lease_secs.min(node.max_lease_secs));
    let room = (horizon - remaining).max(0);
    if room < 3_600 {
        return Err(format!(
            "the lease already runs {} more, close to the node's maximum of {}",
            units::format_duration(remaining.max(0) as u64),
            units::format_duration(horizon as u64)
        ));
    }
    Ok(room as u32)
}

/// The lease with its accounts, and the room it has to grow now.
async fn load(actions: &Actions, lease: &str) -> Result<Extendable, ApiError> {
    let (address, accounts) = lease_accounts(actions, lease).await?;
    let room = room(&accounts, crate::scores::now());
    Ok(Extendable {
        address,
        accounts,
        room,
    })
}

struct Extendable {
    address: solana_pubkey::Pubkey,
    accounts: LeaseAccounts,
    room: Result<u32, String>,
}

pub(super) async fn describe(
    State(actions): State<Arc<Actions>>,
    Path(lease): Path<String>,
) -> Result<Response, ApiError> {
    let e = load(&actions, &lease).await?;
    let chain = actions.blockchain_id().await?.to_string();
    let symbol = decode_text(&e.accounts.payment_mint.symbol);
    let max_hours = e.room.as_ref().map_or(1, |secs| u64::from(*secs) / 3_600);
    let response = ActionGetResponse {
        kind: "action".into(),
        icon: format!("{}/static/icon.svg", actions.public_url),
        title: format!("Extend lease {}", e.address),
        description: format!(
            "{} GPU(s) at {} {symbol} per GPU-hour, the price locked when it was rented; \
             {} bought so far. Up to {max_hours} more hour(s) now.",
            e.accounts.lease.gpus,
            units::format_amount(
                e.accounts.lease.rate_per_gpu_hour,
                e.accounts.payment_mint.decimals
            ),
            units::format_duration(e.accounts.lease.duration_secs.into()),
        ),
        label: "Extend".into(),
        disabled: e.room.is_err(),
        error: e.room.as_ref().err().map(|message| super::ActionError {
            message: message.clone(),
        }),
        links: ActionLinks {
            actions: vec![LinkedAction {
                kind: "transaction".into(),
                href: format!("/api/actions/extend/{}?hours={{hours}}", e.address),
                label: "Extend".into(),
                parameters: vec![ActionParameter {
                    kind: "number".into(),
                    name: "hours".into(),
                    label: "More hours".into(),
                    required: true,
                    min: Some(1),
                    max: Some(max_hours.max(1)),
                    options: vec![],
                }],
            }],
        },
    };
    Ok(with_chain(Json(response), &chain))
}

/// The Action's parameter, as the linked action's href fills it in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendParams {
    pub hours: String,
}

pub(super) async fn build(
    State(actions): State<Arc<Actions>>,
    Path(lease): Path<String>,
    params: Result<Query<ExtendParams>, QueryRejection>,
    body: Result<Json<ActionPostRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let account = posted_account(body)?;
    let Query(params) = params
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let e = load(&actions, &lease).await?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    if account != e.accounts.lease.renter && account != e.accounts.lease.payer {
        return Err(bad(format!(
            "account {account} is neither the renter nor the payer of lease {}: only they may extend it",
            e.address
        )));
    }
    let room = e
        .room
        .clone()
        .map_err(|why| ApiError::new(StatusCode::CONFLICT, why))?;
    let added_secs = hours_param(&params.hours)?;
    if added_secs > room {
        return Err(bad(format!(
            "hours: at most {} more now ({} asked): the time still to run may not exceed the node's maximum lease",
            units::format_duration(room.into()),
            units::format_duration(added_secs.into())
        )));
    }
    let added_deposit =
        extension_deposit(&e.accounts.lease, added_secs).map_err(|err| actions.chain_error(err))?;
    actions
        .client
        .ensure_balance(&account, &e.accounts.payment_mint, added_deposit)
        .await
        .map_err(|err| actions.chain_error(err))?;
    let chain = actions.blockchain_id().await?.to_string();
    let tx = actions
        .client
        .unsigned_transaction(&[e.accounts.keys.extend(&account, added_secs)], &account)
        .await
        .map_err(|err| actions.chain_error(err))?;
    let symbol = decode_text(&e.accounts.payment_mint.symbol);
    let response = ActionPostResponse {
        kind: "transaction".into(),
        transaction: serialize(&tx)?,
        message: format!(
            "Lease {} extended by {}: {} {symbol} more in escrow.",
            e.address,
            units::format_duration(added_secs.into()),
            units::format_amount(added_deposit, e.accounts.payment_mint.decimals),
        ),
    };
    Ok(with_chain(Json(response), &chain))
}
