//! The command line: global options (Solana CLI conventions) and commands.

use crate::output::OutputFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use iomesh_client::offline::{Hash, Presigned};
use std::path::PathBuf;

/// iomesh: rent and supply GPUs on the iomesh marketplace (Solana).
#[derive(Debug, Parser)]
#[command(name = "iomesh", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// RPC URL or moniker: localhost (l), devnet (d), testnet (t), mainnet-beta (m).
    /// Default: json_rpc_url of the Solana CLI config, else localhost.
    #[arg(short = 'u', long = "url", global = true, env = "IOMESH_RPC_URL")]
    pub url: Option<String>,
    /// Signer keypair file. Default: keypair_path of the Solana CLI config,
    /// else ~/.config/solana/id.json.
    #[arg(short = 'k', long = "keypair", global = true)]
    pub keypair: Option<String>,
    /// Solana CLI config file. Default: ~/.config/solana/cli/config.yml.
    #[arg(short = 'C', long = "config", global = true)]
    pub config: Option<PathBuf>,
    /// Commitment to read at and wait for.
    #[arg(long, global = true, value_enum)]
    pub commitment: Option<Commitment>,
    /// Priority fee: micro-lamports per compute unit every transaction bids.
    #[arg(long, global = true, value_name = "MICROLAMPORTS")]
    pub with_compute_unit_price: Option<u64>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "display")]
    pub output: OutputFormat,
    /// Localnet directory holding bootstrap.json (symbols, faucet).
    #[arg(long, global = true, env = "IOMESH_LOCALNET_DIR")]
    pub localnet_dir: Option<PathBuf>,
    /// A scheduler's HTTP API (any replica): your jobs' phases, logs and ports.
    #[arg(long, global = true, env = "IOMESH_SCHEDULER_URL")]
    pub scheduler: Option<String>,
    /// The marketplace's web service (iomesh-web): `gpus search` then asks
    /// its search, with reliability scores and all-in costs.
    #[arg(long, global = true, env = "IOMESH_MARKET_URL")]
    pub market: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Commitment {
    Processed,
    Confirmed,
    Finalized,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The market: policy, payment mints, authority.
    #[command(subcommand)]
    Market(MarketCommand),
    /// GPU nodes: list and manage your machines.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Leases: rent GPUs and manage rentals.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Find GPUs to rent.
    #[command(subcommand)]
    Gpus(GpusCommand),
    /// Clusters: leases on several nodes that start together.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Epoch rewards of your nodes: what is claimable, and claiming it.
    #[command(subcommand)]
    Rewards(RewardsCommand),
    /// IOSD, the USD credit: mint it by burning IO at the oracle price.
    #[command(subcommand)]
    Iosd(IosdCommand),
    /// Payouts and refunds the program kept for you because your token account could not take them.
    #[command(subcommand)]
    Credit(CreditCommand),
    /// SOL and token balances of your wallet (or --address).
    Balance {
        #[arg(long)]
        address: Option<String>,
    },
    /// Requests SOL from the cluster's faucet (localnet, devnet).
    Airdrop {
        /// SOL, e.g. 1 or 0.5.
        amount: String,
        /// Recipient (default: your wallet).
        #[arg(long)]
        to: Option<String>,
    },
    /// Mints localnet tokens (IO, USDC) with the bootstrap faucet (IOSD: `iosd mint`).
    Faucet {
        /// Token symbol from bootstrap.json, e.g. IO.
        symbol: String,
        /// Whole tokens, e.g. 1000 or 12.5.
        amount: String,
        /// Recipient (default: your wallet).
        #[arg(long)]
        to: Option<String>,
    },
    /// Writes a new keypair file (like `solana-keygen new`), e.g. for a node operator.
    Keygen {
        /// Where to write it.
        #[arg(long, short = 'o')]
        outfile: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Market policy flags; unset ones keep their current (or default) value.
#[derive(Debug, Args, Default)]
pub struct MarketPolicy {
    /// Wallet receiving network fees.
    #[arg(long)]
    pub treasury: Option<String>,
    /// Key that reports node failures.
    #[arg(long)]
    pub scheduler_authority: Option<String>,
    /// Key that sets prices of authority-priced mints.
    #[arg(long)]
    pub price_authority: Option<String>,
    /// Key that publishes reward epochs.
    #[arg(long)]
    pub reward_authority: Option<String>,
    /// How long a lease may wait for activation, e.g. 10m.
    #[arg(long)]
    pub activation_timeout: Option<String>,
    /// Shortest lease, e.g. 1m.
    #[arg(long)]
    pub min_lease: Option<String>,
    /// Longest prepaid horizon, e.g. 30d.
    #[arg(long)]
    pub max_lease: Option<String>,
    /// Agent silence tolerated before a failure is reported, e.g. 2m.
    #[arg(long)]
    pub failure_grace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MarketCommand {
    /// Creates the market; your keypair becomes its authority.
    Init(MarketPolicy),
    /// Shows the market and its payment mints.
    Show,
    /// Changes the market policy (market authority).
    Update(MarketPolicy),
    /// Accepts a new payment mint (market authority).
    AddMint {
        /// Mint address.
        #[arg(long)]
        mint: String,
        /// Display symbol, e.g. USDC.
        #[arg(long)]
        symbol: String,
        /// Network fee on payouts, in basis points.
        #[arg(long)]
        fee_bps: u16,
        /// A USD stablecoin (always $1).
        #[arg(
            long,
            conflicts_with = "usd_price",
            required_unless_present = "usd_price"
        )]
        stable: bool,
        /// USD price of one token, set by the price authority, e.g. 0.50.
        #[arg(long)]
        usd_price: Option<String>,
        /// How long an authority-set price stays usable, e.g. 1h.
        #[arg(long, default_value = "1h")]
        max_price_age: String,
    },
    /// Changes a payment mint's fee, price source, age or enabled flag (market authority).
    UpdateMint {
        /// Symbol or mint address.
        mint: String,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long)]
        fee_bps: Option<u16>,
        /// Price source.
        #[arg(long, value_enum)]
        price_source: Option<PriceSourceArg>,
        /// e.g. 1h.
        #[arg(long)]
        max_price_age: Option<String>,
    },
    /// Sets the USD price of an authority-priced mint (price authority).
    SetPrice {
        /// Symbol or mint address.
        mint: String,
        /// USD per token, e.g. 0.50.
        usd_price: String,
    },
    /// Refuses new leases and extensions (market authority).
    Pause,
    /// Accepts new leases again (market authority).
    Resume,
    /// Proposes a new market authority (current authority).
    ProposeAuthority { new_authority: String },
    /// Accepts the market authority (signed by the proposed key).
    AcceptAuthority,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PriceSourceArg {
    Stable,
    Authority,
}

/// What a supplier says about a node; for `update`, unset fields keep their value.
#[derive(Debug, Args)]
pub struct NodeSpecArgs {
    /// e.g. "RTX 4090".
    #[arg(long)]
    pub gpu_model: Option<String>,
    /// Number of GPUs.
    #[arg(long)]
    pub gpus: Option<u16>,
    /// VRAM per GPU in GiB (or --vram-mib).
    #[arg(long, conflicts_with = "vram_mib")]
    pub vram_gib: Option<u32>,
    /// VRAM per GPU in MiB.
    #[arg(long)]
    pub vram_mib: Option<u32>,
    /// e.g. eu-west.
    #[arg(long)]
    pub region: Option<String>,
    /// USD per GPU-hour, e.g. 2.00.
    #[arg(long)]
    pub price: Option<String>,
    /// Shortest lease you accept, e.g. 1m (default: the market minimum).
    #[arg(long)]
    pub min_lease: Option<String>,
    /// Longest lease you accept, e.g. 7d (default: the market maximum).
    #[arg(long)]
    pub max_lease: Option<String>,
}

/// Offline signing, as the Solana CLI spells it: every side runs the same
/// command with the same --blockhash; a side holding only some keys signs
/// with --sign-only, the side that sends passes the others' signatures.
#[derive(Debug, Args)]
pub struct OfflineArgs {
    /// Sign with the keys held here, print the signatures, send nothing.
    /// --keypair and --operator may then be pubkeys (absent signers).
    #[arg(long)]
    pub sign_only: bool,
    /// The blockhash to sign with (every side must use the same one; it is
    /// valid for about a minute). Default: the cluster's latest, printed
    /// by --sign-only.
    #[arg(long, value_name = "BLOCKHASH")]
    pub blockhash: Option<Hash>,
    /// A signature made elsewhere with --sign-only, as it printed it.
    #[arg(long = "signer", value_name = "PUBKEY=SIGNATURE")]
    pub signers: Vec<Presigned>,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Lists a GPU node; your keypair is its owner (cold wallet, receives payouts).
    Register {
        /// Operator (hot key on the GPU machine) keypair file; default: your
        /// keypair. Signing offline, its pubkey, with its signature given by
        /// --signer (or left absent with --sign-only).
        #[arg(long, value_name = "KEYPAIR_OR_PUBKEY")]
        operator: Option<String>,
        /// GPU model, count and VRAM from `iomesh-agent gpus --json` saved in
        /// this file (`-`: stdin), instead of --gpu-model, --gpus and --vram-*.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with_all = ["gpu_model", "gpus", "vram_gib", "vram_mib"]
        )]
        agent_gpus: Option<PathBuf>,
        #[command(flatten)]
        spec: NodeSpecArgs,
        #[command(flatten)]
        offline: OfflineArgs,
    },
    /// Changes a node's listing (owner).
    Update {
        /// Node address or operator key.
        node: String,
        /// GPU model, count and VRAM from `iomesh-agent gpus --json` in this
        /// file (`-`: stdin), e.g. after GPUs were added to the machine.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with_all = ["gpu_model", "gpus", "vram_gib", "vram_mib"]
        )]
        agent_gpus: Option<PathBuf>,
        #[command(flatten)]
        spec: NodeSpecArgs,
    },
    /// Refuses new leases on a node (owner); running leases continue.
    Pause { node: String },
    /// Accepts new leases again (owner).
    Resume { node: String },
    /// Closes a node with no open lease (owner); the rent returns to you.
    Retire { node: String },
    /// Shows a node (address or operator key).
    Show { node: String },
    /// Stakes IO behind your node (owner): needed to take leases and earn rewards.
    Stake {
        /// Node address or operator key.
        node: String,
        /// IO to stake, in tokens, e.g. 1000 or 12.5.
        #[arg(long)]
        amount: String,
    },
    /// Starts the cooldown of some staked IO (owner); still slashable meanwhile.
    Unstake {
        /// Node address or operator key.
        node: String,
        /// IO to unstake, in tokens.
        #[arg(long)]
        amount: String,
    },
    /// Takes back the IO whose unstake cooldown has passed (owner).
    WithdrawStake {
        /// Node address or operator key.
        node: String,
    },
    /// Lists nodes (default: yours).
    List {
        /// Owner whose nodes to list.
        #[arg(long, conflicts_with = "all")]
        owner: Option<String>,
        /// Every node of the market.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Rents GPUs: escrows the price of the whole duration (you are the renter).
    Create {
        /// Node address or operator key.
        #[arg(long)]
        node: String,
        /// GPUs to rent.
        #[arg(long)]
        gpus: u16,
        /// Duration: hours (e.g. 2 or 1.5) or a duration (e.g. 90m, 1h30m).
        #[arg(long)]
        hours: String,
        /// Payment token: symbol (IO, IOSD, USDC) or mint address.
        #[arg(long)]
        mint: String,
        /// Job spec file; its sha256 is recorded on the lease, and with
        /// --scheduler the spec is handed to the scheduler once the lease lands.
        #[arg(long)]
        job_spec: PathBuf,
        /// Most you accept per GPU-hour, in tokens of --mint (default: the current quote).
        #[arg(long)]
        max_price: Option<String>,
        /// Keypair file of a sponsor paying the escrow (default: you).
        #[arg(long)]
        payer: Option<PathBuf>,
        /// Number making the lease address unique (default: the current time in ms).
        #[arg(long)]
        nonce: Option<u64>,
        /// Your cluster (address) the lease joins: it starts only once every lease of the cluster is funded.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Hands the scheduler your lease's job spec (needs --scheduler); `lease
    /// create` does this itself when --scheduler is given.
    SubmitSpec {
        lease: String,
        /// The job spec file the lease commits to (its sha256).
        #[arg(long)]
        job_spec: PathBuf,
    },
    /// Starts a lease (node operator); billing starts now.
    Activate { lease: String },
    /// Pays the node for the time accrued so far (anyone).
    Settle { lease: String },
    /// Buys more time at the locked price (renter or payer).
    Extend {
        lease: String,
        /// Hours (e.g. 1 or 0.5) or a duration (e.g. 30m).
        #[arg(long)]
        hours: String,
    },
    /// Ends your lease now: accrued time paid, the rest refunded (renter).
    Cancel { lease: String },
    /// Ends a lease that ran to its end (anyone).
    Close { lease: String },
    /// Ends a lease never activated in time, with a full refund (anyone).
    Expire { lease: String },
    /// Shows a lease (with --scheduler: its job's phase and exit code).
    Show { lease: String },
    /// Prints your lease's job output (needs --scheduler).
    Logs {
        lease: String,
        /// Keep printing new lines while the job runs.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<u32>,
        /// Only lines since: unix milliseconds, or a duration back from now (10m, 2h).
        #[arg(long)]
        since: Option<String>,
    },
    /// Forwards a local port to a port of your lease's job, like `ssh -L`
    /// (needs --scheduler); the port must be listed in the job spec.
    Forward {
        lease: String,
        /// The job's port.
        port: u16,
        /// Local address to listen on (default: 127.0.0.1 and the same port).
        #[arg(long)]
        local: Option<std::net::SocketAddr>,
    },
    /// Lists leases (default: yours as renter; with --scheduler: their jobs' phases).
    List {
        /// Leases you rent (the default).
        #[arg(long)]
        mine: bool,
        /// Leases on this node (address or operator key).
        #[arg(long, conflicts_with_all = ["mine", "renter"])]
        node: Option<String>,
        /// Leases of this renter.
        #[arg(long, conflicts_with = "mine")]
        renter: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GpusCommand {
    /// Available nodes matching the filters, cheapest first. With --market,
    /// the marketplace's search: the web page's columns and orders, with
    /// reliability scores; without, the node accounts read from the chain.
    Search {
        /// Exact GPU model, e.g. "RTX 4090" (case-insensitive).
        #[arg(long)]
        gpu_model: Option<String>,
        /// Least VRAM per GPU in GiB.
        #[arg(long)]
        min_vram: Option<u32>,
        /// Exact region, e.g. eu-west.
        #[arg(long)]
        region: Option<String>,
        /// Highest price in USD per GPU-hour, e.g. 2.50.
        #[arg(long)]
        max_price: Option<String>,
        /// Least free GPUs (default 1).
        #[arg(long)]
        min_free_gpus: Option<u16>,
        #[command(flatten)]
        market: MarketSearch,
    },
}

/// What only the marketplace's search (--market) answers.
#[derive(Debug, Args, Default)]
pub struct MarketSearch {
    /// GPUs wanted on one node: the all-in cost is for this many (--market).
    #[arg(long)]
    pub gpus: Option<u16>,
    /// Hours wanted: the all-in cost is for this long (--market).
    #[arg(long)]
    pub hours: Option<u32>,
    /// Order (--market).
    #[arg(long, value_enum)]
    pub sort: Option<SearchSort>,
    /// Lowest reliability score in percent; new nodes have none (--market).
    #[arg(long)]
    pub min_score: Option<u16>,
    /// Also nodes without an agent connected, and paused ones (--market).
    #[arg(long)]
    pub include_stale: bool,
    /// Page of results, from 0 (--market).
    #[arg(long)]
    pub page: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SearchSort {
    /// Cheapest per GPU-hour first.
    Price,
    /// Highest score first; new nodes after scored ones.
    Reliability,
    /// Most VRAM first.
    Vram,
    /// Cheapest all-in for the GPUs and hours asked.
    TotalCost,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Creates a cluster (you are its renter); then add leases with `lease create --cluster`.
    Create {
        /// Leases the cluster needs before any of them may start (1 to 64).
        #[arg(long)]
        leases: u16,
        /// How long the leases may take to be funded, e.g. 30m (at most 24h).
        #[arg(long)]
        deadline: String,
        /// Number making the cluster address unique (default: the current time in ms).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Shows a cluster and its leases.
    Show { cluster: String },
    /// Refunds every pending lease of a cluster that missed its funding deadline (anyone).
    Unwind { cluster: String },
    /// Takes back a complete or expired cluster's rent (renter).
    Close { cluster: String },
}

#[derive(Debug, Subcommand)]
pub enum RewardsCommand {
    /// A node's allocation in an epoch file, and whether it is claimed on-chain.
    Show {
        /// The epoch's JSON file, as published by the reward job.
        #[arg(long)]
        epoch_file: PathBuf,
        /// Node address or operator key.
        #[arg(long)]
        node: String,
    },
    /// Claims a node's allocation (node owner); leaf and proof come from the epoch file.
    Claim {
        #[arg(long)]
        epoch_file: PathBuf,
        /// Node address or operator key.
        #[arg(long)]
        node: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CreditCommand {
    /// What the program keeps for your wallet (or --address), per token.
    Show {
        #[arg(long)]
        address: Option<String>,
    },
    /// Takes a credit out: the tokens to a token account you choose (default:
    /// your associated account, created if missing), lamports to your wallet.
    Withdraw {
        /// The token: a payment mint's symbol or address.
        token: String,
        /// The credit held in the IO stake vault (a slash's share), not in the token's escrow vault.
        #[arg(long)]
        stake_vault: bool,
        /// A token account of the mint to receive the tokens.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IosdCommand {
    /// What burning IO would mint now.
    Quote {
        /// IO to burn, in tokens.
        #[arg(long)]
        amount: String,
        /// The Pyth PriceUpdateV2 account of the IO/USD feed.
        #[arg(long)]
        price_update: String,
    },
    /// Burns IO and mints IOSD at the oracle price; the quote is shown first.
    Mint {
        /// IO to burn, in tokens.
        #[arg(long)]
        amount: String,
        /// Least IOSD you accept, in tokens (default: the quote; a lower price is refused).
        #[arg(long)]
        min_out: Option<String>,
        /// The Pyth PriceUpdateV2 account of the IO/USD feed.
        #[arg(long)]
        price_update: String,
    },
}
