//! TLS for the agents' gRPC connections: the server identity from PEM files.

use crate::{config::Config, error::Error};
use tonic::transport::{Identity, ServerTlsConfig};

/// The gRPC server's TLS configuration, or `None` for plaintext.
pub fn server_config(config: &Config) -> Result<Option<ServerTlsConfig>, Error> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|err| {
            Error::Config(format!(
                "cannot read the TLS {what} {}: {err}",
                path.display()
            ))
        })
    };
    let (cert_pem, key_pem) = (read(cert, "certificate")?, read(key, "key")?);
    for (pem, what, marker) in [
        (&cert_pem, "certificate", "-----BEGIN CERTIFICATE-----"),
        (&key_pem, "key", "PRIVATE KEY-----"),
    ] {
        if !String::from_utf8_lossy(pem).contains(marker) {
            return Err(Error::Config(format!(
                "the TLS {what} file holds no PEM {what} (expected a {marker} block)"
            )));
        }
    }
    Ok(Some(
        ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)),
    ))
}
