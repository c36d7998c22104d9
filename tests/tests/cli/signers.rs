//! Signer sources as the Solana CLI reads them (solana-clap-utils): a
//! keypair file, `stdin:`, a seed phrase typed at `prompt:`, and a hardware
//! wallet, which these commands cannot use because they need the key itself.

use crate::common::*;
use solana_keypair::seed_derivable::keypair_from_seed_and_derivation_path;
use solana_seed_phrase::generate_seed_from_seed_phrase_and_passphrase;
use solana_signer::Signer;
use std::{
    io::{Read, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

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

/// The BIP39 test vector phrase (its checksum word included).
const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";

/// `--keypair prompt:` reads a seed phrase and passphrase at the terminal,
/// as the Solana CLI does: the key is the phrase's m/44'/501' key (what
/// `solana-keygen pubkey prompt:` recovers). A phrase that is not BIP39 is
/// refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keypair_comes_from_a_seed_phrase_typed_at_the_prompt() {
    let env = Env::start().await;
    let seed = generate_seed_from_seed_phrase_and_passphrase(PHRASE, "");
    let expected = keypair_from_seed_and_derivation_path(&seed, None)
        .unwrap()
        .pubkey();
    let args = |keypair: &str| -> Vec<String> {
        [
            "--url",
            &env.localnet.rpc_url(),
            "--keypair",
            keypair,
            "--output",
            "json",
            "balance",
        ]
        .map(String::from)
        .to_vec()
    };

    let typed = args("prompt:");
    let (output, terminal) = tokio::task::spawn_blocking(move || {
        at_a_terminal(
            typed,
            &[("seed phrase: ", PHRASE), ("press ENTER to continue: ", "")],
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "iomesh failed: {}\nterminal: {terminal}",
        String::from_utf8_lossy(&output.stderr)
    );
    let balance: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(s(&balance["address"]), expected.to_string());
    // The phrase was typed without echo: the terminal shows only the prompts.
    assert!(!terminal.contains("abandon"), "echoed: {terminal}");

    let typed = args("prompt:");
    let (output, _) = tokio::task::spawn_blocking(move || {
        at_a_terminal(typed, &[("seed phrase: ", "not a seed phrase at all")])
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot load the signer prompt: (--keypair)"),
        "{stderr}"
    );
}

/// Runs the CLI in a session of its own whose controlling terminal is a new
/// pseudo-terminal (so `/dev/tty`, where prompts are read, is this test's),
/// answers each prompt once it appears, and returns the output and what
/// the terminal showed.
fn at_a_terminal(args: Vec<String>, answers: &[(&str, &str)]) -> (Output, String) {
    let (mut master, mut slave) = (0, 0);
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let slave_fd = slave.as_raw_fd();
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut command = Command::new(iomesh_tests::workspace_binary("iomesh"));
    command
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("run iomesh");
    let mut terminal = std::fs::File::from(master);
    // The master side is both what the terminal shows and where typing goes.
    let mut typing = terminal.try_clone().unwrap();
    let mut shown = String::new();
    let mut read_terminal = |shown: &mut String| {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = terminal.read(&mut buf) {
            shown.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = 0;
    let mut answer_from = 0;
    loop {
        read_terminal(&mut shown);
        if let Some((prompt, answer)) = answers.get(answered) {
            if let Some(at) = shown[answer_from..].find(prompt) {
                answer_from += at + prompt.len();
                typing.write_all(format!("{answer}\n").as_bytes()).unwrap();
                answered += 1;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("iomesh did not finish at the terminal; it showed: {shown}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    read_terminal(&mut shown);
    drop(slave);
    (child.wait_with_output().unwrap(), shown)
}
