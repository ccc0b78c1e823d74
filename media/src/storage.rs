//! Where the bytes live: `object_store`, so the local filesystem (the default) and any
//! S3-compatible store (by configuration) are one interface. Objects are content-addressed per
//! tenant (`{tenant}/{sha256}`): a retried fetch or a re-sent file writes the same object, and no
//! tenant can name another tenant's object.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Clone)]
pub struct MediaStore {
    inner: Arc<dyn ObjectStore>,
    /// Where, for logs and errors: `file:///…` or `s3://bucket/prefix` (never credentials).
    location: String,
    prefix: String,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStore")
            .field("location", &self.location)
            .finish()
    }
}

/// A stored object: its key and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub sha256: [u8; 32],
}

impl MediaStore {
    /// `file:///absolute/dir`, a plain directory path, or `s3://bucket[/prefix]`. S3 takes its
    /// endpoint, region and credentials from the standard `AWS_*` variables (`AWS_ENDPOINT`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`), so MinIO,
    /// Ceph, R2 or AWS itself work by configuration alone.
    pub fn from_url(url: &str) -> anyhow::Result<MediaStore> {
        Self::from_url_with(url, &[])
    }

    /// [`MediaStore::from_url`] with S3 settings given here rather than in the environment
    /// (`("aws_endpoint", …)`, `("aws_allow_http", "true")`, …: object_store's config keys).
    pub fn from_url_with(url: &str, s3_options: &[(&str, &str)]) -> anyhow::Result<MediaStore> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "MEDIA_STORE_URL names no bucket");
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in s3_options {
                let key = key
                    .parse()
                    .map_err(|e| anyhow::anyhow!("S3 option {key}: {e}"))?;
                builder = builder.with_config(key, *value);
            }
            let store = builder
                .build()
                .map_err(|e| anyhow::anyhow!("S3 media store: {e}"))?;
            return Ok(MediaStore {
                inner: Arc::new(store),
                location: format!("s3://{bucket}/{prefix}"),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        Self::local(std::path::Path::new(dir))
    }

    /// A directory on the local filesystem (created when missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<MediaStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("media directory {}: {e}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("media directory {}: {e}", dir.display()))?;
        Ok(MediaStore {
            inner: Arc::new(store),
            location: format!("file://{}", dir.display()),
            prefix: String::new(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Stores `bytes` for `tenant`. Writing the same bytes again is a no-op (same key).
    pub async fn put(&self, tenant_id: Uuid, bytes: Bytes) -> anyhow::Result<Stored> {
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let key = format!("{tenant_id}/{}", hex::encode(sha256));
        let path = self.path(&key);
        if self.inner.head(&path).await.is_err() {
            self.inner
                .put(&path, PutPayload::from_bytes(bytes))
                .await
                .map_err(|e| anyhow::anyhow!("storing a file in {}: {e}", self.location))?;
        }
        Ok(Stored { key, sha256 })
    }

    /// The bytes under `key`, checked against the digest recorded when they were stored.
    pub async fn get(&self, key: &str, sha256: &[u8]) -> anyhow::Result<Bytes> {
        let bytes = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|e| anyhow::anyhow!("reading a file from {}: {e}", self.location))?
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("reading a file from {}: {e}", self.location))?;
        anyhow::ensure!(
            Sha256::digest(&bytes).as_slice() == sha256,
            "a stored file no longer matches its checksum"
        );
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_content_addressed_per_tenant_and_checks_digests() {
        let dir = std::env::temp_dir().join(format!("ventros-media-{}", Uuid::new_v4()));
        let store = MediaStore::from_url(&format!("file://{}", dir.display())).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = store.put(a, Bytes::from_static(b"hello")).await.unwrap();
        let again = store.put(a, Bytes::from_static(b"hello")).await.unwrap();
        let other = store.put(b, Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(first, again);
        assert_ne!(first.key, other.key);
        assert_eq!(
            &store.get(&first.key, &first.sha256).await.unwrap()[..],
            b"hello"
        );
        std::fs::write(dir.join(&first.key), b"tampered").unwrap();
        assert!(store.get(&first.key, &first.sha256).await.is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
