//! A supplier's page: its nodes, each with why it gets work or not, and what
//! its ended leases paid out per payment mint.

use super::{amount, key_text, layout, path_key, short, usd, PageError, Pages};
use crate::market::{self, SupplierNode};
use axum::{
    extract::{Path, State},
    response::Html,
};
use maud::html;

pub(super) async fn page(
    State(Pages { pool, .. }): State<Pages>,
    Path(owner): Path<String>,
) -> Result<Html<String>, PageError> {
    let owner = path_key(&owner, "wallet")?;
    let nodes = market::supplier_nodes(&pool, owner.as_ref()).await?;
    let earnings = market::supplier_earnings(&pool, owner.as_ref()).await?;
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
                        th scope="col" { "Served / failed" } th scope="col" { "Work" }
                    } }
                    tbody {
                        @for node in &nodes {
                            @let address = key_text(&node.node);
                            tr {
                                td { a href=(format!("/nodes/{address}")) { (node.gpu_model) " in " (node.region) " " (short(&address)) } }
                                td { (node.gpus_in_use) " / " (node.gpu_count) }
                                td { (usd(node.price_usd_micros_per_gpu_hour)) }
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
            p.note { "Running leases pay as they settle; rewards for uptime and work are claimed with "
                code { "iomesh rewards claim" } "." }
        }
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
