//! A localnet with a bootstrapped market, a node, leases in several states and
//! wallets whose keys the fuzzer holds: the accounts fuzzed requests name.

use anchor_lang::prelude::Pubkey;
use iomesh_client::{bootstrap, instructions as ix, pda, Client, TokenMint};
use iomesh_localnet::{Config, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::time::Duration;

pub struct World {
    pub localnet: Localnet,
    pub client: Client,
    /// Pays every fuzzed transaction's fee; never named in an instruction.
    pub fee_payer: Keypair,
    /// Keys the fuzzer can sign with: market authority, renter, node owner, operator.
    pub signers: Vec<Keypair>,
    /// Every address a fuzzed instruction or request may name.
    pub pool: Vec<Pubkey>,
    pub mints: Vec<TokenMint>,
    /// Candidate addresses per account name of the IDL (`market`, `lease`,
    /// `payer_token_account`, ...), so that fuzzed instructions often name
    /// the right kind of account and reach past the first check.
    pub by_name: std::collections::BTreeMap<&'static str, Vec<Pubkey>>,
    pub node: Pubkey,
    _dir: tempfile::TempDir,
}

impl World {
    /// Whether the localnet still answers JSON-RPC; `who` names the server
    /// in the finding ("the localnet", "the server").
    pub async fn still_answers(&self, who: &str) -> Result<(), crate::Problem> {
        self.client
            .rpc()
            .get_slot()
            .await
            .map(drop)
            .map_err(|e| crate::Problem::new("getSlot", format!("{who} stopped answering: {e}")))
    }

    pub async fn shutdown(self) {
        self.localnet.shutdown().await;
    }

    pub async fn start() -> anyhow::Result<Self> {
        let localnet = Localnet::start(Config {
            slot_duration: Duration::from_millis(50),
            ..Config::ephemeral()
        })
        .await?;
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let dir = tempfile::tempdir()?;
        let authority = Keypair::new();
        let boot = iomesh_localnet::market::bootstrap(
            &client,
            dir.path(),
            &authority,
            Some(localnet.grpc_url()),
        )
        .await?;
        let faucet = bootstrap::load_or_create_keypair(&boot.faucet_keypair)?;
        let fee_payer = Keypair::new();
        let renter = Keypair::new();
        let owner = Keypair::new();
        let operator = Keypair::new();
        for wallet in [&fee_payer, &renter, &owner, &operator] {
            bootstrap::airdrop(&client, &wallet.pubkey(), 100_000_000_000).await?;
        }
        let mints: Vec<TokenMint> = boot.mints.values().map(|m| m.token_mint()).collect();
        // IOSD's mint authority is the program: it is minted by burning IO, not by the faucet.
        for (_, mint) in boot.mints.iter().filter(|(symbol, _)| *symbol != "IOSD") {
            for wallet in [&renter, &owner] {
                bootstrap::faucet_mint_to(
                    &client,
                    &faucet,
                    &mint.token_mint(),
                    &wallet.pubkey(),
                    1_000_000_000_000,
                    &fee_payer,
                )
                .await?;
            }
        }
        let spec = iomesh::NodeSpec {
            gpu_model: "H100".into(),
            gpu_count: 8,
            vram_mib: 81_920,
            region: "eu-west".into(),
            price_usd_micros_per_gpu_hour: 2_000_000,
            min_lease_secs: 60,
            max_lease_secs: 30 * 24 * 3_600,
        };
        client
            .send(
                &[ix::register_node(&owner.pubkey(), &operator.pubkey(), spec)],
                &fee_payer,
                &[&owner, &operator],
            )
            .await?;
        let node = pda::node(&operator.pubkey());
        let usdc = boot.mint("USDC").expect("bootstrap USDC").token_mint();
        let mut leases = Vec::new();
        for nonce in 1..=3u64 {
            let args = iomesh::CreateLeaseArgs {
                nonce,
                gpus: 1,
                duration_secs: 3_600,
                max_price_per_gpu_hour: u64::MAX,
                job_spec_hash: [nonce as u8; 32],
            };
            client
                .send(
                    &[ix::create_lease(
                        &renter.pubkey(),
                        &renter.pubkey(),
                        &node,
                        &usdc,
                        args,
                    )],
                    &fee_payer,
                    &[&renter],
                )
                .await?;
            leases.push(pda::lease(&renter.pubkey(), nonce));
        }
        client
            .send(
                &[ix::activate_lease(&operator.pubkey(), &leases[0])],
                &fee_payer,
                &[&operator],
            )
            .await?;
        let signers = vec![authority, renter, owner, operator];
        let mut pool: Vec<Pubkey> = vec![
            pda::market(),
            node,
            pda::stake_vault(),
            pda::rewards_reserve(),
            pda::rewards_escrow(),
            pda::epoch(1),
            pda::iosd_config(),
            pda::iosd_mint_authority(),
            pda::cluster(&signers[1].pubkey(), 1),
            anchor_lang::system_program::ID,
            anchor_spl_ids::TOKEN,
            anchor_spl_ids::TOKEN_2022,
            anchor_spl_ids::ASSOCIATED_TOKEN,
            iomesh::ID,
            Pubkey::default(),
        ];
        pool.extend(&leases);
        for mint in &mints {
            pool.extend([
                mint.mint,
                pda::payment_mint(&mint.mint),
                pda::vault(&mint.mint),
            ]);
            for signer in &signers {
                pool.push(mint.ata(&signer.pubkey()));
                pool.push(pda::credit(&pda::vault(&mint.mint), &signer.pubkey()));
            }
        }
        pool.extend(signers.iter().map(|s| s.pubkey()));
        pool.extend((0..4).map(|_| Pubkey::new_unique()));
        let by_name = candidates(&signers, &mints, node, &leases);
        Ok(Self {
            localnet,
            client,
            fee_payer,
            signers,
            pool,
            mints,
            by_name,
            node,
            _dir: dir,
        })
    }
}

/// Program ids the fuzzer names (kept here so the crate needs no SPL dependency).
pub mod anchor_spl_ids {
    use anchor_lang::prelude::Pubkey;
    pub const TOKEN: Pubkey = anchor_lang::pubkey!("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
    pub const TOKEN_2022: Pubkey =
        anchor_lang::pubkey!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
    pub const ASSOCIATED_TOKEN: Pubkey =
        anchor_lang::pubkey!("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
}

/// The addresses that fit each account name the program's instructions use.
fn candidates(
    signers: &[Keypair],
    mints: &[TokenMint],
    node: Pubkey,
    leases: &[Pubkey],
) -> std::collections::BTreeMap<&'static str, Vec<Pubkey>> {
    let wallets: Vec<Pubkey> = signers.iter().map(|s| s.pubkey()).collect();
    let atas: Vec<Pubkey> = mints
        .iter()
        .flat_map(|m| wallets.iter().map(|w| m.ata(w)))
        .collect();
    let vaults: Vec<Pubkey> = mints
        .iter()
        .map(|m| pda::vault(&m.mint))
        .chain([pda::stake_vault()])
        .collect();
    let credits: Vec<Pubkey> = vaults
        .iter()
        .flat_map(|v| wallets.iter().map(|w| pda::credit(v, w)))
        .collect();
    let mint_keys: Vec<Pubkey> = mints.iter().map(|m| m.mint).collect();
    let token_programs = vec![anchor_spl_ids::TOKEN, anchor_spl_ids::TOKEN_2022];
    let mut by_name = std::collections::BTreeMap::new();
    for name in [
        "authority",
        "new_authority",
        "owner",
        "operator",
        "payer",
        "renter",
        "funder",
        "user",
        "price_authority",
        "reward_authority",
        "scheduler_authority",
        "slash_authority",
        "rent_payer",
    ] {
        by_name.insert(name, wallets.clone());
    }
    for name in [
        "payer_token_account",
        "supplier_token_account",
        "treasury_token_account",
        "funder_token_account",
        "owner_token_account",
        "harmed_token_account",
        "destination",
        "user_io",
        "user_iosd",
    ] {
        by_name.insert(name, atas.clone());
    }
    for name in ["credit", "payer_credit", "supplier_credit", "harmed_credit"] {
        by_name.insert(name, credits.clone());
    }
    for name in ["mint", "io_mint", "iosd_mint"] {
        by_name.insert(name, mint_keys.clone());
    }
    for name in ["token_program", "io_token_program", "iosd_token_program"] {
        by_name.insert(name, token_programs.clone());
    }
    by_name.insert("vault", vaults.clone());
    by_name.insert(
        "payment_mint",
        mints.iter().map(|m| pda::payment_mint(&m.mint)).collect(),
    );
    by_name.insert("market", vec![pda::market()]);
    by_name.insert("node", vec![node]);
    by_name.insert("lease", leases.to_vec());
    by_name.insert(
        "cluster",
        wallets.iter().map(|w| pda::cluster(w, 1)).collect(),
    );
    by_name.insert("epoch", vec![pda::epoch(1), pda::epoch(2)]);
    by_name.insert("stake_vault", vec![pda::stake_vault()]);
    by_name.insert("rewards_reserve", vec![pda::rewards_reserve()]);
    by_name.insert("rewards_escrow", vec![pda::rewards_escrow()]);
    by_name.insert("iosd_config", vec![pda::iosd_config()]);
    by_name.insert("iosd_mint_authority", vec![pda::iosd_mint_authority()]);
    by_name.insert("system_program", vec![anchor_lang::system_program::ID]);
    by_name
}
