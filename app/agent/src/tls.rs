//! TLS to the scheduler: which certificates an https:// scheduler URL is
//! checked against, and errors that say when agent and scheduler disagree
//! about TLS (which otherwise surface as a bare "connection reset" or a
//! rustls alert).

use std::error::Error;
use tonic::transport::{Certificate, ClientTlsConfig};

/// The TLS configuration for `url`: `None` for http://; for https://, the
/// certificates of `--scheduler-ca` (pinning the scheduler's own certificate
/// or its CA) or else the system's roots.
pub fn client_config(url: &str, ca_pem: Option<&[u8]>) -> Option<ClientTlsConfig> {
    if !url.starts_with("https://") {
        return None;
    }
    let config = ClientTlsConfig::new();
    Some(match ca_pem {
        Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
        None => config.with_native_roots(),
    })
}

/// `error` with its whole chain of causes, and what to do about a TLS
/// mismatch when the causes show one.
pub fn explain(url: &str, error: &dyn Error) -> String {
    let chain = causes(error);
    match hint(url, &chain) {
        Some(hint) => format!("{chain} ({hint})"),
        None => chain,
    }
}

/// A failed first request that a TLS mismatch explains, explained.
pub fn mismatch(url: &str, status: &tonic::Status) -> Option<String> {
    let chain = match status.source() {
        Some(source) => format!("{}: {}", status.message(), causes(source)),
        None => status.message().to_string(),
    };
    hint(url, &chain).map(|hint| format!("{chain} ({hint})"))
}

fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

fn hint(url: &str, chain: &str) -> Option<&'static str> {
    let chain = chain.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| chain.contains(n));
    if url.starts_with("https://") {
        if any(&[
            "unknownissuer",
            "unknown issuer",
            "badsignature",
            "invalid peer certificate",
        ]) {
            return Some(
                "the scheduler's certificate is not trusted: pass --scheduler-ca with its \
                 certificate or the CA that signed it",
            );
        }
        if any(&["notvalidforname", "not valid for name"]) {
            return Some("the scheduler's certificate does not name the host in the URL");
        }
        if any(&[
            "invalidcontenttype",
            "invalid content type",
            "corrupt message",
            "wrong version",
            "invalidmessage",
        ]) {
            return Some(
                "the scheduler does not serve TLS on this port: use an http:// URL, or give \
                 the scheduler --tls-cert and --tls-key",
            );
        }
    } else if any(&[
        "connection reset",
        "broken pipe",
        "frame",
        "protocol error",
        "connection closed",
        "unexpected eof",
        "unexpected end of file",
    ]) {
        return Some(
            "the scheduler may be serving TLS: use an https:// URL (with --scheduler-ca for \
             a self-signed certificate)",
        );
    }
    None
}
