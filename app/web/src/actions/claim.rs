//! "Claim this reward": a node's leaf in a published epoch, paid to the
//! node's owner, who signs. The leaf and its proof come from the epoch file
//! (see `rewards`), checked against the root and claim bitmap on-chain.

use super::{
    posted_account, serialize, with_chain, ActionError, ActionGetResponse, ActionLinks,
    ActionPostRequest, ActionPostResponse, Actions, LinkedAction,
};
use crate::http::ApiError;
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    response::Response,
    Json,
};
use iomesh_client::clock::unix_now as now;
use iomesh_client::{
    rewards::{ClaimStatus, RewardClaim},
    units,
};
use solana_pubkey::Pubkey;
use std::{str::FromStr, sync::Arc};

/// The leaf of `node` in `epoch`, checked against the chain.
async fn load(actions: &Actions, epoch: &str, node: &str) -> Result<RewardClaim, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let epoch: u64 = epoch
        .parse()
        .map_err(|_| bad(format!("epoch `{epoch}` is not an epoch number")))?;
    let node = Pubkey::from_str(node)
        .map_err(|_| bad(format!("{node} is not a node address (base58, 32 bytes)")))?;
    if !actions.epochs.configured() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this marketplace publishes no reward epoch files (iomesh-web --reward-epochs DIR): \
             claim with `iomesh rewards claim --epoch-file FILE`",
        ));
    }
    let tree = actions.epochs.tree(epoch).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no epoch file for epoch {epoch} is published here"),
        )
    })?;
    actions
        .client
        .reward_claim(&tree, &node)
        .await
        .map_err(|e| actions.chain_error(e))
}

pub(super) async fn describe(
    State(actions): State<Arc<Actions>>,
    Path((epoch, node)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let claim = load(&actions, &epoch, &node).await?;
    let (_, decimals) = actions
        .client
        .io_mint_decimals()
        .await
        .map_err(|e| actions.chain_error(e))?;
    let chain = actions.blockchain_id().await?.to_string();
    let status = claim.status(now());
    let response = ActionGetResponse {
        kind: "action".into(),
        icon: format!("{}/static/icon.svg", actions.public_url),
        title: format!(
            "Claim {} IO: epoch {}'s reward for node {}",
            units::format_amount(claim.amount, decimals),
            claim.epoch,
            claim.node
        ),
        description: format!(
            "For the node's uptime and work in epoch {}; paid to its owner {}, who signs. \
             Claim by {} (unix time).",
            claim.epoch, claim.owner, claim.onchain.claim_deadline
        ),
        label: "Claim".into(),
        disabled: status != ClaimStatus::Claimable,
        error: (status != ClaimStatus::Claimable).then(|| ActionError {
            message: format!("this reward is {}", status.describe()),
        }),
        links: ActionLinks {
            actions: vec![LinkedAction {
                kind: "transaction".into(),
                href: format!("/api/actions/claim/{}/{}", claim.epoch, claim.node),
                label: "Claim".into(),
                parameters: vec![],
            }],
        },
    };
    Ok(with_chain(Json(response), &chain))
}

pub(super) async fn build(
    State(actions): State<Arc<Actions>>,
    Path((epoch, node)): Path<(String, String)>,
    body: Result<Json<ActionPostRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let account = posted_account(body)?;
    let claim = load(&actions, &epoch, &node).await?;
    if account != claim.owner || account != claim.node_state.owner {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "account {account} is not the owner this reward pays ({}; the node's owner is {}): only the node's owner claims",
                claim.owner, claim.node_state.owner
            ),
        ));
    }
    let status = claim.status(now());
    if status != ClaimStatus::Claimable {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "epoch {}'s reward for node {} is {}",
                claim.epoch,
                claim.node,
                status.describe()
            ),
        ));
    }
    let (io, decimals) = actions
        .client
        .io_mint_decimals()
        .await
        .map_err(|e| actions.chain_error(e))?;
    let chain = actions.blockchain_id().await?.to_string();
    let tx = actions
        .client
        .unsigned_transaction(&claim.instructions(&io), &account)
        .await
        .map_err(|e| actions.chain_error(e))?;
    let response = ActionPostResponse {
        kind: "transaction".into(),
        transaction: serialize(&tx)?,
        message: format!(
            "Epoch {}: {} IO for node {} claimed to your IO account.",
            claim.epoch,
            units::format_amount(claim.amount, decimals),
            claim.node
        ),
    };
    Ok(with_chain(Json(response), &chain))
}
