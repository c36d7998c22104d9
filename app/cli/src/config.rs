//! Where the CLI connects and who signs, by Solana CLI conventions: flags
//! first, then the Solana CLI config file, then the defaults.

use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context, Result};
use solana_keypair::{read_keypair_file, Keypair};
use solana_signer::Signer;
use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

pub const LOCALHOST_URL: &str = "http://127.0.0.1:8899";

/// A `--url` value: a moniker (localhost/l, devnet/d, testnet/t,
/// mainnet-beta/m) or an http(s) URL.
pub fn resolve_url(input: &str) -> Result<String> {
    let url = match input.trim() {
        "localhost" | "l" => LOCALHOST_URL,
        "devnet" | "d" => "https://api.devnet.solana.com",
        "testnet" | "t" => "https://api.testnet.solana.com",
        "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com",
        url if (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() > "https://".len() =>
        {
            url
        }
        other => bail!(
            "invalid --url `{other}`: expected an http(s) URL or a moniker: \
             localhost (l), devnet (d), testnet (t), mainnet-beta (m)"
        ),
    };
    Ok(url.to_string())
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
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::default())
            }
            Err(err) => Err(anyhow!(
                "cannot read the config file {}: {err}",
                path.display()
            )),
        }
    }

    /// The Solana CLI writes a flat YAML map of scalars; that is all this reads.
    pub fn parse(text: &str) -> Self {
        let mut config = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if line.starts_with([' ', '\t', '#', '-']) {
                continue;
            }
            let value = value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_string();
            if value.is_empty() {
                continue;
            }
            match key.trim() {
                "json_rpc_url" => config.json_rpc_url = Some(value),
                "keypair_path" => config.keypair_path = Some(value),
                "commitment" => config.commitment = Some(value),
                _ => {}
            }
        }
        config
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

/// Reads a keypair file, saying which file and why it could not be used.
pub fn load_keypair(path: &Path, origin: &str) -> Result<Keypair> {
    if !path.exists() {
        bail!(
            "keypair file {} ({origin}) does not exist: create one with `solana-keygen new -o {}` \
             or pass another with --keypair",
            path.display(),
            path.display()
        );
    }
    read_keypair_file(path)
        .map_err(|err| anyhow!("{err}"))
        .with_context(|| {
            format!(
                "keypair file {} ({origin}) is not a Solana keypair (a JSON array of 64 bytes)",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_monikers_resolve() {
        assert_eq!(resolve_url("l").unwrap(), LOCALHOST_URL);
        assert_eq!(resolve_url("localhost").unwrap(), LOCALHOST_URL);
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
        let config = SolanaConfig::parse(text);
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
