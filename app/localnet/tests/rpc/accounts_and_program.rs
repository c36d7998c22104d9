use crate::common::{client, funded, initialize_market, localnet};
use anchor_lang::Discriminator;
use base64::Engine;
use iomesh::state::{AccountSpace, Market};
use solana_account_decoder_client_types::{UiAccountData, UiAccountEncoding};
use solana_client::{
    rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    rpc_filter::{Memcmp, RpcFilterType},
    rpc_request::RpcRequest,
    rpc_response::{Response, RpcKeyedAccount},
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

#[tokio::test(flavor = "multi_thread")]
async fn iomesh_market_is_simulated_sent_and_found_by_program_scans() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let authority = funded(&rpc, 10_000_000_000).await;
    let (market, ix) = initialize_market(&authority.pubkey());
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[ix],
        Some(&authority.pubkey()),
        &[&authority],
        blockhash,
    );

    let sim = rpc.simulate_transaction(&tx).await.expect("simulate").value;
    assert_eq!(sim.err, None, "{:?}", sim.logs);
    let logs = sim.logs.expect("logs");
    // The log as a validator writes it: one invoke per invocation at its
    // depth, the program's msg! line and event, the loader's consumed line.
    let program = iomesh::ID.to_string();
    let system = "11111111111111111111111111111111";
    let consumed_prefix = format!("Program {program} consumed ");
    let shape: Vec<String> = logs
        .iter()
        .map(|line| {
            if line.starts_with("Program data: ") {
                "Program data: <event>".to_string()
            } else if line.starts_with(&consumed_prefix) {
                format!("{consumed_prefix}<units>")
            } else {
                line.clone()
            }
        })
        .collect();
    assert_eq!(
        shape,
        [
            format!("Program {program} invoke [1]"),
            "Program log: Instruction: InitializeMarket".to_string(),
            format!("Program {system} invoke [2]"),
            format!("Program {system} success"),
            "Program data: <event>".to_string(),
            format!("{consumed_prefix}<units>"),
            format!("Program {program} success"),
        ],
        "{logs:#?}"
    );
    let event = logs[4].strip_prefix("Program data: ").unwrap();
    let event = base64::engine::general_purpose::STANDARD
        .decode(event)
        .expect("base64");
    assert_eq!(
        &event[..8],
        iomesh::events::MarketInitialized::DISCRIMINATOR
    );
    // unitsConsumed is the program's consumed line: its estimate, its log
    // and event, the CPI into System (docs/compute-units.md).
    let consumed: u64 = logs[5][consumed_prefix.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let units = sim.units_consumed.expect("units");
    assert_eq!(units, consumed);
    let (named_accounts, pdas) = (3, 1);
    assert!(
        units
            > iomesh::compute::ENTRY_UNITS
                + named_accounts * iomesh::compute::ACCOUNT_UNITS
                + pdas * iomesh::compute::PDA_UNITS,
        "{units}"
    );
    // Simulation commits nothing.
    assert!(rpc.get_account(&market).await.is_err());

    let signature = rpc
        .send_and_confirm_transaction(&tx)
        .await
        .expect("initialize_market lands");
    // The transaction as it landed logged and consumed what was simulated.
    let landed = crate::common::get_transaction(&rpc, &signature, CommitmentConfig::confirmed())
        .await
        .expect("getTransaction")
        .transaction
        .meta
        .expect("meta");
    assert_eq!(Option::<Vec<String>>::from(landed.log_messages), Some(logs));
    assert_eq!(
        Option::<u64>::from(landed.compute_units_consumed),
        Some(units)
    );
    let account = rpc.get_account(&market).await.expect("market exists");
    assert_eq!(account.owner, iomesh::ID);
    assert_eq!(account.data.len(), Market::SPACE);
    assert_eq!(&account.data[..8], Market::DISCRIMINATOR);
    let many = rpc
        .get_multiple_accounts(&[market, Keypair::new().pubkey()])
        .await
        .expect("getMultipleAccounts");
    assert!(many[0].is_some() && many[1].is_none());

    let scan = |filters: Vec<RpcFilterType>, encoding, with_context| RpcProgramAccountsConfig {
        filters: Some(filters),
        account_config: RpcAccountInfoConfig {
            encoding: Some(encoding),
            ..RpcAccountInfoConfig::default()
        },
        with_context: Some(with_context),
        sort_results: None,
    };
    let by_size = rpc
        .get_program_ui_accounts_with_config(
            &iomesh::ID,
            scan(
                vec![RpcFilterType::DataSize(Market::SPACE as u64)],
                UiAccountEncoding::Base64,
                false,
            ),
        )
        .await
        .expect("dataSize scan");
    assert_eq!(by_size.len(), 1);
    assert_eq!(by_size[0].0, market);
    assert_eq!(by_size[0].1.data.decode(), Some(account.data.clone()));

    let discriminator =
        RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, Market::DISCRIMINATOR.to_vec()));
    let by_discriminator = rpc
        .get_program_ui_accounts_with_config(
            &iomesh::ID,
            scan(
                vec![discriminator.clone()],
                UiAccountEncoding::Base64Zstd,
                true,
            ),
        )
        .await
        .expect("memcmp scan, zstd, with context");
    assert_eq!(by_discriminator.len(), 1);
    assert!(matches!(
        by_discriminator[0].1.data,
        UiAccountData::Binary(_, UiAccountEncoding::Base64Zstd)
    ));
    assert_eq!(
        by_discriminator[0].1.data.decode(),
        Some(account.data.clone())
    );

    // withContext really wraps the list in {context, value}.
    let config = scan(vec![discriminator], UiAccountEncoding::Base64Zstd, true);
    let wrapped: Response<Vec<RpcKeyedAccount>> = rpc
        .send(
            RpcRequest::GetProgramAccounts,
            serde_json::json!([iomesh::ID.to_string(), config]),
        )
        .await
        .expect("withContext response");
    assert!(wrapped.context.slot > 0);
    assert_eq!(wrapped.value.len(), 1);

    let miss = rpc
        .get_program_ui_accounts_with_config(
            &iomesh::ID,
            scan(
                vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, vec![0; 8]))],
                UiAccountEncoding::Base64,
                false,
            ),
        )
        .await
        .unwrap();
    assert!(miss.is_empty());

    // A second initialize fails in preflight with the program's error.
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let (_, again) = initialize_market(&authority.pubkey());
    let tx = Transaction::new_signed_with_payer(
        &[again],
        Some(&authority.pubkey()),
        &[&authority],
        blockhash,
    );
    assert!(rpc.send_transaction(&tx).await.is_err());
    localnet.shutdown().await;
}
