//! The pages, rendered on the server and complete without JavaScript: the
//! search (a GET form over the same queries as `/api/v1/nodes`), a node's
//! page, a GPU model's page with their charts, a renter's leases and a
//! supplier's nodes. One small script (`/static/app.js`, built from
//! `frontend/`) adds wallets.

mod model;
mod node;
mod renter;
mod search;
mod supplier;

use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use iomesh_client::units;
use maud::{html, Markup, DOCTYPE};
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::{str::FromStr, sync::Arc};

use crate::{actions::Actions, jobs::Jobs};

/// What the pages read: the indexed tables, and the chain a wallet signs for
/// (the Wallet Standard's `solana:mainnet`, `solana:devnet`, `solana:localnet`…).
#[derive(Clone)]
pub struct Pages {
    pub pool: PgPool,
    pub wallet_chain: String,
    /// The scheduler's view of renters' jobs, when one is configured.
    pub jobs: Arc<Jobs>,
    /// The chain as the Actions read it: rewards' claim status.
    pub actions: Arc<Actions>,
}

pub fn router(pages: Pages) -> Router {
    Router::new()
        .route("/", get(search::page))
        .route("/nodes/{node}", get(node::page))
        .route("/nodes/{node}/rent", get(node::rent_page))
        .route("/models/{model}", get(model::page))
        .route("/renters/{renter}", get(renter::page))
        .route("/suppliers/{owner}", get(supplier::page))
        .route("/leases/{lease}/cancel", get(renter::lease_page))
        .route("/leases/{lease}/extend", get(renter::lease_page))
        .route("/rewards/{epoch}/{node}/claim", get(supplier::reward_page))
        .route("/static/style.css", get(style))
        .route("/static/icon.svg", get(icon))
        .route("/static/app.js", get(script))
        .with_state(pages)
}

/// A page that could not be shown: its status and why, as a page.
pub struct PageError(pub(crate) StatusCode, pub(crate) String);

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

pub(crate) fn layout(title: &str, body: Markup) -> Markup {
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

// ---------------------------------------------------------------- shared

pub(crate) fn usd(micros: i64) -> String {
    units::format_usd(micros.max(0) as u64)
}

pub(crate) fn score_text(is_new: Option<bool>, score_bps: Option<i32>) -> String {
    match (is_new, score_bps) {
        (Some(true), _) => "new".into(),
        (_, Some(bps)) => percent(bps),
        _ => "—".into(),
    }
}

pub(crate) fn bps_text(bps: Option<i32>) -> String {
    bps.map_or("—".into(), percent)
}

pub(crate) fn percent(bps: i32) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

pub(crate) fn short(key: &str) -> String {
    if key.len() > 10 {
        format!("{}…{}", &key[..4], &key[key.len() - 4..])
    } else {
        key.to_string()
    }
}
pub(crate) fn key_text(bytes: &[u8]) -> String {
    Pubkey::try_from(bytes).map_or_else(|_| "?".into(), |k| k.to_string())
}

/// Base units of a mint as whole tokens with its symbol; raw base units
/// when the mint is not indexed.
pub(crate) fn amount(units: i64, symbol: &Option<String>, decimals: Option<i32>) -> String {
    match (symbol, decimals.and_then(|d| u8::try_from(d).ok())) {
        (Some(symbol), Some(decimals)) => {
            format!(
                "{} {symbol}",
                units::format_amount(units.max(0) as u64, decimals)
            )
        }
        _ => format!("{units} base units"),
    }
}

/// A key from the path, or a 400 page naming what it should be.
pub(crate) fn path_key(text: &str, what: &str) -> Result<Pubkey, PageError> {
    Pubkey::from_str(text).map_err(|_| {
        PageError(
            StatusCode::BAD_REQUEST,
            format!("{text} is not a {what} address (base58, 32 bytes)"),
        )
    })
}

/// RFC 3986's unreserved characters as they are, every other byte as %XX:
/// valid in a path segment and in a query value alike.
pub(crate) fn percent_encode(value: &str) -> String {
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

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
}

/// Built from frontend/ by Vite (`scripts/ts-env` checks it is current).
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/app.js"),
    )
}

async fn icon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("../../static/icon.svg"),
    )
}
