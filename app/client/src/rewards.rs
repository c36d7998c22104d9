//! A node's reward in a published epoch: its leaf in the epoch's tree (from
//! the epoch file the reward job writes), checked against the root and the
//! claim bitmap on-chain, and the instructions that claim it. What `iomesh
//! rewards` and iomesh-web's claim Action share.

use crate::{
    error::{Error, Result},
    instructions::{self as ix, Instruction},
    iomesh::{
        state::{is_claimed, Node, RewardEpoch},
        ClaimRewardArgs,
    },
    tokens::TokenMint,
    Client,
};
use anchor_lang::prelude::Pubkey;
use iomesh_rewards::{to_hex, RewardTree};

/// A node's leaf in an epoch, and the epoch's state on-chain.
#[derive(Clone, Debug)]
pub struct RewardClaim {
    pub epoch: u64,
    pub node: Pubkey,
    pub node_state: Node,
    pub index: u32,
    /// The wallet the leaf pays (the node's owner when the epoch was built).
    pub owner: Pubkey,
    /// IO base units.
    pub amount: u64,
    pub proof: Vec<[u8; 32]>,
    pub onchain: RewardEpoch,
    pub claimed: bool,
}

/// Where a leaf stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimStatus {
    Claimable,
    Claimed,
    /// The epoch's unclaimed rewards went back to the reserve.
    ClawedBack,
    /// The claim deadline has passed.
    Expired,
}

impl ClaimStatus {
    /// A leaf's status at unix time `now`, from its epoch on-chain and
    /// whether its bit is set.
    pub fn of(onchain: &RewardEpoch, claimed: bool, now: i64) -> Self {
        if claimed {
            ClaimStatus::Claimed
        } else if onchain.clawed_back {
            ClaimStatus::ClawedBack
        } else if now > onchain.claim_deadline {
            ClaimStatus::Expired
        } else {
            ClaimStatus::Claimable
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ClaimStatus::Claimable => "claimable",
            ClaimStatus::Claimed => "claimed",
            ClaimStatus::ClawedBack => {
                "clawed back: the epoch's unclaimed rewards returned to the reserve"
            }
            ClaimStatus::Expired => "expired: the claim deadline has passed",
        }
    }
}

impl RewardClaim {
    /// The leaf's status at unix time `now`.
    pub fn status(&self, now: i64) -> ClaimStatus {
        ClaimStatus::of(&self.onchain, self.claimed, now)
    }

    /// Creates the owner's IO account if it has none, then claims.
    pub fn instructions(&self, io: &TokenMint) -> Vec<Instruction> {
        let args = ClaimRewardArgs {
            index: self.index,
            amount: self.amount,
            proof: self.proof.clone(),
        };
        vec![
            ix::create_ata_idempotent(&self.owner, &self.owner, io),
            ix::claim_reward(&self.owner, &self.node, self.epoch, io, args),
        ]
    }
}

/// An epoch as published on-chain, checked to be the one a tree was built for.
#[derive(Clone, Debug)]
pub struct PublishedEpoch {
    pub onchain: RewardEpoch,
    bitmap: Vec<u8>,
}

impl PublishedEpoch {
    /// Whether leaf `index` is claimed.
    pub fn claimed(&self, index: u32) -> bool {
        is_claimed(&self.bitmap, index)
    }

    /// Leaf `index`'s status at unix time `now`.
    pub fn status(&self, index: u32, now: i64) -> ClaimStatus {
        ClaimStatus::of(&self.onchain, self.claimed(index), now)
    }
}

impl Client {
    /// The epoch of `tree` (a verified epoch file) on-chain, refused unless
    /// its root is the tree's.
    pub async fn published_epoch(&self, tree: &RewardTree) -> Result<PublishedEpoch> {
        let (onchain, bitmap) = self.reward_epoch(tree.epoch()).await?;
        if onchain.merkle_root != tree.root() {
            return Err(Error::Invalid(format!(
                "the epoch file is not the one published for epoch {}: its root is {}, the chain's is {}",
                tree.epoch(),
                to_hex(&tree.root()),
                to_hex(&onchain.merkle_root)
            )));
        }
        Ok(PublishedEpoch { onchain, bitmap })
    }

    /// `node`'s leaf in `tree` (a verified epoch file), checked against the
    /// epoch published on-chain. `node` may also be the node's operator key.
    pub async fn reward_claim(&self, tree: &RewardTree, node: &Pubkey) -> Result<RewardClaim> {
        let (node, node_state) = self.resolve_node(node).await?;
        let index = tree
            .allocations()
            .iter()
            .position(|a| a.node == node)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "node {node} has no allocation in epoch {} ({} leaves)",
                    tree.epoch(),
                    tree.num_leaves()
                ))
            })? as u32;
        let leaf = tree.allocations()[index as usize];
        let published = self.published_epoch(tree).await?;
        let proof = tree
            .proof(index)
            .map_err(|e| Error::Invalid(format!("epoch {}: {e}", tree.epoch())))?;
        Ok(RewardClaim {
            epoch: tree.epoch(),
            node,
            node_state,
            index,
            owner: leaf.owner,
            amount: leaf.amount,
            proof,
            claimed: published.claimed(index),
            onchain: published.onchain,
        })
    }

    /// The IO mint and its decimals.
    pub async fn io_mint_decimals(&self) -> Result<(TokenMint, u8)> {
        let io = self.io_mint().await?;
        self.token_mint(&io.mint).await
    }
}
