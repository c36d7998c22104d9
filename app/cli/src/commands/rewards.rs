//! `iomesh rewards …`: a node's allocation in a published epoch, read from the
//! epoch's JSON file (written by `iomesh-rewards`) and checked against the
//! root and claim bitmap on-chain; and claiming it with the file's proof.

use super::sent;
use crate::{
    args::RewardsCommand,
    context::{pubkey, Context},
    output::{fields, Output},
};
use anyhow::{bail, Context as _, Result};
use iomesh_client::clock::unix_now as now;
use iomesh_client::{
    rewards::{ClaimStatus, RewardClaim},
    units,
};
use iomesh_rewards::EpochFile;
use serde_json::json;
use solana_signer::Signer;
use std::path::Path;

pub async fn run(ctx: &Context, command: RewardsCommand) -> Result<Output> {
    match command {
        RewardsCommand::Show { epoch_file, node } => {
            let a = allocation(ctx, &epoch_file, &node).await?;
            let (_, decimals) = ctx.client.io_mint_decimals().await?;
            let status = a.status(now());
            let claimable = status == ClaimStatus::Claimable;
            Ok(Output {
                json: json!({
                    "epoch": a.epoch,
                    "node": a.node.to_string(),
                    "owner": a.owner.to_string(),
                    "index": a.index,
                    "amount": a.amount,
                    "decimals": decimals,
                    "claimed": a.claimed,
                    "claimable": claimable,
                    "claimable_amount": if claimable { a.amount } else { 0 },
                    "claim_deadline": a.onchain.claim_deadline,
                    "clawed_back": a.onchain.clawed_back,
                }),
                human: fields(&[
                    ("Epoch", a.epoch.to_string()),
                    ("Node", a.node.to_string()),
                    ("Owner", a.owner.to_string()),
                    (
                        "Amount",
                        format!("{} IO", units::format_amount(a.amount, decimals)),
                    ),
                    ("Status", status.describe().to_string()),
                    ("Claim deadline", a.onchain.claim_deadline.to_string()),
                ]),
            })
        }
        RewardsCommand::Claim { epoch_file, node } => {
            let owner = ctx.signer()?;
            let a = allocation(ctx, &epoch_file, &node).await?;
            let (io, decimals) = ctx.client.io_mint_decimals().await?;
            if a.owner != owner.pubkey() || a.node_state.owner != owner.pubkey() {
                bail!(
                    "leaf {} of epoch {} is for owner {} (the node's owner is {}), you are {}: the node's owner claims",
                    a.index,
                    a.epoch,
                    a.owner,
                    a.node_state.owner,
                    owner.pubkey()
                );
            }
            if a.claimed {
                bail!(
                    "leaf {} of epoch {} ({} IO for node {}) is already claimed",
                    a.index,
                    a.epoch,
                    units::format_amount(a.amount, decimals),
                    a.node
                );
            }
            let instructions = a.instructions(&io);
            let signature = ctx.client.send(&instructions, &owner, &[]).await?;
            Ok(sent(
                "reward claimed",
                signature,
                json!({
                    "epoch": a.epoch,
                    "node": a.node.to_string(),
                    "index": a.index,
                    "amount": a.amount,
                    "decimals": decimals,
                    "proof_len": a.proof.len(),
                }),
                vec![
                    ("Epoch", a.epoch.to_string()),
                    ("Node", a.node.to_string()),
                    (
                        "Claimed",
                        format!("{} IO", units::format_amount(a.amount, decimals)),
                    ),
                ],
            ))
        }
    }
}

/// Reads and verifies the epoch file, and finds `node`'s leaf checked
/// against the epoch on-chain.
async fn allocation(ctx: &Context, path: &Path, node: &str) -> Result<RewardClaim> {
    let file = EpochFile::read_json(path)
        .with_context(|| format!("cannot read the epoch file {}", path.display()))?;
    let tree = file
        .verify()
        .with_context(|| format!("the epoch file {} does not verify", path.display()))?;
    ctx.client
        .reward_claim(&tree, &pubkey(node, "node")?)
        .await
        .with_context(|| format!("epoch file {}", path.display()))
}
