//! `iomesh gpus search`: available GPUs. With `--market`, the marketplace's
//! own search (`GET /api/v1/nodes` of iomesh-web, the queries its pages run):
//! reliability scores, all-in cost, stale nodes hidden. Without it, the node
//! accounts read from the chain with getProgramAccounts.

use crate::{
    args::{GpusCommand, MarketSearch, SearchSort},
    context::Context,
    output::{Human, Output, Table},
    views,
};
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::{query::NodeQuery, units};
use serde_json::Value;

pub async fn run(ctx: &Context, command: GpusCommand) -> Result<Output> {
    let GpusCommand::Search {
        gpu_model,
        min_vram,
        region,
        max_price,
        min_free_gpus,
        market,
    } = command;
    let query = NodeQuery {
        gpu_model,
        region,
        min_vram_mib: min_vram
            .map(|gib| {
                gib.checked_mul(1_024)
                    .ok_or_else(|| anyhow!("--min-vram {gib} GiB is too large"))
            })
            .transpose()?,
        max_price_usd_micros: max_price
            .as_deref()
            .map(|p| units::parse_usd(p).map_err(|e| anyhow!("--max-price: {e}")))
            .transpose()?,
        min_free_gpus,
        include_paused: false,
        owner: None,
    };
    query.validate().map_err(|e| anyhow!(e))?;
    match &ctx.market {
        Some(url) => market_search(url, &query, &market).await,
        None => {
            if market.asked() {
                bail!("--gpus, --hours, --sort, --min-score, --include-stale and --page need the marketplace's search: pass --market URL (or set IOMESH_MARKET_URL)");
            }
            let nodes = ctx.client.search_nodes(&query).await?;
            Ok(Output {
                json: Value::Array(nodes.iter().map(|(a, n)| views::node_json(a, n)).collect()),
                human: Human::Table(views::nodes_table(&nodes, "no GPUs match")),
            })
        }
    }
}

impl MarketSearch {
    fn asked(&self) -> bool {
        self.gpus.is_some()
            || self.hours.is_some()
            || self.sort.is_some()
            || self.min_score.is_some()
            || self.include_stale
            || self.page.is_some()
    }
}

/// The search's query string: the chain filters as the API spells them, and
/// `--min-free-gpus N` as N GPUs free now.
fn market_query(query: &NodeQuery, market: &MarketSearch) -> Result<Vec<(&'static str, String)>> {
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    let mut push = |name: &'static str, value: Option<String>| {
        if let Some(value) = value {
            pairs.push((name, value));
        }
    };
    push("gpu_model", query.gpu_model.clone());
    push("region", query.region.clone());
    push("min_vram_mib", query.min_vram_mib.map(|v| v.to_string()));
    push(
        "max_price_usd_micros",
        query.max_price_usd_micros.map(|v| v.to_string()),
    );
    let gpus = match (market.gpus, query.min_free_gpus) {
        (Some(wanted), Some(free)) if free > wanted => {
            bail!("--min-free-gpus {free} is more than --gpus {wanted}")
        }
        (Some(wanted), _) => Some(wanted),
        (None, free) => free,
    };
    push("gpus", gpus.map(|g| g.to_string()));
    push("free_now", query.min_free_gpus.map(|_| "true".to_string()));
    push("hours", market.hours.map(|h| h.to_string()));
    push(
        "sort",
        market.sort.map(|sort| {
            match sort {
                SearchSort::Price => "price",
                SearchSort::Reliability => "reliability",
                SearchSort::Vram => "vram",
                SearchSort::TotalCost => "total_cost",
            }
            .to_string()
        }),
    );
    if let Some(percent) = market.min_score {
        if percent > 100 {
            bail!("--min-score is a percentage, 0 to 100");
        }
        push("min_score_bps", Some((percent * 100).to_string()));
    }
    push(
        "include_stale",
        market.include_stale.then(|| "true".to_string()),
    );
    push("page", market.page.map(|p| p.to_string()));
    Ok(pairs)
}

async fn market_search(url: &str, query: &NodeQuery, market: &MarketSearch) -> Result<Output> {
    let endpoint = format!("{}/api/v1/nodes", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&endpoint)
        .query(&market_query(query, market)?)
        .send()
        .await
        .with_context(|| format!("cannot reach the marketplace at {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{endpoint} answered {status} without JSON"))?;
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        bail!("the marketplace refused the search ({status}): {message}");
    }
    let hours = market.hours.unwrap_or(1);
    let gpus = market.gpus.or(query.min_free_gpus).unwrap_or(1);
    Ok(Output {
        human: Human::Table(offers_table(&body, gpus, hours)),
        json: body,
    })
}

/// The columns of the web page's results.
fn offers_table(page: &Value, gpus: u16, hours: u32) -> Table {
    let mut table = Table::new(
        vec![
            "NODE",
            "GPU",
            "REGION",
            "FREE",
            "VRAM",
            "PRICE/GPU-HOUR",
            "ALL-IN",
            "SCORE",
            "UPTIME",
            "SUCCESS",
            "ACTIVATION",
        ],
        "no GPUs match",
    );
    let usd = |v: &Value| v.as_u64().map_or("?".to_string(), units::format_usd);
    let bps = |v: &Value| {
        v.as_i64().map_or("—".to_string(), |b| {
            format!("{}.{:02}%", b / 100, b % 100)
        })
    };
    for offer in page["nodes"].as_array().into_iter().flatten() {
        let score = if offer["is_new"].as_bool() == Some(true) {
            "new".to_string()
        } else {
            bps(&offer["score_bps"])
        };
        table.row(vec![
            offer["node"].as_str().unwrap_or("?").to_string(),
            offer["gpu_model"].as_str().unwrap_or("?").to_string(),
            offer["region"].as_str().unwrap_or("?").to_string(),
            format!("{}/{}", offer["free_gpus"], offer["gpu_count"]),
            format!("{} GiB", offer["vram_mib"].as_u64().unwrap_or(0) / 1024),
            usd(&offer["price_usd_micros_per_gpu_hour"]),
            format!(
                "{} ({gpus} GPU × {hours} h)",
                usd(&offer["total_cost_usd_micros"])
            ),
            score,
            bps(&offer["uptime_bps"]),
            bps(&offer["success_bps"]),
            offer["median_activation_secs"]
                .as_u64()
                .map_or("—".to_string(), units::format_duration),
        ]);
    }
    table
}
