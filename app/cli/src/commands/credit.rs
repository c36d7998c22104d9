//! `iomesh credit …`: what the program keeps for a wallet because its token
//! account could not take a payout or refund (closed, frozen, handed to
//! another owner), and taking it out to an account of the owner's choice.

use super::sent;
use crate::{
    args::CreditCommand,
    context::{pubkey, token_amount, Context},
    output::{Human, Output, Table},
};
use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Result};
use iomesh_client::{
    instructions as ix,
    iomesh::state::{decode_text, AccountSpace, Credit, PaymentMint},
    pda, tokens,
};
use serde_json::json;
use solana_signer::Signer;

pub async fn run(ctx: &Context, command: CreditCommand) -> Result<Output> {
    match command {
        CreditCommand::Show { address } => show(ctx, address).await,
        CreditCommand::Withdraw {
            token,
            stake_vault,
            to,
        } => withdraw(ctx, &token, stake_vault, to).await,
    }
}

/// The payment mint of a credit, and which of the program's vaults holds it.
fn held_in<'a>(
    credit: &Credit,
    mints: &'a [PaymentMint],
    io: &Pubkey,
) -> (Option<&'a PaymentMint>, &'static str) {
    if let Some(mint) = mints.iter().find(|m| m.vault == credit.vault) {
        return (Some(mint), "escrow vault");
    }
    if credit.vault == pda::stake_vault() {
        return (mints.iter().find(|m| m.mint == *io), "stake vault");
    }
    (None, "unknown vault")
}

async fn show(ctx: &Context, address: Option<String>) -> Result<Output> {
    let owner = match address {
        Some(address) => pubkey(&address, "address")?,
        None => ctx.signer()?.pubkey(),
    };
    let credits = ctx.client.credits(&owner).await?;
    let mints = ctx.payment_mints().await?;
    let io = ctx.client.market().await?.io_mint;
    let mut table = Table::new(
        vec!["TOKEN", "HELD IN", "AMOUNT", "LAMPORTS", "CREDIT"],
        "nothing is kept for this wallet",
    );
    let mut rows = Vec::new();
    let rent = ctx
        .client
        .rpc()
        .get_minimum_balance_for_rent_exemption(Credit::SPACE)
        .await
        .map_err(|e| ctx.client.rpc_error(e))?;
    for (address, credit) in &credits {
        let (mint, vault_name) = held_in(credit, mints, &io);
        let lamports = ctx.client.lamports(address).await?.saturating_sub(rent);
        let amount = match mint {
            Some(mint) => token_amount(credit.amount, mint),
            None => format!("{} base units", credit.amount),
        };
        table.row(vec![
            mint.map(|m| decode_text(&m.symbol).to_string())
                .unwrap_or_else(|| credit.vault.to_string()),
            vault_name.to_string(),
            amount,
            lamports.to_string(),
            address.to_string(),
        ]);
        rows.push(json!({
            "credit": address.to_string(),
            "vault": credit.vault.to_string(),
            "held_in": vault_name,
            "mint": mint.map(|m| m.mint.to_string()),
            "symbol": mint.map(|m| decode_text(&m.symbol).to_string()),
            "amount": credit.amount,
            "lamports": lamports,
            "rent_payer": credit.rent_payer.to_string(),
        }));
    }
    Ok(Output {
        json: json!({ "owner": owner.to_string(), "credits": rows }),
        human: Human::Table(table),
    })
}

async fn withdraw(
    ctx: &Context,
    token: &str,
    stake_vault: bool,
    to: Option<String>,
) -> Result<Output> {
    let owner = ctx.signer()?;
    let mint = ctx.resolve_payment_mint(token).await?;
    let (token_mint, _) = ctx.client.token_mint(&mint.mint).await?;
    let vault = if stake_vault {
        let io = ctx.client.market().await?.io_mint;
        if io != mint.mint {
            bail!(
                "--stake-vault holds IO ({io}) only, not {}",
                decode_text(&mint.symbol)
            );
        }
        pda::stake_vault()
    } else {
        mint.vault
    };
    let credit_address = pda::credit(&vault, &owner.pubkey());
    let Some(credit) = ctx.client.fetch::<Credit>(&credit_address).await? else {
        bail!(
            "nothing is kept for {} in {} ({}): `iomesh credit show` lists what is",
            owner.pubkey(),
            decode_text(&mint.symbol),
            if stake_vault {
                "stake vault"
            } else {
                "escrow vault"
            }
        );
    };
    let mut instructions = Vec::new();
    let destination = match to {
        Some(account) => pubkey(&account, "--to token account")?,
        None => {
            let ata = token_mint.ata(&owner.pubkey());
            check_own_account(ctx, &ata, &owner.pubkey()).await?;
            instructions.push(ix::create_ata_idempotent(
                &owner.pubkey(),
                &owner.pubkey(),
                &token_mint,
            ));
            ata
        }
    };
    instructions.push(ix::withdraw_credit(
        &owner.pubkey(),
        &vault,
        &token_mint,
        &destination,
    ));
    let signature = ctx.client.send(&instructions, &owner, &[]).await?;
    Ok(sent(
        "credit withdrawn",
        signature,
        json!({
            "credit": credit_address.to_string(),
            "amount": credit.amount,
            "destination": destination.to_string(),
        }),
        vec![
            ("Amount", token_amount(credit.amount, &mint)),
            ("To", destination.to_string()),
        ],
    ))
}

/// Refuses the default destination when it is the very account that could
/// not take the payment: handed to another owner, or frozen.
async fn check_own_account(ctx: &Context, ata: &Pubkey, owner: &Pubkey) -> Result<()> {
    let Some(account) = ctx.client.account(ata).await? else {
        return Ok(());
    };
    let Some((_, holder, _)) = tokens::token_account(&account.data) else {
        bail!("{ata} is not a token account: pass --to a token account of yours");
    };
    if holder != *owner {
        bail!(
            "your associated token account {ata} now belongs to {holder}: pass --to a token account of yours"
        );
    }
    if tokens::token_account_frozen(&account.data) {
        bail!("your associated token account {ata} is frozen: pass --to another token account");
    }
    Ok(())
}
