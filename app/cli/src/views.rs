//! JSON and human views of the program's accounts. JSON field names are a
//! stable interface: tools and tests parse them. Amounts are in base units
//! (integers) next to their decimals and symbol; times are Unix seconds.

use crate::{
    context::token_amount,
    output::{fields, short, Human, Table},
};
use anchor_lang::prelude::Pubkey;
use iomesh_client::{
    iomesh::state::{
        decode_text, Lease, LeaseStatus, Market, Node, NodeStatus, PaymentMint, PriceSource,
    },
    units::{format_duration, format_usd},
};
use serde_json::{json, Value};

pub fn market_json(address: &Pubkey, market: &Market, mints: &[PaymentMint]) -> Value {
    json!({
        "address": address.to_string(),
        "authority": market.authority.to_string(),
        "pending_authority": market.has_pending_authority().then(|| market.pending_authority.to_string()),
        "treasury": market.treasury.to_string(),
        "scheduler_authority": market.scheduler_authority.to_string(),
        "price_authority": market.price_authority.to_string(),
        "reward_authority": market.reward_authority.to_string(),
        "paused": market.paused,
        "activation_timeout_secs": market.activation_timeout_secs,
        "min_lease_secs": market.min_lease_secs,
        "max_lease_secs": market.max_lease_secs,
        "failure_grace_secs": market.failure_grace_secs,
        "payment_mints": mints.iter().map(payment_mint_json).collect::<Vec<_>>(),
    })
}

pub fn market_human(address: &Pubkey, market: &Market, mints: &[PaymentMint]) -> Human {
    let pending = if market.has_pending_authority() {
        market.pending_authority.to_string()
    } else {
        "none".into()
    };
    let summary = fields(&[
        ("Market", address.to_string()),
        ("Authority", market.authority.to_string()),
        ("Pending authority", pending),
        ("Treasury", market.treasury.to_string()),
        (
            "Scheduler authority",
            market.scheduler_authority.to_string(),
        ),
        ("Price authority", market.price_authority.to_string()),
        ("Reward authority", market.reward_authority.to_string()),
        ("Paused", yes_no(market.paused)),
        (
            "Activation timeout",
            format_duration(market.activation_timeout_secs.into()),
        ),
        (
            "Lease length",
            format!(
                "{} to {}",
                format_duration(market.min_lease_secs.into()),
                format_duration(market.max_lease_secs.into())
            ),
        ),
        (
            "Failure grace",
            format_duration(market.failure_grace_secs.into()),
        ),
    ]);
    let mut table = Table::new(
        vec![
            "SYMBOL",
            "MINT",
            "DECIMALS",
            "PRICE",
            "SOURCE",
            "FEE (bps)",
            "ENABLED",
        ],
        "no payment mints",
    );
    for m in mints {
        table.row(vec![
            decode_text(&m.symbol).to_string(),
            m.mint.to_string(),
            m.decimals.to_string(),
            format_usd(m.usd_price_micros),
            price_source(m.price_source).to_string(),
            m.fee_bps.to_string(),
            yes_no(m.enabled),
        ]);
    }
    Human::Sections(vec![
        (String::new(), summary),
        ("Payment mints".into(), Human::Table(table)),
    ])
}

pub fn payment_mint_json(m: &PaymentMint) -> Value {
    json!({
        "mint": m.mint.to_string(),
        "symbol": decode_text(&m.symbol),
        "decimals": m.decimals,
        "token_program": m.token_program.to_string(),
        "vault": m.vault.to_string(),
        "enabled": m.enabled,
        "fee_bps": m.fee_bps,
        "price_source": price_source(m.price_source),
        "usd_price_micros": m.usd_price_micros,
        "price_updated_at": m.price_updated_at,
        "max_price_age_secs": m.max_price_age_secs,
    })
}

pub fn price_source(source: PriceSource) -> &'static str {
    match source {
        PriceSource::Stable => "stable",
        PriceSource::Authority => "authority",
        PriceSource::Oracle => "oracle",
    }
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

pub fn node_status(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Available => "available",
        NodeStatus::Paused => "paused",
    }
}

pub fn node_json(address: &Pubkey, node: &Node) -> Value {
    json!({
        "address": address.to_string(),
        "owner": node.owner.to_string(),
        "operator": node.operator.to_string(),
        "status": node_status(node.status),
        "gpu_model": decode_text(&node.gpu_model),
        "region": decode_text(&node.region),
        "gpu_count": node.gpu_count,
        "gpus_in_use": node.gpus_in_use,
        "free_gpus": node.free_gpus(),
        "vram_mib": node.vram_mib,
        "price_usd_micros_per_gpu_hour": node.price_usd_micros_per_gpu_hour,
        "min_lease_secs": node.min_lease_secs,
        "max_lease_secs": node.max_lease_secs,
        "open_leases": node.open_leases,
        "leases_served": node.leases_served,
        "failures": node.failures,
        "gpu_seconds_delivered": node.gpu_seconds_delivered,
        "registered_at": node.registered_at,
        "staked": node.staked,
        "unstaking": node.unstaking,
        "unstake_ready_at": (node.unstaking > 0).then_some(node.unstake_ready_at),
        "slashes_pending": node.slashes_pending,
    })
}

pub fn node_human(address: &Pubkey, node: &Node) -> Human {
    fields(&[
        ("Node", address.to_string()),
        ("Owner", node.owner.to_string()),
        ("Operator", node.operator.to_string()),
        ("Status", node_status(node.status).to_string()),
        ("GPU", decode_text(&node.gpu_model).to_string()),
        (
            "GPUs",
            format!("{} ({} free)", node.gpu_count, node.free_gpus()),
        ),
        ("VRAM per GPU", vram(node.vram_mib)),
        ("Region", decode_text(&node.region).to_string()),
        (
            "Price",
            format!(
                "{} per GPU-hour",
                format_usd(node.price_usd_micros_per_gpu_hour)
            ),
        ),
        (
            "Lease length",
            format!(
                "{} to {}",
                format_duration(node.min_lease_secs.into()),
                format_duration(node.max_lease_secs.into())
            ),
        ),
        ("Open leases", node.open_leases.to_string()),
        ("Leases served", node.leases_served.to_string()),
        ("Failures", node.failures.to_string()),
        (
            "Staked",
            format!(
                "{} IO base units ({} unstaking)",
                node.staked, node.unstaking
            ),
        ),
        (
            "Delivered",
            format!(
                "{} GPU-hours",
                iomesh_client::units::format_amount(node.gpu_seconds_delivered * 1_000 / 3_600, 3)
            ),
        ),
    ])
}

pub fn vram(mib: u32) -> String {
    if mib.is_multiple_of(1_024) {
        format!("{} GiB", mib / 1_024)
    } else {
        format!("{mib} MiB")
    }
}

pub fn nodes_table(nodes: &[(Pubkey, Node)], empty: &'static str) -> Table {
    let mut table = Table::new(
        vec![
            "NODE",
            "GPU",
            "FREE",
            "VRAM",
            "REGION",
            "PRICE/GPU-HOUR",
            "STATUS",
            "OPERATOR",
        ],
        empty,
    );
    for (address, node) in nodes {
        table.row(vec![
            address.to_string(),
            decode_text(&node.gpu_model).to_string(),
            format!("{}/{}", node.free_gpus(), node.gpu_count),
            vram(node.vram_mib),
            decode_text(&node.region).to_string(),
            format_usd(node.price_usd_micros_per_gpu_hour),
            node_status(node.status).to_string(),
            short(&node.operator),
        ]);
    }
    table
}

pub fn lease_status(status: LeaseStatus) -> &'static str {
    match status {
        LeaseStatus::Pending => "pending",
        LeaseStatus::Active => "active",
    }
}

pub fn lease_json(address: &Pubkey, lease: &Lease, mint: &PaymentMint) -> Value {
    json!({
        "address": address.to_string(),
        "status": lease_status(lease.status),
        "renter": lease.renter.to_string(),
        "payer": lease.payer.to_string(),
        "node": lease.node.to_string(),
        "mint": lease.mint.to_string(),
        "symbol": decode_text(&mint.symbol),
        "decimals": mint.decimals,
        "nonce": lease.nonce,
        "gpus": lease.gpus,
        "fee_bps": lease.fee_bps,
        "rate_per_gpu_hour": lease.rate_per_gpu_hour,
        "deposited": lease.deposited,
        "paid_out": lease.paid_out,
        "unspent": lease.deposited.saturating_sub(lease.paid_out),
        "duration_secs": lease.duration_secs,
        "created_at": lease.created_at,
        "activated_at": (lease.status == LeaseStatus::Active).then_some(lease.activated_at),
        "settled_until": (lease.status == LeaseStatus::Active).then_some(lease.settled_until),
        "ends_at": lease.ends_at().ok().filter(|_| lease.status == LeaseStatus::Active),
        "job_spec_hash": hex(&lease.job_spec_hash),
        "cluster": lease.in_cluster.then(|| {
            iomesh_client::pda::cluster(&lease.renter, lease.cluster_nonce).to_string()
        }),
    })
}

pub fn lease_human(address: &Pubkey, lease: &Lease, mint: &PaymentMint, now: i64) -> Human {
    let mut rows = vec![
        ("Lease", address.to_string()),
        ("Status", lease_status(lease.status).to_string()),
        ("Renter", lease.renter.to_string()),
        ("Payer", lease.payer.to_string()),
        ("Node", lease.node.to_string()),
        ("GPUs", lease.gpus.to_string()),
        ("Duration", format_duration(lease.duration_secs.into())),
        (
            "Price",
            format!(
                "{} per GPU-hour",
                token_amount(lease.rate_per_gpu_hour, mint)
            ),
        ),
        ("Deposited", token_amount(lease.deposited, mint)),
        ("Paid out", token_amount(lease.paid_out, mint)),
        ("Network fee", format!("{} bps", lease.fee_bps)),
    ];
    if lease.status == LeaseStatus::Active {
        if let Ok(ends_at) = lease.ends_at() {
            let left = u64::try_from(ends_at - now).unwrap_or(0);
            rows.push(("Time left", format_duration(left)));
        }
        let unsettled =
            u64::try_from(now.min(lease.ends_at().unwrap_or(now)) - lease.settled_until)
                .unwrap_or(0);
        rows.push(("Unsettled", format_duration(unsettled)));
    }
    rows.push(("Job spec sha256", hex(&lease.job_spec_hash)));
    fields(&rows)
}

/// A job's phase as the scheduler reports it: "running", "exited (code 3)",
/// "stopped: the lease's paid time is over".
pub fn job_phase(job: &serde_json::Value) -> String {
    let Some(phase) = job["phase"].as_str() else {
        return "not dispatched yet".into();
    };
    match (job["exit_code"].as_i64(), job["detail"].as_str()) {
        (Some(code), _) if phase == "exited" => format!("exited (code {code})"),
        (_, Some(detail)) if matches!(phase, "stopped" | "refused") => format!("{phase}: {detail}"),
        _ => phase.to_string(),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
