//! `iomesh market …`: the market policy, payment mints and authority.

use super::sent;
use crate::{
    args::{MarketCommand, MarketPolicy, PriceSourceArg},
    context::{duration_secs, pubkey, Context},
    output::Output,
    views,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, Result};
use iomesh_client::{
    bootstrap, instructions as ix,
    iomesh::{
        state::{decode_text, Market, PriceSource},
        AddPaymentMintArgs, MarketParams, UpdatePaymentMintArgs,
    },
    pda, units,
};
use serde_json::json;
use solana_signer::Signer;

pub async fn run(ctx: &Context, command: MarketCommand) -> Result<Output> {
    match command {
        MarketCommand::Show => show(ctx).await,
        MarketCommand::Init(policy) => {
            let signer = ctx.signer()?;
            let me = signer.pubkey();
            let defaults = MarketParams {
                treasury: me,
                scheduler_authority: me,
                price_authority: me,
                reward_authority: me,
                activation_timeout_secs: bootstrap::ACTIVATION_TIMEOUT_SECS,
                min_lease_secs: bootstrap::MIN_LEASE_SECS,
                max_lease_secs: bootstrap::MAX_LEASE_SECS,
                failure_grace_secs: bootstrap::FAILURE_GRACE_SECS,
            };
            let params = apply_policy(defaults, &policy)?;
            let signature = ctx
                .client
                .send(&[ix::initialize_market(&me, params)], &signer, &[])
                .await?;
            Ok(sent(
                "market initialised",
                signature,
                json!({ "market": pda::market().to_string(), "authority": me.to_string() }),
                vec![("Market", pda::market().to_string())],
            ))
        }
        MarketCommand::Update(policy) => {
            let signer = ctx.signer()?;
            let market = ctx.client.market().await?;
            let params = apply_policy(current_params(&market), &policy)?;
            let signature = ctx
                .client
                .send(&[ix::update_market(&signer.pubkey(), params)], &signer, &[])
                .await?;
            Ok(sent("market updated", signature, json!({}), vec![]))
        }
        MarketCommand::AddMint {
            mint,
            symbol,
            fee_bps,
            stable,
            usd_price,
            max_price_age,
        } => {
            let signer = ctx.signer()?;
            let mint = pubkey(&mint, "mint")?;
            let (token_mint, _) = ctx.client.token_mint(&mint).await?;
            let (price_source, usd_price_micros) = match (stable, usd_price) {
                (true, _) => (PriceSource::Stable, 1_000_000),
                (false, Some(price)) => (
                    PriceSource::Authority,
                    units::parse_usd(&price).map_err(|e| anyhow!("--usd-price: {e}"))?,
                ),
                (false, None) => unreachable!("clap requires --stable or --usd-price"),
            };
            let args = AddPaymentMintArgs {
                fee_bps,
                price_source,
                usd_price_micros,
                max_price_age_secs: duration_secs(&max_price_age, "max-price-age")?,
                symbol: symbol.clone(),
            };
            let market = ctx.client.market().await?;
            let me = signer.pubkey();
            let instructions = [
                ix::add_payment_mint(&me, &token_mint, args),
                ix::create_ata_idempotent(&me, &market.treasury, &token_mint),
            ];
            let signature = ctx.client.send(&instructions, &signer, &[]).await?;
            Ok(sent(
                "payment mint added",
                signature,
                json!({
                    "mint": mint.to_string(),
                    "symbol": symbol,
                    "vault": pda::vault(&mint).to_string(),
                }),
                vec![("Mint", format!("{mint} ({symbol})"))],
            ))
        }
        MarketCommand::UpdateMint {
            mint,
            enable,
            disable,
            fee_bps,
            price_source,
            max_price_age,
        } => {
            let signer = ctx.signer()?;
            let current = ctx.resolve_payment_mint(&mint).await?;
            let args = UpdatePaymentMintArgs {
                enabled: if enable {
                    true
                } else if disable {
                    false
                } else {
                    current.enabled
                },
                fee_bps: fee_bps.unwrap_or(current.fee_bps),
                price_source: match price_source {
                    Some(PriceSourceArg::Stable) => PriceSource::Stable,
                    Some(PriceSourceArg::Authority) => PriceSource::Authority,
                    None => current.price_source,
                },
                max_price_age_secs: match max_price_age {
                    Some(age) => duration_secs(&age, "max-price-age")?,
                    None => current.max_price_age_secs,
                },
            };
            let instruction = ix::update_payment_mint(&signer.pubkey(), &current.mint, args);
            let signature = ctx.client.send(&[instruction], &signer, &[]).await?;
            Ok(sent(
                "payment mint updated",
                signature,
                json!({ "mint": current.mint.to_string() }),
                vec![("Mint", current.mint.to_string())],
            ))
        }
        MarketCommand::SetPrice { mint, usd_price } => {
            let signer = ctx.signer()?;
            let current = ctx.resolve_payment_mint(&mint).await?;
            let micros = units::parse_usd(&usd_price).map_err(|e| anyhow!("USD price: {e}"))?;
            let instruction = ix::set_mint_price(&signer.pubkey(), &current.mint, micros);
            let signature = ctx.client.send(&[instruction], &signer, &[]).await?;
            Ok(sent(
                "price set",
                signature,
                json!({ "mint": current.mint.to_string(), "usd_price_micros": micros }),
                vec![(
                    "Price",
                    format!(
                        "{} per {}",
                        units::format_usd(micros),
                        decode_text(&current.symbol)
                    ),
                )],
            ))
        }
        MarketCommand::Pause => set_paused(ctx, true).await,
        MarketCommand::Resume => set_paused(ctx, false).await,
        MarketCommand::ProposeAuthority { new_authority } => {
            let signer = ctx.signer()?;
            let new_authority = pubkey(&new_authority, "new authority")?;
            let instruction = ix::propose_authority(&signer.pubkey(), new_authority);
            let signature = ctx.client.send(&[instruction], &signer, &[]).await?;
            Ok(sent(
                "authority proposed; the new key must run `iomesh market accept-authority`",
                signature,
                json!({ "pending_authority": new_authority.to_string() }),
                vec![("Proposed", new_authority.to_string())],
            ))
        }
        MarketCommand::AcceptAuthority => {
            let signer = ctx.signer()?;
            let instruction = ix::accept_authority(&signer.pubkey());
            let signature = ctx.client.send(&[instruction], &signer, &[]).await?;
            Ok(sent(
                "market authority accepted",
                signature,
                json!({ "authority": signer.pubkey().to_string() }),
                vec![],
            ))
        }
    }
}

async fn show(ctx: &Context) -> Result<Output> {
    let market = ctx.client.market().await?;
    let mints = ctx.payment_mints().await?;
    let address = pda::market();
    Ok(Output {
        json: views::market_json(&address, &market, mints),
        human: views::market_human(&address, &market, mints),
    })
}

async fn set_paused(ctx: &Context, paused: bool) -> Result<Output> {
    let signer = ctx.signer()?;
    let instruction = ix::set_paused(&signer.pubkey(), paused);
    let signature = ctx.client.send(&[instruction], &signer, &[]).await?;
    let what = if paused {
        "market paused: new leases and extensions are refused"
    } else {
        "market resumed"
    };
    Ok(sent(what, signature, json!({ "paused": paused }), vec![]))
}

fn current_params(market: &Market) -> MarketParams {
    MarketParams {
        treasury: market.treasury,
        scheduler_authority: market.scheduler_authority,
        price_authority: market.price_authority,
        reward_authority: market.reward_authority,
        activation_timeout_secs: market.activation_timeout_secs,
        min_lease_secs: market.min_lease_secs,
        max_lease_secs: market.max_lease_secs,
        failure_grace_secs: market.failure_grace_secs,
    }
}

fn apply_policy(mut params: MarketParams, policy: &MarketPolicy) -> Result<MarketParams> {
    let key = |value: &Option<String>, what: &str, current: Pubkey| -> Result<Pubkey> {
        value.as_deref().map_or(Ok(current), |v| pubkey(v, what))
    };
    let secs = |value: &Option<String>, flag: &str, current: u32| -> Result<u32> {
        value
            .as_deref()
            .map_or(Ok(current), |v| duration_secs(v, flag))
    };
    params.treasury = key(&policy.treasury, "treasury", params.treasury)?;
    params.scheduler_authority = key(
        &policy.scheduler_authority,
        "scheduler authority",
        params.scheduler_authority,
    )?;
    params.price_authority = key(
        &policy.price_authority,
        "price authority",
        params.price_authority,
    )?;
    params.reward_authority = key(
        &policy.reward_authority,
        "reward authority",
        params.reward_authority,
    )?;
    params.activation_timeout_secs = secs(
        &policy.activation_timeout,
        "activation-timeout",
        params.activation_timeout_secs,
    )?;
    params.min_lease_secs = secs(&policy.min_lease, "min-lease", params.min_lease_secs)?;
    params.max_lease_secs = secs(&policy.max_lease, "max-lease", params.max_lease_secs)?;
    params.failure_grace_secs = secs(
        &policy.failure_grace,
        "failure-grace",
        params.failure_grace_secs,
    )?;
    Ok(params)
}
