//! A market with a payment mint, a node and leases, driven over JSON-RPC on an
//! in-process localnet with the stock RpcClient.

use anchor_lang::{InstructionData, ToAccountMetas};
use anchor_spl::{
    associated_token::{
        get_associated_token_address_with_program_id, spl_associated_token_account,
    },
    token::spl_token,
    token_2022::spl_token_2022,
};
use iomesh::{accounts as acc, instruction as args, state::*};
use iomesh_agent_proto::job_spec_hash;
pub use iomesh_client::clock::unix_now;
use iomesh_localnet::{Config, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::time::Duration;

pub const DECIMALS: u8 = 6;
pub const TOKEN: u64 = 1_000_000;

pub fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: iomesh::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

// Addresses come from the client library, the one place they are derived.
pub use iomesh_client::pda::{
    lease as lease_pda, market as market_pda, node as node_pda, payment_mint as payment_mint_pda,
    vault as vault_pda,
};

pub struct Chain {
    pub localnet: Localnet,
    pub rpc: RpcClient,
    pub authority: Keypair,
    pub treasury: Keypair,
    pub mint: Pubkey,
    pub token_program: Pubkey,
}

pub struct TestNode {
    pub owner: Keypair,
    pub operator: Keypair,
    pub address: Pubkey,
}

impl Chain {
    /// A localnet with the market and one payment mint (SPL Token, $1 stable).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// As `start`, with localnet settings changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            rpc_addr: "127.0.0.1:0".parse().unwrap(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            slot_duration: Duration::from_millis(50),
            finalization_depth: 2,
            ..Config::default()
        };
        tweak(&mut config);
        let localnet = Localnet::start(config).await.expect("localnet starts");
        let rpc = RpcClient::new_with_commitment(localnet.rpc_url(), CommitmentConfig::confirmed());
        let authority = funded(&rpc).await;
        let mut chain = Self {
            localnet,
            rpc,
            authority,
            treasury: Keypair::new(),
            mint: Pubkey::default(),
            token_program: spl_token::ID,
        };
        let authority = chain.authority.insecure_clone();
        let params = MarketParams {
            treasury: chain.treasury.pubkey(),
            scheduler_authority: Pubkey::new_unique(),
            price_authority: authority.pubkey(),
            reward_authority: authority.pubkey(),
            activation_timeout_secs: 600,
            min_lease_secs: 60,
            max_lease_secs: 30 * 86_400,
            failure_grace_secs: 120,
        };
        chain
            .send(
                &[ix(
                    acc::InitializeMarket {
                        market: market_pda(),
                        authority: authority.pubkey(),
                        system_program: anchor_lang::system_program::ID,
                    },
                    args::InitializeMarket { params },
                )],
                &[&authority],
            )
            .await;
        // The mint: authority the market authority.
        chain.mint = chain.new_mint(&authority.pubkey()).await;
        chain
            .send(
                &[ix(
                    acc::AddPaymentMint {
                        market: market_pda(),
                        payment_mint: payment_mint_pda(&chain.mint),
                        mint: chain.mint,
                        vault: vault_pda(&chain.mint),
                        authority: authority.pubkey(),
                        token_program: spl_token::ID,
                        system_program: anchor_lang::system_program::ID,
                    },
                    args::AddPaymentMint {
                        args: iomesh::AddPaymentMintArgs {
                            fee_bps: 200,
                            price_source: PriceSource::Stable,
                            usd_price_micros: 1_000_000,
                            max_price_age_secs: 3_600,
                            symbol: "USDC".into(),
                        },
                    },
                )],
                &[&authority],
            )
            .await;
        // The treasury's token account, which payouts need.
        chain.create_ata(&chain.treasury.pubkey()).await;
        chain
    }

    /// Sends and waits for `confirmed`; panics with the logs on failure.
    pub async fn send(&self, ixs: &[Instruction], signers: &[&Keypair]) {
        let payer = signers[0];
        let blockhash = self.rpc.get_latest_blockhash().await.unwrap();
        let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), signers, blockhash);
        self.rpc
            .send_and_confirm_transaction(&tx)
            .await
            .unwrap_or_else(|err| panic!("transaction failed: {err}"));
    }

    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        get_associated_token_address_with_program_id(owner, &self.mint, &self.token_program)
    }

    pub async fn create_ata(&self, owner: &Pubkey) -> Pubkey {
        let authority = self.authority.insecure_clone();
        let create =
            spl_associated_token_account::instruction::create_associated_token_account_idempotent(
                &authority.pubkey(),
                owner,
                &self.mint,
                &self.token_program,
            );
        self.send(&[create], &[&authority]).await;
        self.ata(owner)
    }

    /// A wallet with SOL and `tokens` whole tokens of the mint.
    pub async fn renter(&self, tokens: u64) -> Keypair {
        let renter = funded(&self.rpc).await;
        let ata = self.create_ata(&renter.pubkey()).await;
        let authority = self.authority.insecure_clone();
        let mint_to = spl_token_2022::instruction::mint_to(
            &self.token_program,
            &self.mint,
            &ata,
            &authority.pubkey(),
            &[],
            tokens * TOKEN,
        )
        .unwrap();
        self.send(&[mint_to], &[&authority]).await;
        renter
    }

    pub async fn register_node(&self, gpus: u16) -> TestNode {
        let owner = funded(&self.rpc).await;
        // The operator pays for its own activations.
        let operator = funded(&self.rpc).await;
        let address = node_pda(&operator.pubkey());
        let spec = node_spec(gpus);
        self.send(
            &[ix(
                acc::RegisterNode {
                    market: market_pda(),
                    node: address,
                    owner: owner.pubkey(),
                    operator: operator.pubkey(),
                    system_program: anchor_lang::system_program::ID,
                },
                args::RegisterNode { spec },
            )],
            &[&owner, &operator],
        )
        .await;
        self.create_ata(&owner.pubkey()).await;
        TestNode {
            owner,
            operator,
            address,
        }
    }

    /// A pending lease of `gpus` GPUs for an hour.
    pub async fn create_lease(
        &self,
        node: &TestNode,
        renter: &Keypair,
        nonce: u64,
        gpus: u16,
    ) -> Pubkey {
        self.create_lease_committing(node, renter, nonce, gpus, [(nonce % 255) as u8 + 1; 32])
            .await
    }

    /// A pending lease of `gpus` GPUs for an hour whose job_spec_hash is `job_spec_hash`.
    pub async fn create_lease_committing(
        &self,
        node: &TestNode,
        renter: &Keypair,
        nonce: u64,
        gpus: u16,
        job_spec_hash: [u8; 32],
    ) -> Pubkey {
        let lease = lease_pda(&renter.pubkey(), nonce);
        self.send(
            &[ix(
                acc::CreateLease {
                    market: market_pda(),
                    payment_mint: payment_mint_pda(&self.mint),
                    mint: self.mint,
                    vault: vault_pda(&self.mint),
                    node: node.address,
                    lease,
                    payer_token_account: self.ata(&renter.pubkey()),
                    renter: renter.pubkey(),
                    payer: renter.pubkey(),
                    cluster: None,
                    price_update: None,
                    token_program: self.token_program,
                    system_program: anchor_lang::system_program::ID,
                },
                args::CreateLease {
                    args: iomesh::CreateLeaseArgs {
                        nonce,
                        gpus,
                        duration_secs: 3_600,
                        max_price_per_gpu_hour: u64::MAX,
                        job_spec_hash,
                    },
                },
            )],
            &[renter],
        )
        .await;
        lease
    }

    pub async fn activate(&self, node: &TestNode, lease: Pubkey) {
        self.send(
            &[ix(
                acc::ActivateLease {
                    market: market_pda(),
                    lease,
                    node: node.address,
                    cluster: None,
                    operator: node.operator.pubkey(),
                },
                args::ActivateLease {},
            )],
            &[&node.operator],
        )
        .await;
    }

    /// The renter cancels: the lease is paid out, refunded and closed.
    pub async fn cancel(&self, node: &TestNode, renter: &Keypair, lease: Pubkey) {
        let keys = iomesh_client::instructions::LeaseKeys {
            lease,
            node: node.address,
            node_owner: node.owner.pubkey(),
            treasury: self.treasury.pubkey(),
            payer: renter.pubkey(),
            renter: renter.pubkey(),
            mint: iomesh_client::tokens::TokenMint {
                mint: self.mint,
                token_program: self.token_program,
            },
            cluster: None,
        };
        self.send(&[keys.cancel()], &[renter]).await;
    }

    /// Every program account, the escrow vault and (once they exist) the IO
    /// token accounts, as the chain has them at `confirmed`.
    pub async fn accounts(&self) -> Vec<(Pubkey, solana_account::Account)> {
        let mut accounts = self.rpc.get_program_accounts(&iomesh::ID).await.unwrap();
        let vault = vault_pda(&self.mint);
        accounts.push((vault, self.rpc.get_account(&vault).await.unwrap()));
        for io_vault in [STAKE_VAULT, REWARDS_RESERVE, REWARDS_ESCROW].map(pda) {
            if let Ok(account) = self.rpc.get_account(&io_vault).await {
                accounts.push((io_vault, account));
            }
        }
        accounts
    }

    /// A new SPL Token mint (no freeze authority) whose mint authority is `authority`.
    pub async fn new_mint(&self, authority: &Pubkey) -> Pubkey {
        let payer = self.authority.insecure_clone();
        let mint = Keypair::new();
        let rent = self
            .rpc
            .get_minimum_balance_for_rent_exemption(82)
            .await
            .unwrap();
        let create = solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent,
            82,
            &spl_token::ID,
        );
        let init = spl_token_2022::instruction::initialize_mint2(
            &spl_token::ID,
            &mint.pubkey(),
            authority,
            None,
            DECIMALS,
        )
        .unwrap();
        self.send(&[create, init], &[&payer, &mint]).await;
        mint.pubkey()
    }

    /// Mints `amount` base units of `mint` (authority: the market authority) to
    /// `owner`'s associated token account, creating it.
    pub async fn mint_to(&self, mint: &Pubkey, owner: &Pubkey, amount: u64) -> Pubkey {
        let authority = self.authority.insecure_clone();
        let ata = get_associated_token_address_with_program_id(owner, mint, &spl_token::ID);
        let create =
            spl_associated_token_account::instruction::create_associated_token_account_idempotent(
                &authority.pubkey(),
                owner,
                mint,
                &spl_token::ID,
            );
        let mint_to = spl_token_2022::instruction::mint_to(
            &spl_token::ID,
            mint,
            &ata,
            &authority.pubkey(),
            &[],
            amount,
        )
        .unwrap();
        self.send(&[create, mint_to], &[&authority]).await;
        ata
    }
}

pub const STAKE_VAULT: &[u8] = iomesh::seeds::STAKE_VAULT;
pub const REWARDS_RESERVE: &[u8] = iomesh::seeds::REWARDS_RESERVE;
pub const REWARDS_ESCROW: &[u8] = iomesh::seeds::REWARDS_ESCROW;

/// A PDA of the program with one seed.
pub fn pda(seed: &[u8]) -> Pubkey {
    Pubkey::find_program_address(&[seed], &iomesh::ID).0
}

pub fn cluster_pda(renter: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[
            iomesh::seeds::CLUSTER,
            renter.as_ref(),
            &nonce.to_le_bytes(),
        ],
        &iomesh::ID,
    )
    .0
}

pub fn slash_pda(node: &Pubkey, index: u32) -> Pubkey {
    Pubkey::find_program_address(
        &[iomesh::seeds::SLASH, node.as_ref(), &index.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

pub fn epoch_pda(epoch: u64) -> Pubkey {
    Pubkey::find_program_address(&[iomesh::seeds::EPOCH, &epoch.to_le_bytes()], &iomesh::ID).0
}

/// The node every fixture registers: `gpus` RTX 4090s in eu-west at $2 per GPU-hour.
pub fn node_spec(gpus: u16) -> iomesh::NodeSpec {
    iomesh::NodeSpec {
        gpu_model: "RTX 4090".into(),
        gpu_count: gpus,
        vram_mib: 24_576,
        region: "eu-west".into(),
        price_usd_micros_per_gpu_hour: 2_000_000,
        min_lease_secs: 60,
        max_lease_secs: 7 * 86_400,
    }
}

/// The economics accounts on a running chain: IO vaults and staking policy,
/// a staked node, a funded cluster, one slash reversed and one pending, a
/// published reward epoch and the IOSD configuration.
pub struct Economics {
    pub io_mint: Pubkey,
    pub node: TestNode,
    pub cluster: Pubkey,
    pub cluster_lease: Pubkey,
    pub reversed_slash: Pubkey,
    pub pending_slash: Pubkey,
    pub epoch: Pubkey,
    pub iosd_config: Pubkey,
}

impl Chain {
    pub async fn economics(&self) -> Economics {
        let authority = self.authority.insecure_clone();
        let io_mint = self.new_mint(&authority.pubkey()).await;
        self.send(
            &[
                ix(
                    acc::InitIoVaults {
                        market: market_pda(),
                        io_mint,
                        stake_vault: pda(STAKE_VAULT),
                        rewards_reserve: pda(REWARDS_RESERVE),
                        rewards_escrow: pda(REWARDS_ESCROW),
                        authority: authority.pubkey(),
                        token_program: spl_token::ID,
                        system_program: anchor_lang::system_program::ID,
                    },
                    args::InitIoVaults {},
                ),
                ix(
                    acc::MarketAdmin {
                        market: market_pda(),
                        authority: authority.pubkey(),
                    },
                    args::SetStakingPolicy {
                        policy: iomesh::StakingPolicy {
                            slash_authority: authority.pubkey(),
                            stake_per_gpu: 10 * TOKEN,
                            unstake_cooldown_secs: 3_600,
                            slash_appeal_secs: 3_600,
                        },
                    },
                ),
            ],
            &[&authority],
        )
        .await;

        // A node staked for its 4 GPUs.
        let node = self.register_node(4).await;
        let owner_io = self
            .mint_to(&io_mint, &node.owner.pubkey(), 100 * TOKEN)
            .await;
        self.send(
            &[ix(
                acc::StakeAccounts {
                    market: market_pda(),
                    node: node.address,
                    io_mint,
                    stake_vault: pda(STAKE_VAULT),
                    owner_token_account: owner_io,
                    owner: node.owner.pubkey(),
                    token_program: spl_token::ID,
                },
                args::Stake { amount: 60 * TOKEN },
            )],
            &[&node.owner],
        )
        .await;

        // A cluster of one lease, funded.
        let renter = self.renter(1_000).await;
        let cluster = cluster_pda(&renter.pubkey(), 5);
        self.send(
            &[ix(
                acc::CreateCluster {
                    market: market_pda(),
                    cluster,
                    renter: renter.pubkey(),
                    system_program: anchor_lang::system_program::ID,
                },
                args::CreateCluster {
                    args: iomesh::CreateClusterArgs {
                        nonce: 5,
                        leases_expected: 1,
                        funding_deadline: unix_now() + 3_600,
                    },
                },
            )],
            &[&renter],
        )
        .await;
        let cluster_lease = lease_pda(&renter.pubkey(), 77);
        self.send(
            &[ix(
                acc::CreateLease {
                    market: market_pda(),
                    payment_mint: payment_mint_pda(&self.mint),
                    mint: self.mint,
                    vault: vault_pda(&self.mint),
                    node: node.address,
                    lease: cluster_lease,
                    payer_token_account: self.ata(&renter.pubkey()),
                    renter: renter.pubkey(),
                    payer: renter.pubkey(),
                    cluster: Some(cluster),
                    price_update: None,
                    token_program: self.token_program,
                    system_program: anchor_lang::system_program::ID,
                },
                args::CreateLease {
                    args: iomesh::CreateLeaseArgs {
                        nonce: 77,
                        gpus: 2,
                        duration_secs: 3_600,
                        max_price_per_gpu_hour: u64::MAX,
                        job_spec_hash: [9; 32],
                    },
                },
            )],
            &[&renter],
        )
        .await;

        // Two slashes; the first is reversed (its account closes).
        let mut slashes = Vec::new();
        for index in 0..2u32 {
            let pending_slash = slash_pda(&node.address, index);
            self.send(
                &[ix(
                    acc::SlashNode {
                        market: market_pda(),
                        node: node.address,
                        pending_slash,
                        slash_authority: authority.pubkey(),
                        system_program: anchor_lang::system_program::ID,
                    },
                    args::Slash {
                        args: iomesh::SlashArgs {
                            amount: (index as u64 + 1) * TOKEN,
                            harmed_amount: TOKEN / 2,
                            reason: iomesh::state::slash_reason::LEASE_FAILURE,
                            evidence: cluster_lease,
                            harmed: renter.pubkey(),
                        },
                    },
                )],
                &[&authority],
            )
            .await;
            slashes.push(pending_slash);
        }
        self.send(
            &[ix(
                acc::ReverseSlash {
                    market: market_pda(),
                    pending_slash: slashes[0],
                    node: node.address,
                    rent_payer: authority.pubkey(),
                    slash_authority: authority.pubkey(),
                },
                args::ReverseSlash {},
            )],
            &[&authority],
        )
        .await;

        // A reward epoch funded from the reserve.
        let authority_io = self
            .mint_to(&io_mint, &authority.pubkey(), 50 * TOKEN)
            .await;
        let fund = spl_token_2022::instruction::transfer_checked(
            &spl_token::ID,
            &authority_io,
            &io_mint,
            &pda(REWARDS_RESERVE),
            &authority.pubkey(),
            &[],
            20 * TOKEN,
            DECIMALS,
        )
        .unwrap();
        self.send(&[fund], &[&authority]).await;
        let epoch = epoch_pda(1);
        self.send(
            &[ix(
                acc::PublishEpoch {
                    market: market_pda(),
                    epoch,
                    io_mint,
                    rewards_reserve: pda(REWARDS_RESERVE),
                    rewards_escrow: pda(REWARDS_ESCROW),
                    reward_authority: authority.pubkey(),
                    token_program: spl_token::ID,
                    system_program: anchor_lang::system_program::ID,
                },
                args::PublishEpoch {
                    args: iomesh::PublishEpochArgs {
                        epoch: 1,
                        merkle_root: [3; 32],
                        total_amount: 10 * TOKEN,
                        num_leaves: 11,
                        claim_deadline: unix_now() + 86_400,
                    },
                },
            )],
            &[&authority],
        )
        .await;

        // IOSD: its mint's authority is the program's PDA.
        let iosd_mint_authority = pda(iomesh::seeds::IOSD_MINT_AUTHORITY);
        let iosd_mint = self.new_mint(&iosd_mint_authority).await;
        let iosd_config = pda(iomesh::seeds::IOSD);
        self.send(
            &[ix(
                acc::InitIosd {
                    market: market_pda(),
                    iosd_config,
                    iosd_mint,
                    iosd_mint_authority,
                    authority: authority.pubkey(),
                    token_program: spl_token::ID,
                    system_program: anchor_lang::system_program::ID,
                },
                args::InitIosd {
                    policy: iomesh::IosdPolicy {
                        price_feed_id: [4; 32],
                        max_price_age_secs: 60,
                        max_confidence_bps: 100,
                        window_secs: 3_600,
                        window_cap: 1_000 * TOKEN,
                    },
                },
            )],
            &[&authority],
        )
        .await;

        Economics {
            io_mint,
            node,
            cluster,
            cluster_lease,
            reversed_slash: slashes[0],
            pending_slash: slashes[1],
            epoch,
            iosd_config,
        }
    }
}

/// A new wallet with 100 SOL.
pub async fn funded(rpc: &RpcClient) -> Keypair {
    let keypair = Keypair::new();
    let signature = rpc
        .request_airdrop(&keypair.pubkey(), 100_000_000_000)
        .await
        .expect("airdrop");
    for _ in 0..500 {
        if rpc
            .confirm_transaction_with_commitment(&signature, CommitmentConfig::confirmed())
            .await
            .map(|r| r.value)
            .unwrap_or(false)
        {
            return keypair;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("airdrop not confirmed");
}

pub async fn token_balance(chain: &Chain, owner: &Pubkey) -> u64 {
    chain
        .rpc
        .get_token_account_balance(&chain.ata(owner))
        .await
        .unwrap()
        .amount
        .parse()
        .unwrap()
}

/// A pending one-hour lease of `gpus` GPUs whose job_spec_hash is sha256(`spec`).
pub async fn create_lease(
    chain: &Chain,
    node: &TestNode,
    renter: &Keypair,
    nonce: u64,
    gpus: u16,
    spec: &[u8],
) -> Pubkey {
    chain
        .create_lease_committing(node, renter, nonce, gpus, job_spec_hash(spec))
        .await
}

/// A funded key made the market's scheduler authority, with failures
/// reportable after `grace_secs` of silence.
pub async fn scheduler_authority(chain: &Chain, grace_secs: u32) -> Keypair {
    let scheduler = funded(&chain.rpc).await;
    let authority = chain.authority.insecure_clone();
    chain
        .send(
            &[iomesh_client::instructions::update_market(
                &authority.pubkey(),
                MarketParams {
                    treasury: chain.treasury.pubkey(),
                    scheduler_authority: scheduler.pubkey(),
                    price_authority: authority.pubkey(),
                    reward_authority: authority.pubkey(),
                    activation_timeout_secs: 600,
                    min_lease_secs: 60,
                    max_lease_secs: 30 * 86_400,
                    failure_grace_secs: grace_secs,
                },
            )],
            &[&authority],
        )
        .await;
    scheduler
}
