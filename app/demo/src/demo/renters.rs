//! Renters: wallets that search the market, pay for leases into escrow,
//! submit their signed job specs to the scheduler, and cancel.

use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Context as _, Result};
use iomesh_agent_proto::{job_spec_hash, spec_submission_message};
use iomesh_client::{
    bootstrap::{self, Bootstrap},
    instructions,
    iomesh::{
        state::{Lease, Node},
        CreateClusterArgs, CreateLeaseArgs,
    },
    pda,
    query::NodeQuery,
    quote, Client, TokenMint,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::time::{Duration, Instant};

pub struct Renter {
    pub name: &'static str,
    pub keypair: Keypair,
    /// The mint this renter pays with.
    pub symbol: &'static str,
    next_nonce: u64,
}

impl Renter {
    /// A new wallet with SOL for fees and `tokens` whole tokens of `symbol`
    /// from the localnet faucet.
    pub async fn funded(
        client: &Client,
        bootstrap: &Bootstrap,
        faucet: &Keypair,
        name: &'static str,
        symbol: &'static str,
        tokens: u64,
    ) -> Result<Self> {
        let keypair = Keypair::new();
        bootstrap::airdrop(client, &keypair.pubkey(), super::suppliers::WALLET_LAMPORTS).await?;
        let mint = mint(bootstrap, symbol)?;
        let amount = tokens * 10u64.pow(u32::from(bootstrap::DECIMALS));
        bootstrap::faucet_mint_to(client, faucet, &mint, &keypair.pubkey(), amount, &keypair)
            .await
            .with_context(|| format!("funding {name} with {tokens} {symbol}"))?;
        Ok(Self {
            name,
            keypair,
            symbol,
            next_nonce: 1,
        })
    }

    fn nonce(&mut self) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        nonce
    }

    /// Available nodes matching `query`, cheapest first (the client's search).
    pub async fn search(client: &Client, query: &NodeQuery) -> Result<Vec<(Pubkey, Node)>> {
        client
            .search_nodes(query)
            .await
            .context("searching the market")
    }

    /// Pays for `gpus` GPUs of `node` for `secs` into escrow, at the price
    /// quoted now (a price raised before the transaction lands is refused).
    #[allow(clippy::too_many_arguments)]
    pub async fn lease(
        &mut self,
        client: &Client,
        bootstrap: &Bootstrap,
        node: &Pubkey,
        gpus: u16,
        secs: u32,
        spec: &[u8],
        cluster: Option<Pubkey>,
    ) -> Result<(Pubkey, Lease)> {
        let mint = mint(bootstrap, self.symbol)?;
        let node_state = client
            .fetch::<Node>(node)
            .await?
            .context("node not found")?;
        let payment_mint = client.payment_mint(&mint.mint).await?;
        let quoted = quote(&node_state, &payment_mint, gpus, secs)?;
        let nonce = self.nonce();
        let args = CreateLeaseArgs {
            nonce,
            gpus,
            duration_secs: secs,
            max_price_per_gpu_hour: quoted.rate_per_gpu_hour,
            job_spec_hash: job_spec_hash(spec),
        };
        let renter = self.keypair.pubkey();
        let instruction =
            instructions::create_cluster_lease(&renter, &renter, node, &mint, args, cluster);
        client
            .send(&[instruction], &self.keypair, &[])
            .await
            .with_context(|| format!("{} creating a lease", self.name))?;
        let address = pda::lease(&renter, nonce);
        let lease = client.lease(&address).await?;
        Ok((address, lease))
    }

    /// A cluster of `leases` leases that start together, funded within 10 minutes.
    pub async fn cluster(&mut self, client: &Client, leases: u16) -> Result<Pubkey> {
        let nonce = self.nonce();
        let args = CreateClusterArgs {
            nonce,
            leases_expected: leases,
            funding_deadline: iomesh_agent::now_secs() + 600,
        };
        let renter = self.keypair.pubkey();
        client
            .send(
                &[instructions::create_cluster(&renter, args)],
                &self.keypair,
                &[],
            )
            .await
            .with_context(|| format!("{} creating a cluster", self.name))?;
        Ok(pda::cluster(&renter, nonce))
    }

    /// Submits the job spec to the scheduler's HTTP API, signed by this
    /// wallet; retried while the lease is not indexed yet (404).
    pub async fn submit_spec(&self, http: &str, lease: &Pubkey, spec: &[u8]) -> Result<()> {
        let message = spec_submission_message(&lease.to_bytes(), &job_spec_hash(spec));
        let signature = self.keypair.sign_message(&message);
        let deadline = Instant::now() + Duration::from_secs(60);
        let http_client = reqwest::Client::new();
        loop {
            let response = http_client
                .post(format!("{http}/v1/leases/{lease}/job-spec"))
                .header("x-iomesh-signature", signature.to_string())
                .body(spec.to_vec())
                .send()
                .await
                .context("submitting the job spec to the scheduler")?;
            let status = response.status().as_u16();
            if status == 200 || status == 201 {
                return Ok(());
            }
            let body = response.text().await.unwrap_or_default();
            if status != 404 || Instant::now() > deadline {
                bail!("the scheduler refused the job spec of lease {lease}: {status} {body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Cancels `lease`: the node is paid for the seconds served, the rest refunded.
    /// Returns the transaction's block time (the second billing stopped).
    pub async fn cancel(&self, client: &Client, lease: &Pubkey) -> Result<i64> {
        let (keys, _) = client.lease_keys(lease).await?;
        let payer = self.keypair.pubkey();
        let mut ixs = client
            .create_missing_token_accounts(&payer, &keys.mint, &keys.payees())
            .await?;
        ixs.push(keys.cancel());
        let signature = client
            .send(&ixs, &self.keypair, &[])
            .await
            .with_context(|| format!("{} cancelling lease {lease}", self.name))?;
        super::books::block_time(client, &signature).await
    }
}

pub fn mint(bootstrap: &Bootstrap, symbol: &str) -> Result<TokenMint> {
    bootstrap
        .mint(symbol)
        .map(|m| m.token_mint())
        .with_context(|| format!("the bootstrap has no {symbol} mint"))
}

/// A job's web server: the program serving it (a copy of this binary that a
/// sandboxed job may run) and the port it listens on (listed in the spec,
/// so that the renter may reach it through the tunnel).
pub struct Web {
    pub program: String,
    pub port: u16,
}

/// The demo's job: a small real workload that hashes random data once a
/// second and says on which GPUs it runs, until the agent stops it; with
/// `web`, it also serves a page on its port.
pub fn job_spec(name: &str, rank: Option<(u16, u16)>, web: Option<&Web>) -> Vec<u8> {
    let mut env = serde_json::Map::new();
    env.insert("JOB".into(), name.into());
    if let Some((rank, world)) = rank {
        env.insert("RANK".into(), rank.to_string().into());
        env.insert("WORLD_SIZE".into(), world.to_string().into());
    }
    let script = "step=0; while :; do step=$((step+1)); \
        set -- $(head -c 1048576 /dev/urandom | cksum); \
        echo \"$JOB${RANK:+ rank $RANK/$WORLD_SIZE} step $step on GPUs $CUDA_VISIBLE_DEVICES: checksum $1\"; \
        sleep 1; done";
    let (script, ports) = match web {
        Some(web) => (
            format!("'{}' demo-job-web {} & {script}", web.program, web.port),
            vec![web.port],
        ),
        None => (script.to_string(), Vec::new()),
    };
    serde_json::to_vec(&serde_json::json!({
        "command": ["sh", "-c", script],
        "env": env,
        "ports": ports,
    }))
    .expect("a JSON object serialises")
}

/// carol's Ray program: a step every half second, each running one task
/// pinned to every alive node of her cluster; each task hashes random data
/// and reports the lease of the node it ran on (Ray's workers inherit the
/// node's job environment).
const RAY_PROGRAM: &str = r#"python -c "
import hashlib, os, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On
ray.init()
@ray.remote(num_cpus=0)
def work():
    return os.environ['IOMESH_LEASE'], hashlib.sha256(os.urandom(1 << 20)).hexdigest()[:8]
nodes = [n['NodeID'] for n in ray.nodes() if n['Alive']]
print('Ray cluster: %d nodes alive' % len(nodes), flush=True)
step = 0
while True:
    step += 1
    for lease, digest in ray.get([work.options(scheduling_strategy=On(n, soft=False)).remote() for n in nodes]):
        print('step %d: task ran on lease %s, checksum %s' % (step, lease, digest), flush=True)
    time.sleep(0.5)
""#;

/// The job spec of carol's cluster members: one Ray program across them.
pub fn ray_job_spec(ray_version: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": iomesh_agent_proto::JOB_SPEC_VERSION,
        "runtime": "ray",
        "ray": {"entrypoint": RAY_PROGRAM, "version": ray_version},
    }))
    .expect("a JSON object serialises")
}
