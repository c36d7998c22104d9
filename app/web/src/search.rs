//! The marketplace search ("Kayak for GPUs"): every listed node, filtered,
//! sorted and paginated, each row with its all-in cost for the hours and GPUs
//! asked and its reliability scores (`node_scores`, see `scores`).

use serde::{Deserialize, Serialize};
use solana_pubkey::Pubkey;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// Rows per page unless asked otherwise, and the most a page may hold.
pub const DEFAULT_PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 200;

/// What a search asks, as the query string spells it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Exact GPU model, case-insensitive ("RTX 4090").
    pub gpu_model: Option<String>,
    pub region: Option<String>,
    pub min_vram_mib: Option<u64>,
    /// GPUs wanted on one node (default 1): nodes with fewer are left out.
    pub gpus: Option<u16>,
    /// Hours wanted (default 1): nodes whose maximum lease is shorter are left
    /// out, and the all-in cost is for this long.
    pub hours: Option<u32>,
    /// Highest price per GPU-hour, in USD millionths.
    pub max_price_usd_micros: Option<u64>,
    /// Only nodes with `gpus` GPUs free now.
    pub free_now: Option<bool>,
    /// Lowest reliability score (basis points); new nodes have none and are left out.
    pub min_score_bps: Option<u16>,
    /// Also nodes without an agent connected, and paused ones.
    pub include_stale: Option<bool>,
    pub sort: Option<Sort>,
    /// Zero-based.
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Cheapest per GPU-hour first.
    #[default]
    Price,
    /// Highest score first; new nodes (no score yet) after all scored ones.
    Reliability,
    /// Most VRAM first.
    Vram,
    /// Cheapest all-in for the hours and GPUs asked (a node's minimum lease counts).
    TotalCost,
}

/// A search whose parameters have been checked.
#[derive(Clone, Debug)]
pub struct Search {
    pub params: SearchParams,
    pub gpus: u16,
    pub hours: u32,
    pub sort: Sort,
    pub page: u32,
    pub per_page: u32,
}

impl Search {
    /// Checks the parameters; the error says which one is wrong and why.
    pub fn new(params: SearchParams) -> Result<Self, String> {
        let gpus = params.gpus.unwrap_or(1);
        if gpus == 0 {
            return Err("gpus must be at least 1".into());
        }
        let hours = params.hours.unwrap_or(1);
        if hours == 0 || hours > 24 * 366 {
            return Err("hours must be between 1 and 8784 (a year)".into());
        }
        let per_page = params.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(format!("per_page must be between 1 and {MAX_PER_PAGE}"));
        }
        if params.min_score_bps.is_some_and(|bps| bps > 10_000) {
            return Err("min_score_bps must be at most 10000".into());
        }
        for (name, value) in [("gpu_model", &params.gpu_model), ("region", &params.region)] {
            if value
                .as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.len() > 64)
            {
                return Err(format!("{name} must be 1 to 64 characters"));
            }
        }
        Ok(Self {
            gpus,
            hours,
            sort: params.sort.unwrap_or_default(),
            page: params.page.unwrap_or(0),
            per_page,
            params,
        })
    }
}

/// One row of the results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Offer {
    #[sqlx(try_from = "Vec<u8>")]
    #[serde(with = "pubkey_string")]
    pub node: PubkeyBytes,
    pub gpu_model: String,
    pub region: String,
    pub gpu_count: i32,
    pub free_gpus: i32,
    pub vram_mib: i64,
    pub price_usd_micros_per_gpu_hour: i64,
    /// What the asked GPUs cost for the asked hours (at least the node's minimum lease).
    pub total_cost_usd_micros: i64,
    pub min_lease_secs: i64,
    pub max_lease_secs: i64,
    /// `available` or `paused`.
    pub status: String,
    /// An agent holds a session with the scheduler now.
    pub connected: bool,
    pub is_new: Option<bool>,
    pub score_bps: Option<i32>,
    pub uptime_bps: Option<i32>,
    pub success_bps: Option<i32>,
    pub median_activation_secs: Option<i64>,
    pub age_secs: Option<i64>,
    pub slash_count: Option<i64>,
}

/// A node's address as the row holds it (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PubkeyBytes(pub Pubkey);

impl TryFrom<Vec<u8>> for PubkeyBytes {
    type Error = String;
    fn try_from(bytes: Vec<u8>) -> Result<Self, String> {
        Pubkey::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| format!("a node key of {} bytes", bytes.len()))
    }
}

mod pubkey_string {
    use super::PubkeyBytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &PubkeyBytes, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&key.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PubkeyBytes, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(PubkeyBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A page of results; `next_page` is set when more rows follow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Page {
    pub nodes: Vec<Offer>,
    pub page: u32,
    pub per_page: u32,
    pub next_page: Option<u32>,
}

/// Runs `search` against the indexed tables and the scores snapshot.
pub async fn run(pool: &PgPool, search: &Search) -> Result<Page, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new("");
    push_query(&mut query, search);
    let mut nodes: Vec<Offer> = query.build_query_as().fetch_all(pool).await?;
    let more = nodes.len() > search.per_page as usize;
    nodes.truncate(search.per_page as usize);
    Ok(Page {
        nodes,
        page: search.page,
        per_page: search.per_page,
        next_page: more.then_some(search.page + 1),
    })
}

/// The search's SQL, with every value bound (never spliced in).
///
/// Each order can be served by an index walk that stops after the page: by
/// price (`nodes_live_price`, or per model or region), by score
/// (`node_scores_score`). The all-in cost is price × GPUs × the longer of the
/// hours asked and the node's minimum lease, so it is two walks merged: nodes
/// whose minimum lease fits in the hours (by price) and the few others
/// (`nodes_live_min_lease`, sorted by price × minimum lease).
pub fn push_query(query: &mut QueryBuilder<'_, Postgres>, search: &Search) {
    let rows = i64::from(search.page) * i64::from(search.per_page) + i64::from(search.per_page) + 1;
    let secs = i64::from(search.hours) * 3_600;
    match search.sort {
        Sort::TotalCost => {
            query.push("SELECT * FROM ((");
            push_filtered(query, search, Scores::Optional);
            query.push(" AND n.min_lease_secs <= ");
            query.push_bind(secs);
            query.push(" ORDER BY n.price_usd_micros_per_gpu_hour, n.pubkey LIMIT ");
            query.push_bind(rows);
            query.push(") UNION ALL (");
            push_filtered(query, search, Scores::Optional);
            query.push(" AND n.min_lease_secs > ");
            query.push_bind(secs);
            query.push(
                " ORDER BY n.price_usd_micros_per_gpu_hour * n.min_lease_secs, n.pubkey LIMIT ",
            );
            query.push_bind(rows);
            query.push(")) AS offers ORDER BY cost_order, node");
        }
        Sort::Price => {
            push_filtered(query, search, Scores::Optional);
            query.push(" ORDER BY n.price_usd_micros_per_gpu_hour, n.pubkey");
        }
        Sort::Vram => {
            push_filtered(query, search, Scores::Optional);
            query.push(" ORDER BY n.vram_mib DESC, n.price_usd_micros_per_gpu_hour, n.pubkey");
        }
        Sort::Reliability => {
            // Walks the scores: a node listed since the last refresh (at most
            // --scores-refresh-secs ago) joins this order at the next one.
            push_filtered(query, search, Scores::Required);
            query.push(" ORDER BY s.score_bps DESC NULLS LAST, s.node");
        }
    }
    // Every order ends on the node's key, so pages never overlap or skip.
    query.push(" LIMIT ");
    query.push_bind(i64::from(search.per_page) + 1);
    query.push(" OFFSET ");
    query.push_bind(i64::from(search.page) * i64::from(search.per_page));
}

/// Whether a node must have a row in the scores snapshot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scores {
    Optional,
    Required,
}

/// `SELECT … FROM nodes … WHERE` the search's filters, unordered.
fn push_filtered(query: &mut QueryBuilder<'_, Postgres>, search: &Search, scores: Scores) {
    let p = &search.params;
    let secs = i64::from(search.hours) * 3_600;
    let gpus = i64::from(search.gpus);
    query.push(
        "SELECT n.pubkey AS node, n.gpu_model, n.region, n.gpu_count, \
                n.gpu_count - n.gpus_in_use AS free_gpus, n.vram_mib, \
                n.price_usd_micros_per_gpu_hour::BIGINT AS price_usd_micros_per_gpu_hour, \
                n.price_usd_micros_per_gpu_hour * GREATEST(",
    );
    query.push_bind(secs);
    query.push(", n.min_lease_secs) AS cost_order, ceil(n.price_usd_micros_per_gpu_hour * ");
    query.push_bind(gpus);
    query.push(" * GREATEST(");
    query.push_bind(secs);
    query.push(
        ", n.min_lease_secs) / 3600)::BIGINT AS total_cost_usd_micros, \
         n.min_lease_secs, n.max_lease_secs, n.status, \
         (a.node IS NOT NULL) AS connected, \
         s.is_new, s.score_bps, s.uptime_bps, s.success_bps, s.median_activation_secs, \
         s.age_secs, s.slash_count \
         FROM nodes n ",
    );
    query.push(match scores {
        Scores::Optional => "LEFT JOIN node_scores s ON s.node = n.pubkey ",
        Scores::Required => "JOIN node_scores s ON s.node = n.pubkey ",
    });
    query.push(
        "LEFT JOIN agent_sessions a ON a.node = n.pubkey \
         WHERE n.closed_slot IS NULL AND n.gpu_count >= ",
    );
    query.push_bind(gpus);
    query.push(" AND n.max_lease_secs >= ");
    query.push_bind(secs);
    if !p.include_stale.unwrap_or(false) {
        query.push(" AND n.status = 'available' AND a.node IS NOT NULL");
    }
    if let Some(model) = &p.gpu_model {
        query.push(" AND lower(n.gpu_model) = lower(");
        query.push_bind(model.trim().to_string());
        query.push(")");
    }
    if let Some(region) = &p.region {
        query.push(" AND lower(n.region) = lower(");
        query.push_bind(region.trim().to_string());
        query.push(")");
    }
    if let Some(vram) = p.min_vram_mib {
        query.push(" AND n.vram_mib >= ");
        query.push_bind(i64::try_from(vram).unwrap_or(i64::MAX));
    }
    if let Some(price) = p.max_price_usd_micros {
        query.push(" AND n.price_usd_micros_per_gpu_hour <= ");
        query.push_bind(i64::try_from(price).unwrap_or(i64::MAX));
    }
    if p.free_now.unwrap_or(false) {
        query.push(" AND n.gpu_count - n.gpus_in_use >= ");
        query.push_bind(gpus);
    }
    if let Some(score) = p.min_score_bps {
        query.push(" AND s.score_bps >= ");
        query.push_bind(i32::from(score));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            (
                SearchParams {
                    gpus: Some(0),
                    ..Default::default()
                },
                "gpus must be at least 1",
            ),
            (
                SearchParams {
                    per_page: Some(MAX_PER_PAGE + 1),
                    ..Default::default()
                },
                "per_page must be between 1 and 200",
            ),
            (
                SearchParams {
                    hours: Some(0),
                    ..Default::default()
                },
                "hours must be between 1 and 8784 (a year)",
            ),
            (
                SearchParams {
                    region: Some(" ".into()),
                    ..Default::default()
                },
                "region must be 1 to 64 characters",
            ),
            (
                SearchParams {
                    min_score_bps: Some(10_001),
                    ..Default::default()
                },
                "min_score_bps must be at most 10000",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(Search::new(params).unwrap_err(), message);
        }
    }

    #[test]
    fn values_are_bound_not_spliced() {
        let search = Search::new(SearchParams {
            gpu_model: Some("x'; DROP TABLE nodes; --".into()),
            ..Default::default()
        })
        .unwrap();
        let mut query = QueryBuilder::<Postgres>::new("");
        push_query(&mut query, &search);
        assert!(!query.sql().contains("DROP"), "{}", query.sql());
    }
}
