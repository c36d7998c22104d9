//! Requests to the scheduler's HTTP API: its routes with arbitrary path
//! segments, queries, headers and bodies (job spec submissions with bad
//! signatures, wrong content types, huge or non-UTF-8 bodies), plus paths and
//! methods it does not serve. Nothing may answer with a server error or hang,
//! and the replica must keep serving `/health`.

use crate::{gen::Gen, Fuzz, Outcome, Problem};
use anchor_lang::prelude::Pubkey;
use base64::Engine;
use iomesh_scheduler::{Config, Running};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

pub struct SchedulerHttpFuzz {
    replica: Running,
    http: reqwest::Client,
    base: String,
    /// The throwaway database and the server URL to drop it from.
    database: String,
    server_url: String,
    leases: Vec<Pubkey>,
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{root}/{database}{query}")
}

impl SchedulerHttpFuzz {
    /// A replica on a database of its own, created in the server at `database_url`.
    pub async fn setup(database_url: &str) -> anyhow::Result<Self> {
        let database = format!(
            "iomesh_fuzz_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        iomesh_db::create_database(database_url, &database, 1)
            .await?
            .close()
            .await;
        match Self::start_replica(database_url, &database).await {
            Ok(replica) => Ok(Self {
                base: format!("http://{}", replica.http_addr),
                replica,
                http: reqwest::Client::new(),
                database,
                server_url: database_url.to_string(),
                leases: (0..4).map(|_| Pubkey::new_unique()).collect(),
            }),
            Err(err) => {
                drop_database(database_url, &database).await;
                Err(err)
            }
        }
    }

    async fn start_replica(database_url: &str, database: &str) -> anyhow::Result<Running> {
        let url = with_database(database_url, database);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await?;
        iomesh_scheduler::db::MIGRATOR.run(&pool).await?;
        let mut config = Config::new(url);
        config.replica_id = Some("fuzz".into());
        Ok(iomesh_scheduler::start(config, pool).await?)
    }

    fn segment(&self, gen: &mut Gen) -> String {
        match gen.below(5) {
            0 => gen.text(50),
            1 => "%ff%00..%2f".to_string(),
            _ => gen.pick(&self.leases).to_string(),
        }
    }

    fn query(&self, gen: &mut Gen) -> String {
        let keys = ["node", "renter", "closed", "limit", "before", "status", "x"];
        (0..gen.below(4))
            .map(|_| {
                let value = match gen.below(3) {
                    0 => gen.pick(&self.leases).to_string(),
                    1 => (gen.signed(64) as i64).to_string(),
                    _ => gen.text(20),
                };
                format!("{}={}", gen.pick(&keys), urlencode(&value))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Fuzz for SchedulerHttpFuzz {
    async fn case(&mut self, gen: &mut Gen) -> Result<Outcome, Problem> {
        let segment = urlencode(&self.segment(gen));
        let (method, path) = match gen.below(8) {
            0 => ("GET", format!("/v1/leases?{}", self.query(gen))),
            1 => ("GET", format!("/v1/leases/{segment}")),
            2 | 3 => ("POST", format!("/v1/leases/{segment}/job-spec")),
            4 => ("GET", format!("/v1/nodes/{segment}")),
            5 => ("GET", "/health".to_string()),
            6 => (
                *gen.pick(&["PUT", "DELETE", "PATCH", "GET"]),
                format!("/{segment}"),
            ),
            _ => ("GET", "/metrics".to_string()),
        };
        let mut request = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if method == "POST" {
            let body = match gen.below(4) {
                0 => gen.bytes(2_000),
                1 => vec![b'x'; 70_000 + gen.below(10_000)],
                _ => serde_json::to_vec(&json!({"command": ["sh", "-c", gen.text(30)]}))
                    .expect("JSON"),
            };
            let content_types = [
                "application/json",
                "text/plain",
                "application/octet-stream",
                "",
            ];
            request = request.header("content-type", *gen.pick(&content_types));
            if gen.chance(0.7) {
                let signature = if gen.chance(0.5) {
                    bs58::encode(gen.bytes(80)).into_string()
                } else {
                    base64::engine::general_purpose::STANDARD.encode(gen.bytes(64))
                };
                request = request.header(iomesh_scheduler::http::SIGNATURE_HEADER, signature);
            }
            request = request.body(body);
        }
        let input = format!("{method} {path}");
        let response = request
            .send()
            .await
            .map_err(|e| Problem::new(&input, format!("no HTTP answer: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_server_error() {
            return Err(Problem::new(
                input,
                format!("server error {status}: {text}"),
            ));
        }
        let route = match path.split('?').next().unwrap_or_default() {
            p if p.ends_with("/job-spec") => "job-spec",
            p if p.starts_with("/v1/leases/") => "lease",
            p if p.starts_with("/v1/leases") => "leases",
            p if p.starts_with("/v1/nodes/") => "node",
            "/health" => "health",
            "/metrics" => "metrics",
            _ => "other",
        };
        Ok(format!("{method} {route} {}", status.as_u16()))
    }

    async fn check(&mut self) -> Result<(), Problem> {
        let health = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(|e| Problem::new("/health", format!("the replica stopped answering: {e}")))?;
        if !health.status().is_success() {
            return Err(Problem::new(
                "/health",
                format!("unhealthy: {}", health.status()),
            ));
        }
        Ok(())
    }

    async fn shutdown(self) {
        let _ = self.replica.stop().await;
        drop_database(&self.server_url, &self.database).await;
    }
}

async fn drop_database(server_url: &str, database: &str) {
    let _ = iomesh_db::drop_database(server_url, database).await;
}
