//! Where the CLI connects and who signs, by Solana CLI conventions: flags
//! first, then the Solana CLI config file, then the defaults.

use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context, Result};
use solana_clap_utils::{
    input_validators::normalize_to_url_if_moniker, keypair::keypair_from_path,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

pub const LOCALHOST_URL: &str = "http://127.0.0.1:8899";

/// A `--url` value: a moniker (localhost/l, devnet/d, testnet/t,
/// mainnet-beta/m, resolved as the Solana CLI resolves them) or an http(s) URL.
pub fn resolve_url(input: &str) -> Result<String> {
    let url = normalize_to_url_if_moniker(input.trim());
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        return Ok(url);
    }
    bail!(
        "invalid --url `{}`: expected an http(s) URL or a moniker: \
         localhost (l), devnet (d), testnet (t), mainnet-beta (m)",
        input.trim()
    )
}

/// The fields of the Solana CLI's `config.yml` the CLI uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SolanaConfig {
    pub json_rpc_url: Option<String>,
    pub keypair_path: Option<String>,
    pub commitment: Option<String>,
}

impl SolanaConfig {
    /// The default config file, `~/.config/solana/cli/config.yml`.
    pub fn default_path() -> Option<PathBuf> {
        home().map(|h| h.join(".config/solana/cli/config.yml"))
    }

    /// Reads `path`; a missing default file is an empty config, a missing
    /// explicit `--config` file is an error.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, explicit) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => match Self::default_path() {
                Some(path) => (path, false),
                None => return Ok(Self::default()),
            },
        };
        // The Solana CLI's own reader: a file it would refuse is refused here.
        match solana_cli_config::Config::load(&path.to_string_lossy()) {
            Ok(config) => Ok(Self::from_solana(config)),
            Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::default())
            }
            Err(err) => Err(anyhow!(
                "cannot read the Solana CLI config file {}: {err}",
                path.display()
            )),
        }
    }

    fn from_solana(config: solana_cli_config::Config) -> Self {
        let set = |value: String| (!value.is_empty()).then_some(value);
        Self {
            json_rpc_url: set(config.json_rpc_url),
            keypair_path: set(config.keypair_path),
            commitment: set(config.commitment),
        }
    }
}

pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `~/…` expanded against $HOME.
pub fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The default localnet directory, `~/.config/iomesh/localnet`.
pub fn default_localnet_dir() -> PathBuf {
    expand_tilde("~/.config/iomesh/localnet")
}

/// A keypair path and where it came from, for error messages.
#[derive(Clone, Debug)]
pub struct KeypairSource {
    pub path: PathBuf,
    pub origin: &'static str,
}

impl KeypairSource {
    pub fn resolve(flag: Option<&str>, config: &SolanaConfig) -> Self {
        match (flag, &config.keypair_path) {
            (Some(path), _) => Self {
                path: expand_tilde(path),
                origin: "--keypair",
            },
            (None, Some(path)) => Self {
                path: expand_tilde(path),
                origin: "keypair_path in the Solana CLI config",
            },
            (None, None) => Self {
                path: expand_tilde("~/.config/solana/id.json"),
                origin: "the default keypair path",
            },
        }
    }

    pub fn load(&self) -> Result<Keypair> {
        load_keypair(&self.path, self.origin)
    }

    /// The keypair, or (signing offline) a pubkey given in its place.
    pub fn load_or_pubkey(&self) -> Result<SignerArg> {
        SignerArg::load(&self.path, self.origin)
    }
}

/// A signer named on the command line: a keypair file, or, signing offline,
/// only its pubkey (its signature comes with --signer, or stays absent with
/// --sign-only).
pub enum SignerArg {
    Keypair(Keypair),
    Pubkey(Pubkey),
}

impl SignerArg {
    /// The keypair file at `path`, else `path` read as a pubkey.
    pub fn load(path: &Path, origin: &str) -> Result<Self> {
        if !path.exists() {
            if let Some(pubkey) = path.to_str().and_then(|t| Pubkey::from_str(t).ok()) {
                return Ok(Self::Pubkey(pubkey));
            }
        }
        load_keypair(path, origin).map(Self::Keypair)
    }

    pub fn pubkey(&self) -> Pubkey {
        match self {
            Self::Keypair(keypair) => keypair.pubkey(),
            Self::Pubkey(pubkey) => *pubkey,
        }
    }

    pub fn keypair(&self) -> Option<&Keypair> {
        match self {
            Self::Keypair(keypair) => Some(keypair),
            Self::Pubkey(_) => None,
        }
    }
}

/// Loads the keypair a signer source names, through Solana's own signer
/// plumbing (`solana-clap-utils`), as the Solana CLI reads `--keypair`: a
/// keypair file; `stdin:` or `-` (the keypair's JSON on standard input); `prompt:`
/// or `ASK` (a seed phrase and passphrase typed at the terminal, with
/// `prompt:?key=0/0` for a derivation path). A hardware wallet
/// (`usb://ledger`) signs without handing out its key, which these commands
/// need: it is refused with the library's reason.
pub fn load_keypair(path: &Path, origin: &str) -> Result<Keypair> {
    let source = path.to_string_lossy();
    let named_source = source == "-" || source == "ASK" || source.contains(':');
    if !named_source && !path.exists() {
        bail!(
            "keypair file {} ({origin}) does not exist: create one with `solana-keygen new -o {}` \
             or pass another with --keypair",
            path.display(),
            path.display()
        );
    }
    // The library reads a few switches (seed phrase validation) from clap 2
    // matches; the iomesh CLI has none of them.
    let matches = clap2::App::new("iomesh").get_matches_from(["iomesh"]);
    keypair_from_path(&matches, &source, "keypair", false)
        .map_err(|err| anyhow!("{err}"))
        .with_context(|| {
            if named_source {
                format!("cannot load the signer {source} ({origin})")
            } else {
                format!(
                    "keypair file {} ({origin}) is not a Solana keypair (a JSON array of 64 bytes)",
                    path.display()
                )
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_monikers_resolve() {
        // The Solana CLI's resolution (localhost by name).
        assert_eq!(resolve_url("l").unwrap(), "http://localhost:8899");
        assert_eq!(resolve_url("localhost").unwrap(), "http://localhost:8899");
        assert_eq!(resolve_url("d").unwrap(), "https://api.devnet.solana.com");
        assert_eq!(resolve_url("t").unwrap(), "https://api.testnet.solana.com");
        assert_eq!(
            resolve_url("mainnet-beta").unwrap(),
            "https://api.mainnet-beta.solana.com"
        );
        assert_eq!(
            resolve_url("http://10.0.0.1:8899").unwrap(),
            "http://10.0.0.1:8899"
        );
    }

    #[test]
    fn unknown_monikers_are_refused_with_the_choices() {
        for bad in ["mainnet", "x", "ftp://host", "http://", "127.0.0.1:8899"] {
            let err = resolve_url(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("invalid --url `{bad}`")), "{err}");
            assert!(err.contains("devnet (d)"), "{err}");
        }
    }

    #[test]
    fn solana_cli_config_is_read() {
        let text = "---\njson_rpc_url: \"https://api.devnet.solana.com\"\nwebsocket_url: ''\n\
                    keypair_path: /home/me/.config/solana/id.json\naddress_labels:\n  \
                    '11111111111111111111111111111111': System Program\ncommitment: confirmed\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        std::fs::write(&path, text).unwrap();
        let config = SolanaConfig::load(Some(&path)).unwrap();
        assert_eq!(
            config,
            SolanaConfig {
                json_rpc_url: Some("https://api.devnet.solana.com".into()),
                keypair_path: Some("/home/me/.config/solana/id.json".into()),
                commitment: Some("confirmed".into()),
            }
        );
    }

    #[test]
    fn a_config_file_the_solana_cli_would_refuse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        std::fs::write(&path, "json_rpc_url: [not, a, string]\n").unwrap();
        let err = SolanaConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("cannot read the Solana CLI config file"),
            "{err}"
        );
        let missing = dir.path().join("absent.yml");
        assert!(
            SolanaConfig::load(Some(&missing)).is_err(),
            "an explicit --config must exist"
        );
    }

    #[test]
    fn keypair_path_precedence() {
        let config = SolanaConfig {
            keypair_path: Some("/from/config.json".into()),
            ..SolanaConfig::default()
        };
        assert_eq!(
            KeypairSource::resolve(Some("/flag.json"), &config).path,
            PathBuf::from("/flag.json")
        );
        assert_eq!(
            KeypairSource::resolve(None, &config).path,
            PathBuf::from("/from/config.json")
        );
        assert!(KeypairSource::resolve(None, &SolanaConfig::default())
            .path
            .ends_with(".config/solana/id.json"));
    }

    #[test]
    fn missing_keypair_file_is_named() {
        let err = load_keypair(Path::new("/nonexistent/id.json"), "--keypair")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/id.json (--keypair) does not exist"),
            "{err}"
        );
    }
}
