//! `iomesh iosd …`: IOSD minted by burning IO at the Pyth IO/USD price. The
//! quote uses the program's own oracle checks and rounding; `--min-out`
//! bounds the slippage between the quote and the transaction.

use super::sent;
use crate::{
    args::IosdCommand,
    context::{pubkey, Context},
    output::{fields, Output},
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Result};
use iomesh_client::clock::unix_now as now;
use iomesh_client::{error::Shortfall, instructions as ix, iosd::IosdQuote, units, TokenMint};
use serde_json::{json, Value};
use solana_signer::Signer;

/// The IO and IOSD mints with their decimals, the quote, and the parsed amount.
struct Prepared {
    io: TokenMint,
    io_decimals: u8,
    iosd: TokenMint,
    iosd_decimals: u8,
    price_update: Pubkey,
    io_amount: u64,
    quote: IosdQuote,
}

pub async fn run(ctx: &Context, command: IosdCommand) -> Result<Output> {
    match command {
        IosdCommand::Quote {
            amount,
            price_update,
        } => {
            let p = prepare(ctx, &amount, &price_update).await?;
            Ok(Output {
                json: quote_json(&p),
                human: fields(&quote_rows(&p)),
            })
        }
        IosdCommand::Mint {
            amount,
            min_out,
            price_update,
        } => {
            let user = ctx.signer()?;
            let p = prepare(ctx, &amount, &price_update).await?;
            let min_iosd_out = match min_out {
                Some(text) => units::parse_amount(&text, p.iosd_decimals)
                    .map_err(|e| anyhow!("--min-out: {e}"))?,
                // Lock the quote just shown: a lower price before the transaction lands is refused.
                None => p.quote.iosd_out,
            };
            if min_iosd_out > p.quote.iosd_out {
                bail!(
                    "--min-out {} IOSD is more than the current quote of {} IOSD for {} IO: the program would refuse it (SlippageExceeded)",
                    units::format_amount(min_iosd_out, p.iosd_decimals),
                    units::format_amount(p.quote.iosd_out, p.iosd_decimals),
                    units::format_amount(p.io_amount, p.io_decimals)
                );
            }
            let account = p.io.ata(&user.pubkey());
            let held = ctx.client.token_balance(&account).await?;
            if held < p.io_amount {
                return Err(
                    iomesh_client::Error::InsufficientBalance(Box::new(Shortfall {
                        account,
                        symbol: "IO".into(),
                        needed: units::format_amount(p.io_amount, p.io_decimals),
                        held: units::format_amount(held, p.io_decimals),
                        missing: units::format_amount(p.io_amount - held, p.io_decimals),
                    }))
                    .into(),
                );
            }
            // The quote first, so the user sees the price the mint will use.
            eprint!("{}", fields(&quote_rows(&p)).render());
            let instructions = [
                ix::create_ata_idempotent(&user.pubkey(), &user.pubkey(), &p.iosd),
                ix::mint_iosd(
                    &user.pubkey(),
                    &p.io,
                    &p.iosd,
                    &p.price_update,
                    p.io_amount,
                    min_iosd_out,
                ),
            ];
            let before = ctx
                .client
                .token_balance(&p.iosd.ata(&user.pubkey()))
                .await?;
            let signature = ctx.client.send(&instructions, &user, &[]).await?;
            let after = ctx
                .client
                .token_balance(&p.iosd.ata(&user.pubkey()))
                .await?;
            let minted = after.saturating_sub(before);
            let mut extra = quote_json(&p);
            extra["minted"] = json!(minted);
            extra["min_iosd_out"] = json!(min_iosd_out);
            Ok(sent(
                "IOSD minted",
                signature,
                extra,
                vec![
                    (
                        "Burned",
                        format!("{} IO", units::format_amount(p.io_amount, p.io_decimals)),
                    ),
                    (
                        "Minted",
                        format!("{} IOSD", units::format_amount(minted, p.iosd_decimals)),
                    ),
                ],
            ))
        }
    }
}

async fn prepare(ctx: &Context, amount: &str, price_update: &str) -> Result<Prepared> {
    let price_update = pubkey(price_update, "price update account")?;
    let config = ctx.client.iosd_config().await?;
    let io = ctx.client.io_mint().await?;
    let (io, io_decimals) = ctx.client.token_mint(&io.mint).await?;
    let (iosd, iosd_decimals) = ctx.client.token_mint(&config.iosd_mint).await?;
    let io_amount =
        units::parse_positive_amount(amount, io_decimals).map_err(|e| anyhow!("--amount: {e}"))?;
    let quote = ctx
        .client
        .iosd_quote(
            &config,
            &price_update,
            io_decimals,
            iosd_decimals,
            io_amount,
            now(),
        )
        .await?;
    if quote.iosd_out == 0 {
        bail!(
            "--amount {amount} IO is worth less than the smallest IOSD unit at the current price"
        );
    }
    Ok(Prepared {
        io,
        io_decimals,
        iosd,
        iosd_decimals,
        price_update,
        io_amount,
        quote,
    })
}

fn quote_json(p: &Prepared) -> Value {
    json!({
        "io_amount": p.io_amount,
        "io_decimals": p.io_decimals,
        "iosd_out": p.quote.iosd_out,
        "iosd_decimals": p.iosd_decimals,
        "usd_micros_per_io": p.quote.usd_micros_per_io,
        "price": p.quote.price.price,
        "conf": p.quote.price.conf,
        "exponent": p.quote.price.exponent,
        "publish_time": p.quote.price.publish_time,
    })
}

fn quote_rows(p: &Prepared) -> Vec<(&'static str, String)> {
    vec![
        (
            "Burn",
            format!("{} IO", units::format_amount(p.io_amount, p.io_decimals)),
        ),
        (
            "Price used",
            format!(
                "{} per IO (low end of the oracle's confidence interval)",
                units::format_usd(p.quote.usd_micros_per_io)
            ),
        ),
        (
            "Quote",
            format!(
                "{} IOSD",
                units::format_amount(p.quote.iosd_out, p.iosd_decimals)
            ),
        ),
    ]
}
