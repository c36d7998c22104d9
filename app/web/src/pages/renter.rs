//! A renter's page: open leases with their cost so far, time left and job
//! state (the scheduler's), each extendable and cancellable through the
//! lease's Actions and
//! with its job's logs a wallet signature away, and how the last ones ended.

use super::{amount, key_text, layout, path_key, short, PageError, Pages};
use crate::{charts, jobs::JobState, market, scores};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, Redirect},
};
use iomesh_client::{iomesh::math, units};
use maud::{html, Markup};
use std::collections::HashMap;

/// A renter's leases: the open ones with their cost so far and time left
/// (each cancellable with the wallet, through the lease's Action), and how
/// the last ones ended.
pub(super) async fn page(
    State(Pages {
        pool,
        wallet_chain,
        jobs,
        ..
    }): State<Pages>,
    Path(renter): Path<String>,
) -> Result<Html<String>, PageError> {
    let renter = path_key(&renter, "wallet")?;
    let open = market::renter_leases(&pool, renter.as_ref()).await?;
    let ended = market::renter_endings(&pool, renter.as_ref(), 20).await?;
    let job_states = if jobs.configured() && !open.is_empty() {
        Jobs::Asked(jobs.states(&renter).await)
    } else {
        Jobs::NotConfigured
    };
    let now = scores::now();
    let body = html! {
        p { "Wallet " code { (renter) } }
        section aria-labelledby="open" {
            h2 #open { "Open leases" }
            @if open.is_empty() {
                p { "No open lease." }
            } @else {
                table.leases {
                    thead { tr {
                        th scope="col" { "Lease" } th scope="col" { "Node" } th scope="col" { "GPUs" }
                        th scope="col" { "Phase" } th scope="col" { "Job" } th scope="col" { "Deposit" }
                        th scope="col" { "Cost so far" } th scope="col" { "Time left" } th scope="col" { "" }
                    } }
                    tbody {
                        @for lease in &open {
                            (open_lease_row(lease, now, &wallet_chain, &job_states, jobs.public_url()))
                        }
                    }
                }
                // Filled by the script with the lines of the job whose Logs
                // button was pressed (after the wallet signs an access token).
                section.logs aria-labelledby="logs" data-logs-panel hidden {
                    h2 #logs { "Logs" }
                    p data-logs-status role="status" {}
                    pre data-log-lines tabindex="0" {}
                }
            }
        }
        section aria-labelledby="ended" {
            h2 #ended { "Ended" }
            @if ended.is_empty() {
                p { "None yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Lease" } th scope="col" { "Ended" } th scope="col" { "How" } th scope="col" { "Paid" } th scope="col" { "Refunded" } } }
                    tbody {
                        @for e in &ended {
                            tr {
                                td { code { (short(&key_text(&e.lease))) } }
                                td { (e.block_time.map_or("—".to_string(), charts::date)) }
                                td { (e.reason) }
                                td { (amount(e.paid_out, &e.symbol, e.decimals)) }
                                td { (amount(e.refunded, &e.symbol, e.decimals)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(layout("Your leases", body).into_string()))
}

/// What the scheduler told of the renter's jobs.
enum Jobs {
    /// No scheduler is configured: the page shows no job column's content.
    NotConfigured,
    /// Asked; None when it did not answer.
    Asked(Option<HashMap<String, JobState>>),
}

/// A lease's job as the scheduler sees it, in words, with its reason as the title.
fn job_cell(jobs: &Jobs, lease: &str) -> Markup {
    let state = match jobs {
        Jobs::NotConfigured => return html! { "—" },
        Jobs::Asked(None) => return html! { "unknown: the scheduler does not answer" },
        Jobs::Asked(Some(states)) => states.get(lease),
    };
    let Some(state) = state else {
        return html! { "not indexed by the scheduler yet" };
    };
    let words = match (state.phase.as_deref(), state.dispatch.as_str()) {
        (Some(phase), _) => phase.replace('_', " "),
        (None, "awaiting_job_spec") => "waiting for your job spec".into(),
        (None, "awaiting_agent") => "waiting for the node's agent".into(),
        (None, dispatch) => dispatch.replace('_', " "),
    };
    let awaiting_spec = state.phase.is_none() && state.dispatch == "awaiting_job_spec";
    html! {
        span data-job-state=(state.phase.as_deref().unwrap_or(&state.dispatch)) title=(state.reason) { (words) }
        // The spec was not handed over when the lease was rented (the tab
        // closed, the wallet declined): the renter hands it over here.
        @if awaiting_spec {
            details.spec {
                summary { "Hand over the job spec" }
                form data-spec data-lease=(lease) {
                    label { "Job spec (JSON) " textarea name="job_spec" rows="3" cols="40" required {} }
                    button type="submit" disabled { "Sign and hand over" }
                    span data-status {}
                }
            }
        }
    }
}

fn open_lease_row(
    lease: &market::RenterLease,
    now: i64,
    wallet_chain: &str,
    jobs: &Jobs,
    public_url: Option<&str>,
) -> Markup {
    let address = key_text(&lease.lease);
    let node = key_text(&lease.node);
    let active = lease.status == "active";
    let ends = lease.activated_at.saturating_add(lease.duration_secs);
    // The program's own accrual: what the node has earned so far, rounded down.
    let served = (now.min(ends) - lease.activated_at).max(0) as u64;
    let cost = if active {
        u16::try_from(lease.gpus)
            .ok()
            .and_then(|gpus| {
                math::accrued_payout(lease.rate_per_gpu_hour.max(0) as u64, gpus, served).ok()
            })
            .map_or("—".to_string(), |units| {
                amount(units as i64, &lease.symbol, lease.decimals)
            })
    } else {
        amount(0, &lease.symbol, lease.decimals)
    };
    let left = if active {
        units::format_duration((ends - now).max(0) as u64)
    } else {
        "not started".to_string()
    };
    html! {
        tr {
            td { code { (short(&address)) } }
            td { a href=(format!("/nodes/{node}")) { (lease.gpu_model.as_deref().unwrap_or("node")) " " (short(&node)) } }
            td { (lease.gpus) }
            td { (if active { "active" } else { "waiting for the node to start it" }) }
            td {
                (job_cell(jobs, &address))
                @if let Some(scheduler) = public_url {
                    " "
                    button type="button" data-logs=(address) disabled aria-label=(format!("Logs of lease {address}")) { "Logs" }
                    @if active {
                        // A port the job spec lists, opened in a new tab at
                        // the scheduler with a token the wallet signs.
                        form.port data-port data-lease=(address) data-scheduler=(scheduler) {
                            label { "Port " input type="number" name="port" min="1" max="65535" required; }
                            button type="submit" disabled aria-label=(format!("Open a port of lease {address}")) { "Open" }
                            span data-status {}
                        }
                    }
                }
            }
            td { (amount(lease.deposited, &lease.symbol, lease.decimals)) }
            td { (cost) }
            td { (left) }
            td {
                form.extend data-extend data-action=(format!("/api/actions/extend/{address}")) data-chain=(wallet_chain) {
                    label { "More hours " input type="number" name="hours" min="1" value="1" required; }
                    button type="submit" disabled aria-label=(format!("Extend lease {address}")) { "Extend" }
                    span data-status {}
                }
                form.cancel data-cancel data-action=(format!("/api/actions/cancel/{address}")) data-chain=(wallet_chain) {
                    button type="submit" disabled aria-label=(format!("Cancel lease {address}")) { "Cancel" }
                    span data-status {}
                }
            }
        }
    }
}

/// Where a Blink's page URL for a lease (cancel, extend) leads a person:
/// its renter's page.
pub(super) async fn lease_page(
    State(Pages { pool, .. }): State<Pages>,
    Path(lease): Path<String>,
) -> Result<Redirect, PageError> {
    let lease = path_key(&lease, "lease")?;
    let renter: Option<Vec<u8>> = sqlx::query_scalar("SELECT renter FROM leases WHERE pubkey = $1")
        .bind(lease.as_ref())
        .fetch_optional(&pool)
        .await?;
    let renter = renter.ok_or_else(|| {
        PageError(
            StatusCode::NOT_FOUND,
            format!("no lease {lease} is indexed"),
        )
    })?;
    Ok(Redirect::to(&format!("/renters/{}", key_text(&renter))))
}
