//! Paying out of an escrow vault so that no recipient can block the payment.
//!
//! A payout goes to the recipient's associated token account when that
//! account can take it. An account can stop taking tokens at its owner's
//! will (closed, handed to another owner with `SetAuthority`, a Token-2022
//! account demanding a memo) or at the mint's (frozen, as USDC does to
//! blacklisted holders). Had the transfer been attempted, the whole
//! instruction would fail, and a renter could keep a supplier's GPUs
//! reserved, or a supplier a renter's escrow, for the price of a fee.
//! Instead such a payment is credited to the recipient's [`Credit`] account
//! (`["credit", vault, owner]`), kept in the vault, and withdrawn by the owner
//! later to an account of their choice; fees the treasury cannot take are
//! kept as the payment mint's `unswept_fees`. Lamports (an account's rent)
//! are credited directly to any wallet that can be written to, whichever
//! program owns it.

use crate::{
    account_creation,
    error::IomeshError,
    events::{Credited, FeesHeld},
    math::SafeMath,
    seeds,
    state::{AccountSpace, Credit, Market, PaymentMint, ACCOUNT_VERSION},
    transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::{
    associated_token::get_associated_token_address_with_program_id,
    token_2022::spl_token_2022::{
        extension::{memo_transfer::memo_required, StateWithExtensions},
        state::{Account as TokenState, AccountState},
    },
    token_interface::{Mint, TokenAccount, TokenInterface},
};

/// The vault a payment leaves from, borrowed from an instruction's context.
pub struct VaultAccounts<'a, 'info> {
    pub market: &'a Account<'info, Market>,
    pub mint: &'a InterfaceAccount<'info, Mint>,
    pub vault: &'a InterfaceAccount<'info, TokenAccount>,
    pub token_program: &'a Interface<'info, TokenInterface>,
}

/// A wallet owed a payment, with the two places it can be paid.
pub struct Payee<'a, 'info> {
    pub wallet: Pubkey,
    /// The wallet's associated token account for the mint (it may not exist).
    pub token_account: &'a AccountInfo<'info>,
    /// `["credit", vault, wallet]` (it may not exist yet).
    pub credit: &'a AccountInfo<'info>,
}

/// Where the rent of a credit account the payment must create comes from: an
/// account of this program closed by the same instruction (a lease, a
/// pending slash), whose rent payer then funded the credit.
pub struct RentSource<'a, 'info> {
    pub account: AccountInfo<'info>,
    pub rent_payer: Pubkey,
    pub system_program: &'a Program<'info, System>,
}

/// The treasury's side of a fee: its token account, and the payment mint
/// that keeps the fees it could not take.
pub struct Treasury<'a, 'info> {
    pub token_account: &'a AccountInfo<'info>,
    pub payment_mint: &'a mut Account<'info, PaymentMint>,
}

/// The associated token account a payout to `wallet` must be sent to.
pub fn payout_address(wallet: &Pubkey, mint: &Pubkey, token_program: &Pubkey) -> Pubkey {
    get_associated_token_address_with_program_id(wallet, mint, token_program)
}

/// The credit account of `wallet` for tokens held in `vault`.
pub fn credit_address(vault: &Pubkey, wallet: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(
        &[seeds::CREDIT, vault.as_ref(), wallet.as_ref()],
        &crate::ID,
    )
}

impl<'info> VaultAccounts<'_, 'info> {
    /// Checks that a payee given among remaining accounts is the wallet's own
    /// token account and credit account, both writable.
    pub fn verify_payee(&self, payee: &Payee<'_, 'info>) -> Result<()> {
        require_keys_eq!(
            *payee.token_account.key,
            payout_address(&payee.wallet, &self.mint.key(), &self.token_program.key()),
            IomeshError::PayoutAccountMismatch
        );
        require_keys_eq!(
            *payee.credit.key,
            credit_address(&self.vault.key(), &payee.wallet).0,
            IomeshError::PayoutAccountMismatch
        );
        require!(
            payee.token_account.is_writable && payee.credit.is_writable,
            IomeshError::AccountNotWritable
        );
        Ok(())
    }

    /// Whether a transfer from the vault into `account` for `wallet` would go
    /// through: the vault can pay, and `account` is an initialized, unfrozen
    /// token account of this mint owned by `wallet` that takes transfers
    /// without a memo.
    pub fn can_pay_into(&self, account: &AccountInfo, wallet: &Pubkey) -> Result<bool> {
        if self.vault.state != AccountState::Initialized {
            return Ok(false);
        }
        if account.owner != &self.token_program.key() {
            return Ok(false);
        }
        let data = account.try_borrow_data()?;
        let Ok(state) = StateWithExtensions::<TokenState>::unpack(&data) else {
            return Ok(false);
        };
        Ok(state.base.mint == self.mint.key()
            && state.base.owner == *wallet
            && state.base.state == AccountState::Initialized
            && !memo_required(&state))
    }

    /// Moves `amount` out of the vault into the token account `to`.
    pub fn transfer(&self, to: &AccountInfo<'info>, amount: u64) -> Result<()> {
        require!(to.is_writable, IomeshError::AccountNotWritable);
        transfers::pay_out(
            self.token_program,
            self.vault,
            to,
            self.mint,
            &self.market.to_account_info(),
            self.market.bump,
            amount,
        )
    }

    /// Pays `amount` to `payee`: into its token account when that can take
    /// it, else into its credit account, created from `rent` if it does not
    /// exist yet (without a rent source, a payee that cannot receive and has
    /// no credit account is refused with `PayeeCannotReceive`).
    pub fn pay(
        &self,
        payee: &Payee<'_, 'info>,
        amount: u64,
        rent: Option<&RentSource<'_, 'info>>,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        if self.can_pay_into(payee.token_account, &payee.wallet)? {
            return self.transfer(payee.token_account, amount);
        }
        self.credit(payee, amount, rent)
    }

    /// Adds `amount` to `payee`'s credit account, creating it if needed.
    fn credit(
        &self,
        payee: &Payee<'_, 'info>,
        amount: u64,
        rent: Option<&RentSource<'_, 'info>>,
    ) -> Result<()> {
        let mint = self.mint.key();
        let total = if payee.credit.owner == &crate::ID {
            let mut credit = self.read_credit(payee)?;
            credit.amount = credit.amount.safe_add(amount)?;
            credit.invariant()?;
            let mut data = payee.credit.try_borrow_mut_data()?;
            let mut writer: &mut [u8] = &mut data;
            credit.try_serialize(&mut writer)?;
            credit.amount
        } else {
            let rent = rent.ok_or(IomeshError::PayeeCannotReceive)?;
            self.create_credit(payee, amount, rent)?;
            amount
        };
        log_event!(Credited {
            credit: *payee.credit.key,
            owner: payee.wallet,
            vault: self.vault.key(),
            mint,
            amount,
            total,
        });
        Ok(())
    }

    /// Makes sure `payee`'s credit account exists (it is about to receive
    /// lamports that its wallet could not take).
    pub fn open_credit(
        &self,
        payee: &Payee<'_, 'info>,
        rent: &RentSource<'_, 'info>,
    ) -> Result<()> {
        if payee.credit.owner == &crate::ID {
            return self.read_credit(payee).map(drop);
        }
        self.create_credit(payee, 0, rent)
    }

    /// The existing credit account of `payee` (owned by this program: checked by the caller).
    fn read_credit(&self, payee: &Payee<'_, 'info>) -> Result<Credit> {
        let data = payee.credit.try_borrow_data()?;
        let credit = Credit::try_deserialize(&mut &data[..])?;
        require!(
            credit.owner == payee.wallet && credit.vault == self.vault.key(),
            IomeshError::PayoutAccountMismatch
        );
        Ok(credit)
    }

    /// Creates `payee`'s credit account holding `amount`, its rent from `rent`.
    fn create_credit(
        &self,
        payee: &Payee<'_, 'info>,
        amount: u64,
        rent: &RentSource<'_, 'info>,
    ) -> Result<()> {
        let vault = self.vault.key();
        let (address, bump) = credit_address(&vault, &payee.wallet);
        require_keys_eq!(
            *payee.credit.key,
            address,
            IomeshError::PayoutAccountMismatch
        );
        let credit = Credit {
            version: ACCOUNT_VERSION,
            bump,
            owner: payee.wallet,
            vault,
            amount,
            rent_payer: rent.rent_payer,
            reserved: [0; 8],
        };
        credit.invariant()?;
        account_creation::create_program_account_from(
            &rent.account,
            payee.credit,
            rent.system_program,
            Credit::SPACE,
            &[
                seeds::CREDIT,
                vault.as_ref(),
                payee.wallet.as_ref(),
                &[bump],
            ],
            &credit,
        )
    }

    /// Pays a network fee to the treasury, or keeps it as the payment mint's
    /// unswept fees when the treasury's token account cannot take it.
    pub fn pay_fee(&self, treasury: &mut Treasury<'_, 'info>, fee: u64) -> Result<()> {
        if fee == 0 {
            return Ok(());
        }
        if self.can_pay_into(treasury.token_account, &self.market.treasury)? {
            return self.transfer(treasury.token_account, fee);
        }
        let held = &mut treasury.payment_mint.unswept_fees;
        *held = held.safe_add(fee)?;
        log_event!(FeesHeld {
            mint: self.mint.key(),
            amount: fee,
            unswept_fees: *held,
        });
        Ok(())
    }
}

/// Whether lamports can be credited to `wallet`: it is writable and not a
/// program (a wallet turned into an executable account takes no lamports;
/// its rent is kept in its credit account instead).
pub fn can_take_lamports(wallet: &AccountInfo) -> bool {
    wallet.is_writable && !wallet.executable
}
