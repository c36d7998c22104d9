//! A node's page: its listing, prices per mint, scores, uptime chart,
//! recent outcomes, and the rent form a wallet uses.

use super::{
    bps_text, key_text, layout, path_key, percent, percent_encode, score_text, short, usd,
    PageError, Pages,
};
use crate::{
    actions::hour_limits,
    charts::{self, Bar},
    market, scores,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, Redirect},
};
use iomesh_client::units;
use maud::{html, Markup};
use solana_pubkey::Pubkey;

pub(super) async fn page(
    State(Pages {
        pool, wallet_chain, ..
    }): State<Pages>,
    Path(node): Path<String>,
) -> Result<Html<String>, PageError> {
    let node = path_key(&node, "node")?;
    let listing = market::node_listing(&pool, node.as_ref())
        .await?
        .ok_or_else(|| PageError(StatusCode::NOT_FOUND, format!("no node {node} is listed")))?;
    let score = scores::latest(&pool, node.as_ref()).await?;
    let mints = market::open_mints(&pool).await?;
    let now = scores::now();
    let uptime = market::daily_uptime(&pool, node.as_ref(), now).await?;
    let outcomes = market::recent_outcomes(&pool, node.as_ref(), 10).await?;
    let state = if listing.retired {
        "retired"
    } else if listing.status != "available" {
        "paused by its owner"
    } else if !listing.connected {
        "offline (no agent connected)"
    } else {
        "available"
    };
    let uptime_bars: Vec<Bar> = uptime
        .iter()
        .map(|(day, minutes)| Bar {
            day: *day,
            value: *minutes as f64,
            tip: format!("{:.1}% ({minutes} of 1440 minutes)", *minutes as f64 / 14.4),
        })
        .collect();
    let title = format!(
        "{} × {} in {}",
        listing.gpu_count, listing.gpu_model, listing.region
    );
    let body = html! {
        p.state { "Node " code { (node) } " — " strong { (state) } }
        section aria-labelledby="specs" {
            h2 #specs { "Listing" }
            dl {
                dt { "GPUs" } dd { (listing.gpu_count) " × " a href=(format!("/models/{}", percent_encode(&listing.gpu_model))) { (listing.gpu_model) } ", " (listing.gpu_count - listing.gpus_in_use) " free" }
                dt { "VRAM per GPU" } dd { (listing.vram_mib / 1024) " GiB" }
                dt { "Leases" } dd { (units::format_duration(listing.min_lease_secs.max(0) as u64)) " to " (units::format_duration(listing.max_lease_secs.max(0) as u64)) }
                dt { "Listed since" } dd { (charts::date(listing.registered_at)) }
                dt { "Staked" } dd { (listing.staked.map_or("—".to_string(), |s| s.to_string())) " IO base units" }
                dt { "Leases served / failures" } dd { (listing.leases_served) " / " (listing.failures) }
                dt { "Owner" } dd { code { (key_text(&listing.owner)) } }
                dt { "Operator" } dd { code { (key_text(&listing.operator)) } }
            }
        }
        section aria-labelledby="prices" {
            h2 #prices { "Price per GPU-hour" }
            table {
                thead { tr { th scope="col" { "Pay with" } th scope="col" { "Per GPU-hour" } } }
                tbody {
                    tr { td { "USD" } td { (usd(listing.price_usd_micros_per_gpu_hour)) } }
                    @for mint in &mints {
                        tr {
                            td { (mint.symbol) }
                            td { (mint.rate_per_gpu_hour(listing.price_usd_micros_per_gpu_hour)
                                    .map_or("—".to_string(), |rate| units::format_amount(rate, mint.decimals.clamp(0, 18) as u8))) " " (mint.symbol) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="reliability" {
            h2 #reliability { "Reliability" }
            @match &score {
                None => p { "Not scored yet: scores are recomputed every minute." },
                Some(s) => dl {
                    dt { "Score" } dd { (score_text(Some(s.is_new), s.score_bps)) @if s.is_new { " (under 7 days or under 10 GPU-hours of ended leases: not ranked yet)" } }
                    dt { "Uptime, 30 days" } dd { (percent(s.uptime_bps)) " (" (s.uptime_minutes) " of " (s.window_minutes) " minutes)" }
                    dt { "Paid GPU-hours completed / failed / cancelled" } dd {
                        (gpu_hours(s.completed_gpu_secs)) " / " (gpu_hours(s.failed_gpu_secs)) " / " (gpu_hours(s.cancelled_gpu_secs))
                    }
                    dt { "Success" } dd { (bps_text(s.success_bps)) }
                    dt { "Expired before activation" } dd { (s.expired_leases) }
                    dt { "Median time from payment to activation" } dd { (s.median_activation_secs.map_or("—".to_string(), |v| units::format_duration(v.max(0) as u64))) }
                    dt { "Slashes" } dd { (s.slash_count.unwrap_or(0)) }
                }
            }
            h3 { "Uptime per day (UTC), last 30 days" }
            (charts::bars("Heartbeat minutes per day over the last 30 days", &uptime_bars, 1440.0, "100%"))
        }
        section aria-labelledby="outcomes" {
            h2 #outcomes { "Recent lease outcomes" }
            @if outcomes.is_empty() {
                p { "No lease on this node has ended yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Lease" } th scope="col" { "Ended" } th scope="col" { "How" } th scope="col" { "GPUs" } th scope="col" { "Paid service" } } }
                    tbody {
                        @for o in &outcomes {
                            tr {
                                td { code { (short(&key_text(&o.lease))) } }
                                td { (o.block_time.map_or("—".to_string(), charts::date)) }
                                td { (o.reason) }
                                td { (o.gpus.map_or("—".to_string(), |g| g.to_string())) }
                                td { (units::format_duration(o.billed_secs.max(0) as u64)) }
                            }
                        }
                    }
                }
            }
        }
        section #rent aria-labelledby="rent-heading" {
            h2 #rent-heading { "Rent it" }
            (rent_form(&node, &listing, &mints, &wallet_chain))
            p { "With any Solana wallet elsewhere: this node's Action, "
                a href=(format!("/api/actions/rent/{node}")) { code { "/api/actions/rent/" (node) } }
                ", in a Blink client (it is listed in " a href="/actions.json" { "actions.json" } ")." }
            p { "With the CLI:" }
            pre { code { "iomesh --scheduler URL lease create --node " (node) " --gpus 1 --hours 1 --mint IOSD --job-spec job.json" } }
        }
    };
    Ok(Html(layout(&title, body).into_string()))
}

/// The wallet's rent form: the Action's parameters, sent by the script (its
/// button stays disabled without a script and a connected wallet).
fn rent_form(
    node: &Pubkey,
    listing: &market::NodeListing,
    mints: &[market::MintPrice],
    wallet_chain: &str,
) -> Markup {
    let (min_hours, max_hours) = hour_limits(
        listing.min_lease_secs.max(0) as u64,
        listing.max_lease_secs.max(0) as u64,
    );
    let free = (listing.gpu_count - listing.gpus_in_use).max(0);
    html! {
        form.rent data-rent data-action=(format!("/api/actions/rent/{node}")) data-chain=(wallet_chain) {
            label { "Hours " input type="number" name="hours" min=(min_hours) max=(max_hours) value=(min_hours) required; }
            label { "GPUs " input type="number" name="gpus" min="1" max=(free.max(1)) value="1" required; }
            label { "Pay with "
                select name="mint" {
                    @for mint in mints.iter().filter(|m| m.price_source != "oracle") {
                        option value=(key_text(&mint.mint)) { (mint.symbol) }
                    }
                }
            }
            label { "Job spec (JSON) "
                textarea name="job_spec" rows="3" cols="60" required { r#"{"command": ["python", "train.py"]}"# }
            }
            button type="submit" disabled { "Rent with your wallet" }
            p data-rent-status {}
            noscript { p { "Renting from this page needs JavaScript and a wallet; the Action and the CLI below work without." } }
        }
    }
}

fn gpu_hours(secs: i64) -> String {
    format!("{:.1}", secs as f64 / 3600.0)
}

/// Where a Blink's URL leads a person: the node page's rent section.
pub(super) async fn rent_page(Path(node): Path<String>) -> Result<Redirect, PageError> {
    let node = path_key(&node, "node")?;
    Ok(Redirect::to(&format!("/nodes/{node}#rent")))
}
