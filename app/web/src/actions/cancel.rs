//! "Cancel this lease": only its renter may; a pending lease returns its whole
//! deposit, a running one pays the seconds served and returns the rest.

use super::{
    posted_account, serialize, with_chain, ActionGetResponse, ActionLinks, ActionPostRequest,
    ActionPostResponse, Actions, LinkedAction,
};
use crate::http::ApiError;
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    response::Response,
    Json,
};
use iomesh_client::{
    instructions,
    iomesh::state::{Lease, LeaseStatus},
    units, Error as ClientError,
};
use solana_pubkey::Pubkey;
use std::{str::FromStr, sync::Arc};

/// The lease account, read from the chain with everything its cancel touches.
async fn lease_keys(
    actions: &Actions,
    lease: &str,
) -> Result<(Pubkey, instructions::LeaseKeys, Lease), ApiError> {
    let address = Pubkey::from_str(lease).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{lease} is not a lease address (base58, 32 bytes)"),
        )
    })?;
    match actions.client.lease_keys(&address).await {
        Ok((keys, lease)) => Ok((address, keys, lease)),
        Err(ClientError::UnknownLease(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no open lease {address}: it may have ended and been closed"),
        )),
        Err(err) => Err(actions.chain_error(err)),
    }
}

pub(super) async fn describe(
    State(actions): State<Arc<Actions>>,
    Path(lease): Path<String>,
) -> Result<Response, ApiError> {
    let (address, _, lease) = lease_keys(&actions, &lease).await?;
    let chain = actions.blockchain_id().await?.to_string();
    let what = match lease.status {
        LeaseStatus::Pending => "It has not started: the whole deposit comes back.",
        LeaseStatus::Active => {
            "It is running: the node is paid for the seconds served until now, the rest comes back."
        }
    };
    let response = ActionGetResponse {
        kind: "action".into(),
        icon: format!("{}/static/icon.svg", actions.public_url),
        title: format!("Cancel lease {address}"),
        description: format!(
            "{} GPU(s), {}. {what}",
            lease.gpus,
            units::format_duration(lease.duration_secs.into())
        ),
        label: "Cancel".into(),
        disabled: false,
        error: None,
        links: ActionLinks {
            actions: vec![LinkedAction {
                kind: "transaction".into(),
                href: format!("/api/actions/cancel/{address}"),
                label: "Cancel the lease".into(),
                parameters: vec![],
            }],
        },
    };
    Ok(with_chain(Json(response), &chain))
}

pub(super) async fn build(
    State(actions): State<Arc<Actions>>,
    Path(lease): Path<String>,
    body: Result<Json<ActionPostRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let account = posted_account(body)?;
    let (address, keys, lease) = lease_keys(&actions, &lease).await?;
    if lease.renter != account {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("account {account} is not the renter of lease {address}: only its renter may cancel it"),
        ));
    }
    let chain = actions.blockchain_id().await?.to_string();
    let tx = actions
        .client
        .unsigned_transaction(&[keys.cancel()], &account)
        .await
        .map_err(|e| actions.chain_error(e))?;
    let response = ActionPostResponse {
        kind: "transaction".into(),
        transaction: serialize(&tx)?,
        message: format!(
            "Lease {address} cancelled: the seconds served are paid, the rest of the deposit returns to its payer."
        ),
    };
    Ok(with_chain(Json(response), &chain))
}
