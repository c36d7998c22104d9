//! Builders for every instruction a person signs, with the exact account
//! lists the program expects. Builders are pure: they take addresses, never
//! fetch; `LeaseKeys` gathers what the lease instructions need.

use crate::{pda, tokens::TokenMint};
use anchor_lang::solana_program::instruction::AccountMeta;
use anchor_lang::{prelude::Pubkey, system_program, InstructionData, ToAccountMetas};
use anchor_spl::associated_token::spl_associated_token_account;
use iomesh::{
    accounts as acc, instruction as data, AddPaymentMintArgs, ClaimRewardArgs, CreateClusterArgs,
    CreateLeaseArgs, IosdPolicy, MarketParams, NodeSpec, NodeStatus, PublishEpochArgs,
    StakingPolicy, UpdatePaymentMintArgs,
};

pub use anchor_lang::solana_program::instruction::Instruction;

fn ix(accounts: impl ToAccountMetas, args: impl InstructionData) -> Instruction {
    Instruction {
        program_id: iomesh::ID,
        accounts: accounts.to_account_metas(None),
        data: args.data(),
    }
}

/// Creates `owner`'s associated token account for `mint` if it does not exist yet.
pub fn create_ata_idempotent(funder: &Pubkey, owner: &Pubkey, mint: &TokenMint) -> Instruction {
    spl_associated_token_account::instruction::create_associated_token_account_idempotent(
        funder,
        owner,
        &mint.mint,
        &mint.token_program,
    )
}

// ---------------------------------------------------------------- market

pub fn initialize_market(authority: &Pubkey, params: MarketParams) -> Instruction {
    ix(
        acc::InitializeMarket {
            market: pda::market(),
            authority: *authority,
            system_program: system_program::ID,
        },
        data::InitializeMarket { params },
    )
}

pub fn update_market(authority: &Pubkey, params: MarketParams) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: pda::market(),
            authority: *authority,
        },
        data::UpdateMarket { params },
    )
}

pub fn propose_authority(authority: &Pubkey, new_authority: Pubkey) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: pda::market(),
            authority: *authority,
        },
        data::ProposeAuthority { new_authority },
    )
}

pub fn accept_authority(new_authority: &Pubkey) -> Instruction {
    ix(
        acc::AcceptAuthority {
            market: pda::market(),
            new_authority: *new_authority,
        },
        data::AcceptAuthority {},
    )
}

pub fn set_paused(authority: &Pubkey, paused: bool) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: pda::market(),
            authority: *authority,
        },
        data::SetPaused { paused },
    )
}

pub fn add_payment_mint(
    authority: &Pubkey,
    mint: &TokenMint,
    args: AddPaymentMintArgs,
) -> Instruction {
    ix(
        acc::AddPaymentMint {
            market: pda::market(),
            payment_mint: pda::payment_mint(&mint.mint),
            mint: mint.mint,
            vault: pda::vault(&mint.mint),
            authority: *authority,
            token_program: mint.token_program,
            system_program: system_program::ID,
        },
        data::AddPaymentMint { args },
    )
}

pub fn update_payment_mint(
    authority: &Pubkey,
    mint: &Pubkey,
    args: UpdatePaymentMintArgs,
) -> Instruction {
    ix(
        acc::PaymentMintAdmin {
            market: pda::market(),
            payment_mint: pda::payment_mint(mint),
            authority: *authority,
        },
        data::UpdatePaymentMint { args },
    )
}

pub fn set_mint_price(
    price_authority: &Pubkey,
    mint: &Pubkey,
    usd_price_micros: u64,
) -> Instruction {
    ix(
        acc::SetMintPrice {
            market: pda::market(),
            payment_mint: pda::payment_mint(mint),
            price_authority: *price_authority,
        },
        data::SetMintPrice { usd_price_micros },
    )
}

// ---------------------------------------------------------------- nodes

/// Both the owner (pays, controls) and the operator (hot key) sign.
pub fn register_node(owner: &Pubkey, operator: &Pubkey, spec: NodeSpec) -> Instruction {
    ix(
        acc::RegisterNode {
            market: pda::market(),
            node: pda::node(operator),
            owner: *owner,
            operator: *operator,
            system_program: system_program::ID,
        },
        data::RegisterNode { spec },
    )
}

pub fn update_node(owner: &Pubkey, node: &Pubkey, spec: NodeSpec) -> Instruction {
    ix(
        acc::UpdateNode {
            market: pda::market(),
            node: *node,
            owner: *owner,
        },
        data::UpdateNode { spec },
    )
}

pub fn set_node_status(owner: &Pubkey, node: &Pubkey, status: NodeStatus) -> Instruction {
    ix(
        acc::SetNodeStatus {
            node: *node,
            owner: *owner,
        },
        data::SetNodeStatus { status },
    )
}

pub fn retire_node(owner: &Pubkey, node: &Pubkey) -> Instruction {
    ix(
        acc::RetireNode {
            node: *node,
            owner: *owner,
        },
        data::RetireNode {},
    )
}

// ---------------------------------------------------------------- leases

/// `payer` funds the escrow from its associated token account; it may be the renter.
pub fn create_lease(
    renter: &Pubkey,
    payer: &Pubkey,
    node: &Pubkey,
    mint: &TokenMint,
    args: CreateLeaseArgs,
) -> Instruction {
    create_cluster_lease(renter, payer, node, mint, args, None)
}

/// `create_lease` joining the renter's `cluster` (its address), if any: the
/// lease then starts only once every lease of the cluster is funded.
pub fn create_cluster_lease(
    renter: &Pubkey,
    payer: &Pubkey,
    node: &Pubkey,
    mint: &TokenMint,
    args: CreateLeaseArgs,
    cluster: Option<Pubkey>,
) -> Instruction {
    ix(
        acc::CreateLease {
            market: pda::market(),
            payment_mint: pda::payment_mint(&mint.mint),
            mint: mint.mint,
            vault: pda::vault(&mint.mint),
            node: *node,
            lease: pda::lease(renter, args.nonce),
            payer_token_account: mint.ata(payer),
            renter: *renter,
            payer: *payer,
            cluster,
            price_update: None,
            token_program: mint.token_program,
            system_program: system_program::ID,
        },
        data::CreateLease { args },
    )
}

pub fn activate_lease(operator: &Pubkey, lease: &Pubkey) -> Instruction {
    activate_cluster_lease(operator, lease, None)
}

/// Activation of a lease that belongs to `cluster` (required for a cluster lease).
pub fn activate_cluster_lease(
    operator: &Pubkey,
    lease: &Pubkey,
    cluster: Option<Pubkey>,
) -> Instruction {
    ix(
        acc::ActivateLease {
            market: pda::market(),
            lease: *lease,
            node: pda::node(operator),
            cluster,
            operator: *operator,
        },
        data::ActivateLease {},
    )
}

/// Every address a lease instruction that moves escrow touches, read from the
/// lease, its node (owner) and the market (treasury).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseKeys {
    pub lease: Pubkey,
    pub node: Pubkey,
    pub node_owner: Pubkey,
    pub treasury: Pubkey,
    pub payer: Pubkey,
    pub renter: Pubkey,
    pub mint: TokenMint,
    /// The lease's cluster, when it belongs to one: ending a pending cluster
    /// lease passes it so that the cluster stops counting the lease.
    pub cluster: Option<Pubkey>,
}

impl LeaseKeys {
    fn supplier_token_account(&self) -> Pubkey {
        self.mint.ata(&self.node_owner)
    }
    fn treasury_token_account(&self) -> Pubkey {
        self.mint.ata(&self.treasury)
    }
    fn payer_token_account(&self) -> Pubkey {
        self.mint.ata(&self.payer)
    }
    fn vault(&self) -> Pubkey {
        pda::vault(&self.mint.mint)
    }
    fn payment_mint(&self) -> Pubkey {
        pda::payment_mint(&self.mint.mint)
    }
    /// Keeps the supplier's payouts when its token account cannot take them.
    pub fn supplier_credit(&self) -> Pubkey {
        pda::credit(&self.vault(), &self.node_owner)
    }
    /// Keeps the payer's refunds when its token account cannot take them.
    pub fn payer_credit(&self) -> Pubkey {
        pda::credit(&self.vault(), &self.payer)
    }
    /// Appends the cluster (writable) after the named accounts.
    fn with_cluster(&self, mut instruction: Instruction) -> Instruction {
        if let Some(cluster) = self.cluster {
            instruction.accounts.push(AccountMeta::new(cluster, false));
        }
        instruction
    }

    /// The wallets a settlement pays: the node owner and the treasury.
    pub fn payees(&self) -> [Pubkey; 2] {
        [self.node_owner, self.treasury]
    }

    /// The wallets an ending pays: the node owner, the treasury and the payer.
    pub fn ending_payees(&self) -> [Pubkey; 3] {
        [self.node_owner, self.treasury, self.payer]
    }

    pub fn settle(&self) -> Instruction {
        ix(
            acc::SettleLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                payment_mint: self.payment_mint(),
                vault: self.vault(),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
                supplier_credit: self.supplier_credit(),
                token_program: self.mint.token_program,
            },
            data::SettleLease {},
        )
    }

    /// `funder` (the renter or the payer) pays for `added_secs` more from its token account.
    pub fn extend(&self, funder: &Pubkey, added_secs: u32) -> Instruction {
        ix(
            acc::ExtendLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                funder_token_account: self.mint.ata(funder),
                funder: *funder,
                token_program: self.mint.token_program,
            },
            data::ExtendLease { added_secs },
        )
    }

    /// Signed by the renter. Payout accounts are passed always: an active
    /// lease needs them and a pending one ignores them.
    pub fn cancel(&self) -> Instruction {
        self.with_cluster(ix(
            acc::CancelLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                payment_mint: self.payment_mint(),
                vault: self.vault(),
                supplier_token_account: Some(self.supplier_token_account()),
                treasury_token_account: Some(self.treasury_token_account()),
                payer_token_account: self.payer_token_account(),
                supplier_credit: self.supplier_credit(),
                payer_credit: self.payer_credit(),
                payer: self.payer,
                renter: self.renter,
                token_program: self.mint.token_program,
                system_program: system_program::ID,
            },
            data::CancelLease {},
        ))
    }

    /// Signed by the market's scheduler authority.
    pub fn report_failure(&self, scheduler_authority: &Pubkey, failed_at: i64) -> Instruction {
        ix(
            acc::ReportFailure {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                payment_mint: self.payment_mint(),
                vault: self.vault(),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
                payer_token_account: self.payer_token_account(),
                supplier_credit: self.supplier_credit(),
                payer_credit: self.payer_credit(),
                payer: self.payer,
                scheduler_authority: *scheduler_authority,
                token_program: self.mint.token_program,
                system_program: system_program::ID,
            },
            data::ReportFailure { failed_at },
        )
    }

    pub fn expire(&self) -> Instruction {
        self.with_cluster(ix(
            acc::ExpireLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: self.vault(),
                payer_token_account: self.payer_token_account(),
                payer_credit: self.payer_credit(),
                payer: self.payer,
                token_program: self.mint.token_program,
                system_program: system_program::ID,
            },
            data::ExpireLease {},
        ))
    }

    pub fn close(&self) -> Instruction {
        ix(
            acc::CloseLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                payment_mint: self.payment_mint(),
                vault: self.vault(),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
                payer_token_account: self.payer_token_account(),
                supplier_credit: self.supplier_credit(),
                payer_credit: self.payer_credit(),
                payer: self.payer,
                token_program: self.mint.token_program,
                system_program: system_program::ID,
            },
            data::CloseLease {},
        )
    }
}

// ---------------------------------------------------------------- clusters

pub fn create_cluster(renter: &Pubkey, args: CreateClusterArgs) -> Instruction {
    ix(
        acc::CreateCluster {
            market: pda::market(),
            cluster: pda::cluster(renter, args.nonce),
            renter: *renter,
            system_program: system_program::ID,
        },
        data::CreateCluster { args },
    )
}

/// One lease `unwind_cluster` refunds: its address, node and payer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnwindLease {
    pub lease: Pubkey,
    pub node: Pubkey,
    pub payer: Pubkey,
}

/// Refunds and closes `leases` (all in `mint`) of `renter`'s cluster (anyone
/// signs); the call that unwinds the last lease closes the cluster.
pub fn unwind_cluster(
    renter: &Pubkey,
    cluster: &Pubkey,
    mint: &TokenMint,
    leases: &[UnwindLease],
) -> Instruction {
    let mut instruction = ix(
        acc::UnwindCluster {
            market: pda::market(),
            cluster: *cluster,
            renter: *renter,
            mint: mint.mint,
            vault: pda::vault(&mint.mint),
            token_program: mint.token_program,
            system_program: system_program::ID,
        },
        data::UnwindCluster {},
    );
    // Groups of `iomesh::instructions::unwind_cluster::UNWIND_GROUP`.
    for lease in leases {
        instruction.accounts.extend([
            AccountMeta::new(lease.lease, false),
            AccountMeta::new(lease.node, false),
            AccountMeta::new(mint.ata(&lease.payer), false),
            AccountMeta::new(lease.payer, false),
            AccountMeta::new(pda::credit(&pda::vault(&mint.mint), &lease.payer), false),
        ]);
    }
    instruction
}

pub fn close_cluster(renter: &Pubkey, cluster: &Pubkey) -> Instruction {
    ix(
        acc::CloseCluster {
            cluster: *cluster,
            renter: *renter,
        },
        data::CloseCluster {},
    )
}

// ---------------------------------------------------------------- credits

/// Pays `owner` what the program kept for it in `vault` (a mint's escrow
/// vault, or the IO stake vault) to `destination`, any token account of the
/// mint; lamports kept for it go to its wallet (owner signs).
pub fn withdraw_credit(
    owner: &Pubkey,
    vault: &Pubkey,
    mint: &TokenMint,
    destination: &Pubkey,
) -> Instruction {
    ix(
        acc::WithdrawCredit {
            market: pda::market(),
            credit: pda::credit(vault, owner),
            vault: *vault,
            mint: mint.mint,
            destination: *destination,
            owner: *owner,
            token_program: mint.token_program,
        },
        data::WithdrawCredit {},
    )
}

/// Closes an emptied credit, its rent back to `rent_payer` (anyone signs).
pub fn close_credit(credit: &Pubkey, rent_payer: &Pubkey) -> Instruction {
    ix(
        acc::CloseCredit {
            credit: *credit,
            rent_payer: *rent_payer,
        },
        data::CloseCredit {},
    )
}

/// Pays the treasury the fees of `mint` its token account could not take (anyone signs).
pub fn sweep_fees(treasury: &Pubkey, mint: &TokenMint) -> Instruction {
    ix(
        acc::SweepFees {
            market: pda::market(),
            mint: mint.mint,
            payment_mint: pda::payment_mint(&mint.mint),
            vault: pda::vault(&mint.mint),
            treasury_token_account: mint.ata(treasury),
            token_program: mint.token_program,
        },
        data::SweepFees {},
    )
}

// ---------------------------------------------------------------- staking

/// Creates the stake vault, rewards reserve and rewards escrow for `io` (market authority).
pub fn init_io_vaults(authority: &Pubkey, io: &TokenMint) -> Instruction {
    ix(
        acc::InitIoVaults {
            market: pda::market(),
            io_mint: io.mint,
            stake_vault: pda::stake_vault(),
            rewards_reserve: pda::rewards_reserve(),
            rewards_escrow: pda::rewards_escrow(),
            authority: *authority,
            token_program: io.token_program,
            system_program: system_program::ID,
        },
        data::InitIoVaults {},
    )
}

pub fn set_staking_policy(authority: &Pubkey, policy: StakingPolicy) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: pda::market(),
            authority: *authority,
        },
        data::SetStakingPolicy { policy },
    )
}

fn stake_accounts(owner: &Pubkey, node: &Pubkey, io: &TokenMint) -> acc::StakeAccounts {
    acc::StakeAccounts {
        market: pda::market(),
        node: *node,
        io_mint: io.mint,
        stake_vault: pda::stake_vault(),
        owner_token_account: io.ata(owner),
        owner: *owner,
        token_program: io.token_program,
    }
}

/// The node's owner moves `amount` IO base units from its token account into the node's stake.
pub fn stake(owner: &Pubkey, node: &Pubkey, io: &TokenMint, amount: u64) -> Instruction {
    ix(stake_accounts(owner, node, io), data::Stake { amount })
}

/// Starts the cooldown of `amount` staked base units (node owner).
pub fn request_unstake(owner: &Pubkey, node: &Pubkey, amount: u64) -> Instruction {
    ix(
        acc::RequestUnstake {
            market: pda::market(),
            node: *node,
            owner: *owner,
        },
        data::RequestUnstake { amount },
    )
}

/// After the cooldown, everything unstaking returns to the owner's IO token account.
pub fn withdraw_stake(owner: &Pubkey, node: &Pubkey, io: &TokenMint) -> Instruction {
    ix(stake_accounts(owner, node, io), data::WithdrawStake {})
}

// ---------------------------------------------------------------- rewards

/// Moves `amount` IO base units from `funder`'s token account into the rewards
/// reserve that epochs are funded from (anyone may fund it).
pub fn fund_rewards_reserve(
    funder: &Pubkey,
    io: &TokenMint,
    decimals: u8,
    amount: u64,
) -> crate::Result<Instruction> {
    anchor_spl::token_2022::spl_token_2022::instruction::transfer_checked(
        &io.token_program,
        &io.ata(funder),
        &io.mint,
        &pda::rewards_reserve(),
        funder,
        &[],
        amount,
        decimals,
    )
    .map_err(|err| crate::Error::Invalid(format!("transfer_checked: {err}")))
}

/// Publishes an epoch funded from the rewards reserve (reward authority).
pub fn publish_epoch(
    reward_authority: &Pubkey,
    io: &TokenMint,
    args: PublishEpochArgs,
) -> Instruction {
    ix(
        acc::PublishEpoch {
            market: pda::market(),
            epoch: pda::epoch(args.epoch),
            io_mint: io.mint,
            rewards_reserve: pda::rewards_reserve(),
            rewards_escrow: pda::rewards_escrow(),
            reward_authority: *reward_authority,
            token_program: io.token_program,
            system_program: system_program::ID,
        },
        data::PublishEpoch { args },
    )
}

/// The node's owner claims its leaf of `epoch` into its IO token account.
pub fn claim_reward(
    owner: &Pubkey,
    node: &Pubkey,
    epoch: u64,
    io: &TokenMint,
    args: ClaimRewardArgs,
) -> Instruction {
    ix(
        acc::ClaimReward {
            market: pda::market(),
            epoch: pda::epoch(epoch),
            node: *node,
            io_mint: io.mint,
            rewards_escrow: pda::rewards_escrow(),
            owner_token_account: io.ata(owner),
            owner: *owner,
            token_program: io.token_program,
        },
        data::ClaimReward { args },
    )
}

// ---------------------------------------------------------------- IOSD

/// Sets up IOSD burn-and-mint with `policy` (market authority); the mint's
/// authority must already be `pda::iosd_mint_authority()`.
pub fn init_iosd(authority: &Pubkey, iosd: &TokenMint, policy: IosdPolicy) -> Instruction {
    ix(
        acc::InitIosd {
            market: pda::market(),
            iosd_config: pda::iosd_config(),
            iosd_mint: iosd.mint,
            iosd_mint_authority: pda::iosd_mint_authority(),
            authority: *authority,
            token_program: iosd.token_program,
            system_program: system_program::ID,
        },
        data::InitIosd { policy },
    )
}

/// Burns `io_amount` of `user`'s IO and mints at least `min_iosd_out` IOSD
/// into its IOSD token account, at the price of the Pyth `price_update` account.
pub fn mint_iosd(
    user: &Pubkey,
    io: &TokenMint,
    iosd: &TokenMint,
    price_update: &Pubkey,
    io_amount: u64,
    min_iosd_out: u64,
) -> Instruction {
    ix(
        acc::MintIosd {
            market: pda::market(),
            iosd_config: pda::iosd_config(),
            io_mint: io.mint,
            iosd_mint: iosd.mint,
            price_update: *price_update,
            user_io: io.ata(user),
            user_iosd: iosd.ata(user),
            iosd_mint_authority: pda::iosd_mint_authority(),
            user: *user,
            io_token_program: io.token_program,
            iosd_token_program: iosd.token_program,
        },
        data::MintIosd {
            io_amount,
            min_iosd_out,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_spl::token::spl_token;

    fn usdc() -> TokenMint {
        TokenMint {
            mint: Pubkey::new_unique(),
            token_program: spl_token::ID,
        }
    }

    fn keys(cluster: Option<Pubkey>) -> LeaseKeys {
        LeaseKeys {
            lease: Pubkey::new_unique(),
            node: Pubkey::new_unique(),
            node_owner: Pubkey::new_unique(),
            treasury: Pubkey::new_unique(),
            payer: Pubkey::new_unique(),
            renter: Pubkey::new_unique(),
            mint: usdc(),
            cluster,
        }
    }

    #[test]
    fn ending_a_cluster_lease_passes_its_cluster_last_and_writable() {
        let cluster = Pubkey::new_unique();
        for ix in [keys(Some(cluster)).cancel(), keys(Some(cluster)).expire()] {
            let last = ix.accounts.last().unwrap();
            assert_eq!(
                (last.pubkey, last.is_writable, last.is_signer),
                (cluster, true, false)
            );
        }
        let plain = keys(None);
        assert_eq!(
            plain.cancel().accounts.len() + 1,
            keys(Some(cluster)).cancel().accounts.len()
        );
        assert_ne!(plain.expire().accounts.last().unwrap().pubkey, cluster);
    }

    #[test]
    fn unwind_passes_lease_node_payer_account_payer_and_credit_per_lease() {
        let renter = Pubkey::new_unique();
        let cluster = pda::cluster(&renter, 7);
        let mint = usdc();
        let leases: Vec<UnwindLease> = (0..2)
            .map(|_| UnwindLease {
                lease: Pubkey::new_unique(),
                node: Pubkey::new_unique(),
                payer: Pubkey::new_unique(),
            })
            .collect();
        let ix = unwind_cluster(&renter, &cluster, &mint, &leases);
        let named =
            ix.accounts.len() - leases.len() * iomesh::instructions::unwind_cluster::UNWIND_GROUP;
        assert_eq!(named, 7);
        for (i, lease) in leases.iter().enumerate() {
            let group = &ix.accounts[named + 5 * i..named + 5 * (i + 1)];
            let keys: Vec<Pubkey> = group.iter().map(|m| m.pubkey).collect();
            assert_eq!(
                keys,
                [
                    lease.lease,
                    lease.node,
                    mint.ata(&lease.payer),
                    lease.payer,
                    pda::credit(&pda::vault(&mint.mint), &lease.payer)
                ]
            );
            assert!(group.iter().all(|m| m.is_writable && !m.is_signer));
        }
    }

    #[test]
    fn cluster_lease_and_activation_carry_the_cluster() {
        let renter = Pubkey::new_unique();
        let cluster = pda::cluster(&renter, 3);
        let args = CreateLeaseArgs {
            nonce: 1,
            gpus: 1,
            duration_secs: 60,
            max_price_per_gpu_hour: 1,
            job_spec_hash: [0; 32],
        };
        let with = create_cluster_lease(
            &renter,
            &renter,
            &Pubkey::new_unique(),
            &usdc(),
            args.clone(),
            Some(cluster),
        );
        assert!(with
            .accounts
            .iter()
            .any(|m| m.pubkey == cluster && m.is_writable));
        let without = create_lease(&renter, &renter, &Pubkey::new_unique(), &usdc(), args);
        assert!(!without.accounts.iter().any(|m| m.pubkey == cluster));
        let operator = Pubkey::new_unique();
        let activate = activate_cluster_lease(&operator, &Pubkey::new_unique(), Some(cluster));
        assert!(activate.accounts.iter().any(|m| m.pubkey == cluster));
    }
}
