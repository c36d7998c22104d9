//! A GPU model's page: the daily range of prices paid and its utilisation.

use super::{layout, percent, percent_encode, usd, PageError, Pages};
use crate::{
    charts::{self, Bar, Range},
    market::{self, ModelDay},
    scores,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Html,
};
use maud::html;

pub(super) async fn page(
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
