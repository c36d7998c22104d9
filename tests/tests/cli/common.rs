//! Fixture: a localnet in this process, bootstrapped through the client
//! library, and the built `iomesh` binary run against it as a user would.

use iomesh_client::{bootstrap, Client};
use iomesh_localnet::{Config, Localnet};
use serde_json::Value;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::{write_keypair_file, Keypair};
use solana_signer::Signer;
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// A command line as a user types it: the template's words split at spaces,
/// each `{}` word replaced by the next value whole (spaces and all), so
/// `argv!("node register --gpu-model {} --gpus 2", "RTX 4090")` is five words.
macro_rules! argv {
    ($template:literal $(, $value:expr)* $(,)?) => {
        $crate::common::fill_words($template, &[$(($value).to_string()),*])
    };
}
pub(crate) use argv;

/// The words of `template`, with its `{}` words replaced by `values` in order.
pub fn fill_words(template: &str, values: &[String]) -> Vec<String> {
    let mut values = values.iter();
    let words = template
        .split_whitespace()
        .map(|word| match word {
            "{}" => values.next().expect("a value for every {}").clone(),
            word => word.to_string(),
        })
        .collect();
    assert!(
        values.next().is_none(),
        "more values than {{}} in {template:?}"
    );
    words
}

pub struct Env {
    pub localnet: Localnet,
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub bootstrap: bootstrap::Bootstrap,
    /// Market authority, treasury and price authority.
    pub authority: Wallet,
}

/// A keypair saved to a file, as the CLI takes it.
pub struct Wallet {
    pub keypair: Keypair,
    pub path: PathBuf,
}

impl Wallet {
    pub fn pubkey(&self) -> String {
        self.keypair.pubkey().to_string()
    }
}

/// A landed transaction's compute budget and fee.
#[derive(Debug)]
pub struct Budget {
    pub limit: u32,
    /// Micro-lamports per unit, if it bid any.
    pub price: Option<u64>,
    pub units: u64,
    pub fee: u64,
}

/// What one run of the binary did.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn json(&self) -> Value {
        assert!(self.success, "iomesh failed:\n{}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts the run failed with a message containing `needle`.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) {
        assert!(
            !self.success,
            "expected a failure, got success:\n{}",
            self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "expected `{needle}` in stderr:\n{}",
            self.stderr
        );
    }
}

impl Env {
    pub async fn start() -> Self {
        let localnet = Localnet::start(Config {
            slot_duration: Duration::from_millis(100),
            ..Config::ephemeral()
        })
        .await
        .expect("localnet starts");
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let dir = tempfile::tempdir().expect("temp dir");
        let authority = new_wallet(dir.path(), "authority");
        let bootstrap = iomesh_localnet::market::bootstrap(
            &client,
            dir.path(),
            &authority.keypair,
            Some(localnet.grpc_url()),
        )
        .await
        .expect("bootstrap");
        Env {
            localnet,
            client,
            dir,
            bootstrap,
            authority,
        }
    }

    pub fn wallet(&self, name: &str) -> Wallet {
        new_wallet(self.dir.path(), name)
    }

    /// Runs `iomesh` against the localnet, signed by `wallet`.
    pub async fn iomesh(&self, wallet: &Wallet, args: &[impl AsRef<str>]) -> Run {
        self.iomesh_with_stdin(wallet, args, Vec::new()).await
    }

    /// Runs `iomesh` like [`Env::iomesh`], with `stdin` piped to it.
    pub async fn iomesh_with_stdin(
        &self,
        wallet: &Wallet,
        args: &[impl AsRef<str>],
        stdin: Vec<u8>,
    ) -> Run {
        let keypair = wallet.path.display().to_string();
        self.iomesh_as(&keypair, args, stdin).await
    }

    /// Runs `iomesh` with `--keypair` given as `keypair` (a file or a pubkey).
    pub async fn iomesh_as(&self, keypair: &str, args: &[impl AsRef<str>], stdin: Vec<u8>) -> Run {
        let mut full: Vec<String> = vec![
            "--url".into(),
            self.localnet.rpc_url(),
            "--keypair".into(),
            keypair.into(),
            "--localnet-dir".into(),
            self.dir.path().display().to_string(),
            "--output".into(),
            "json".into(),
        ];
        full.extend(args.iter().map(|a| a.as_ref().to_string()));
        run_binary_with_stdin(full, stdin).await
    }

    /// Base units of `symbol` held by `owner`'s associated token account.
    pub async fn balance(&self, owner: &str, symbol: &str) -> u64 {
        let mint = self.bootstrap.mint(symbol).expect("bootstrap mint");
        let owner = owner.parse().expect("pubkey");
        self.client
            .token_balance(&mint.token_mint().ata(&owner))
            .await
            .expect("balance")
    }

    /// Base units in the escrow vault of `symbol`.
    pub async fn vault(&self, symbol: &str) -> u64 {
        let mint = self.bootstrap.mint(symbol).expect("bootstrap mint");
        self.client.token_balance(&mint.vault).await.expect("vault")
    }

    /// A landed transaction, as getTransaction returns it.
    async fn transaction(
        &self,
        signature: &str,
    ) -> solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta {
        let signature = signature.parse().expect("signature");
        self.client
            .rpc()
            .get_transaction(
                &signature,
                solana_transaction_status_client_types::UiTransactionEncoding::Base64,
            )
            .await
            .expect("getTransaction")
    }

    /// The chain time (Clock sysvar) at which a transaction executed.
    pub async fn block_time(&self, signature: &str) -> i64 {
        self.transaction(signature)
            .await
            .block_time
            .expect("block time")
    }

    /// Every signature that touched `address`, newest first, read through
    /// getSignaturesForAddress `page` at a time.
    pub async fn history(&self, address: &str, page: usize) -> Vec<String> {
        let address = address.parse().expect("address");
        let mut listed: Vec<String> = Vec::new();
        loop {
            let config = solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                before: listed.last().map(|s| s.parse().unwrap()),
                until: None,
                limit: Some(page),
                commitment: Some(CommitmentConfig::confirmed()),
            };
            let got = self
                .client
                .rpc()
                .get_signatures_for_address_with_config(&address, config)
                .await
                .expect("getSignaturesForAddress");
            assert!(got.len() <= page, "a page of at most {page}");
            if got.is_empty() {
                return listed;
            }
            listed.extend(got.into_iter().map(|s| s.signature));
        }
    }

    /// What a landed transaction asked of the compute budget and paid.
    pub async fn budget(&self, signature: &str) -> Budget {
        let tx = self.transaction(signature).await;
        let meta = tx.transaction.meta.expect("meta");
        let units: Option<u64> = meta.compute_units_consumed.into();
        let decoded = tx.transaction.transaction.decode().expect("decodable");
        let keys = decoded.message.static_account_keys();
        let budget_data: Vec<&[u8]> = decoded
            .message
            .instructions()
            .iter()
            .filter(|ix| {
                keys[usize::from(ix.program_id_index)].to_string()
                    == "ComputeBudget111111111111111111111111111111"
            })
            .map(|ix| ix.data.as_slice())
            .collect();
        // SetComputeUnitLimit is tag 2 then a u32; SetComputeUnitPrice tag 3 then a u64.
        let limit = budget_data
            .iter()
            .find(|data| data.first() == Some(&2))
            .map(|data| u32::from_le_bytes(data[1..5].try_into().unwrap()))
            .expect("a SetComputeUnitLimit instruction");
        let price = budget_data
            .iter()
            .find(|data| data.first() == Some(&3))
            .map(|data| u64::from_le_bytes(data[1..9].try_into().unwrap()));
        Budget {
            limit,
            price,
            units: units.expect("units consumed"),
            fee: meta.fee,
        }
    }
}

pub fn new_wallet(dir: &Path, name: &str) -> Wallet {
    let keypair = Keypair::new();
    let path = dir.join(format!("{name}.json"));
    write_keypair_file(&keypair, &path).expect("write keypair");
    Wallet { keypair, path }
}

/// Runs the built binary with `args` (off the async workers).
pub async fn run_binary(args: Vec<String>) -> Run {
    run_binary_with_stdin(args, Vec::new()).await
}

/// Runs the built binary with `args`, writing `stdin` to it.
pub async fn run_binary_with_stdin(args: Vec<String>, stdin: Vec<u8>) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(iomesh_tests::workspace_binary("iomesh"))
            .args(&args)
            .env_remove("IOMESH_RPC_URL")
            .env_remove("IOMESH_LOCALNET_DIR")
            // No Solana CLI config of the machine leaks into the test.
            .env("HOME", std::env::temp_dir().join("iomesh-cli-test-home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run iomesh");
        // Written then closed before waiting, so the binary sees the end of
        // its input; a run that never reads stdin may close it first.
        let _ = child.stdin.take().expect("piped stdin").write_all(&stdin);
        let out = child.wait_with_output().expect("wait for iomesh");
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

// ---------------------------------------------------------------- pricing rules
// Restated from the program's specification (programs/iomesh/src/math.rs),
// independently of `iomesh::math`, so the test checks the program.

/// ceil(usd_micros_per_gpu_hour × 10^decimals / token_usd_micros).
pub fn expected_rate(usd_micros_per_gpu_hour: u64, token_usd_micros: u64, decimals: u8) -> u64 {
    let numerator = u128::from(usd_micros_per_gpu_hour) * 10u128.pow(u32::from(decimals));
    u64::try_from(numerator.div_ceil(u128::from(token_usd_micros))).unwrap()
}

/// ceil(rate × gpus × secs / 3600).
pub fn expected_deposit(rate: u64, gpus: u64, secs: u64) -> u64 {
    u64::try_from((u128::from(rate) * u128::from(gpus) * u128::from(secs)).div_ceil(3_600)).unwrap()
}

/// floor(rate × gpus × elapsed / 3600).
pub fn expected_accrued(rate: u64, gpus: u64, elapsed: u64) -> u64 {
    u64::try_from(u128::from(rate) * u128::from(gpus) * u128::from(elapsed) / 3_600).unwrap()
}

/// floor(payout × fee_bps / 10000).
pub fn expected_fee(payout: u64, fee_bps: u64) -> u64 {
    payout * fee_bps / 10_000
}

pub fn u(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

pub fn s(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}
