//! The reward tree against the program's own verifier (`iomesh::merkle`).

use anchor_lang::prelude::Pubkey;
use iomesh::merkle::{leaf_hash, proof_len, root_from_proof};
use iomesh_rewards::{Allocation, EpochFile, RewardTree, RewardsError};

fn key(tag: u8, i: u32) -> Pubkey {
    let mut bytes = [tag; 32];
    bytes[..4].copy_from_slice(&i.to_le_bytes());
    Pubkey::new_from_array(bytes)
}

fn allocations(count: u32) -> Vec<Allocation> {
    (0..count)
        .map(|i| Allocation {
            node: key(1, i),
            owner: key(2, i),
            amount: 1_000 + u64::from(i % 977) * 13,
        })
        .collect()
}

#[test]
fn every_proof_of_a_100k_leaf_tree_verifies_as_the_program_does() {
    let n = 100_000;
    let tree = RewardTree::build(42, allocations(n)).unwrap();
    let root = tree.root();
    let mut longest = 0;
    for index in 0..n {
        let a = tree.allocations()[index as usize];
        let proof = tree.proof(index).unwrap();
        assert_eq!(proof.len(), proof_len(index, n));
        longest = longest.max(proof.len());
        let leaf = leaf_hash(42, index, &a.node, &a.owner, a.amount);
        assert_eq!(
            root_from_proof(leaf, index, n, &proof),
            Some(root),
            "leaf {index}"
        );
    }
    assert_eq!(longest, 17, "ceil(log2(100_000))");
    println!(
        "100,000 leaves: longest proof {longest} hashes ({} bytes)",
        longest * 32
    );

    // A changed amount, owner, index or epoch does not verify.
    let a = tree.allocations()[99_999];
    let proof = tree.proof(99_999).unwrap();
    for leaf in [
        leaf_hash(42, 99_999, &a.node, &a.owner, a.amount + 1),
        leaf_hash(42, 99_999, &a.node, &key(9, 0), a.amount),
        leaf_hash(43, 99_999, &a.node, &a.owner, a.amount),
    ] {
        assert_ne!(root_from_proof(leaf, 99_999, n, &proof), Some(root));
    }
    let leaf = leaf_hash(42, 99_999, &a.node, &a.owner, a.amount);
    assert_ne!(root_from_proof(leaf, 99_998, n, &proof), Some(root));
}

#[test]
fn a_single_leaf_is_its_own_root() {
    let tree = RewardTree::build(1, allocations(1)).unwrap();
    let a = tree.allocations()[0];
    assert!(tree.proof(0).unwrap().is_empty());
    assert_eq!(tree.root(), leaf_hash(1, 0, &a.node, &a.owner, a.amount));
    assert!(matches!(
        tree.proof(1),
        Err(RewardsError::NoSuchLeaf {
            index: 1,
            num_leaves: 1
        })
    ));
    assert!(matches!(
        RewardTree::build(1, Vec::new()),
        Err(RewardsError::LeafCount(0))
    ));
}

#[test]
fn the_epoch_file_round_trips_and_catches_tampering() {
    let tree = RewardTree::build(7, allocations(1_001)).unwrap();
    let file = tree.to_file();
    let path = std::env::temp_dir().join(format!("iomesh-epoch-{}.json", std::process::id()));
    file.write_json(&path).unwrap();
    let read = EpochFile::read_json(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read, file);
    let verified = read.verify().unwrap();
    assert_eq!(verified.root(), tree.root());
    assert_eq!(verified.total(), tree.total());

    let mut inflated = file.clone();
    inflated.leaves[500].amount += 1;
    assert!(matches!(inflated.verify(), Err(RewardsError::Mismatch(_))));
    let mut bad_root = file.clone();
    bad_root.merkle_root = "zz".repeat(32);
    assert!(matches!(bad_root.verify(), Err(RewardsError::Field { .. })));
    let mut bad_proof = file;
    bad_proof.leaves[3].proof.pop();
    assert!(matches!(bad_proof.verify(), Err(RewardsError::Mismatch(_))));
}
