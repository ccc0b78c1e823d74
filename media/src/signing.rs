//! Short-lived links to one file of one tenant. `<img>`, `<audio>` and Meta's servers cannot send
//! our bearer token, so the authenticated API hands out a URL that carries its own proof: an
//! HMAC over the tenant, the file and the expiry. Nothing else is accepted by the file route, and
//! the file is still read inside the tenant's row-level security.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// How long a link the web app gets stays valid.
pub const VIEW_TTL_SECS: i64 = 15 * 60;
/// How long a link handed to a provider to fetch a file we send stays valid.
pub const PROVIDER_TTL_SECS: i64 = 60 * 60;

#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

/// The query of a signed link.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SignedQuery {
    pub tenant: Uuid,
    pub expires: i64,
    pub sig: String,
}

impl UrlSigner {
    pub fn new(key: [u8; 32]) -> Self {
        UrlSigner { key }
    }

    /// The deployment's key, made on first use (the first of several racing processes wins).
    pub async fn load(pool: &PgPool) -> Result<UrlSigner, sqlx::Error> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query!(
            "INSERT INTO media_url_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &fresh[..]
        )
        .execute(pool)
        .await?;
        let key = sqlx::query_scalar!("SELECT key FROM media_url_keys WHERE id = 1")
            .fetch_one(pool)
            .await?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| sqlx::Error::Protocol("media URL key is not 32 bytes".into()))?;
        Ok(UrlSigner { key })
    }

    fn mac(&self, tenant_id: Uuid, media_id: Uuid, expires: i64) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("ventros-media:{tenant_id}:{media_id}:{expires}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/media/{id}?tenant=…&expires=…&sig=…`, valid for `ttl_secs` from `now`.
    pub fn url(
        &self,
        base: &str,
        tenant_id: Uuid,
        media_id: Uuid,
        now: i64,
        ttl_secs: i64,
    ) -> String {
        let expires = now + ttl_secs;
        let sig = hex::encode(self.mac(tenant_id, media_id, expires));
        format!(
            "{}/media/{media_id}?tenant={tenant_id}&expires={expires}&sig={sig}",
            base.trim_end_matches('/')
        )
    }

    /// Whether a link to `media_id` is genuine and not expired at `now`.
    pub fn verify(&self, media_id: Uuid, query: &SignedQuery, now: i64) -> bool {
        if query.expires < now {
            return false;
        }
        let Ok(given) = hex::decode(&query.sig) else {
            return false;
        };
        let expected = self.mac(query.tenant, media_id, query.expires);
        given.len() == expected.len() && bool::from(given.ct_eq(&expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(url: &str) -> SignedQuery {
        let parsed = url::Url::parse(url).unwrap();
        let get = |k: &str| {
            parsed
                .query_pairs()
                .find(|(n, _)| n == k)
                .unwrap()
                .1
                .into_owned()
        };
        SignedQuery {
            tenant: get("tenant").parse().unwrap(),
            expires: get("expires").parse().unwrap(),
            sig: get("sig"),
        }
    }

    #[test]
    fn a_link_opens_its_own_file_of_its_own_tenant_until_it_expires() {
        let signer = UrlSigner::new([7; 32]);
        let (tenant, file, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let url = signer.url("http://x/", tenant, file, 1_000, 60);
        assert!(url.starts_with(&format!("http://x/media/{file}?")));
        let q = query_of(&url);
        assert!(signer.verify(file, &q, 1_059));
        assert!(!signer.verify(file, &q, 1_061), "expired");
        assert!(!signer.verify(other, &q, 1_000), "another file");
        let other_tenant = SignedQuery {
            tenant: Uuid::new_v4(),
            ..q.clone()
        };
        assert!(!signer.verify(file, &other_tenant, 1_000), "another tenant");
        let later = SignedQuery {
            expires: q.expires + 3600,
            ..q.clone()
        };
        assert!(!signer.verify(file, &later, 1_000), "extended expiry");
        assert!(
            !UrlSigner::new([8; 32]).verify(file, &q, 1_000),
            "another key"
        );
    }
}
