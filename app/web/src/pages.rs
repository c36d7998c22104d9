//! The pages, rendered on the server and complete without JavaScript: the
//! search (a GET form over the same queries as `/api/v1/nodes`), a node's
//! page and a GPU model's page with their charts.

use crate::{
    charts::{self, Bar, Range},
    market::{self, ModelDay},
    scores, search,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use iomesh_client::units;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::str::FromStr;

/// What the pages read: the indexed tables, and the chain a wallet signs for
/// (the Wallet Standard's `solana:mainnet`, `solana:devnet`, `solana:localnet`…).
#[derive(Clone)]
pub struct Pages {
    pub pool: PgPool,
    pub wallet_chain: String,
}

pub fn router(pages: Pages) -> Router {
    Router::new()
        .route("/", get(search_page))
        .route("/nodes/{node}", get(node_page))
        .route("/nodes/{node}/rent", get(rent_page))
        .route("/models/{model}", get(model_page))
        .route("/static/style.css", get(style))
        .route("/static/icon.svg", get(icon))
        .route("/static/app.js", get(script))
        .with_state(pages)
}

/// A page that could not be shown: its status and why, as a page.
pub struct PageError(StatusCode, String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = if self.0.is_client_error() {
            "Cannot show this"
        } else {
            "Unavailable"
        };
        (
            self.0,
            Html(layout(title, html! { p.error role="alert" { (self.1) } }).into_string()),
        )
            .into_response()
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        tracing::warn!(%err, "page query failed");
        PageError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the market database is unavailable; try again".into(),
        )
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · iomesh" }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" href="/static/icon.svg";
                script type="module" src="/static/app.js" {}
            }
            body {
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "iomesh" }
                        " · GPUs from everyone, paid per second on Solana"
                    }
                    // Filled by the script with the browser's Solana wallets.
                    div.wallet data-wallet aria-live="polite" {}
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

// ---------------------------------------------------------------- search

/// The search form's fields as a browser sends them: text, empty when unset.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub gpu_model: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub min_vram_gib: String,
    #[serde(default)]
    pub gpus: String,
    #[serde(default)]
    pub hours: String,
    /// Dollars per GPU-hour, e.g. "2.50".
    #[serde(default)]
    pub max_price: String,
    #[serde(default)]
    pub free_now: Option<String>,
    /// Percent.
    #[serde(default)]
    pub min_score: String,
    #[serde(default)]
    pub include_stale: Option<String>,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: String,
}

impl SearchForm {
    /// The API's parameters; the error names the field.
    pub fn params(&self) -> Result<search::SearchParams, String> {
        fn number<T: FromStr>(value: &str, field: &str) -> Result<Option<T>, String> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            value
                .parse()
                .map(Some)
                .map_err(|_| format!("{field}: `{value}` is not a whole number"))
        }
        let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
        let sort = match self.sort.as_str() {
            "" | "price" => search::Sort::Price,
            "reliability" => search::Sort::Reliability,
            "vram" => search::Sort::Vram,
            "total_cost" => search::Sort::TotalCost,
            other => return Err(format!("sort: `{other}` is not one of the orders offered")),
        };
        let min_score_bps = number::<u16>(&self.min_score, "Minimum score")?
            .map(|percent| {
                if percent > 100 {
                    Err("Minimum score: a percentage, 0 to 100".to_string())
                } else {
                    Ok(percent * 100)
                }
            })
            .transpose()?;
        let max_price_usd_micros = match self.max_price.trim() {
            "" => None,
            price => {
                Some(units::parse_usd(price).map_err(|e| format!("Max price per GPU-hour: {e}"))?)
            }
        };
        Ok(search::SearchParams {
            gpu_model: text(&self.gpu_model),
            region: text(&self.region),
            min_vram_mib: number::<u64>(&self.min_vram_gib, "Minimum VRAM")?
                .map(|gib| gib.saturating_mul(1024)),
            gpus: number(&self.gpus, "GPUs")?,
            hours: number(&self.hours, "Hours")?,
            max_price_usd_micros,
            free_now: Some(self.free_now.is_some()),
            min_score_bps,
            include_stale: Some(self.include_stale.is_some()),
            sort: Some(sort),
            page: number(&self.page, "page")?,
            per_page: None,
        })
    }

    /// This search's query string with another page.
    fn with_page(&self, page: u32) -> String {
        let mut pairs = form_urlencoded(&[
            ("gpu_model", self.gpu_model.as_str()),
            ("region", &self.region),
            ("min_vram_gib", &self.min_vram_gib),
            ("gpus", &self.gpus),
            ("hours", &self.hours),
            ("max_price", &self.max_price),
            ("min_score", &self.min_score),
            ("sort", &self.sort),
        ]);
        for (flag, on) in [
            ("free_now", self.free_now.is_some()),
            ("include_stale", self.include_stale.is_some()),
        ] {
            if on {
                pairs.push_str(&format!("&{flag}=on"));
            }
        }
        format!("/?{pairs}&page={page}")
    }
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986's unreserved characters as they are, every other byte as %XX:
/// valid in a path segment and in a query value alike.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn search_page(
    State(Pages { pool, .. }): State<Pages>,
    Query(form): Query<SearchForm>,
) -> Result<Response, PageError> {
    let checked = form.params().and_then(search::Search::new);
    let (status, results) = match checked {
        Ok(search) => {
            let page = search::run(&pool, &search).await?;
            (StatusCode::OK, Ok((search, page)))
        }
        Err(message) => (StatusCode::BAD_REQUEST, Err(message)),
    };
    let body = html! {
        (search_form(&form))
        @match &results {
            Err(message) => p.error role="alert" { (message) },
            Ok((search, page)) => (results_table(&form, search, page)),
        }
    };
    Ok((status, Html(layout("Rent GPUs", body).into_string())).into_response())
}

fn search_form(form: &SearchForm) -> Markup {
    let sorts = [
        ("price", "Cheapest per GPU-hour"),
        ("total_cost", "Cheapest all-in for the hours"),
        ("reliability", "Most reliable"),
        ("vram", "Most VRAM"),
    ];
    let sort = if form.sort.is_empty() {
        "price"
    } else {
        form.sort.as_str()
    };
    html! {
        form.search method="get" action="/" role="search" {
            label { "GPU model " input type="text" name="gpu_model" value=(form.gpu_model) placeholder="RTX 4090"; }
            label { "Region " input type="text" name="region" value=(form.region) placeholder="us-east"; }
            label { "Minimum VRAM (GiB) " input type="number" min="0" name="min_vram_gib" value=(form.min_vram_gib); }
            label { "GPUs " input type="number" min="1" name="gpus" value=(form.gpus) placeholder="1"; }
            label { "Hours " input type="number" min="1" name="hours" value=(form.hours) placeholder="1"; }
            label { "Max price per GPU-hour ($) " input type="text" inputmode="decimal" name="max_price" value=(form.max_price); }
            label { "Minimum score (%) " input type="number" min="0" max="100" name="min_score" value=(form.min_score); }
            label { input type="checkbox" name="free_now" checked[form.free_now.is_some()]; " Free now" }
            label { input type="checkbox" name="include_stale" checked[form.include_stale.is_some()]; " Include offline and paused" }
            label { "Sort by "
                select name="sort" {
                    @for (value, text) in sorts {
                        option value=(value) selected[value == sort] { (text) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
    }
}

fn results_table(form: &SearchForm, search: &search::Search, page: &search::Page) -> Markup {
    let cost_head = format!("All-in, {} GPU × {} h", search.gpus, search.hours);
    html! {
        @if page.nodes.is_empty() {
            p { "No node matches this search." }
        } @else {
            table.results {
                caption { "Nodes, page " (page.page + 1) }
                thead { tr {
                    th scope="col" { "GPU" } th scope="col" { "Region" } th scope="col" { "Free / GPUs" }
                    th scope="col" { "VRAM" } th scope="col" { "Per GPU-hour" } th scope="col" { (cost_head) }
                    th scope="col" { "Score" } th scope="col" { "Uptime" } th scope="col" { "Success" }
                    th scope="col" { "Activation" } th scope="col" { "Node" }
                } }
                tbody {
                    @for offer in &page.nodes {
                        tr {
                            td { a href=(format!("/models/{}", percent_encode(&offer.gpu_model))) { (offer.gpu_model) } }
                            td { (offer.region) }
                            td { (offer.free_gpus) " / " (offer.gpu_count) }
                            td { (offer.vram_mib / 1024) " GiB" }
                            td { (usd(offer.price_usd_micros_per_gpu_hour)) }
                            td { (usd(offer.total_cost_usd_micros)) }
                            td { (score_text(offer.is_new, offer.score_bps)) }
                            td { (bps_text(offer.uptime_bps)) }
                            td { (bps_text(offer.success_bps)) }
                            td { (offer.median_activation_secs.map_or("—".to_string(), |s| units::format_duration(s.max(0) as u64))) }
                            td { a href=(format!("/nodes/{}", offer.node.0)) { "View " (short(&offer.node.0.to_string())) } }
                        }
                    }
                }
            }
            nav.pages aria-label="Pages" {
                @if page.page > 0 {
                    a rel="prev" href=(form.with_page(page.page - 1)) { "← Previous" }
                }
                @if let Some(next) = page.next_page {
                    a rel="next" href=(form.with_page(next)) { "Next →" }
                }
            }
        }
    }
}

fn usd(micros: i64) -> String {
    units::format_usd(micros.max(0) as u64)
}

fn score_text(is_new: Option<bool>, score_bps: Option<i32>) -> String {
    match (is_new, score_bps) {
        (Some(true), _) => "new".into(),
        (_, Some(bps)) => percent(bps),
        _ => "—".into(),
    }
}

fn bps_text(bps: Option<i32>) -> String {
    bps.map_or("—".into(), percent)
}

fn percent(bps: i32) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

fn short(key: &str) -> String {
    if key.len() > 10 {
        format!("{}…{}", &key[..4], &key[key.len() - 4..])
    } else {
        key.to_string()
    }
}

// ---------------------------------------------------------------- node page

fn node_key(text: &str) -> Result<Pubkey, PageError> {
    Pubkey::from_str(text).map_err(|_| {
        PageError(
            StatusCode::BAD_REQUEST,
            format!("{text} is not a node address (base58, 32 bytes)"),
        )
    })
}

async fn node_page(
    State(Pages { pool, wallet_chain }): State<Pages>,
    Path(node): Path<String>,
) -> Result<Html<String>, PageError> {
    let node = node_key(&node)?;
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
    let min_hours = (listing.min_lease_secs.max(1) + 3_599) / 3_600;
    let max_hours = (listing.max_lease_secs / 3_600).max(min_hours);
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

fn key_text(bytes: &[u8]) -> String {
    Pubkey::try_from(bytes).map_or_else(|_| "?".into(), |k| k.to_string())
}

/// Where a Blink's URL leads a person: the node page's rent section.
async fn rent_page(Path(node): Path<String>) -> Result<Redirect, PageError> {
    let node = node_key(&node)?;
    Ok(Redirect::to(&format!("/nodes/{node}#rent")))
}

// ---------------------------------------------------------------- model page

async fn model_page(
    State(Pages { pool, .. }): State<Pages>,
    Path(model): Path<String>,
) -> Result<Html<String>, PageError> {
    if model.trim().is_empty() || model.len() > 64 {
        return Err(PageError(
            StatusCode::BAD_REQUEST,
            "a GPU model is 1 to 64 characters".into(),
        ));
    }
    let days = market::model_days(&pool, &model, scores::now()).await?;
    let top = days.iter().filter_map(|d| d.max_price).max().unwrap_or(0);
    let ranges: Vec<(i64, Option<Range>)> = days.iter().map(|d| (d.day, price_range(d))).collect();
    let utilisation: Vec<Bar> = days
        .iter()
        .map(|d| Bar {
            day: d.day,
            value: f64::from(d.utilisation_bps),
            tip: percent(d.utilisation_bps),
        })
        .collect();
    let leases: i64 = days.iter().map(|d| d.leases).sum();
    let body = html! {
        p { (leases) " leases of " (model) " created in the last 30 days. "
            a href=(format!("/?gpu_model={}", percent_encode(&model))) { "Search " (model) " nodes" } }
        section aria-labelledby="paid" {
            h2 #paid { "Price paid per GPU-hour, per day (lowest, median, highest)" }
            (charts::ranges("Daily lowest, median and highest price paid per GPU-hour", &ranges, top as f64, &usd(top)))
            p.note { "A lease's USD price is its locked rate at its mint's current USD price: exact for stable mints." }
        }
        section aria-labelledby="utilisation" {
            h2 #utilisation { "Utilisation per day" }
            (charts::bars("Share of the model's GPU time leased, per day", &utilisation, 10_000.0, "100%"))
        }
    };
    Ok(Html(layout(&format!("{model} market"), body).into_string()))
}

fn price_range(day: &ModelDay) -> Option<Range> {
    let (low, mid, high) = (day.min_price?, day.median_price?, day.max_price?);
    Some(Range {
        low: low as f64,
        mid: mid as f64,
        high: high as f64,
        tip: format!(
            "{} to {}, median {}, {} leases",
            usd(low),
            usd(high),
            usd(mid),
            day.leases
        ),
    })
}

// ---------------------------------------------------------------- assets

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/style.css"),
    )
}

/// Built from frontend/ by Vite (`scripts/ts-env` checks it is current).
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/app.js"),
    )
}

async fn icon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("../static/icon.svg"),
    )
}
