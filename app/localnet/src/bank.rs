//! Building the bank, advancing it slot by slot, and executing or
//! simulating transactions on it.

use crate::{
    clock::unix_now,
    config::Config,
    error::Error,
    geyser::{notifier::Notifier, Feed},
    ledger::{BlockRecord, Ledger, TxRecord},
};
use agave_feature_set::FeatureSet;
use anchor_lang::solana_program::{
    account_info::AccountInfo, entrypoint::ProgramResult, program::invoke,
    program_error::ProgramError,
};
use solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2;
use solana_account_decoder::parse_token::token_amount_to_ui_amount_v3;
use solana_accounts_db::accounts_db::ACCOUNTS_DB_CONFIG_FOR_TESTING;
use solana_clock::{Clock, Slot, MAX_PROCESSING_AGE};
use solana_cluster_type::ClusterType;
use solana_commitment_config::CommitmentLevel;
use solana_fee_calculator::FeeRateGovernor;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::v0::LoadedAddresses;
use solana_poh_config::PohConfig;
use solana_program_runtime::{
    invoke_context::BuiltinFunctionWithContext, loaded_programs::ProgramCacheEntry,
};
use solana_pubkey::Pubkey;
use solana_rent::Rent;
use solana_runtime::{
    bank::{Bank, TransactionSimulationResult},
    bank_forks::BankForks,
    genesis_utils::create_genesis_config_with_leader_ex,
    runtime_config::RuntimeConfig,
};
use solana_runtime_transaction::runtime_transaction::RuntimeTransaction;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_svm::{
    transaction_balances::SvmTokenInfo, transaction_processor::ExecutionRecordingConfig,
};
use solana_svm_timings::ExecuteTimings;
use solana_transaction::{
    sanitized::SanitizedTransaction, versioned::VersionedTransaction, Transaction,
    TransactionVerificationMode,
};
use solana_transaction_error::TransactionError;
use solana_transaction_status::{TransactionStatusMeta, TransactionTokenBalance};
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::Duration,
};

/// The SPL Memo v3 program (bundled by `spl_programs`); airdrops carry a memo
/// so two equal airdrops in one slot still have distinct signatures.
const MEMO_PROGRAM_ID: Pubkey =
    solana_pubkey::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// A native builtin used only by the boot self-check: it moves lamports by a
/// CPI into the System program, which only works when program-test's syscall
/// stubs are installed (otherwise the CPI is a silent no-op).
pub const CPI_PROBE_PROGRAM_ID: Pubkey =
    solana_pubkey::pubkey!("CpiProbe11111111111111111111111111111111111");

/// Slots of the three commitment levels at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    pub processed: Slot,
    pub confirmed: Slot,
    pub finalized: Slot,
}

/// Why a transaction was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Sanitizing or signature verification failed.
    #[error("transaction verification failed: {0}")]
    Verify(TransactionError),
    /// The preflight simulation failed; the transaction was not executed.
    #[error("preflight simulation failed: {}", .0.result.clone().err().map_or_else(String::new, |e| e.to_string()))]
    Preflight(Box<TransactionSimulationResult>),
    /// The bank refused to commit it (blockhash, fee payer, ...).
    #[error("transaction not committed: {0}")]
    NotCommitted(TransactionError),
}

/// The bank forks plus what is needed to drive them.
pub struct Chain {
    forks: Arc<RwLock<BankForks>>,
    // Serialises commits with the slot tick: a bank must not freeze mid-commit.
    write: Mutex<()>,
    faucet: Keypair,
    genesis_hash: Hash,
    finalization_depth: u64,
    ledger: Ledger,
    airdrops: AtomicU64,
    // Receives every account write, transaction and slot change for gRPC.
    feed: Arc<Feed>,
}

impl Chain {
    /// Builds genesis and the first working bank (slot 1), then checks that
    /// a native program's CPI really executes. Call `install_syscall_stubs`
    /// first. Every change is reported to `feed`.
    pub fn new(config: &Config, feed: Arc<Feed>) -> Result<Self, Error> {
        let faucet = Keypair::new();
        let rent = Rent::default();
        let mut genesis = create_genesis_config_with_leader_ex(
            config.faucet_lamports,
            &faucet.pubkey(),
            &Pubkey::new_unique(),
            &Pubkey::new_unique(),
            &Pubkey::new_unique(),
            None,
            1_000_000_000_000,
            1_000_000_000,
            FeeRateGovernor {
                lamports_per_signature: 5_000,
                ..FeeRateGovernor::default()
            },
            rent.clone(),
            ClusterType::Development,
            &FeatureSet::all_enabled(),
            vec![],
        );
        // Bank::ns_per_slot = tick duration x ticks per slot (64).
        let tick = config.slot_duration / genesis.ticks_per_slot as u32;
        genesis.poh_config = PohConfig::new_sleep(tick.max(Duration::from_micros(1)));
        genesis.creation_time = unix_now();
        let bank = Bank::new_from_genesis(
            &genesis,
            Arc::new(RuntimeConfig::default()),
            Vec::new(),
            None,
            ACCOUNTS_DB_CONFIG_FOR_TESTING,
            Some(Arc::new(Notifier::new(feed.clone()))),
            None,
            Arc::new(AtomicBool::new(false)),
            None,
            None,
        );
        feed.bank_opened(bank.slot(), bank.bank_id(), None);
        for (id, account) in solana_program_binaries::spl_programs(&rent) {
            bank.store_account(&id, &account);
        }
        for (id, account) in solana_program_binaries::core_bpf_programs(&rent, |feature| {
            genesis.accounts.contains_key(feature)
        }) {
            bank.store_account(&id, &account);
        }
        add_builtin(
            &bank,
            iomesh::ID,
            "iomesh",
            iomesh_native_host::checked_processor!(
                iomesh::native::process_instruction,
                iomesh::compute::estimated_units
            ),
        );
        add_builtin(
            &bank,
            CPI_PROBE_PROGRAM_ID,
            "cpi_probe",
            solana_program_test::processor!(cpi_probe),
        );
        bank.set_capitalization_for_tests(bank.calculate_capitalization_for_tests());
        // Genesis (slot 0) is the first root and slot 1 the first working
        // bank, so nothing executed is finalized before its time.
        let forks = BankForks::new_rw_arc(bank);
        {
            let mut forks = forks.write().unwrap_or_else(PoisonError::into_inner);
            let genesis_bank = forks.root_bank();
            genesis_bank.fill_bank_with_ticks_for_tests();
            genesis_bank.freeze();
            report_frozen(&feed, &genesis_bank);
            let child = Bank::new_from_parent(genesis_bank.clone(), genesis_bank.collector_id(), 1);
            feed.bank_opened(child.slot(), child.bank_id(), Some(genesis_bank.slot()));
            forks.insert(child);
        }
        let chain = Self {
            forks,
            write: Mutex::new(()),
            faucet,
            genesis_hash: genesis.hash(),
            finalization_depth: config.finalization_depth,
            ledger: Ledger::new(config.ledger_capacity),
            airdrops: AtomicU64::new(0),
            feed,
        };
        chain.self_check()?;
        Ok(chain)
    }

    fn read(&self) -> RwLockReadGuard<'_, BankForks> {
        self.forks.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_forks(&self) -> RwLockWriteGuard<'_, BankForks> {
        self.forks.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The faucet (genesis mint) that funds airdrops.
    pub fn faucet(&self) -> Pubkey {
        self.faucet.pubkey()
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The bank a read at `level` sees: processed = the working bank,
    /// confirmed = its parent, finalized = the root.
    pub fn bank(&self, level: CommitmentLevel) -> Arc<Bank> {
        let forks = self.read();
        let working = forks.working_bank();
        match level {
            CommitmentLevel::Processed => working,
            CommitmentLevel::Confirmed => forks
                .get(working.slot().saturating_sub(1))
                .filter(|bank| bank.slot() >= forks.root())
                .unwrap_or_else(|| forks.root_bank()),
            CommitmentLevel::Finalized => forks.root_bank(),
        }
    }

    pub fn slots(&self) -> Slots {
        let forks = self.read();
        let processed = forks.working_bank().slot();
        let finalized = forks.root();
        Slots {
            processed,
            confirmed: processed.saturating_sub(1).max(finalized),
            finalized,
        }
    }

    /// One slot boundary: seal the working bank, open the next one with the
    /// Clock at `unix_timestamp`, and move the root `finalization_depth` behind.
    pub fn advance(&self, unix_timestamp: i64) -> Slots {
        let _write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let parent = self.read().working_bank();
        parent.fill_bank_with_ticks_for_tests();
        parent.freeze();
        // A block's previous blockhash is its parent's blockhash (not the
        // parent's bank hash).
        let previous_blockhash = self
            .ledger
            .block(parent.parent_slot())
            .map(|block| block.blockhash)
            .or_else(|| parent.parent().map(|bank| bank.last_blockhash()))
            .unwrap_or_default();
        self.ledger.record_block(BlockRecord {
            slot: parent.slot(),
            parent_slot: parent.parent_slot(),
            blockhash: parent.last_blockhash(),
            previous_blockhash,
            block_height: parent.block_height(),
            time: parent.clock().unix_timestamp,
        });
        report_frozen(&self.feed, &parent);
        let slot = parent.slot() + 1;
        let child = Bank::new_from_parent(parent.clone(), parent.collector_id(), slot);
        self.feed
            .bank_opened(slot, child.bank_id(), Some(parent.slot()));
        // Without votes the Clock would stand still; follow wall time instead.
        let clock = child.clock();
        child.set_sysvar_for_tests(&Clock {
            unix_timestamp: unix_timestamp.max(clock.unix_timestamp),
            ..clock
        });
        {
            let mut forks = self.write_forks();
            forks.insert(child);
            if slot > self.finalization_depth {
                let root = slot - self.finalization_depth;
                forks.set_root(root, None, Some(root));
            }
        }
        let slots = self.slots();
        self.feed.commitment(slots.confirmed, slots.finalized);
        slots
    }

    /// Overwrites `pubkey` with `account` in the working bank, outside any
    /// transaction: a test/dev hook to stand in for accounts no local program
    /// can write (an external oracle's price account, say).
    pub fn set_account(&self, pubkey: &Pubkey, account: &solana_account::AccountSharedData) {
        // Under the commit lock: the clock must not freeze the bank mid-store.
        let _write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.read().working_bank().store_account(pubkey, account);
    }

    /// Simulates on `bank` without committing.
    pub fn simulate(
        &self,
        bank: &Bank,
        tx: VersionedTransaction,
        sig_verify: bool,
        enable_cpi_recording: bool,
    ) -> Result<TransactionSimulationResult, TransactionError> {
        let mode = if sig_verify {
            TransactionVerificationMode::FullVerification
        } else {
            TransactionVerificationMode::HashOnly
        };
        let rtx = bank.verify_transaction(tx, mode)?;
        // The working bank must not be frozen by the clock mid-simulation.
        let _write =
            (!bank.is_frozen()).then(|| self.write.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(bank.simulate_transaction_unchecked(&rtx, enable_cpi_recording))
    }

    /// Verifies, optionally preflights, and executes `tx` in the working bank.
    pub fn send(&self, tx: VersionedTransaction, preflight: bool) -> Result<Signature, SendError> {
        let signature = tx.signatures.first().copied().unwrap_or_default();
        // A resend of a landed transaction is not an error (RpcClient resends).
        if self.ledger.get(&signature).is_some() {
            return Ok(signature);
        }
        let _write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let bank = self.read().working_bank();
        let rtx = bank
            .fully_verify_transaction(tx.clone())
            .map_err(SendError::Verify)?;
        if preflight {
            let sim = bank.simulate_transaction_unchecked(&rtx, false);
            if sim.result.is_err() {
                return Err(SendError::Preflight(Box::new(sim)));
            }
        }
        self.commit(&bank, rtx, tx).map_err(SendError::NotCommitted)
    }

    /// Sends `lamports` from the faucet to `to` in a real, recorded transfer.
    pub fn airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, SendError> {
        let n = self.airdrops.fetch_add(1, Ordering::Relaxed);
        let memo =
            Instruction::new_with_bytes(MEMO_PROGRAM_ID, format!("airdrop {n}").as_bytes(), vec![]);
        let transfer =
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let blockhash = self.bank(CommitmentLevel::Processed).last_blockhash();
        let tx = Transaction::new_signed_with_payer(
            &[transfer, memo],
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            blockhash,
        );
        self.send(tx.into(), true)
    }

    /// Executes and commits one verified transaction; the caller holds `write`.
    fn commit(
        &self,
        bank: &Bank,
        rtx: RuntimeTransaction<SanitizedTransaction>,
        tx: VersionedTransaction,
    ) -> Result<Signature, TransactionError> {
        let signature = *rtx.signature();
        let txs = [rtx];
        let batch = bank.prepare_sanitized_batch(&txs);
        let (mut results, balances) = bank.load_execute_and_commit_transactions(
            &batch,
            MAX_PROCESSING_AGE,
            ExecutionRecordingConfig {
                enable_cpi_recording: true,
                enable_log_recording: true,
                enable_return_data_recording: true,
                enable_transaction_balance_recording: true,
            },
            &mut ExecuteTimings::default(),
            None,
        );
        drop(batch);
        // A batch of one transaction yields exactly one result.
        let committed = results.pop().expect("one result per batched transaction")?;
        let (pre, post, pre_token, post_token) = match balances {
            Some(b) => {
                let (mut pre, mut post, mut pre_token, mut post_token) = b.into_vecs();
                (
                    pre.pop(),
                    post.pop(),
                    pre_token.pop().map(token_balances),
                    post_token.pop().map(token_balances),
                )
            }
            None => (None, None, None, None),
        };
        let meta = TransactionStatusMeta {
            status: committed.status,
            fee: committed.fee_details.total_fee(),
            pre_balances: pre.unwrap_or_default(),
            post_balances: post.unwrap_or_default(),
            inner_instructions: committed
                .inner_instructions
                .map(|i| solana_transaction_status::map_inner_instructions(i).collect()),
            log_messages: committed.log_messages,
            pre_token_balances: pre_token,
            post_token_balances: post_token,
            rewards: None,
            loaded_addresses: LoadedAddresses::default(),
            return_data: committed.return_data,
            compute_units_consumed: Some(committed.executed_units),
            cost_units: None,
        };
        let record = self.ledger.insert(
            signature,
            TxRecord {
                slot: bank.slot(),
                block_time: bank.clock().unix_timestamp,
                transaction: tx,
                meta,
            },
        );
        self.feed.transaction(bank.slot(), signature, record);
        Ok(signature)
    }

    /// Sends a CPI through the probe builtin and checks that it moved lamports.
    fn self_check(&self) -> Result<(), Error> {
        let target = Pubkey::new_unique();
        let bank = self.bank(CommitmentLevel::Processed);
        let lamports = bank.get_minimum_balance_for_rent_exemption(0);
        let ix = Instruction::new_with_bytes(
            CPI_PROBE_PROGRAM_ID,
            &lamports.to_le_bytes(),
            vec![
                AccountMeta::new(self.faucet.pubkey(), true),
                AccountMeta::new(target, false),
                AccountMeta::new_readonly(solana_system_interface::program::ID, false),
            ],
        );
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            bank.last_blockhash(),
        );
        let signature = self
            .send(tx.into(), false)
            .map_err(|e| Error::SelfCheck(format!("probe transaction failed: {e}")))?;
        let status = self.ledger.get(&signature).map(|r| r.meta.status.clone());
        let balance = bank.get_balance(&target);
        if status != Some(Ok(())) || balance != lamports {
            return Err(Error::SelfCheck(format!(
                "CPI did not execute (status {status:?}, balance {balance}, expected {lamports}); \
                 program-test's syscall stubs are not installed"
            )));
        }
        Ok(())
    }

    /// The newest blockhash of `bank` and the last block height it is valid at.
    pub fn blockhash(bank: &Bank) -> (Hash, u64) {
        let hash = bank.last_blockhash();
        let last_valid = bank
            .get_blockhash_last_valid_block_height(&hash)
            .unwrap_or_else(|| bank.block_height());
        (hash, last_valid)
    }
}

/// A frozen bank's block meta and processed status, for gRPC.
fn report_frozen(feed: &Feed, bank: &Bank) {
    feed.bank_frozen(
        bank.slot(),
        bank.last_blockhash(),
        bank.clock().unix_timestamp,
        bank.block_height(),
    );
}

fn add_builtin(bank: &Bank, id: Pubkey, name: &str, entry: Option<BuiltinFunctionWithContext>) {
    if let Some(entry) = entry {
        bank.add_builtin(
            id,
            name,
            ProgramCacheEntry::new_builtin(0, name.len(), entry),
        );
    }
}

/// Token balances as the runtime collected them, in the transaction-status shape.
pub fn token_balances(infos: Vec<SvmTokenInfo>) -> Vec<TransactionTokenBalance> {
    infos
        .into_iter()
        .map(|info| TransactionTokenBalance {
            account_index: info.account_index,
            mint: info.mint.to_string(),
            ui_token_amount: token_amount_to_ui_amount_v3(
                info.amount,
                &SplTokenAdditionalDataV2 {
                    decimals: info.decimals,
                    ..Default::default()
                },
            ),
            owner: info.owner.to_string(),
            program_id: info.program_id.to_string(),
        })
        .collect()
}

fn cpi_probe(_program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    let lamports = data
        .try_into()
        .map(u64::from_le_bytes)
        .map_err(|_| ProgramError::InvalidInstructionData)?;
    let [from, to, system, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let ix = solana_system_interface::instruction::transfer(from.key, to.key, lamports);
    invoke(&ix, &[from.clone(), to.clone(), system.clone()])
}

/// Installs program-test's syscall stubs (what makes a native program's CPI,
/// sysvar reads and return data work). They are private to program-test and
/// set once per process when a `ProgramTest` starts, so start one and drop it.
pub async fn install_syscall_stubs() {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            drop(
                solana_program_test::ProgramTest::default()
                    .start_with_context()
                    .await,
            );
            iomesh_native_host::install_cpi_checks();
        })
        .await;
}
