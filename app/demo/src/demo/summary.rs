//! The closing summary: leases served, GPU-hours, money moved (per mint and in
//! USD), dispatch latency, and the reconciliation checks.

use super::{
    books::{percentile, usd_micros, Outcome},
    scenario::Report,
};
use anyhow::Result;
use iomesh_cli::output::{Human, Output, Table};
use iomesh_client::units::{format_amount, format_usd};
use serde_json::{json, Value};

pub fn output(report: &Report, database: &str, work_dir: Option<&str>) -> Result<Output> {
    let served = report
        .leases
        .iter()
        .map(|l| l.money().map(|m| (l, m)))
        .collect::<Result<Vec<_>>>()?;
    let gpu_seconds: u64 = served
        .iter()
        .map(|(l, m)| u64::from(l.gpus) * m.served_secs)
        .sum();
    let gpu_hours = gpu_seconds as f64 / 3_600.0;
    let leases_served = served.iter().filter(|(_, m)| m.payout > 0).count();
    let count = |f: fn(&Outcome) -> bool| report.leases.iter().filter(|l| f(&l.outcome)).count();
    let (ended, cancelled, failed) = (
        count(|o| matches!(o, Outcome::Ended)),
        count(|o| matches!(o, Outcome::Cancelled { .. })),
        count(|o| matches!(o, Outcome::Failed { .. })),
    );
    let p50 = percentile(&report.dispatch_ms, 50);
    let p99 = percentile(&report.dispatch_ms, 99);

    // Per mint, and everything in USD at the mints' prices.
    let mut usd = [0u64; 4];
    let mut mints_json = serde_json::Map::new();
    let mut money = Table::new(
        vec![
            "MINT",
            "ESCROWED",
            "PAID TO SUPPLIERS",
            "NETWORK FEES",
            "REFUNDED",
        ],
        "no payments",
    );
    for (symbol, t) in &report.totals {
        let (decimals, price) = report.mints[symbol];
        for (slot, units) in [t.deposited, t.paid_to_suppliers, t.fees, t.refunded]
            .into_iter()
            .enumerate()
        {
            usd[slot] += usd_micros(units, decimals, price);
        }
        money.row(vec![
            symbol.to_string(),
            format_amount(t.deposited, decimals),
            format_amount(t.paid_to_suppliers, decimals),
            format_amount(t.fees, decimals),
            format_amount(t.refunded, decimals),
        ]);
        mints_json.insert(symbol.to_string(), serde_json::to_value(t)?);
    }
    money.row(vec![
        "USD".into(),
        format_usd(usd[0]),
        format_usd(usd[1]),
        format_usd(usd[2]),
        format_usd(usd[3]),
    ]);

    let mut leases = Table::new(
        vec![
            "LEASE",
            "NODE",
            "GPUS",
            "OUTCOME",
            "SERVED",
            "JOB STEPS",
            "TO SUPPLIER",
            "FEE",
            "REFUND",
            "DISPATCH",
        ],
        "no leases",
    );
    let mut leases_json = Vec::new();
    for (l, m) in &served {
        let outcome = match l.outcome {
            Outcome::Ended => "ran to the end",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::Failed { .. } => "node failed",
        };
        let steps = report.job_steps.get(&l.label).copied().unwrap_or(0);
        let amount = |units| format!("{} {}", format_amount(units, l.decimals), l.symbol);
        leases.row(vec![
            l.label.clone(),
            l.node.to_string(),
            l.gpus.to_string(),
            outcome.into(),
            format!("{} s", m.served_secs),
            steps.to_string(),
            amount(m.to_supplier),
            amount(m.fee),
            amount(m.refund),
            l.dispatch_ms
                .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
        ]);
        leases_json.push(json!({
            "label": l.label,
            "renter": l.renter,
            "node": l.node,
            "gpus": l.gpus,
            "symbol": l.symbol,
            "outcome": l.outcome,
            "served_secs": m.served_secs,
            "deposited": l.deposited,
            "payout": m.payout,
            "to_supplier": m.to_supplier,
            "fee": m.fee,
            "refund": m.refund,
            "job_steps": steps,
            "dispatch_ms": l.dispatch_ms,
        }));
    }

    let mut checks = Table::new(vec!["CHECK", "RESULT", "DETAIL"], "no checks");
    for check in &report.checks {
        checks.row(vec![
            check.name.clone(),
            if check.ok { "ok" } else { "FAILED" }.into(),
            check.detail.clone(),
        ]);
    }
    let all_ok = report.checks.iter().all(|c| c.ok);

    let ms = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
    let overview = Human::Fields(vec![
        (
            "Leases served".into(),
            format!(
                "{leases_served} of {} ({ended} ran to the end, {cancelled} cancelled, {failed} on a failed node)",
                report.leases.len()
            ),
        ),
        (
            "GPU-hours".into(),
            format!("{gpu_hours:.4} ({gpu_seconds} GPU-seconds)"),
        ),
        ("Paid to suppliers".into(), format!("{} (after fees)", format_usd(usd[1]))),
        ("Network fees".into(), format_usd(usd[2])),
        ("Refunded to renters".into(), format_usd(usd[3])),
        (
            "Dispatch latency".into(),
            format!(
                "p50 {}, p99 {} over {} leases (job spec accepted → agent acknowledged)",
                ms(p50),
                ms(p99),
                report.dispatch_ms.len()
            ),
        ),
        (
            "Books".into(),
            if all_ok {
                "every check passed".into()
            } else {
                "SOME CHECKS FAILED".into()
            },
        ),
        (
            "Renter access".into(),
            format!(
                "{} read {} log lines and fetched its port {} page through the scheduler in {} ms: {:?}",
                report.access.lease,
                report.access.log_lines.len(),
                report.access.port,
                report.access.page_ms,
                report.access.page
            ),
        ),
        (
            "Ray cluster".into(),
            match &report.ray {
                Some(ray) => format!(
                    "carol's program saw {} alive nodes and ran tasks on {}",
                    ray.alive_nodes,
                    ray.nodes_with_tasks.join(" and ")
                ),
                None => "not run (--no-ray)".into(),
            },
        ),
        ("Took".into(), format!("{:.0} s", report.elapsed.as_secs_f64())),
        ("Postgres".into(), database.to_string()),
        (
            "Work directory".into(),
            work_dir.map_or_else(|| "removed".into(), str::to_string),
        ),
    ]);
    Ok(Output {
        json: json!({
            "leases_total": report.leases.len(),
            "leases_served": leases_served,
            "ended": ended,
            "cancelled": cancelled,
            "failed": failed,
            "gpu_seconds": gpu_seconds,
            "gpu_hours": gpu_hours,
            "usd_micros": {
                "escrowed": usd[0],
                "paid_to_suppliers": usd[1],
                "fees": usd[2],
                "refunded": usd[3],
            },
            "mints": Value::Object(mints_json),
            "dispatch_latency_ms": {
                "samples": report.dispatch_ms.len(),
                "p50": p50,
                "p99": p99,
            },
            "access": report.access,
            "ray": report.ray,
            "checks": report.checks,
            "all_checks_ok": all_ok,
            "leases": leases_json,
            "elapsed_secs": report.elapsed.as_secs_f64(),
            "database": database,
            "work_dir": work_dir,
        }),
        human: Human::Sections(vec![
            ("iomesh demo: summary".into(), overview),
            ("Money (per payment mint)".into(), Human::Table(money)),
            ("Leases".into(), Human::Table(leases)),
            ("Checks".into(), Human::Table(checks)),
        ]),
    })
}
