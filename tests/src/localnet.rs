//! Stock Solana clients against an in-process localnet with fast slots:
//! starting one, the `RpcClient`, funding a key, signing, and bounded polling
//! (a wait never races the slot clock with a sleep). The localnet's own
//! JSON-RPC, PubSub and gRPC tests build on it.

use anchor_lang::{InstructionData, ToAccountMetas};
use anchor_spl::{
    associated_token::{
        get_associated_token_address_with_program_id, spl_associated_token_account,
    },
    token::spl_token,
};
use iomesh_localnet::{Config, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::{client_error::Result as ClientResult, config::RpcTransactionConfig};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, TransactionStatus, UiTransactionEncoding,
};
use std::{future::Future, time::Duration};

/// Bound on any wait for the chain, a stream or a notification to move.
pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const SLOT: Duration = Duration::from_millis(50);
pub const SOL: u64 = 1_000_000_000;

/// An ephemeral localnet (its own ports and ledger) with `SLOT` slots.
pub fn test_config() -> Config {
    Config {
        slot_duration: SLOT,
        ..Config::ephemeral()
    }
}

pub async fn localnet() -> Localnet {
    localnet_with(test_config()).await
}

pub async fn localnet_with(config: Config) -> Localnet {
    Localnet::start(config).await.expect("localnet starts")
}

/// The stock client at `confirmed`.
pub fn rpc(localnet: &Localnet) -> RpcClient {
    RpcClient::new_with_commitment(localnet.rpc_url(), CommitmentConfig::confirmed())
}

/// Polls `check` until it yields `Some`, failing after `TIMEOUT`.
pub async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `signature` reaches `commitment`; returns its status.
pub async fn confirm(
    rpc: &RpcClient,
    signature: &Signature,
    commitment: CommitmentConfig,
) -> TransactionStatus {
    poll("signature confirmation", || async {
        let statuses = rpc.get_signature_statuses(&[*signature]).await.ok()?;
        statuses.value[0]
            .clone()
            .filter(|s| s.satisfies_commitment(commitment))
    })
    .await
}

/// A new keypair holding `lamports`, airdropped and at `commitment`.
pub async fn funded_at(rpc: &RpcClient, lamports: u64, commitment: CommitmentConfig) -> Keypair {
    let keypair = Keypair::new();
    let signature = rpc
        .request_airdrop(&keypair.pubkey(), lamports)
        .await
        .expect("airdrop");
    let status = confirm(rpc, &signature, commitment).await;
    assert_eq!(status.err, None, "the airdrop failed");
    keypair
}

/// A fresh localnet, its stock client, and a new wallet holding `lamports`
/// airdropped at `commitment`: how most localnet tests begin.
pub async fn localnet_and_wallet(
    lamports: u64,
    commitment: CommitmentConfig,
) -> (Localnet, RpcClient, Keypair) {
    let localnet = localnet().await;
    let rpc = rpc(&localnet);
    let payer = funded_at(&rpc, lamports, commitment).await;
    (localnet, rpc, payer)
}

/// `getTransaction` as wallets ask for it: JSON at `commitment`, versioned
/// transactions accepted.
pub async fn get_transaction(
    rpc: &RpcClient,
    signature: &Signature,
    commitment: CommitmentConfig,
) -> ClientResult<EncodedConfirmedTransactionWithStatusMeta> {
    rpc.get_transaction_with_config(
        signature,
        RpcTransactionConfig {
            encoding: Some(UiTransactionEncoding::Json),
            commitment: Some(commitment),
            max_supported_transaction_version: Some(0),
        },
    )
    .await
}

/// A signed transaction of `instructions` paid by the first signer.
pub async fn signed(
    rpc: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
) -> Transaction {
    let blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
    Transaction::new_signed_with_payer(instructions, Some(&signers[0].pubkey()), signers, blockhash)
}

/// The instructions creating an SPL Token mint of `decimals` at `mint` (a
/// new keypair, which signs too), with `payer` paying and its mint authority.
pub async fn create_mint(
    rpc: &RpcClient,
    payer: &Pubkey,
    mint: &Pubkey,
    decimals: u8,
) -> [Instruction; 2] {
    const MINT_LEN: usize = 82;
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(MINT_LEN)
        .await
        .expect("rent");
    [
        solana_system_interface::instruction::create_account(
            payer,
            mint,
            rent,
            MINT_LEN as u64,
            &spl_token::ID,
        ),
        spl_token::instruction::initialize_mint2(&spl_token::ID, mint, payer, None, decimals)
            .expect("initialize_mint2"),
    ]
}

/// The instructions giving `owner` its associated token account of `mint`
/// (SPL Token) holding `amount`, minted by `payer` (the mint authority).
pub fn token_holder(
    payer: &Pubkey,
    owner: &Pubkey,
    mint: &Pubkey,
    amount: u64,
) -> Vec<Instruction> {
    let mut instructions = vec![
        spl_associated_token_account::instruction::create_associated_token_account(
            payer,
            owner,
            mint,
            &spl_token::ID,
        ),
    ];
    if amount > 0 {
        let account = get_associated_token_address_with_program_id(owner, mint, &spl_token::ID);
        instructions.push(
            spl_token::instruction::mint_to(&spl_token::ID, mint, &account, payer, &[], amount)
                .expect("mint_to"),
        );
    }
    instructions
}

/// The instructions of a new SPL Token mint of `decimals` at `mint` (signs
/// too; authority `payer`) and `owner`'s associated account holding `amount`.
pub async fn mint_with_holder(
    rpc: &RpcClient,
    payer: &Pubkey,
    mint: &Pubkey,
    decimals: u8,
    owner: &Pubkey,
    amount: u64,
) -> Vec<Instruction> {
    let mut instructions = create_mint(rpc, payer, mint, decimals).await.to_vec();
    instructions.extend(token_holder(payer, owner, mint, amount));
    instructions
}

/// `initialize_market` for `authority` (the reward authority too), built
/// from the program's own account and instruction types; returns the
/// market's address with it.
pub fn initialize_market(authority: &Pubkey) -> (Pubkey, Instruction) {
    let market = iomesh_client::pda::market();
    let params = iomesh::state::MarketParams {
        treasury: Pubkey::new_unique(),
        scheduler_authority: Pubkey::new_unique(),
        price_authority: Pubkey::new_unique(),
        reward_authority: *authority,
        activation_timeout_secs: 600,
        min_lease_secs: 60,
        max_lease_secs: 86_400,
        failure_grace_secs: 120,
    };
    let ix = Instruction {
        program_id: iomesh::ID,
        accounts: iomesh::accounts::InitializeMarket {
            market,
            authority: *authority,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: iomesh::instruction::InitializeMarket { params }.data(),
    };
    (market, ix)
}
