//! `Client`: the program over JSON-RPC with the stock nonblocking `RpcClient`.
//! Reads decode the program's accounts; `send` signs, sends with preflight,
//! confirms at the client's commitment and decodes a failure into its name.

use crate::{
    accounts::{self, offsets, ProgramAccount},
    error::{Error, Result, Shortfall},
    instructions::{self, Instruction, LeaseKeys},
    pda, program_errors,
    query::NodeQuery,
    tokens::{self, TokenMint},
    units,
};
use anchor_lang::{prelude::Pubkey, Discriminator};
use iomesh::state::{Cluster, Credit, IosdConfig, Lease, Market, Node, PaymentMint, RewardEpoch};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_client::{
    client_error::{ClientError, ClientErrorKind},
    nonblocking::rpc_client::RpcClient,
    rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSimulateTransactionConfig},
    rpc_filter::{Memcmp, RpcFilterType},
};
use solana_commitment_config::CommitmentConfig;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
pub use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use std::time::Duration;

/// The most units a transaction may ask for; simulations run with it.
pub const MAX_COMPUTE_UNIT_LIMIT: u32 = 1_400_000;

/// The limit a transaction asks for given the units its simulation consumed:
/// a fifth more plus 30,000. The program's work depends on the clock: a lease
/// settled a second later may make up to three more token transfers (to the
/// supplier, the treasury, the payer) than its simulation did, each a CPI of
/// up to ~10,000 units with Token-2022. On the localnet the program's own
/// share is its cost model's estimate (see `iomesh::compute`); on a validator
/// all of it is measured.
pub fn compute_unit_limit(simulated_units: u64) -> u32 {
    let with_margin = simulated_units
        .saturating_add(simulated_units / 5)
        .saturating_add(30_000);
    u32::try_from(with_margin)
        .unwrap_or(u32::MAX)
        .min(MAX_COMPUTE_UNIT_LIMIT)
}

/// How long one RPC request may take before the endpoint counts as unreachable.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    rpc: RpcClient,
    url: String,
    /// Micro-lamports per compute unit every transaction bids (priority fee).
    compute_unit_price: Option<u64>,
}

/// Which key of a lease to list leases by.
#[derive(Clone, Copy, Debug)]
pub enum LeaseRole {
    Renter,
    Payer,
    Node,
}

/// The price a new lease would lock and the deposit it would escrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Mint base units per GPU-hour.
    pub rate_per_gpu_hour: u64,
    /// Base units escrowed for the whole duration.
    pub deposit: u64,
}

impl Client {
    pub fn new(url: impl Into<String>, commitment: CommitmentConfig) -> Self {
        let url = url.into();
        Self {
            rpc: RpcClient::new_with_timeout_and_commitment(url.clone(), RPC_TIMEOUT, commitment),
            url,
            compute_unit_price: None,
        }
    }

    /// Bids `micro_lamports` per compute unit on every transaction (the
    /// Solana CLI's `--with-compute-unit-price`): the fee grows by the price
    /// times the limit, rounded up to a lamport.
    pub fn with_compute_unit_price(mut self, micro_lamports: Option<u64>) -> Self {
        self.compute_unit_price = micro_lamports;
        self
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    pub fn compute_unit_price(&self) -> Option<u64> {
        self.compute_unit_price
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Turns an RPC failure into a `Error`, naming an unreachable endpoint.
    pub fn rpc_error(&self, err: ClientError) -> Error {
        match err.kind() {
            ClientErrorKind::Reqwest(e) if e.is_connect() || e.is_timeout() => Error::Unreachable {
                url: self.url.clone(),
                detail: if e.is_timeout() {
                    "request timed out".into()
                } else {
                    "connection refused or host unknown (is the validator or localnet running?)"
                        .into()
                },
            },
            ClientErrorKind::Io(e) => Error::Unreachable {
                url: self.url.clone(),
                detail: e.to_string(),
            },
            _ => Error::Rpc {
                url: self.url.clone(),
                detail: err.to_string(),
            },
        }
    }

    /// Signs `instructions` with `fee_payer` and `signers`, simulates them to
    /// set the compute-unit limit (see [`compute_unit_limit`]), sends them
    /// with preflight and waits for the client's commitment. A failing
    /// simulation is the transaction's error, nothing is sent.
    pub async fn send(
        &self,
        instructions: &[Instruction],
        fee_payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<Signature> {
        let mut keys: Vec<&Keypair> = vec![fee_payer];
        keys.extend(
            signers
                .iter()
                .copied()
                .filter(|s| s.pubkey() != fee_payer.pubkey()),
        );
        let (budgeted, blockhash) = self
            .budgeted(instructions, &fee_payer.pubkey(), |probe, blockhash| {
                Transaction::new_signed_with_payer(
                    probe,
                    Some(&fee_payer.pubkey()),
                    &keys,
                    blockhash,
                )
            })
            .await?;
        let tx = Transaction::new_signed_with_payer(
            &budgeted,
            Some(&fee_payer.pubkey()),
            &keys,
            blockhash,
        );
        self.send_signed(&tx, &budgeted).await
    }

    /// The transaction of `instructions` for a wallet to sign: `fee_payer`
    /// pays, the compute-unit limit comes from a simulation without
    /// signatures, the blockhash is the latest; no signature is filled in.
    /// A failing simulation is the transaction's error.
    pub async fn unsigned_transaction(
        &self,
        instructions: &[Instruction],
        fee_payer: &Pubkey,
    ) -> Result<Transaction> {
        let (budgeted, blockhash) = self
            .budgeted(instructions, fee_payer, |probe, blockhash| {
                let mut tx = Transaction::new_with_payer(probe, Some(fee_payer));
                tx.message.recent_blockhash = blockhash;
                tx
            })
            .await?;
        let mut tx = Transaction::new_with_payer(&budgeted, Some(fee_payer));
        tx.message.recent_blockhash = blockhash;
        Ok(tx)
    }

    /// `instructions` followed by their compute budget, and the blockhash the
    /// simulation used. `probe` builds the simulated transaction: signed for
    /// `send`, unsigned for wallets; either is simulated without signature
    /// checks.
    async fn budgeted(
        &self,
        instructions: &[Instruction],
        fee_payer: &Pubkey,
        probe: impl FnOnce(&[Instruction], solana_hash::Hash) -> Transaction,
    ) -> Result<(Vec<Instruction>, solana_hash::Hash)> {
        let blockhash = self
            .rpc
            .get_latest_blockhash()
            .await
            .map_err(|e| self.rpc_error(e))?;
        // The budget goes last, so that instruction indices in errors match
        // `instructions`.
        let with_limit = |limit: u32| {
            let mut all = instructions.to_vec();
            all.push(ComputeBudgetInstruction::set_compute_unit_limit(limit));
            if let Some(price) = self.compute_unit_price {
                all.push(ComputeBudgetInstruction::set_compute_unit_price(price));
            }
            all
        };
        let at_most = with_limit(MAX_COMPUTE_UNIT_LIMIT);
        let tx = probe(&at_most, blockhash);
        let simulated = self
            .rpc
            .simulate_transaction_with_config(
                &tx,
                RpcSimulateTransactionConfig {
                    commitment: Some(self.rpc.commitment()),
                    ..RpcSimulateTransactionConfig::default()
                },
            )
            .await
            .map_err(|e| self.rpc_error(e))?
            .value;
        if let Some(err) = simulated.err {
            return Err(transaction_error(err.into(), &at_most));
        }
        let units = simulated.units_consumed.ok_or_else(|| Error::Rpc {
            url: self.url.clone(),
            detail: format!(
                "the simulation for {fee_payer}'s transaction reported no unitsConsumed"
            ),
        })?;
        Ok((with_limit(compute_unit_limit(units)), blockhash))
    }

    /// Sends a signed transaction of `instructions` with preflight and waits
    /// for the client's commitment; a failure is decoded into its name.
    pub async fn send_signed(
        &self,
        tx: &Transaction,
        instructions: &[Instruction],
    ) -> Result<Signature> {
        self.rpc
            .send_and_confirm_transaction(tx)
            .await
            .map_err(|err| match err.get_transaction_error() {
                Some(tx_err) => transaction_error(tx_err, instructions),
                None => self.rpc_error(err),
            })
    }

    // ---------------------------------------------------------------- raw reads

    pub async fn account(&self, address: &Pubkey) -> Result<Option<solana_account::Account>> {
        let response = self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(response.value.filter(|a| a.lamports > 0))
    }

    pub async fn lamports(&self, address: &Pubkey) -> Result<u64> {
        self.rpc
            .get_balance(address)
            .await
            .map_err(|e| self.rpc_error(e))
    }

    /// The program account at `address` decoded as `T`, or `None` if there is none.
    pub async fn fetch<T: ProgramAccount>(&self, address: &Pubkey) -> Result<Option<T>> {
        match self.account(address).await? {
            Some(account) => accounts::decode(address, &account.owner, &account.data).map(Some),
            None => Ok(None),
        }
    }

    /// Every program account of type `T` matching `filters`.
    pub async fn fetch_all<T: ProgramAccount>(
        &self,
        mut filters: Vec<RpcFilterType>,
    ) -> Result<Vec<(Pubkey, T)>> {
        filters.insert(0, RpcFilterType::DataSize(T::SPACE as u64));
        filters.insert(
            1,
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, T::DISCRIMINATOR.to_vec())),
        );
        let config = RpcProgramAccountsConfig {
            filters: Some(filters),
            account_config: RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                commitment: Some(self.rpc.commitment()),
                ..RpcAccountInfoConfig::default()
            },
            ..RpcProgramAccountsConfig::default()
        };
        let found = self
            .rpc
            .get_program_ui_accounts_with_config(&iomesh::ID, config)
            .await
            .map_err(|e| self.rpc_error(e))?;
        found
            .into_iter()
            .map(|(address, ui_account)| {
                let account: solana_account::Account =
                    ui_account.decode().ok_or_else(|| Error::Decode {
                        address,
                        what: T::WHAT,
                        detail: "the RPC server returned undecodable account data".into(),
                    })?;
                accounts::decode(&address, &account.owner, &account.data).map(|v| (address, v))
            })
            .collect()
    }

    // ---------------------------------------------------------------- program accounts

    pub async fn market(&self) -> Result<Market> {
        let address = pda::market();
        self.fetch(&address).await?.ok_or(Error::NoMarket(address))
    }

    pub async fn payment_mint(&self, mint: &Pubkey) -> Result<PaymentMint> {
        self.fetch(&pda::payment_mint(mint))
            .await?
            .ok_or(Error::UnknownPaymentMint(*mint))
    }

    /// Every accepted payment mint.
    pub async fn payment_mints(&self) -> Result<Vec<PaymentMint>> {
        let mut mints: Vec<PaymentMint> = self
            .fetch_all::<PaymentMint>(vec![])
            .await?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        mints.sort_by_key(|m| m.symbol);
        Ok(mints)
    }

    /// Everything the program keeps for `owner` because its token accounts
    /// could not take a payout or refund (one credit per vault).
    pub async fn credits(&self, owner: &Pubkey) -> Result<Vec<(Pubkey, Credit)>> {
        self.fetch_all::<Credit>(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
            accounts::offsets::CREDIT_OWNER,
            owner.to_bytes().to_vec(),
        ))])
        .await
    }

    /// A node by its address or by its operator key.
    pub async fn resolve_node(&self, key: &Pubkey) -> Result<(Pubkey, Node)> {
        if let Some(account) = self.account(key).await? {
            if account.owner == iomesh::ID && account.data.starts_with(Node::DISCRIMINATOR) {
                return Ok((*key, accounts::decode(key, &account.owner, &account.data)?));
            }
        }
        let address = pda::node(key);
        match self.fetch::<Node>(&address).await? {
            Some(node) => Ok((address, node)),
            None => Err(Error::UnknownNode(*key)),
        }
    }

    pub async fn lease(&self, address: &Pubkey) -> Result<Lease> {
        self.fetch(address)
            .await?
            .ok_or(Error::UnknownLease(*address))
    }

    /// Nodes matching `query`, cheapest first. Status, model and region are
    /// matched by the RPC server; the numeric bounds here.
    pub async fn search_nodes(&self, query: &NodeQuery) -> Result<Vec<(Pubkey, Node)>> {
        let nodes = self.fetch_all::<Node>(query.rpc_filters()).await?;
        Ok(query.select(nodes))
    }

    /// Leases whose renter, payer or node is `key`, newest first.
    pub async fn leases(&self, role: LeaseRole, key: &Pubkey) -> Result<Vec<(Pubkey, Lease)>> {
        let offset = match role {
            LeaseRole::Renter => offsets::LEASE_RENTER,
            LeaseRole::Payer => offsets::LEASE_PAYER,
            LeaseRole::Node => offsets::LEASE_NODE,
        };
        let filter = RpcFilterType::Memcmp(Memcmp::new_raw_bytes(offset, key.to_bytes().to_vec()));
        let mut leases = self.fetch_all::<Lease>(vec![filter]).await?;
        leases.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at).then(a.0.cmp(&b.0)));
        Ok(leases)
    }

    pub async fn cluster(&self, address: &Pubkey) -> Result<Cluster> {
        self.fetch(address)
            .await?
            .ok_or(Error::UnknownCluster(*address))
    }

    /// A published epoch and its claim bitmap (bit `i` set once leaf `i` is claimed).
    pub async fn reward_epoch(&self, epoch: u64) -> Result<(RewardEpoch, Vec<u8>)> {
        let address = pda::epoch(epoch);
        let account = self
            .account(&address)
            .await?
            .ok_or(Error::UnknownEpoch(epoch, address))?;
        let header: RewardEpoch = accounts::decode(&address, &account.owner, &account.data)?;
        let bitmap = accounts::epoch_bitmap(&address, &header, &account.data)?.to_vec();
        Ok((header, bitmap))
    }

    pub async fn iosd_config(&self) -> Result<IosdConfig> {
        self.fetch(&pda::iosd_config())
            .await?
            .ok_or(Error::IosdNotConfigured)
    }

    /// The IO mint of the market's staking and rewards.
    pub async fn io_mint(&self) -> Result<TokenMint> {
        let market = self.market().await?;
        if market.io_mint == Pubkey::default() {
            return Err(Error::IoNotConfigured);
        }
        Ok(self.token_mint(&market.io_mint).await?.0)
    }

    // ---------------------------------------------------------------- tokens

    /// A mint, its token program and decimals.
    pub async fn token_mint(&self, mint: &Pubkey) -> Result<(TokenMint, u8)> {
        let not_a_mint = |detail: String| Error::Decode {
            address: *mint,
            what: "token mint",
            detail,
        };
        let account = self
            .account(mint)
            .await?
            .ok_or_else(|| not_a_mint("no account at this address".into()))?;
        if !tokens::is_token_program(&account.owner) {
            return Err(not_a_mint(format!(
                "it is owned by {}, not a token program",
                account.owner
            )));
        }
        let decimals = tokens::mint_decimals(&account.data)
            .ok_or_else(|| not_a_mint("its data is not a mint".into()))?;
        Ok((
            TokenMint {
                mint: *mint,
                token_program: account.owner,
            },
            decimals,
        ))
    }

    /// Instructions creating the associated token accounts of `mint` that
    /// `owners` do not have yet, paid by `funder`, so that payouts reach them
    /// directly. An account that exists but cannot receive (given away,
    /// frozen) is left alone: the program keeps such a payment in the
    /// owner's credit, and creating it again would fail the transaction.
    pub async fn create_missing_token_accounts(
        &self,
        funder: &Pubkey,
        mint: &TokenMint,
        owners: &[Pubkey],
    ) -> Result<Vec<Instruction>> {
        let mut owners = owners.to_vec();
        owners.sort();
        owners.dedup();
        let addresses: Vec<Pubkey> = owners.iter().map(|owner| mint.ata(owner)).collect();
        let found = self
            .rpc
            .get_multiple_accounts(&addresses)
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(owners
            .iter()
            .zip(found)
            .filter(|(_, account)| account.is_none())
            .map(|(owner, _)| instructions::create_ata_idempotent(funder, owner, mint))
            .collect())
    }

    /// Base units held by a token account; 0 when it does not exist.
    pub async fn token_balance(&self, token_account: &Pubkey) -> Result<u64> {
        Ok(match self.account(token_account).await? {
            Some(account) => tokens::token_account(&account.data)
                .map(|(_, _, amount)| amount)
                .unwrap_or(0),
            None => 0,
        })
    }

    // ---------------------------------------------------------------- leases

    /// Everything a settle / cancel / close / expire / extend of `lease` touches.
    pub async fn lease_keys(&self, address: &Pubkey) -> Result<(LeaseKeys, Lease)> {
        let accounts = self.lease_accounts(address).await?;
        Ok((accounts.keys, accounts.lease))
    }

    /// `lease_keys` with the accounts read to find them, for callers that
    /// check the lease against its node, market or mint too.
    pub async fn lease_accounts(&self, address: &Pubkey) -> Result<LeaseAccounts> {
        let lease = self.lease(address).await?;
        let node = self
            .fetch::<Node>(&lease.node)
            .await?
            .ok_or(Error::UnknownNode(lease.node))?;
        let market = self.market().await?;
        let payment_mint = self.payment_mint(&lease.mint).await?;
        let keys = LeaseKeys {
            lease: *address,
            node: lease.node,
            node_owner: node.owner,
            treasury: market.treasury,
            payer: lease.payer,
            renter: lease.renter,
            mint: TokenMint {
                mint: lease.mint,
                token_program: payment_mint.token_program,
            },
            cluster: lease
                .in_cluster
                .then(|| pda::cluster(&lease.renter, lease.cluster_nonce)),
        };
        Ok(LeaseAccounts {
            keys,
            lease,
            node,
            market,
            payment_mint,
        })
    }

    /// Refuses, before anything is sent, a payment `owner` cannot cover from
    /// its associated token account, naming the amount missing.
    pub async fn ensure_balance(
        &self,
        owner: &Pubkey,
        payment_mint: &PaymentMint,
        needed: u64,
    ) -> Result<()> {
        let mint = TokenMint {
            mint: payment_mint.mint,
            token_program: payment_mint.token_program,
        };
        let account = mint.ata(owner);
        let held = self.token_balance(&account).await?;
        if held >= needed {
            return Ok(());
        }
        let decimals = payment_mint.decimals;
        Err(Error::InsufficientBalance(Box::new(Shortfall {
            account,
            symbol: iomesh::state::decode_text(&payment_mint.symbol).to_string(),
            needed: units::format_amount(needed, decimals),
            held: units::format_amount(held, decimals),
            missing: units::format_amount(needed - held, decimals),
        })))
    }
}

/// A lease, the addresses its instructions take, and the accounts read to
/// find them.
#[derive(Clone, Debug)]
pub struct LeaseAccounts {
    pub keys: LeaseKeys,
    pub lease: Lease,
    pub node: Node,
    pub market: Market,
    pub payment_mint: PaymentMint,
}

/// The price and deposit of a lease with the program's own pricing math.
pub fn quote(node: &Node, payment_mint: &PaymentMint, gpus: u16, secs: u32) -> Result<Quote> {
    let overflow = |_| Error::Invalid("the lease is too large: its price overflows".into());
    let rate = iomesh::math::rate_per_gpu_hour(
        node.price_usd_micros_per_gpu_hour,
        payment_mint.usd_price_micros,
        payment_mint.decimals,
    )
    .map_err(overflow)?;
    let deposit = iomesh::math::escrow_cost(rate, gpus, u64::from(secs)).map_err(overflow)?;
    Ok(Quote {
        rate_per_gpu_hour: rate,
        deposit,
    })
}

/// What extending `lease` by `added_secs` adds to its escrow, as the
/// program computes it: the rounded-up cost of the whole new duration less
/// what is deposited already.
pub fn extension_deposit(lease: &Lease, added_secs: u32) -> Result<u64> {
    let too_long = || Error::Invalid("the extension makes the lease too long".into());
    let total_secs = lease
        .duration_secs
        .checked_add(added_secs)
        .ok_or_else(too_long)?;
    let deposit = iomesh::math::escrow_cost(lease.rate_per_gpu_hour, lease.gpus, total_secs.into())
        .map_err(|_| too_long())?;
    Ok(deposit.saturating_sub(lease.deposited))
}

/// A failed transaction's error, decoded by the program that raised it.
pub fn transaction_error(error: TransactionError, instructions: &[Instruction]) -> Error {
    if let TransactionError::InstructionError(index, InstructionError::Custom(code)) = &error {
        if let Some(program) = instructions
            .get(usize::from(*index))
            .map(|ix| ix.program_id)
        {
            if let Some(decoded) = program_errors::decode(&program, *code) {
                return Error::Program {
                    index: *index,
                    error: decoded,
                };
            }
        }
    }
    let hint = match &error {
        TransactionError::AccountNotFound | TransactionError::InsufficientFundsForFee => {
            " (the fee payer has no SOL for fees: fund it, e.g. `iomesh airdrop 1` on localnet)"
        }
        TransactionError::InstructionError(_, InstructionError::InsufficientFunds) => {
            " (a signer lacks SOL for the fee or the rent of a new account)"
        }
        TransactionError::InstructionError(_, InstructionError::MissingRequiredSignature) => {
            " (a required signer did not sign)"
        }
        _ => "",
    };
    Error::Transaction {
        error: Box::new(error),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{instructions, tokens::TokenMint};
    use anchor_spl::token::spl_token;
    use iomesh::error::IomeshError;

    fn ixs() -> Vec<Instruction> {
        let payer = Pubkey::new_unique();
        let mint = TokenMint {
            mint: Pubkey::new_unique(),
            token_program: spl_token::ID,
        };
        vec![
            instructions::create_ata_idempotent(&payer, &payer, &mint),
            instructions::set_paused(&payer, true),
        ]
    }

    #[test]
    fn custom_errors_are_decoded_by_the_failing_instruction_program() {
        let code = u32::from(IomeshError::MarketPaused);
        let error = transaction_error(
            TransactionError::InstructionError(1, InstructionError::Custom(code)),
            &ixs(),
        );
        assert_eq!(error.program_error_name(), Some("MarketPaused"));
        assert_eq!(
            error.to_string(),
            format!(
                "instruction 1 failed: MarketPaused ({code}): {}",
                IomeshError::MarketPaused
            )
        );
        // Code 0 of the ATA program is its own error, not a token error.
        let error = transaction_error(
            TransactionError::InstructionError(0, InstructionError::Custom(0)),
            &ixs(),
        );
        assert_eq!(error.program_error_name(), Some("InvalidOwner"));
    }

    #[test]
    fn other_failures_keep_the_transaction_error_with_a_hint() {
        let error = transaction_error(TransactionError::InsufficientFundsForFee, &ixs());
        assert!(
            error.to_string().contains("the fee payer has no SOL"),
            "{error}"
        );
        // An unknown custom code is reported as it is, not guessed.
        let error = transaction_error(
            TransactionError::InstructionError(1, InstructionError::Custom(5_999)),
            &ixs(),
        );
        assert!(matches!(error, Error::Transaction { .. }), "{error}");
    }
}
