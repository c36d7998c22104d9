use crate::{error::IomeshError, events::StakeDeposited, math::SafeMath, seeds, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Mint, TokenAccount, TokenInterface, TransferChecked};

/// The accounts shared by `stake` and `withdraw_stake`.
#[derive(Accounts)]
pub struct StakeAccounts<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::NODE, node.operator.as_ref()],
        bump = node.bump,
        has_one = owner @ IomeshError::NotNodeOwner
    )]
    pub node: Box<Account<'info, Node>>,
    #[account(address = market.io_mint @ IomeshError::IoNotConfigured, mint::token_program = token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT],
        bump,
        token::mint = io_mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = io_mint,
        token::authority = owner,
        token::token_program = token_program
    )]
    pub owner_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    pub owner: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The node owner adds `amount` IO base units to the node's stake.
pub fn handler(ctx: Context<StakeAccounts>, amount: u64) -> Result<()> {
    require!(amount > 0, IomeshError::ZeroAmount);
    let a = ctx.accounts;
    let accounts = TransferChecked {
        from: a.owner_token_account.to_account_info(),
        mint: a.io_mint.to_account_info(),
        to: a.stake_vault.to_account_info(),
        authority: a.owner.to_account_info(),
    };
    token_interface::transfer_checked(
        CpiContext::new(a.token_program.key(), accounts),
        amount,
        a.io_mint.decimals,
    )?;
    a.node.staked = a.node.staked.safe_add(amount)?;
    a.node.invariant()?;
    log_event!(StakeDeposited {
        node: a.node.key(),
        owner: a.owner.key(),
        amount,
        staked: a.node.staked,
    });
    Ok(())
}
