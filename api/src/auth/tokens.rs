//! Access tokens: HS256 JWTs (jsonwebtoken) carrying the tenant, the user, the role and the
//! session, valid for [`ACCESS_TOKEN_TTL`].

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actor, Principal, Role};

/// How long an access token is valid.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    tid: Uuid,
    role: Role,
    /// The session: the refresh-token family of the login. The token works only while it does.
    sid: Uuid,
    iat: i64,
    exp: i64,
}

/// Issues and verifies access tokens with one HMAC key (`API_TOKEN_SECRET`; every API replica
/// must share it).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        // Only HS256 (no `alg: none`, no key confusion), expiry required and exact (no leeway).
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            // Refused only for an empty key, which the configuration never allows.
            encoding: Arc::new(EncodingKey::from_secret(secret).expect("a non-empty HMAC key")),
            decoding: Arc::new(DecodingKey::from_secret(secret).expect("a non-empty HMAC key")),
            validation: Arc::new(validation),
        }
    }

    pub fn issue(&self, tenant_id: Uuid, user_id: Uuid, role: Role, session_id: Uuid) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            tid: tenant_id,
            role,
            sid: session_id,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// The token's principal, if its signature, algorithm and expiry are right.
    pub(super) fn verify(&self, token: &str) -> Option<(Principal, Uuid)> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        Some((
            Principal {
                tenant_id: claims.tid,
                role: claims.role,
                actor: Actor::User(claims.sub),
            },
            claims.sid,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_carry_their_session_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let (tenant, user, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let token = keys.issue(tenant, user, Role::Agent, session);
        let (principal, sid) = keys.verify(&token).unwrap();
        assert_eq!(
            (principal.tenant_id, principal.actor, sid),
            (tenant, Actor::User(user), session)
        );
        let other = TokenKeys::new(b"another-key-another-key-another!");
        assert!(other.verify(&token).is_none());
        let (head, _) = token.rsplit_once('.').unwrap();
        assert!(keys.verify(&format!("{head}.AAAA")).is_none());
        // `alg: none` with the same claims is refused.
        let (_, rest) = token.split_once('.').unwrap();
        let (claims, _) = rest.split_once('.').unwrap();
        assert!(
            keys.verify(&format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}."))
                .is_none()
        );
        // An expired token is refused, however valid its signature.
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: user,
                tid: tenant,
                role: Role::Agent,
                sid: session,
                iat: 0,
                exp: chrono::Utc::now().timestamp() - 1,
            },
            &keys.encoding,
        )
        .unwrap();
        assert!(keys.verify(&expired).is_none());
    }
}
