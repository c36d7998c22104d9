//! Reward epochs: publish_epoch (funded from the reserve), grow_epoch,
//! claim_reward with merkle proofs built by `iomesh-rewards`, clawback_epoch.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{error::IomeshError, state::RewardEpoch, ClaimRewardArgs, PublishEpochArgs};
use iomesh_rewards::{Allocation, RewardTree};
use solana_signer::Signer;

const PER_GPU: u64 = 10 * TOKEN;
const CLAIM_WINDOW: i64 = 30 * 24 * 3_600;

struct Rewards {
    env: TestEnv,
    nodes: Vec<TestNode>,
    tree: RewardTree,
}

/// Staking on, three staked nodes, and epoch 1 allocating 100, 200 and 300 IO to them.
async fn setup() -> Rewards {
    let mut env = TestEnv::new().await;
    let slasher = env.wallet().await;
    env.enable_staking(PER_GPU, slasher.pubkey()).await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let node = env.register_node(2).await;
        env.stake(&node, 2 * PER_GPU).await.unwrap();
        nodes.push(node);
    }
    let allocations = nodes
        .iter()
        .zip([100, 200, 300])
        .map(|(n, amount)| Allocation {
            node: n.address,
            owner: n.owner.pubkey(),
            amount: amount * TOKEN,
        })
        .collect();
    let tree = RewardTree::build(1, allocations).unwrap();
    Rewards { env, nodes, tree }
}

impl Rewards {
    fn publish_args(&self, total_amount: u64, deadline: i64) -> PublishEpochArgs {
        PublishEpochArgs {
            epoch: self.tree.epoch(),
            merkle_root: self.tree.root(),
            total_amount,
            num_leaves: self.tree.num_leaves(),
            claim_deadline: deadline,
        }
    }

    async fn publish(&mut self) {
        let total = self.tree.total();
        self.env.fund_rewards_reserve(total + 5 * TOKEN).await;
        let deadline = self.env.now().await + CLAIM_WINDOW;
        let authority = self.env.keys.authority.insecure_clone();
        let ix = self
            .env
            .publish_epoch_ix(authority.pubkey(), self.publish_args(total, deadline));
        self.env.send(&[ix], &[&authority]).await.unwrap();
    }

    fn claim_args(&self, index: u32) -> ClaimRewardArgs {
        ClaimRewardArgs {
            index,
            amount: self.tree.allocations()[index as usize].amount,
            proof: self.tree.proof(index).unwrap(),
        }
    }

    async fn claim(
        &mut self,
        index: u32,
    ) -> std::result::Result<(), solana_transaction_error::TransactionError> {
        let args = self.claim_args(index);
        self.claim_with(index, args).await
    }

    async fn claim_with(
        &mut self,
        index: u32,
        args: ClaimRewardArgs,
    ) -> std::result::Result<(), solana_transaction_error::TransactionError> {
        let node = &self.nodes[index as usize];
        let owner = node.owner.insecure_clone();
        let ix = self
            .env
            .claim_reward_ix(1, node.address, owner.pubkey(), args);
        self.env.send(&[ix], &[&owner]).await
    }
}

#[tokio::test]
async fn publish_funds_the_epoch_and_each_leaf_is_claimed_once() {
    let mut r = setup().await;
    r.publish().await;
    let io = r.env.io;
    assert_eq!(r.env.balance(rewards_escrow_pda()).await, 600 * TOKEN);
    assert_eq!(r.env.balance(rewards_reserve_pda()).await, 5 * TOKEN);
    let epoch = r.env.reward_epoch(1).await.unwrap();
    assert_eq!(epoch.merkle_root, r.tree.root());
    assert_eq!(
        r.env.account_data(epoch_pda(1)).await.unwrap().len(),
        RewardEpoch::account_len(3)
    );

    r.claim(1).await.unwrap();
    let owner = r.nodes[1].owner.pubkey();
    assert_eq!(r.env.balance(io.ata(&owner)).await, 200 * TOKEN);
    assert_error(r.claim(1).await, code(IomeshError::AlreadyClaimed));
    r.claim(0).await.unwrap();
    r.claim(2).await.unwrap();
    let epoch = r.env.reward_epoch(1).await.unwrap();
    assert_eq!((epoch.claimed_amount, epoch.claims), (600 * TOKEN, 3));
    assert_eq!(r.env.balance(rewards_escrow_pda()).await, 0);
}

#[tokio::test]
async fn wrong_proofs_and_leaves_of_others_are_refused() {
    let mut r = setup().await;
    r.publish().await;
    // An inflated amount, a proof of another leaf, a wrong index.
    let mut args = r.claim_args(0);
    args.amount += 1;
    assert_error(r.claim_with(0, args).await, code(IomeshError::InvalidProof));
    let mut args = r.claim_args(0);
    args.proof = r.tree.proof(1).unwrap();
    assert_error(r.claim_with(0, args).await, code(IomeshError::InvalidProof));
    let mut args = r.claim_args(0);
    args.index = 7;
    assert_error(r.claim_with(0, args).await, code(IomeshError::InvalidProof));

    // Node 0's owner presents node 1's leaf for node 1: not its node.
    let thief = r.nodes[0].owner.insecure_clone();
    let ix = r
        .env
        .claim_reward_ix(1, r.nodes[1].address, thief.pubkey(), r.claim_args(1));
    assert_error(
        r.env.send(&[ix], &[&thief]).await,
        code(IomeshError::NotNodeOwner),
    );
    // ... or node 1's leaf as if it were its own node's: the leaf names node 1.
    let ix = r
        .env
        .claim_reward_ix(1, r.nodes[0].address, thief.pubkey(), r.claim_args(1));
    assert_error(
        r.env.send(&[ix], &[&thief]).await,
        code(IomeshError::InvalidProof),
    );
    assert_eq!(r.env.reward_epoch(1).await.unwrap().claims, 0);
}

#[tokio::test]
async fn a_node_below_its_stake_cannot_claim() {
    let mut r = setup().await;
    r.publish().await;
    r.env.request_unstake(&r.nodes[2], 1).await.unwrap();
    assert_error(r.claim(2).await, code(IomeshError::InsufficientStake));
}

#[tokio::test]
async fn clawback_after_the_deadline_returns_the_unclaimed_rest() {
    let mut r = setup().await;
    r.publish().await;
    r.claim(0).await.unwrap();
    let clawback = r.env.clawback_epoch_ix(1);
    assert_error(
        r.env.send(&[clawback.clone()], &[]).await,
        code(IomeshError::ClaimWindowOpen),
    );
    r.env.warp(CLAIM_WINDOW + 1).await;
    assert_error(r.claim(1).await, code(IomeshError::ClaimWindowClosed));
    r.env.send(&[clawback.clone()], &[]).await.unwrap();
    assert_eq!(r.env.balance(rewards_escrow_pda()).await, 0);
    assert_eq!(r.env.balance(rewards_reserve_pda()).await, 505 * TOKEN);
    assert_error(
        r.env.send(&[clawback], &[]).await,
        code(IomeshError::EpochClawedBack),
    );
    assert_error(r.claim(1).await, code(IomeshError::EpochClawedBack));
    // The epoch number stays taken: it cannot be published (and claimed) again.
    let authority = r.env.keys.authority.insecure_clone();
    let deadline = r.env.now().await + CLAIM_WINDOW;
    let ix = r
        .env
        .publish_epoch_ix(authority.pubkey(), r.publish_args(500 * TOKEN, deadline));
    assert_error(
        r.env.send(&[ix], &[&authority]).await,
        code(IomeshError::AccountAlreadyInUse),
    );
}

#[tokio::test]
async fn claims_never_exceed_the_epoch_total() {
    let mut r = setup().await;
    // The authority publishes less than the tree allocates (a broken job).
    r.env.fund_rewards_reserve(1_000 * TOKEN).await;
    let deadline = r.env.now().await + CLAIM_WINDOW;
    let authority = r.env.keys.authority.insecure_clone();
    let ix = r
        .env
        .publish_epoch_ix(authority.pubkey(), r.publish_args(450 * TOKEN, deadline));
    r.env.send(&[ix], &[&authority]).await.unwrap();
    r.claim(2).await.unwrap();
    assert_error(r.claim(1).await, code(IomeshError::ClaimExceedsEpoch));
    r.claim(0).await.unwrap();
    assert_eq!(r.env.balance(rewards_escrow_pda()).await, 50 * TOKEN);
}

#[tokio::test]
async fn publish_is_checked() {
    let mut r = setup().await;
    let total = r.tree.total();
    let deadline = r.env.now().await + CLAIM_WINDOW;
    let authority = r.env.keys.authority.insecure_clone();
    // The reserve is empty.
    let ix = r
        .env
        .publish_epoch_ix(authority.pubkey(), r.publish_args(total, deadline));
    assert_error(
        r.env.send(&[ix], &[&authority]).await,
        code(IomeshError::RewardsReserveTooSmall),
    );
    r.env.fund_rewards_reserve(total).await;
    let stranger = r.env.wallet().await;
    let ix = r
        .env
        .publish_epoch_ix(stranger.pubkey(), r.publish_args(total, deadline));
    assert_error(
        r.env.send(&[ix], &[&stranger]).await,
        code(IomeshError::NotRewardAuthority),
    );
    let now = r.env.now().await;
    let mut past = r.publish_args(total, now);
    let ix = r.env.publish_epoch_ix(authority.pubkey(), past.clone());
    assert_error(
        r.env.send(&[ix], &[&authority]).await,
        code(IomeshError::InvalidEpoch),
    );
    past.claim_deadline = deadline;
    past.num_leaves = 0;
    let ix = r.env.publish_epoch_ix(authority.pubkey(), past);
    assert_error(
        r.env.send(&[ix], &[&authority]).await,
        code(IomeshError::InvalidEpoch),
    );
}

#[tokio::test]
async fn a_100k_leaf_epoch_is_grown_in_place_and_its_deepest_leaf_claimed_in_one_transaction() {
    let mut env = TestEnv::new().await;
    let slasher = env.wallet().await;
    env.enable_staking(PER_GPU, slasher.pubkey()).await;
    let node = env.register_node(2).await;
    env.stake(&node, 2 * PER_GPU).await.unwrap();
    let n: u32 = 100_000;
    // Leaf 0 has a sibling at every level: its proof is the longest.
    let allocations = (0..n)
        .map(|i| match i {
            0 => Allocation {
                node: node.address,
                owner: node.owner.pubkey(),
                amount: 77 * TOKEN,
            },
            _ => Allocation {
                node: Pubkey::new_unique(),
                owner: Pubkey::new_unique(),
                amount: TOKEN,
            },
        })
        .collect();
    let tree = RewardTree::build(9, allocations).unwrap();
    env.fund_rewards_reserve(tree.total()).await;
    let authority = env.keys.authority.insecure_clone();
    let deadline = env.now().await + CLAIM_WINDOW;
    let publish = env.publish_epoch_ix(
        authority.pubkey(),
        PublishEpochArgs {
            epoch: 9,
            merkle_root: tree.root(),
            total_amount: tree.total(),
            num_leaves: n,
            claim_deadline: deadline,
        },
    );
    // Published alone, the account stops at the 10 KiB an instruction may allocate.
    env.send(&[publish], &[&authority]).await.unwrap();
    let full = RewardEpoch::account_len(n);
    assert_eq!(env.account_data(epoch_pda(9)).await.unwrap().len(), 10_240);
    let proof = tree.proof(0).unwrap();
    let claim = env.claim_reward_ix(
        9,
        node.address,
        node.owner.pubkey(),
        ClaimRewardArgs {
            index: 0,
            amount: 77 * TOKEN,
            proof: proof.clone(),
        },
    );
    let owner = node.owner.insecure_clone();
    assert_error(
        env.send(&[claim.clone()], &[&owner]).await,
        code(IomeshError::EpochNotFullyAllocated),
    );
    let grow = env.grow_epoch_ix(9, authority.pubkey());
    env.send(&[grow.clone()], &[&authority]).await.unwrap();
    assert_eq!(env.account_data(epoch_pda(9)).await.unwrap().len(), full);
    assert_error(
        env.send(&[grow], &[&authority]).await,
        code(IomeshError::EpochFullyAllocated),
    );
    let rent = env.rent_exempt(full).await;
    assert_eq!(env.lamports(epoch_pda(9)).await, rent);

    // The claim, signed by the owner paying its own fee, as a wallet would send it.
    let blockhash = env.latest_blockhash().await;
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[claim],
        Some(&owner.pubkey()),
        &[&owner],
        blockhash,
    );
    let size = bincode::serialize(&tx).unwrap().len();
    assert!(size <= 1_232, "claim transaction is {size} bytes");
    env.ctx.banks_client.process_transaction(tx).await.unwrap();
    assert_eq!(
        env.balance(env.io.ata(&node.owner.pubkey())).await,
        77 * TOKEN
    );
    println!(
        "100,000-leaf epoch: account {full} bytes, rent {rent} lamports; proof {} hashes; claim transaction {size} bytes (limit 1232)",
        proof.len()
    );
}
