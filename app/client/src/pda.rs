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
