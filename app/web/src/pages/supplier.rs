//! A supplier's page: its nodes, each with why it gets work or not, what
//! its ended leases paid out per payment mint, and its rewards in the
//! published epochs, each claimable through the claim Action.

use super::{amount, key_text, layout, path_key, percent, short, usd, PageError, Pages};
use crate::{
    actions::Actions,
    market::{self, SupplierNode},
    rewards,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, Redirect},
};
use iomesh_client::{rewards::ClaimStatus, units};
use maud::{html, Markup};
use solana_pubkey::Pubkey;

/// Epochs a supplier's page lists rewards of, newest first.
const REWARD_EPOCHS_SHOWN: usize = 12;

pub(super) async fn page(
    State(Pages {
        pool,
        wallet_chain,
        actions,
        ..
    }): State<Pages>,
    Path(owner): Path<String>,
) -> Result<Html<String>, PageError> {
    let owner = path_key(&owner, "wallet")?;
    let nodes = market::supplier_nodes(&pool, owner.as_ref(), crate::scores::now()).await?;
    let earnings = market::supplier_earnings(&pool, owner.as_ref()).await?;
    let rewards = rewards(&actions, &owner, &wallet_chain).await;
    let body = html! {
        p { "Owner wallet " code { (owner) } }
        section aria-labelledby="nodes" {
            h2 #nodes { "Nodes" }
            @if nodes.is_empty() {
                p { "No node is registered with this wallet as its owner." }
            } @else {
                table.nodes {
                    thead { tr {
                        th scope="col" { "Node" } th scope="col" { "GPUs in use" } th scope="col" { "Per GPU-hour" }
                        th scope="col" { "Leased, 30 days" } th scope="col" { "Served / failed" } th scope="col" { "Work" }
                    } }
                    tbody {
                        @for node in &nodes {
                            @let address = key_text(&node.node);
                            tr {
                                td { a href=(format!("/nodes/{address}")) { (node.gpu_model) " in " (node.region) " " (short(&address)) } }
                                td { (node.gpus_in_use) " / " (node.gpu_count) }
                                td { (usd(node.price_usd_micros_per_gpu_hour)) }
                                td { (percent(node.utilisation_bps)) }
                                td { (node.leases_served) " / " (node.failures) }
                                td { (work(node)) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="earnings" {
            h2 #earnings { "Paid out for ended leases" }
            @if earnings.is_empty() {
                p { "No lease on these nodes has ended yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Mint" } th scope="col" { "Leases" } th scope="col" { "Paid out (before the network fee)" } } }
                    tbody {
                        @for e in &earnings {
                            tr {
                                td { (e.symbol.as_deref().unwrap_or("?")) }
                                td { (e.leases) }
                                td { (amount(e.paid_out, &e.symbol, e.decimals)) }
                            }
                        }
                    }
                }
            }
            p.note { "Running leases pay as they settle." }
        }
        (rewards)
    };
    Ok(Html(layout("Your nodes", body).into_string()))
}

/// Why a node gets work, or why not, in the order a supplier would fix it.
fn work(node: &SupplierNode) -> String {
    if node.retired {
        return "retired".into();
    }
    if node.status != "available" {
        return "paused by you: no new leases (iomesh node set-status … available)".into();
    }
    if !node.connected {
        return "offline: no agent connected to the scheduler, so renters do not see it".into();
    }
    if node.open_leases > 0 {
        return format!("serving {} lease(s)", node.open_leases);
    }
    match node.cheapest_of_model {
        Some(cheapest) if cheapest < node.price_usd_micros_per_gpu_hour => format!(
            "online, no lease yet: the cheapest {} on offer asks {} per GPU-hour",
            node.gpu_model,
            usd(cheapest)
        ),
        _ => "online, no lease yet: the cheapest of its model on offer".into(),
    }
}

/// The owner's rewards in the published epochs: amount, status on-chain,
/// and a Claim button (the claim Action) while it can be claimed.
async fn rewards(actions: &Actions, owner: &Pubkey, wallet_chain: &str) -> Markup {
    if !actions.epochs.configured() {
        return html! {};
    }
    let trees = actions.epochs.newest(REWARD_EPOCHS_SHOWN).await;
    let decimals = actions.client.io_mint_decimals().await.map(|(_, d)| d).ok();
    let now = crate::scores::now();
    let mut rows = Vec::new();
    for tree in &trees {
        let leaves: Vec<_> = rewards::owned(tree, owner).collect();
        if leaves.is_empty() {
            continue;
        }
        // One read of the epoch on-chain for all its leaves, checked as the
        // claim Action checks it: what the page offers is what it builds.
        let published = actions
            .client
            .published_epoch(tree)
            .await
            .map_err(|e| e.to_string());
        for (index, leaf) in leaves {
            let status = published
                .as_ref()
                .map(|p| p.status(index, now))
                .map_err(Clone::clone);
            rows.push((tree.epoch(), leaf.node, leaf.amount, status));
        }
    }
    html! {
        section aria-labelledby="rewards" {
            h2 #rewards { "Rewards" }
            @if rows.is_empty() {
                p { "No reward for these nodes in the last " (REWARD_EPOCHS_SHOWN) " published epochs." }
            } @else {
                table.rewards {
                    thead { tr {
                        th scope="col" { "Epoch" } th scope="col" { "Node" } th scope="col" { "Amount" }
                        th scope="col" { "Status" } th scope="col" { "" }
                    } }
                    tbody {
                        @for (epoch, node, amount, status) in &rows {
                            @let node = node.to_string();
                            tr {
                                td { (epoch) }
                                td { a href=(format!("/nodes/{node}")) { code { (short(&node)) } } }
                                td { (decimals.map_or_else(|| format!("{amount} base units"), |d| format!("{} IO", units::format_amount(*amount, d)))) }
                                td { (status.as_ref().map_or_else(|e| format!("unknown: {e}"), |s| s.describe().to_string())) }
                                td {
                                    @if status.as_ref().is_ok_and(|s| *s == ClaimStatus::Claimable) {
                                        form.claim data-claim data-action=(format!("/api/actions/claim/{epoch}/{node}")) data-chain=(wallet_chain) {
                                            button type="submit" disabled aria-label=(format!("Claim epoch {epoch}'s reward for node {node}")) { "Claim" }
                                            span data-status {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.note { "Rewards for uptime and work, per epoch; also claimed with "
                code { "iomesh rewards claim --epoch-file FILE --node NODE" } "." }
        }
    }
}

/// Where a Blink's page URL for a reward leads a person: the node owner's page.
pub(super) async fn reward_page(
    State(Pages { pool, .. }): State<Pages>,
    Path((_epoch, node)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let node = path_key(&node, "node")?;
    let owner: Option<Vec<u8>> = sqlx::query_scalar("SELECT owner FROM nodes WHERE pubkey = $1")
        .bind(node.as_ref())
        .fetch_optional(&pool)
        .await?;
    let owner = owner
        .ok_or_else(|| PageError(StatusCode::NOT_FOUND, format!("no node {node} is indexed")))?;
    Ok(Redirect::to(&format!("/suppliers/{}", key_text(&owner))))
}
