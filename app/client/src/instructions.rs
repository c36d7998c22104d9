//! Builders for every instruction a person signs, with the exact account
//! lists the program expects. Builders are pure: they take addresses, never
//! fetch; `LeaseKeys` gathers what the lease instructions need.

use crate::{pda, tokens::TokenMint};
use anchor_lang::{prelude::Pubkey, system_program, InstructionData, ToAccountMetas};
use anchor_spl::associated_token::spl_associated_token_account;
use iomesh::{
    accounts as acc, instruction as data, AddPaymentMintArgs, CreateLeaseArgs, MarketParams,
    NodeSpec, NodeStatus, UpdatePaymentMintArgs,
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
        acc::UpdateMarket {
            market: pda::market(),
            authority: *authority,
        },
        data::UpdateMarket { params },
    )
}

pub fn propose_authority(authority: &Pubkey, new_authority: Pubkey) -> Instruction {
    ix(
        acc::ProposeAuthority {
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
        acc::SetPaused {
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
        acc::UpdatePaymentMint {
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
            cluster: None,
            price_update: None,
            token_program: mint.token_program,
            system_program: system_program::ID,
        },
        data::CreateLease { args },
    )
}

pub fn activate_lease(operator: &Pubkey, lease: &Pubkey) -> Instruction {
    ix(
        acc::ActivateLease {
            market: pda::market(),
            lease: *lease,
            node: pda::node(operator),
            cluster: None,
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

    /// The supplier's and treasury's token accounts, created if missing (payouts need them).
    pub fn create_payout_accounts(&self, funder: &Pubkey) -> [Instruction; 2] {
        [
            create_ata_idempotent(funder, &self.node_owner, &self.mint),
            create_ata_idempotent(funder, &self.treasury, &self.mint),
        ]
    }

    /// The payer's token account, created if missing (refunds need it).
    pub fn create_refund_account(&self, funder: &Pubkey) -> Instruction {
        create_ata_idempotent(funder, &self.payer, &self.mint)
    }

    pub fn settle(&self) -> Instruction {
        ix(
            acc::SettleLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
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
        ix(
            acc::CancelLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                supplier_token_account: Some(self.supplier_token_account()),
                treasury_token_account: Some(self.treasury_token_account()),
                payer_token_account: self.payer_token_account(),
                payer: self.payer,
                renter: self.renter,
                token_program: self.mint.token_program,
            },
            data::CancelLease {},
        )
    }

    /// Signed by the market's scheduler authority.
    pub fn report_failure(&self, scheduler_authority: &Pubkey, failed_at: i64) -> Instruction {
        ix(
            acc::ReportFailure {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
                payer_token_account: self.payer_token_account(),
                payer: self.payer,
                scheduler_authority: *scheduler_authority,
                token_program: self.mint.token_program,
            },
            data::ReportFailure { failed_at },
        )
    }

    pub fn expire(&self) -> Instruction {
        ix(
            acc::ExpireLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                payer_token_account: self.payer_token_account(),
                payer: self.payer,
                token_program: self.mint.token_program,
            },
            data::ExpireLease {},
        )
    }

    pub fn close(&self) -> Instruction {
        ix(
            acc::CloseLease {
                market: pda::market(),
                lease: self.lease,
                node: self.node,
                mint: self.mint.mint,
                vault: pda::vault(&self.mint.mint),
                supplier_token_account: self.supplier_token_account(),
                treasury_token_account: self.treasury_token_account(),
                payer_token_account: self.payer_token_account(),
                payer: self.payer,
                token_program: self.mint.token_program,
            },
            data::CloseLease {},
        )
    }
}
