//! "Cancel this lease": only its renter may; a pending lease returns its whole
//! deposit, a running one pays the seconds served and returns the rest.

use super::{
    lease_accounts, posted_account, serialize, with_chain, ActionGetResponse, ActionLinks,
    ActionPostRequest, ActionPostResponse, Actions, LinkedAction,
};
use crate::http::ApiError;
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    response::Response,
    Json,
};
use iomesh_client::{iomesh::state::LeaseStatus, units};
use std::sync::Arc;

pub(super) async fn describe(
    State(actions): State<Arc<Actions>>,
    Path(lease): Path<String>,
) -> Result<Response, ApiError> {
    let (address, accounts) = lease_accounts(&actions, &lease).await?;
    let lease = accounts.lease;
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
    let (address, accounts) = lease_accounts(&actions, &lease).await?;
    let (keys, lease) = (accounts.keys, accounts.lease);
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
