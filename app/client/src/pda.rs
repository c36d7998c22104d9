//! Addresses of the program's accounts, from the program's own seeds.

use anchor_lang::prelude::Pubkey;
use iomesh::seeds;

pub fn market() -> Pubkey {
    Pubkey::find_program_address(&[seeds::MARKET], &iomesh::ID).0
}

pub fn payment_mint(mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::PAYMENT_MINT, mint.as_ref()], &iomesh::ID).0
}

/// The escrow token account of `mint` (authority: the market PDA).
pub fn vault(mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::VAULT, mint.as_ref()], &iomesh::ID).0
}

/// A node is keyed by its operator (hot) key.
pub fn node(operator: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::NODE, operator.as_ref()], &iomesh::ID).0
}

pub fn lease(renter: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::LEASE, renter.as_ref(), &nonce.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

/// A renter's cluster of leases that start together.
pub fn cluster(renter: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::CLUSTER, renter.as_ref(), &nonce.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

/// IO token account holding every node's stake (authority: the market PDA).
pub fn stake_vault() -> Pubkey {
    Pubkey::find_program_address(&[seeds::STAKE_VAULT], &iomesh::ID).0
}

/// IO token account reward epochs are funded from.
pub fn rewards_reserve() -> Pubkey {
    Pubkey::find_program_address(&[seeds::REWARDS_RESERVE], &iomesh::ID).0
}

/// IO token account holding published, unclaimed rewards.
pub fn rewards_escrow() -> Pubkey {
    Pubkey::find_program_address(&[seeds::REWARDS_ESCROW], &iomesh::ID).0
}

/// One published reward epoch and its claim bitmap.
pub fn epoch(epoch: u64) -> Pubkey {
    Pubkey::find_program_address(&[seeds::EPOCH, &epoch.to_le_bytes()], &iomesh::ID).0
}

/// The IOSD burn-and-mint configuration.
pub fn iosd_config() -> Pubkey {
    Pubkey::find_program_address(&[seeds::IOSD], &iomesh::ID).0
}

/// The IOSD mint's mint authority (a PDA that only signs).
pub fn iosd_mint_authority() -> Pubkey {
    Pubkey::find_program_address(&[seeds::IOSD_MINT_AUTHORITY], &iomesh::ID).0
}

/// What the program keeps for `owner` out of `vault` when `owner`'s token
/// account could not take a payout or refund.
pub fn credit(vault: &Pubkey, owner: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::CREDIT, vault.as_ref(), owner.as_ref()],
        &iomesh::ID,
    )
    .0
}
