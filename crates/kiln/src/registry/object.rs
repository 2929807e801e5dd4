//! A registry in an S3-compatible object store (AWS S3, MinIO, SeaweedFS, R2...) through the
//! `object_store` crate. Credentials, region and endpoint come from the usual `AWS_*`
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true` for a local server).

use super::store::Store;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::runtime::Runtime;

/// A registry under `s3://BUCKET/PREFIX`.
pub struct Bucket {
    url: String,
    store: Arc<dyn ObjectStore>,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // A server drops its sources from inside its own runtime, where a blocking shutdown
        // is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.url)
    }
}

impl Bucket {
    /// Connects to `s3://BUCKET[/PREFIX]` (nothing is sent until the first request).
    pub fn open(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{url}' is not an s3:// address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "'{url}' names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX"
            ));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("cannot use '{url}': {e}; set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and, for a server other than AWS, AWS_ENDPOINT_URL"))?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the network runtime: {e}"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            store,
            runtime: Some(runtime),
        })
    }
}

impl Bucket {
    /// Runs `work` to completion, on a thread of its own when called from inside another
    /// runtime (a server's), where blocking on a second runtime is not allowed.
    fn run<T: Send>(&self, work: impl std::future::Future<Output = T> + Send) -> T {
        let runtime = self.runtime.as_ref().expect("present until dropped");
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| runtime.block_on(work))
                    .join()
                    .expect("object store requests do not panic")
            })
        } else {
            runtime.block_on(work)
        }
    }
}

/// An object store error as an I/O error of the matching kind.
fn io_error(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

impl Store for Bucket {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.run(async {
            match self.store.get(&Key::from(key)).await {
                Ok(found) => Ok(Some(found.bytes().await.map_err(io_error)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        // A PUT replaces the object whole: readers see the old one or the new.
        self.run(async {
            self.store
                .put(&Key::from(key), PutPayload::from(bytes.to_vec()))
                .await
                .map(|_| ())
                .map_err(io_error)
        })
    }

    fn put_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        self.run(async {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let payload = PutPayload::from(bytes.to_vec());
            match self.store.put_opts(&Key::from(key), payload, options).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        self.run(async {
            let prefix = prefix.trim_end_matches('/');
            let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
            let found: Vec<object_store::ObjectMeta> = self
                .store
                .list(prefix.as_ref())
                .try_collect()
                .await
                .map_err(io_error)?;
            let mut keys: Vec<String> = found.into_iter().map(|m| m.location.to_string()).collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        // S3 has no rename: a server-side copy, then the source is deleted. A reader may see
        // both for a moment, never neither.
        self.run(async {
            self.store
                .rename(&Key::from(from), &Key::from(to))
                .await
                .map_err(io_error)
        })
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }
}
