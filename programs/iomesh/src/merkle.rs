//! Hashing of the reward merkle tree, shared by the program (which verifies
//! claims) and the off-chain builder (`iomesh-rewards`), so both agree byte
//! for byte.
//!
//! - leaf  = sha256(0x00 ‖ epoch u64 LE ‖ index u32 LE ‖ node ‖ owner ‖ amount u64 LE)
//! - inner = sha256(0x01 ‖ left ‖ right)
//!
//! The distinct prefixes keep an inner node from ever passing as a leaf (no
//! second preimage). Level 0 holds the leaves in index order; each level pairs
//! positions (2i, 2i + 1); a last node without a partner is carried up
//! unchanged. The leaf's index therefore fixes the path, and a proof is the
//! list of siblings met on the way up.

use anchor_lang::prelude::Pubkey;
use solana_sha256_hasher::hashv;

pub const LEAF_PREFIX: u8 = 0x00;
pub const NODE_PREFIX: u8 = 0x01;
/// Most leaves one epoch may have; bounds the proof at 20 hashes.
pub const MAX_EPOCH_LEAVES: u32 = 1 << 20;
/// Longest proof of a tree of `MAX_EPOCH_LEAVES` leaves.
pub const MAX_PROOF_LEN: usize = 20;

pub type Hash = [u8; 32];

pub fn leaf_hash(epoch: u64, index: u32, node: &Pubkey, owner: &Pubkey, amount: u64) -> Hash {
    hashv(&[
        &[LEAF_PREFIX],
        &epoch.to_le_bytes(),
        &index.to_le_bytes(),
        node.as_ref(),
        owner.as_ref(),
        &amount.to_le_bytes(),
    ])
    .to_bytes()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    hashv(&[&[NODE_PREFIX], left, right]).to_bytes()
}

/// The root reached from `leaf` at `index` in a tree of `num_leaves` leaves,
/// or `None` when the proof has the wrong length for that position.
pub fn root_from_proof(leaf: Hash, index: u32, num_leaves: u32, proof: &[Hash]) -> Option<Hash> {
    if index >= num_leaves || num_leaves > MAX_EPOCH_LEAVES || proof.len() > MAX_PROOF_LEN {
        return None;
    }
    let mut hash = leaf;
    let mut position = index;
    let mut width = num_leaves;
    let mut siblings = proof.iter();
    // At most 20 levels (MAX_EPOCH_LEAVES).
    while width > 1 {
        if position % 2 == 1 {
            hash = node_hash(siblings.next()?, &hash);
        } else if position + 1 < width {
            hash = node_hash(&hash, siblings.next()?);
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none().then_some(hash)
}

/// Number of siblings on the path of leaf `index` in a tree of `num_leaves`.
pub fn proof_len(index: u32, num_leaves: u32) -> usize {
    let (mut position, mut width, mut len) = (index, num_leaves, 0);
    while width > 1 {
        if position % 2 == 1 || position + 1 < width {
            len += 1;
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_leaves_carry_the_last_one_up() {
        let a = Pubkey::new_from_array([1; 32]);
        let leaves: Vec<Hash> = (0..3).map(|i| leaf_hash(9, i, &a, &a, 10)).collect();
        let root = node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]);
        assert_eq!(
            root_from_proof(leaves[2], 2, 3, &[node_hash(&leaves[0], &leaves[1])]),
            Some(root)
        );
        assert_eq!(
            root_from_proof(leaves[0], 0, 3, &[leaves[1], leaves[2]]),
            Some(root)
        );
        assert_eq!(proof_len(2, 3), 1);
        // A proof one hash too long or too short is refused.
        assert_eq!(root_from_proof(leaves[0], 0, 3, &[leaves[1]]), None);
        assert_eq!(
            root_from_proof(leaves[2], 2, 3, &[leaves[0], leaves[1]]),
            None
        );
        // An inner node is never a valid leaf.
        assert_ne!(node_hash(&leaves[0], &leaves[1]), leaves[0]);
    }
}
