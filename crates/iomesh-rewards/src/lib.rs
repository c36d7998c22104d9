//! Reward epochs off-chain: builds the merkle tree of an epoch's allocations
//! (node, owner, amount), produces each leaf's proof, and writes and reads the
//! JSON file that lets anyone check the allocation against the root published
//! on-chain. The hashing is the program's own (`iomesh::merkle`), so a proof
//! that verifies here verifies on-chain.

use anchor_lang::prelude::Pubkey;
use iomesh::merkle::{self, Hash, MAX_EPOCH_LEAVES};
use serde::{Deserialize, Serialize};
use std::{path::Path, str::FromStr};

/// What one node earned in an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub node: Pubkey,
    /// Wallet that signs the claim (the node's owner).
    pub owner: Pubkey,
    /// IO base units.
    pub amount: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RewardsError {
    #[error("an epoch needs between 1 and {MAX_EPOCH_LEAVES} allocations, got {0}")]
    LeafCount(usize),
    #[error("allocations sum to more than u64::MAX base units")]
    TotalOverflow,
    #[error("leaf index {index} is outside the tree of {num_leaves} leaves")]
    NoSuchLeaf { index: u32, num_leaves: u32 },
    #[error("epoch file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("epoch file: {0}")]
    Io(#[from] std::io::Error),
    #[error("epoch file field {field}: {reason}")]
    Field { field: String, reason: String },
    #[error("epoch file does not match its allocations: {0}")]
    Mismatch(String),
}

/// The merkle tree of one epoch. Level 0 holds the leaves; see `iomesh::merkle` for the shape.
#[derive(Clone, Debug)]
pub struct RewardTree {
    epoch: u64,
    allocations: Vec<Allocation>,
    levels: Vec<Vec<Hash>>,
    total: u64,
}

impl RewardTree {
    /// Builds the tree; leaf `i` is `allocations[i]`.
    pub fn build(epoch: u64, allocations: Vec<Allocation>) -> Result<Self, RewardsError> {
        let count = allocations.len();
        if count == 0 || count > MAX_EPOCH_LEAVES as usize {
            return Err(RewardsError::LeafCount(count));
        }
        let total = allocations
            .iter()
            .try_fold(0u64, |sum, a| sum.checked_add(a.amount))
            .ok_or(RewardsError::TotalOverflow)?;
        let leaves: Vec<Hash> = allocations
            .iter()
            .enumerate()
            .map(|(i, a)| merkle::leaf_hash(epoch, i as u32, &a.node, &a.owner, a.amount))
            .collect();
        let mut levels = vec![leaves];
        while levels.last().map_or(0, Vec::len) > 1 {
            let below = levels.last().expect("a level");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => merkle::node_hash(left, right),
                    [alone] => *alone,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(above);
        }
        Ok(RewardTree {
            epoch,
            allocations,
            levels,
            total,
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    pub fn root(&self) -> Hash {
        self.levels.last().expect("a root")[0]
    }
    pub fn num_leaves(&self) -> u32 {
        self.allocations.len() as u32
    }
    /// Sum of all allocations: the amount to publish the epoch with.
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn allocations(&self) -> &[Allocation] {
        &self.allocations
    }

    /// The siblings from leaf `index` up to the root.
    pub fn proof(&self, index: u32) -> Result<Vec<Hash>, RewardsError> {
        if index >= self.num_leaves() {
            return Err(RewardsError::NoSuchLeaf {
                index,
                num_leaves: self.num_leaves(),
            });
        }
        let mut proof = Vec::new();
        let mut position = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = position ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            position /= 2;
        }
        Ok(proof)
    }

    /// The publishable file: root, totals, and every leaf with its proof.
    pub fn to_file(&self) -> EpochFile {
        let leaves = self
            .allocations
            .iter()
            .enumerate()
            .map(|(i, a)| LeafEntry {
                index: i as u32,
                node: a.node.to_string(),
                owner: a.owner.to_string(),
                amount: a.amount,
                proof: self
                    .proof(i as u32)
                    .expect("index in range")
                    .iter()
                    .map(to_hex)
                    .collect(),
            })
            .collect();
        EpochFile {
            epoch: self.epoch,
            merkle_root: to_hex(&self.root()),
            total_amount: self.total,
            num_leaves: self.num_leaves(),
            hashing: HASHING.to_string(),
            leaves,
        }
    }
}

/// How the file's hashes are made, written into it for independent verifiers.
pub const HASHING: &str = "sha256; leaf = H(0x00 || epoch u64 LE || index u32 LE || node 32 || owner 32 || amount u64 LE); inner = H(0x01 || left || right); levels pair (2i, 2i+1), a last unpaired node is carried up unchanged";

/// The JSON file of one epoch. Pubkeys are base58, hashes hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochFile {
    pub epoch: u64,
    pub merkle_root: String,
    pub total_amount: u64,
    pub num_leaves: u32,
    pub hashing: String,
    pub leaves: Vec<LeafEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafEntry {
    pub index: u32,
    pub node: String,
    pub owner: String,
    /// IO base units.
    pub amount: u64,
    pub proof: Vec<String>,
}

impl EpochFile {
    pub fn write_json(&self, path: &Path) -> Result<(), RewardsError> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    pub fn read_json(path: &Path) -> Result<Self, RewardsError> {
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }

    /// Rebuilds the tree from the file's allocations and checks that the root,
    /// the totals and every listed proof match it. Returns the tree.
    pub fn verify(&self) -> Result<RewardTree, RewardsError> {
        let allocations = self
            .leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                if leaf.index as usize != i {
                    return Err(RewardsError::Mismatch(format!(
                        "leaf {i} is listed with index {}",
                        leaf.index
                    )));
                }
                Ok(Allocation {
                    node: parse_pubkey("node", &leaf.node)?,
                    owner: parse_pubkey("owner", &leaf.owner)?,
                    amount: leaf.amount,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tree = RewardTree::build(self.epoch, allocations)?;
        let root = parse_hash("merkle_root", &self.merkle_root)?;
        if tree.root() != root {
            return Err(RewardsError::Mismatch("merkle root".into()));
        }
        if tree.total() != self.total_amount || tree.num_leaves() != self.num_leaves {
            return Err(RewardsError::Mismatch("total amount or leaf count".into()));
        }
        for leaf in &self.leaves {
            let proof = leaf
                .proof
                .iter()
                .map(|h| parse_hash("proof", h))
                .collect::<Result<Vec<_>, _>>()?;
            let a = tree.allocations[leaf.index as usize];
            let hash = merkle::leaf_hash(self.epoch, leaf.index, &a.node, &a.owner, a.amount);
            if merkle::root_from_proof(hash, leaf.index, self.num_leaves, &proof) != Some(root) {
                return Err(RewardsError::Mismatch(format!(
                    "proof of leaf {}",
                    leaf.index
                )));
            }
        }
        Ok(tree)
    }
}

pub fn to_hex(bytes: &Hash) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_hash(field: &str, text: &str) -> Result<Hash, RewardsError> {
    let bad = |reason: &str| RewardsError::Field {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad("expected 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| bad("expected 64 hex digits"))?;
    }
    Ok(out)
}

fn parse_pubkey(field: &str, text: &str) -> Result<Pubkey, RewardsError> {
    Pubkey::from_str(text).map_err(|e| RewardsError::Field {
        field: field.to_string(),
        reason: e.to_string(),
    })
}
