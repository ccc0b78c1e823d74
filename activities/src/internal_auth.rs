//! Authentication between Ventros's own processes over gRPC (the worker's MemoryService, the
//! Python AgentService).
//!
//! Why: those services used to trust the `tenant_id` in each request, so anything that could open
//! a connection could read any tenant's contacts. Now every call carries a short-lived token,
//! signed with a secret the processes share (`INTERNAL_AUTH_SECRET`), that names the tenant and,
//! for an agent call, the one contact it is about. The worker mints one per agent call; the agent
//! service passes it back on its MemoryService calls; MemoryService answers only for what the
//! token names. The format is deliberately small (no JWT library on the Python side needed):
//! `base64url(claims JSON) "." base64url(HMAC-SHA256(secret, first part))`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::{Request, Status};
use uuid::Uuid;

/// The metadata key a token travels in (`authorization: Bearer <token>`).
pub const METADATA_KEY: &str = "authorization";
/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 32;

/// What a token allows: one tenant (or none, for calls about no tenant such as listing agents),
/// and, when set, one contact of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant; `None` only for tenant-less calls.
    #[serde(rename = "t")]
    pub tenant_id: Option<Uuid>,
    /// The contact, when the token is for one conversation's agent call.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Uuid>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

impl Claims {
    /// Refuses a request about `tenant_id` (and `contact_id`, when the request names one) that
    /// this token does not cover. A contact-bound token does not allow tenant-wide requests.
    pub fn allow(&self, tenant_id: Uuid, contact_id: Option<Uuid>) -> Result<(), Status> {
        if self.tenant_id != Some(tenant_id) {
            return Err(Status::permission_denied(
                "the credentials are not for this tenant",
            ));
        }
        match (self.contact_id, contact_id) {
            (None, _) => Ok(()),
            (Some(bound), Some(asked)) if bound == asked => Ok(()),
            _ => Err(Status::permission_denied(
                "the credentials are for another contact",
            )),
        }
    }

    /// Refuses a request about the business knowledge of another tenant. The knowledge is no
    /// contact's, so a contact-bound token (an agent answering one conversation) reads its own
    /// tenant's, and only that.
    pub fn allow_business(&self, tenant_id: Uuid) -> Result<(), Status> {
        if self.tenant_id != Some(tenant_id) {
            return Err(Status::permission_denied(
                "the credentials are not for this tenant",
            ));
        }
        Ok(())
    }
}

/// The shared secret: mints and verifies tokens.
#[derive(Clone)]
pub struct InternalAuth {
    key: Vec<u8>,
}

impl std::fmt::Debug for InternalAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalAuth(..)")
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl InternalAuth {
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "INTERNAL_AUTH_SECRET must be at least {MIN_SECRET_LEN} characters"
            ));
        }
        Ok(InternalAuth {
            key: secret.as_bytes().to_vec(),
        })
    }

    /// From `INTERNAL_AUTH_SECRET`, with a clear error when it is missing or short.
    pub fn from_env() -> Result<Self, String> {
        let secret = std::env::var("INTERNAL_AUTH_SECRET")
            .map_err(|_| "INTERNAL_AUTH_SECRET is not set: the worker, the API and the agent service share it (at least 32 characters)".to_owned())?;
        Self::new(&secret)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// A token for `tenant_id` (and `contact_id`) valid for `ttl`.
    pub fn mint(&self, tenant_id: Option<Uuid>, contact_id: Option<Uuid>, ttl: Duration) -> String {
        let claims = Claims {
            tenant_id,
            contact_id,
            exp: now() + ttl.as_secs().max(1),
        };
        let payload = B64URL.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a genuine, unexpired token.
    pub fn verify(&self, token: &str) -> Result<Claims, Status> {
        let invalid = || Status::unauthenticated("invalid internal credentials");
        let (payload, signature) = token.split_once('.').ok_or_else(invalid)?;
        let signature = B64URL.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let claims: Claims =
            serde_json::from_slice(&B64URL.decode(payload).map_err(|_| invalid())?)
                .map_err(|_| invalid())?;
        if claims.exp < now() {
            return Err(Status::unauthenticated(
                "the internal credentials have expired",
            ));
        }
        Ok(claims)
    }

    /// Adds a token to an outgoing request.
    pub fn attach<T>(
        &self,
        request: &mut Request<T>,
        tenant_id: Option<Uuid>,
        contact_id: Option<Uuid>,
        ttl: Duration,
    ) {
        let value = format!("Bearer {}", self.mint(tenant_id, contact_id, ttl));
        if let Ok(value) = value.parse() {
            request.metadata_mut().insert(METADATA_KEY, value);
        }
    }

    /// A tonic interceptor: verifies the caller's token and leaves its [`Claims`] in the request's
    /// extensions for the handler, which checks them against what the request asks for.
    pub fn interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let auth = self.clone();
        move |mut request: Request<()>| {
            let token = request
                .metadata()
                .get(METADATA_KEY)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Status::unauthenticated("internal credentials are required"))?;
            let claims = auth.verify(token)?;
            request.extensions_mut().insert(claims);
            Ok(request)
        }
    }
}

/// The verified claims of a request that passed [`InternalAuth::interceptor`].
pub fn claims<T>(request: &Request<T>) -> Result<Claims, Status> {
    request
        .extensions()
        .get::<Claims>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("internal credentials are required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent answering one conversation reads its own business's knowledge, never another's.
    #[test]
    fn business_knowledge_is_readable_by_the_tenants_tokens_only() {
        let auth = InternalAuth::new("0123456789abcdef0123456789abcdef").unwrap();
        let (tenant, contact) = (Uuid::now_v7(), Uuid::now_v7());
        let agent = auth
            .verify(&auth.mint(Some(tenant), Some(contact), Duration::from_secs(60)))
            .unwrap();
        assert!(agent.allow_business(tenant).is_ok());
        assert!(agent.allow_business(Uuid::now_v7()).is_err());
        let tenantless = auth
            .verify(&auth.mint(None, None, Duration::from_secs(60)))
            .unwrap();
        assert!(tenantless.allow_business(tenant).is_err());
    }

    #[test]
    fn tokens_bind_tenant_contact_and_time() {
        let auth = InternalAuth::new("0123456789abcdef0123456789abcdef").unwrap();
        let (tenant, contact) = (Uuid::now_v7(), Uuid::now_v7());
        let token = auth.mint(Some(tenant), Some(contact), Duration::from_secs(60));
        let claims = auth.verify(&token).unwrap();
        assert!(claims.allow(tenant, Some(contact)).is_ok());
        assert!(
            claims.allow(tenant, Some(Uuid::now_v7())).is_err(),
            "another contact"
        );
        assert!(
            claims.allow(tenant, None).is_err(),
            "a contact-bound token is not tenant-wide"
        );
        assert!(
            claims.allow(Uuid::now_v7(), Some(contact)).is_err(),
            "another tenant"
        );
        let other = InternalAuth::new("another-secret-another-secret-000").unwrap();
        assert!(other.verify(&token).is_err(), "signed with another secret");
        let (payload, sig) = token.split_once('.').unwrap();
        let forged = B64URL.encode(
            serde_json::to_vec(&Claims {
                tenant_id: Some(Uuid::now_v7()),
                contact_id: None,
                exp: u64::MAX,
            })
            .unwrap(),
        );
        assert!(
            auth.verify(&format!("{forged}.{sig}")).is_err(),
            "claims changed under the signature"
        );
        assert!(auth.verify(payload).is_err());
        let expired = Claims {
            tenant_id: Some(tenant),
            contact_id: None,
            exp: now() - 10,
        };
        let payload = B64URL.encode(serde_json::to_vec(&expired).unwrap());
        let mut mac = auth.mac();
        mac.update(payload.as_bytes());
        let token = format!("{payload}.{}", B64URL.encode(mac.finalize().into_bytes()));
        assert!(auth.verify(&token).is_err(), "expired");
        assert!(InternalAuth::new("short").is_err());
    }
}
