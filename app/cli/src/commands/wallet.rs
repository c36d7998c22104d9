//! `iomesh balance | airdrop | faucet`: the wallet's SOL and tokens.

use crate::{
    config::load_keypair,
    context::{pubkey, Context},
    output::{fields, Human, Output, Table},
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, Result};
use iomesh_client::{bootstrap, iomesh::state::decode_text, units, TokenMint};
use serde_json::json;
use solana_signer::Signer;

const SOL_DECIMALS: u8 = 9;

fn target(ctx: &Context, flag: Option<String>, what: &str) -> Result<Pubkey> {
    match flag {
        Some(key) => pubkey(&key, what),
        None => Ok(ctx.signer()?.pubkey()),
    }
}

pub async fn balance(ctx: &Context, address: Option<String>) -> Result<Output> {
    let owner = target(ctx, address, "address")?;
    let lamports = ctx.client.lamports(&owner).await?;
    // Tokens the market accepts, then any other bootstrap mint.
    let mut mints: Vec<(String, TokenMint, u8)> = ctx
        .payment_mints()
        .await?
        .iter()
        .map(|m| {
            let mint = TokenMint {
                mint: m.mint,
                token_program: m.token_program,
            };
            (decode_text(&m.symbol).to_string(), mint, m.decimals)
        })
        .collect();
    if let Some(b) = ctx.bootstrap()? {
        for (symbol, m) in &b.mints {
            if !mints.iter().any(|(_, t, _)| t.mint == m.mint) {
                mints.push((symbol.clone(), m.token_mint(), m.decimals));
            }
        }
    }
    let mut tokens = Vec::new();
    let mut table = Table::new(vec!["TOKEN", "BALANCE", "MINT"], "");
    table.row(vec![
        "SOL".into(),
        units::format_amount(lamports, SOL_DECIMALS),
        "-".into(),
    ]);
    for (symbol, mint, decimals) in mints {
        let account = mint.ata(&owner);
        let amount = ctx.client.token_balance(&account).await?;
        table.row(vec![
            symbol.clone(),
            units::format_amount(amount, decimals),
            mint.mint.to_string(),
        ]);
        tokens.push(json!({
            "symbol": symbol,
            "mint": mint.mint.to_string(),
            "token_program": mint.token_program.to_string(),
            "account": account.to_string(),
            "amount": amount,
            "decimals": decimals,
            "ui_amount": units::format_amount(amount, decimals),
        }));
    }
    Ok(Output {
        json: json!({
            "address": owner.to_string(),
            "lamports": lamports,
            "sol": units::format_amount(lamports, SOL_DECIMALS),
            "tokens": tokens,
        }),
        human: Human::Sections(vec![(format!("Wallet {owner}"), Human::Table(table))]),
    })
}

pub async fn airdrop(ctx: &Context, amount: String, to: Option<String>) -> Result<Output> {
    let to = target(ctx, to, "recipient")?;
    let lamports = units::parse_positive_amount(&amount, SOL_DECIMALS)
        .map_err(|e| anyhow!("SOL amount: {e}"))?;
    bootstrap::airdrop(&ctx.client, &to, lamports).await?;
    let balance = ctx.client.lamports(&to).await?;
    Ok(Output {
        json: json!({ "to": to.to_string(), "lamports": lamports, "balance_lamports": balance }),
        human: fields(&[
            (
                "Airdropped",
                format!(
                    "{} SOL to {to}",
                    units::format_amount(lamports, SOL_DECIMALS)
                ),
            ),
            (
                "Balance",
                format!("{} SOL", units::format_amount(balance, SOL_DECIMALS)),
            ),
        ]),
    })
}

pub async fn faucet(
    ctx: &Context,
    symbol: String,
    amount: String,
    to: Option<String>,
) -> Result<Output> {
    let Some(b) = ctx.bootstrap()? else {
        return Err(anyhow!(
            "no {} in {}: start `iomesh-localnet --bootstrap` first, or pass --localnet-dir",
            bootstrap::BOOTSTRAP_FILE,
            ctx.localnet_dir.display()
        ));
    };
    let Some(entry) = b.mint(&symbol) else {
        let known: Vec<&str> = b.mints.keys().map(String::as_str).collect();
        return Err(anyhow!(
            "unknown token `{symbol}`: the localnet faucet mints {}",
            known.join(", ")
        ));
    };
    // Once IOSD minting is set up, the program alone mints IOSD.
    if b.iosd.is_some() && b.symbol_of(&entry.mint) == Some("IOSD") {
        return Err(anyhow!(
            "the faucet cannot mint IOSD: its mint authority is the program; get IO with `iomesh faucet IO <amount>`, then burn it for IOSD with `iomesh iosd mint --amount <IO> --price-update <IO/USD price account>`"
        ));
    }
    let units = units::parse_positive_amount(&amount, entry.decimals)
        .map_err(|e| anyhow!("{symbol} amount: {e}"))?;
    let fee_payer = ctx.signer()?;
    let recipient = match to {
        Some(key) => pubkey(&key, "recipient")?,
        None => fee_payer.pubkey(),
    };
    let faucet = load_keypair(&b.faucet_keypair, "the faucet keypair of bootstrap.json")?;
    let account = bootstrap::faucet_mint_to(
        &ctx.client,
        &faucet,
        &entry.token_mint(),
        &recipient,
        units,
        &fee_payer,
    )
    .await?;
    let balance = ctx.client.token_balance(&account).await?;
    let symbol = b.symbol_of(&entry.mint).unwrap_or(&symbol).to_string();
    Ok(Output {
        json: json!({
            "symbol": symbol,
            "mint": entry.mint.to_string(),
            "to": recipient.to_string(),
            "account": account.to_string(),
            "amount": units,
            "balance": balance,
        }),
        human: fields(&[
            (
                "Minted",
                format!(
                    "{} {symbol} to {recipient}",
                    units::format_amount(units, entry.decimals)
                ),
            ),
            (
                "Balance",
                format!("{} {symbol}", units::format_amount(balance, entry.decimals)),
            ),
        ]),
    })
}

/// A new keypair written to `outfile`; an existing file is kept unless `force`.
pub fn keygen(outfile: &std::path::Path, force: bool) -> Result<Output> {
    if outfile.exists() && !force {
        return Err(anyhow!(
            "{} already exists; pass --force to replace it",
            outfile.display()
        ));
    }
    if let Some(parent) = outfile.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow!("creating {}: {e}", parent.display()))?;
    }
    let keypair = solana_keypair::Keypair::new();
    solana_keypair::write_keypair_file(&keypair, outfile)
        .map_err(|e| anyhow!("writing {}: {e}", outfile.display()))?;
    let pubkey = solana_signer::Signer::pubkey(&keypair);
    Ok(Output {
        json: json!({ "pubkey": pubkey.to_string(), "outfile": outfile.display().to_string() }),
        human: fields(&[
            ("Wrote", outfile.display().to_string()),
            ("Pubkey", pubkey.to_string()),
        ]),
    })
}
