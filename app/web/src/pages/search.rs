//! The search page: the API's query behind a GET form.

use super::{bps_text, layout, percent_encode, score_text, short, usd, PageError, Pages};
use crate::search;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use iomesh_client::units;
use maud::{html, Markup};
use serde::Deserialize;
use std::str::FromStr;

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

pub(super) async fn page(
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
