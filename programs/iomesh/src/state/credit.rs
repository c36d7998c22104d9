use anchor_lang::prelude::*;

/// Tokens the program owes one wallet, held in one of its vaults
/// (`["credit", vault, owner]`): a payout or refund whose destination could not
/// take it (token account closed, frozen, given to another owner, or refusing
/// transfers without a memo). Nobody can block a lease from ending by making
/// their account unable to receive; the amount waits here until the owner
/// withdraws it to an account of their choice (a pull payment).
#[account]
#[derive(InitSpace, Debug)]
pub struct Credit {
    pub version: u8,
    pub bump: u8,
    /// Who may withdraw.
    pub owner: Pubkey,
    /// The program's token account holding the tokens: a mint's escrow
    /// vault, or the IO stake vault (a slash's share for a harmed renter).
    pub vault: Pubkey,
    /// Base units owed, held in `vault`.
    pub amount: u64,
    /// Who funded this account's rent (a lease's payer): gets it back when
    /// the emptied credit is closed.
    pub rent_payer: Pubkey,
    pub reserved: [u8; 8],
}

impl Credit {
    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        Ok(())
    }
}
