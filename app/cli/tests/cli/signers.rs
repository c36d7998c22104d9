//! Signer sources as the Solana CLI reads them (solana-clap-utils): a
//! keypair file, `stdin:`, and a hardware wallet, which these commands
//! cannot use because they need the key itself.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keypair_comes_from_stdin_and_a_hardware_wallet_is_refused_by_name() {
    let env = Env::start().await;
    let wallet = env.wallet("piped");
    let json = serde_json::to_vec(&wallet.keypair.to_bytes().to_vec()).unwrap();

    // `--keypair stdin:` (or `-`): the keypair's JSON arrives on standard input.
    for source in ["stdin:", "-"] {
        let piped = env
            .iomesh_as(source, &["balance"], json.clone())
            .await
            .json();
        assert_eq!(s(&piped["address"]), wallet.pubkey(), "{source}");
    }
    // The same wallet from its file.
    let from_file = env.iomesh(&wallet, &["balance"]).await.json();
    assert_eq!(s(&from_file["address"]), wallet.pubkey());

    // Nothing on stdin is no keypair.
    env.iomesh_as("stdin:", &["balance"], Vec::new())
        .await
        .fails_with("cannot load the signer stdin: (--keypair)");
    // A Ledger signs without handing out its key; these commands need it.
    env.iomesh_as("usb://ledger", &["balance"], Vec::new())
        .await
        .fails_with("cannot load the signer usb://ledger (--keypair)");
}
