//! Renter access tokens: what a renter's wallet signs to see its job in
//! detail, read its logs and reach its ports through a scheduler.
//!
//! A token is `base64url(claims JSON) "." base58(ed25519 signature)`; the
//! signature covers `ACCESS_DOMAIN ‖ claims JSON` (the exact bytes encoded),
//! so it can never be taken for a transaction or any other message the key
//! signs. The claims name the scope (one lease, or every lease of the
//! renter), the renter, an expiry and a nonce: a token is short-lived and
//! used once. It travels in `Authorization: Bearer <token>`, or (for a
//! browser) the `iomesh_token` query parameter or cookie.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Domain separator of the signed message.
pub const ACCESS_DOMAIN: &[u8] = b"iomesh-access-v1\0";
/// Longest lifetime a scheduler accepts, in seconds.
pub const MAX_TOKEN_SECS: i64 = 600;
/// Cookie and query parameter names a browser may use instead of the header.
pub const TOKEN_COOKIE: &str = "iomesh_token";
pub const TOKEN_QUERY: &str = "iomesh_token";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One lease (base58 address).
    Lease(String),
    /// Every lease of the renter.
    Renter,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub v: u8,
    pub scope: Scope,
    /// Base58 wallet of the renter, the key that signs.
    pub renter: String,
    /// Unix seconds after which the token is refused.
    pub exp: i64,
    /// Random hex; a scheduler accepts each nonce once.
    pub nonce: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not `<claims>.<signature>`")]
    Shape,
    #[error("the token's claims are not base64url JSON of an access token: {0}")]
    Claims(String),
    #[error("the token's signature is not a base58 ed25519 signature (64 bytes)")]
    Signature,
}

impl AccessClaims {
    /// Claims for `lease` of `renter`, valid for `ttl_secs` from `now`.
    pub fn for_lease(renter: &str, lease: &str, now: i64, ttl_secs: i64, nonce: [u8; 16]) -> Self {
        Self::new(Scope::Lease(lease.into()), renter, now, ttl_secs, nonce)
    }

    /// Claims for every lease of `renter`.
    pub fn for_renter(renter: &str, now: i64, ttl_secs: i64, nonce: [u8; 16]) -> Self {
        Self::new(Scope::Renter, renter, now, ttl_secs, nonce)
    }

    fn new(scope: Scope, renter: &str, now: i64, ttl_secs: i64, nonce: [u8; 16]) -> Self {
        Self {
            v: 1,
            scope,
            renter: renter.into(),
            exp: now + ttl_secs,
            nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The claims as they are encoded and signed.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("claims serialise")
    }
}

/// The bytes the renter's key signs for `claims_json`.
pub fn access_message(claims_json: &[u8]) -> Vec<u8> {
    [ACCESS_DOMAIN, claims_json].concat()
}

/// The token text for signed claims.
pub fn encode_token(claims_json: &[u8], signature: &[u8; 64]) -> String {
    format!(
        "{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims_json),
        bs58::encode(signature).into_string()
    )
}

/// A token taken apart: the claims, their exact bytes (what was signed) and
/// the signature. The signature is not checked here.
pub struct Decoded {
    pub claims: AccessClaims,
    pub claims_json: Vec<u8>,
    pub signature: [u8; 64],
}

pub fn decode_token(token: &str) -> Result<Decoded, TokenError> {
    let (claims, signature) = token.trim().split_once('.').ok_or(TokenError::Shape)?;
    let claims_json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|e| TokenError::Claims(e.to_string()))?;
    let parsed: AccessClaims =
        serde_json::from_slice(&claims_json).map_err(|e| TokenError::Claims(e.to_string()))?;
    let signature = bs58::decode(signature)
        .into_vec()
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or(TokenError::Signature)?;
    Ok(Decoded {
        claims: parsed,
        claims_json,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_its_message_is_domain_separated() {
        let claims = AccessClaims::for_lease("Renter111", "Lease111", 1_000, 300, [7; 16]);
        let json = claims.to_json();
        let token = encode_token(&json, &[9; 64]);
        let decoded = decode_token(&token).unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.claims_json, json);
        assert_eq!(decoded.signature, [9; 64]);
        assert_eq!(decoded.claims.exp, 1_300);
        assert!(access_message(&json).starts_with(ACCESS_DOMAIN));
        assert_eq!(decode_token("nodot").err(), Some(TokenError::Shape));
        assert!(matches!(decode_token("e30.x"), Err(TokenError::Claims(_))));
        let bad_signature = format!("{}.abc", token.split_once('.').unwrap().0);
        assert_eq!(
            decode_token(&bad_signature).err(),
            Some(TokenError::Signature)
        );
    }
}
