//! `iomesh rewards …`: a node's allocation in a published epoch, read from the
//! epoch's JSON file (written by `iomesh-rewards`) and checked against the
//! root and claim bitmap on-chain; and claiming it with the file's proof.

use super::sent;
use crate::{
    args::RewardsCommand,
    context::{pubkey, Context},
    output::{fields, Output},
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::{
    instructions as ix,
    iomesh::{
        state::{is_claimed, Node, RewardEpoch},
        ClaimRewardArgs,
    },
    units,
};
use iomesh_rewards::{to_hex, EpochFile, RewardTree};
use serde_json::json;
use solana_signer::Signer;
use std::path::Path;

/// A node's leaf in an epoch, and the epoch's state on-chain.
struct Allocation {
    epoch: u64,
    node: Pubkey,
    node_state: Node,
    index: u32,
    owner: Pubkey,
    amount: u64,
    proof: Vec<[u8; 32]>,
    onchain: RewardEpoch,
    claimed: bool,
}

pub async fn run(ctx: &Context, command: RewardsCommand) -> Result<Output> {
    match command {
        RewardsCommand::Show { epoch_file, node } => {
            let a = allocation(ctx, &epoch_file, &node).await?;
            let decimals = io_decimals(ctx).await?;
            let now = now();
            let claimable = !a.claimed && !a.onchain.clawed_back && now <= a.onchain.claim_deadline;
            let status = if a.claimed {
                "claimed"
            } else if a.onchain.clawed_back {
                "clawed back: the epoch's unclaimed rewards returned to the reserve"
            } else if now > a.onchain.claim_deadline {
                "expired: the claim deadline has passed"
            } else {
                "claimable"
            };
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
                    ("Status", status.to_string()),
                    ("Claim deadline", a.onchain.claim_deadline.to_string()),
                ]),
            })
        }
        RewardsCommand::Claim { epoch_file, node } => {
            let owner = ctx.signer()?;
            let a = allocation(ctx, &epoch_file, &node).await?;
            let decimals = io_decimals(ctx).await?;
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
            let io = ctx.client.io_mint().await?;
            let args = ClaimRewardArgs {
                index: a.index,
                amount: a.amount,
                proof: a.proof.clone(),
            };
            let instructions = [
                ix::create_ata_idempotent(&owner.pubkey(), &owner.pubkey(), &io),
                ix::claim_reward(&owner.pubkey(), &a.node, a.epoch, &io, args),
            ];
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

/// Reads and verifies the epoch file, finds `node`'s leaf and checks the file
/// against the epoch published on-chain.
async fn allocation(ctx: &Context, path: &Path, node: &str) -> Result<Allocation> {
    let file = EpochFile::read_json(path)
        .with_context(|| format!("cannot read the epoch file {}", path.display()))?;
    let tree: RewardTree = file
        .verify()
        .with_context(|| format!("the epoch file {} does not verify", path.display()))?;
    let (node, node_state) = ctx.client.resolve_node(&pubkey(node, "node")?).await?;
    let index = tree
        .allocations()
        .iter()
        .position(|a| a.node == node)
        .ok_or_else(|| {
            anyhow!(
                "node {node} has no allocation in epoch {} ({} leaves in {})",
                file.epoch,
                file.num_leaves,
                path.display()
            )
        })? as u32;
    let leaf = tree.allocations()[index as usize];
    let (onchain, bitmap) = ctx.client.reward_epoch(file.epoch).await?;
    if onchain.merkle_root != tree.root() {
        bail!(
            "the epoch file {} is not the one published for epoch {}: its root is {}, the chain's is {}",
            path.display(),
            file.epoch,
            to_hex(&tree.root()),
            to_hex(&onchain.merkle_root)
        );
    }
    let proof = tree.proof(index)?;
    Ok(Allocation {
        epoch: file.epoch,
        node,
        node_state,
        index,
        owner: leaf.owner,
        amount: leaf.amount,
        proof,
        claimed: is_claimed(&bitmap, index),
        onchain,
    })
}

async fn io_decimals(ctx: &Context) -> Result<u8> {
    let io = ctx.client.io_mint().await?;
    Ok(ctx.client.token_mint(&io.mint).await?.1)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
