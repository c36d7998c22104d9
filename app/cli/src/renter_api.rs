//! The scheduler's renter API, as the wallet reaches it: access tokens made
//! from the wallet's keypair, the job's phase, log lines, and the WebSocket
//! that carries a forwarded port.

use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_agent_proto::{
    access::{access_message, encode_token, AccessClaims},
    job_spec_hash, spec_submission_message, SPEC_SIGNATURE_HEADER,
};
use iomesh_client::clock::unix_now as now;
use serde::Deserialize;
use serde_json::Value;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use std::time::{Duration, Instant};

/// How long the tokens the CLI makes live: long enough for one request.
const TOKEN_SECS: i64 = 120;

fn sign(keypair: &Keypair, claims: AccessClaims) -> String {
    let json = claims.to_json();
    let signature = keypair.sign_message(&access_message(&json));
    let bytes: [u8; 64] = signature.into();
    encode_token(&json, &bytes)
}

/// A one-use token for `lease`, signed by `keypair` (the renter).
pub fn lease_token(keypair: &Keypair, lease: &str) -> String {
    let claims = AccessClaims::for_lease(
        &keypair.pubkey().to_string(),
        lease,
        now(),
        TOKEN_SECS,
        rand_nonce(),
    );
    sign(keypair, claims)
}

/// A one-use token for every lease of `keypair` (listing them in detail).
pub fn renter_token(keypair: &Keypair) -> String {
    let claims = AccessClaims::for_renter(
        &keypair.pubkey().to_string(),
        now(),
        TOKEN_SECS,
        rand_nonce(),
    );
    sign(keypair, claims)
}

fn rand_nonce() -> [u8; 16] {
    rand::random()
}

/// One log line as the scheduler sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct LogLine {
    pub seq: Option<u64>,
    pub t: Option<i64>,
    pub stream: Option<String>,
    pub line: Option<String>,
    pub error: Option<String>,
}

pub struct RenterApi {
    base: String,
    http: reqwest::Client,
}

impl RenterApi {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn json(&self, response: reqwest::Response) -> Result<Value> {
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("the scheduler's answer ({status}) is not JSON"))?;
        if !status.is_success() {
            bail!(
                "the scheduler refused ({status}): {}",
                body["error"].as_str().unwrap_or("no reason given")
            );
        }
        Ok(body)
    }

    /// Hands the scheduler the job spec `lease` commits to, signed by the
    /// renter over the submission message. A lease created moments ago is
    /// not indexed yet (404): asked again for up to `wait`.
    pub async fn submit_spec(
        &self,
        renter: &Keypair,
        lease: &Pubkey,
        spec: &[u8],
        wait: Duration,
    ) -> Result<Value> {
        let message = spec_submission_message(&lease.to_bytes(), &job_spec_hash(spec));
        let signature = renter.sign_message(&message);
        let deadline = Instant::now() + wait;
        loop {
            let response = self
                .http
                .post(format!("{}/v1/leases/{lease}/job-spec", self.base))
                .header(SPEC_SIGNATURE_HEADER, signature.to_string())
                .body(spec.to_vec())
                .send()
                .await
                .with_context(|| format!("cannot reach the scheduler at {}", self.base))?;
            if response.status() == reqwest::StatusCode::NOT_FOUND && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            return self.json(response).await;
        }
    }

    /// The scheduler's view of `lease`, in detail (the renter's token).
    pub async fn lease(&self, keypair: &Keypair, lease: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/v1/leases/{lease}", self.base))
            .bearer_auth(lease_token(keypair, lease))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.base))?;
        self.json(response).await
    }

    /// The scheduler's view of every lease of the signer, in detail.
    pub async fn leases(&self, keypair: &Keypair) -> Result<Vec<Value>> {
        let response = self
            .http
            .get(format!(
                "{}/v1/leases?renter={}&closed=true&limit=1000",
                self.base,
                keypair.pubkey()
            ))
            .bearer_auth(renter_token(keypair))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.base))?;
        let body = self.json(response).await?;
        Ok(body["leases"].as_array().cloned().unwrap_or_default())
    }

    /// Opens `lease`'s log stream with `query` (tail, since, after, follow).
    pub async fn logs(
        &self,
        keypair: &Keypair,
        lease: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}/v1/leases/{lease}/logs", self.base))
            .query(query)
            .bearer_auth(lease_token(keypair, lease))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            return Err(anyhow!(
                "the scheduler refused ({status}): {}",
                body["error"].as_str().unwrap_or("no reason given")
            ));
        }
        Ok(response)
    }

    /// The WebSocket URL and token that carry one connection to `port`.
    pub fn forward_target(&self, keypair: &Keypair, lease: &str, port: u16) -> (String, String) {
        let ws_base = self
            .base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        (
            format!("{ws_base}/v1/leases/{lease}/forward/{port}"),
            lease_token(keypair, lease),
        )
    }
}
