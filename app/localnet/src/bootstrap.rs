//! `iomesh-localnet --bootstrap`: the market, its IO, IOSD and USDC mints,
//! IO staking and IOSD minting, created with `--keypair` as the authority;
//! bootstrap.json and the faucet keypair written to `--dir` for the wallet
//! CLI (`iomesh faucet`, symbols), and bootstrap.json printed on stdout.

use anyhow::{anyhow, Context};
use clap::Args;
use iomesh_client::{bootstrap, Client};
use iomesh_localnet::{market, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::{read_keypair_file, write_keypair_file, Keypair};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Create the IO, IOSD and USDC mints and the market (authority:
    /// --keypair), write bootstrap.json to --dir and print it on stdout.
    #[arg(long)]
    bootstrap: bool,
    /// The market authority's keypair (default: ~/.config/solana/id.json).
    #[arg(long, short = 'k', requires = "bootstrap")]
    keypair: Option<PathBuf>,
    /// Create the --keypair file if it does not exist.
    #[arg(long, requires = "bootstrap")]
    new_keypair: bool,
    /// Directory for bootstrap.json and the faucet and mint keypairs
    /// (default: ~/.config/iomesh/localnet, where the wallet CLI looks).
    #[arg(long, env = "IOMESH_LOCALNET_DIR", requires = "bootstrap")]
    dir: Option<PathBuf>,
}

fn home_path(rest: &str) -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(rest)
}

impl BootstrapArgs {
    /// The market authority, if bootstrapping: `--keypair`, created only
    /// when `--new-keypair` asks.
    pub fn authority(&self) -> anyhow::Result<Option<Keypair>> {
        if !self.bootstrap {
            return Ok(None);
        }
        let path = self
            .keypair
            .clone()
            .unwrap_or_else(|| home_path(".config/solana/id.json"));
        if !path.exists() {
            if !self.new_keypair {
                return Err(anyhow!(
                    "keypair file {} does not exist: the bootstrap makes it the market authority \
                     (add --new-keypair to create it)",
                    path.display()
                ));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let keypair = Keypair::new();
            write_keypair_file(&keypair, &path)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("writing the new keypair {}", path.display()))?;
            eprintln!("created keypair {}", path.display());
            return Ok(Some(keypair));
        }
        read_keypair_file(&path)
            .map(Some)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("keypair file {} is not a Solana keypair", path.display()))
    }

    /// Bootstraps the running `localnet` and prints bootstrap.json on stdout.
    pub async fn run(&self, localnet: &Localnet, authority: &Keypair) -> anyhow::Result<()> {
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| home_path(".config/iomesh/localnet"));
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let bootstrap = market::bootstrap(&client, &dir, authority, Some(localnet.grpc_url()))
            .await
            .context("bootstrapping the localnet")?;
        println!("{}", serde_json::to_string(&bootstrap)?);
        eprintln!(
            "bootstrapped: market {}, mints {}; {} written",
            bootstrap.market,
            bootstrap
                .mints
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            dir.join(bootstrap::BOOTSTRAP_FILE).display()
        );
        Ok(())
    }
}
