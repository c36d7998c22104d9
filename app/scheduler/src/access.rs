//! Who may see a job in detail, read its logs and reach its ports: the
//! lease's renter, proven by a short-lived token its wallet key signed
//! (`iomesh_agent_proto::access`), used once; or, on a port, by the session
//! cookie such a token opened (a browser cannot sign every request).
//!
//! Refusals are 401 when the request does not prove anyone (no token, a bad
//! signature, expired, already used) and 403 when it proves someone who is not
//! allowed (another wallet than the renter, another lease's token).

use crate::Shared;
use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use iomesh_agent_proto::access::{
    access_message, decode_token, Scope, MAX_TOKEN_SECS, TOKEN_COOKIE, TOKEN_QUERY,
};
use iomesh_client::clock::unix_now as now;
use serde_json::json;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use std::time::Duration;

/// Header a replica adds when it forwards a renter's request to the replica
/// holding the lease's agent (its own id).
pub const FORWARDED_BY: &str = "x-iomesh-forwarded-by";
/// Cookie carrying a port session.
pub const SESSION_COOKIE: &str = "iomesh_session";
/// How long a port session lasts.
pub const SESSION_SECS: i64 = 3_600;
/// Tokens may be dated this far in the future (clock skew).
const SKEW_SECS: i64 = 30;
/// A forwarded request must follow its token's first use this closely.
const FORWARD_WINDOW: Duration = Duration::from_secs(10);

/// Why a request is refused, as the JSON body says it.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Malformed(String),
    BadSignature {
        renter: String,
    },
    Expired,
    TooLong,
    Replayed,
    NotRenter {
        signer: Pubkey,
        renter: Pubkey,
        lease: Pubkey,
    },
    OtherLease {
        token_lease: String,
        lease: Pubkey,
    },
    LeaseScoped {
        token_lease: String,
    },
    NotSelf {
        signer: Pubkey,
        renter: Pubkey,
    },
    UnknownLease(Pubkey),
    Unavailable(String),
}

impl Denied {
    fn status(&self) -> StatusCode {
        match self {
            Denied::NotRenter { .. }
            | Denied::OtherLease { .. }
            | Denied::LeaseScoped { .. }
            | Denied::NotSelf { .. } => StatusCode::FORBIDDEN,
            Denied::UnknownLease(_) => StatusCode::NOT_FOUND,
            Denied::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// A stable name for programs.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Missing => "missing_token",
            Denied::Malformed(_) => "malformed_token",
            Denied::BadSignature { .. } => "bad_signature",
            Denied::Expired => "expired",
            Denied::TooLong => "lifetime_too_long",
            Denied::Replayed => "replayed",
            Denied::NotRenter { .. } => "not_the_renter",
            Denied::OtherLease { .. } => "other_lease",
            Denied::LeaseScoped { .. } => "lease_scoped",
            Denied::NotSelf { .. } => "not_the_renter",
            Denied::UnknownLease(_) => "unknown_lease",
            Denied::Unavailable(_) => "unavailable",
        }
    }

    fn message(&self) -> String {
        match self {
            Denied::Missing => format!(
                "this needs the renter's access token: `Authorization: Bearer <token>` (or the {TOKEN_QUERY} query parameter or cookie); `iomesh` makes one from your keypair"
            ),
            Denied::Malformed(why) => format!("the access token is malformed: {why}"),
            Denied::BadSignature { renter } => {
                format!("the access token's signature does not verify against its renter {renter}")
            }
            Denied::Expired => "the access token has expired: sign a new one".into(),
            Denied::TooLong => format!(
                "the access token lives too long: at most {MAX_TOKEN_SECS} seconds"
            ),
            Denied::Replayed => {
                "the access token was already used: each token is good for one request; sign a new one"
                    .into()
            }
            Denied::NotRenter { signer, renter, lease } => format!(
                "{signer} is not the renter of lease {lease} (its renter is {renter})"
            ),
            Denied::OtherLease { token_lease, lease } => {
                format!("the access token is for lease {token_lease}, not {lease}")
            }
            Denied::LeaseScoped { token_lease } => format!(
                "the access token is for lease {token_lease} only; listing leases needs a renter-wide token"
            ),
            Denied::NotSelf { signer, renter } => {
                format!("{signer} cannot see the leases of {renter} in detail")
            }
            Denied::UnknownLease(lease) => {
                format!("lease {lease} is not known (not created on-chain, or not indexed yet)")
            }
            Denied::Unavailable(why) => format!("cannot check access now: {why}"),
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(json!({ "error": self.message(), "reason": self.reason() })),
        )
            .into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"iomesh\""),
            );
        }
        response
    }
}

impl From<sqlx::Error> for Denied {
    fn from(err: sqlx::Error) -> Self {
        Denied::Unavailable(format!("database error: {err}"))
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The token a request carries: the Authorization header, else the query
/// parameter, else the cookie.
pub fn token_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    if let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| {
            pair.split_once('=')
                .filter(|(key, _)| *key == TOKEN_QUERY)
                .map(|(_, value)| value)
        })
    {
        return Some(value.to_string());
    }
    cookie(headers, TOKEN_COOKIE).map(str::to_string)
}

/// The renter of `lease`, as indexed.
async fn renter_of(shared: &Shared, lease: &Pubkey) -> Result<Pubkey, Denied> {
    let renter: Option<Vec<u8>> = sqlx::query_scalar("SELECT renter FROM leases WHERE pubkey = $1")
        .bind(lease.as_ref())
        .fetch_optional(&shared.pool)
        .await?;
    let renter = renter.ok_or(Denied::UnknownLease(*lease))?;
    Pubkey::try_from(renter.as_slice())
        .map_err(|_| Denied::Unavailable("a malformed renter in Postgres".into()))
}

/// A token whose signature and lifetime are checked: its claims and signer.
struct Verified {
    claims: iomesh_agent_proto::access::AccessClaims,
    signer: Pubkey,
}

fn verify(headers: &HeaderMap, query: Option<&str>) -> Result<Verified, Denied> {
    let token = token_of(headers, query).ok_or(Denied::Missing)?;
    let decoded = decode_token(&token).map_err(|e| Denied::Malformed(e.to_string()))?;
    let claims = decoded.claims;
    let signer: Pubkey = claims
        .renter
        .parse()
        .map_err(|_| Denied::Malformed(format!("renter {:?} is not a pubkey", claims.renter)))?;
    let message = access_message(&decoded.claims_json);
    if !Signature::from(decoded.signature).verify(signer.as_ref(), &message) {
        return Err(Denied::BadSignature {
            renter: claims.renter.clone(),
        });
    }
    let now = now();
    if claims.exp < now {
        return Err(Denied::Expired);
    }
    if claims.exp > now + MAX_TOKEN_SECS + SKEW_SECS {
        return Err(Denied::TooLong);
    }
    Ok(Verified { claims, signer })
}

/// Checks that the request carries a token of `lease`'s renter, valid and
/// unused, and spends it. A request another replica forwards carries the
/// token that replica already spent, and `FORWARDED_BY`: it is accepted
/// once, right after.
pub async fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    lease: &Pubkey,
) -> Result<Pubkey, Denied> {
    let Verified { claims, signer } = verify(headers, query)?;
    if let Scope::Lease(token_lease) = &claims.scope {
        if *token_lease != lease.to_string() {
            return Err(Denied::OtherLease {
                token_lease: token_lease.clone(),
                lease: *lease,
            });
        }
    }
    let renter = renter_of(shared, lease).await?;
    if signer != renter {
        return Err(Denied::NotRenter {
            signer,
            renter,
            lease: *lease,
        });
    }
    spend_nonce(shared, headers, &claims.nonce, claims.exp).await?;
    Ok(renter)
}

/// Checks that the request carries a renter-wide token of `renter`, valid
/// and unused, and spends it (listing a renter's leases in detail).
pub async fn authorize_renter(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    renter: &Pubkey,
) -> Result<(), Denied> {
    let Verified { claims, signer } = verify(headers, query)?;
    if let Scope::Lease(token_lease) = &claims.scope {
        return Err(Denied::LeaseScoped {
            token_lease: token_lease.clone(),
        });
    }
    if signer != *renter {
        return Err(Denied::NotSelf {
            signer,
            renter: *renter,
        });
    }
    spend_nonce(shared, headers, &claims.nonce, claims.exp).await
}

/// Records the token's nonce as used; refuses one used before.
async fn spend_nonce(
    shared: &Shared,
    headers: &HeaderMap,
    nonce: &str,
    exp: i64,
) -> Result<(), Denied> {
    let inserted = sqlx::query(
        "INSERT INTO access_nonces (nonce, expires_at, used_by) \
         VALUES ($1, to_timestamp($2), $3) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(exp as f64)
    .bind(&shared.replica_id)
    .execute(&shared.pool)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        return Ok(());
    }
    let Some(forwarder) = headers.get(FORWARDED_BY).and_then(|v| v.to_str().ok()) else {
        return Err(Denied::Replayed);
    };
    let accepted = sqlx::query(
        "UPDATE access_nonces SET forwarded = true \
         WHERE nonce = $1 AND used_by = $2 AND NOT forwarded \
           AND used_at > now() - make_interval(secs => $3)",
    )
    .bind(nonce)
    .bind(forwarder)
    .bind(FORWARD_WINDOW.as_secs_f64())
    .execute(&shared.pool)
    .await?
    .rows_affected()
        == 1;
    if accepted {
        Ok(())
    } else {
        Err(Denied::Replayed)
    }
}

/// Opens a port session for `lease`'s renter; returns its cookie id.
pub async fn open_session(
    shared: &Shared,
    lease: &Pubkey,
    renter: &Pubkey,
) -> Result<String, Denied> {
    let id = hex::encode(rand::random::<[u8; 24]>());
    sqlx::query(
        "INSERT INTO access_sessions (id, lease, renter, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(&id)
    .bind(lease.as_ref())
    .bind(renter.as_ref())
    .bind(SESSION_SECS as f64)
    .execute(&shared.pool)
    .await?;
    Ok(id)
}

/// The renter a port session cookie proves, if it is a live session of `lease`.
pub async fn session(
    shared: &Shared,
    headers: &HeaderMap,
    lease: &Pubkey,
) -> Result<Option<Pubkey>, Denied> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let renter: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT renter FROM access_sessions WHERE id = $1 AND lease = $2 AND expires_at > now()",
    )
    .bind(id)
    .bind(lease.as_ref())
    .fetch_optional(&shared.pool)
    .await?;
    Ok(renter.and_then(|r| Pubkey::try_from(r.as_slice()).ok()))
}

/// Deletes nonces and sessions past their expiry; returns how many.
pub async fn prune(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    let nonces =
        sqlx::query("DELETE FROM access_nonces WHERE expires_at < now() - interval '1 minute'")
            .execute(pool)
            .await?
            .rows_affected();
    let sessions = sqlx::query("DELETE FROM access_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?
        .rows_affected();
    Ok(nonces + sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_the_query_or_a_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(token_of(&headers, None), None);
        headers.insert(
            header::COOKIE,
            "a=b; iomesh_token=fromcookie".parse().unwrap(),
        );
        assert_eq!(token_of(&headers, None).as_deref(), Some("fromcookie"));
        assert_eq!(
            token_of(&headers, Some("x=1&iomesh_token=fromquery")).as_deref(),
            Some("fromquery")
        );
        headers.insert(header::AUTHORIZATION, "Bearer fromheader".parse().unwrap());
        assert_eq!(
            token_of(&headers, Some("iomesh_token=fromquery")).as_deref(),
            Some("fromheader")
        );
        assert_eq!(cookie(&headers, "a"), Some("b"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn refusals_say_which_and_use_401_or_403() {
        assert_eq!(Denied::Replayed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Denied::Expired.status(), StatusCode::UNAUTHORIZED);
        let other = Denied::OtherLease {
            token_lease: "x".into(),
            lease: Pubkey::new_unique(),
        };
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        assert_eq!(other.reason(), "other_lease");
    }
}
