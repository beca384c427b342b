//! Where sealed files live, behind `object_store` (Apache Arrow's object store crate): a local
//! directory by default, any S3-compatible store by URL for several instances. Chosen over
//! Apache OpenDAL for its smaller surface (one trait, the stores Dangan needs, streaming
//! multipart uploads with back-pressure) and because the clouds organisations here use (Alibaba
//! OSS, Tencent COS, Huawei OBS, MinIO, Ceph) all speak the S3 protocol it already has; OpenDAL's
//! native clients for them would add dependencies for no feature Dangan uses.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    chunked::ChunkedStore,
    local::LocalFileSystem,
    path::Path,
    ObjectStore, ObjectStoreExt, WriteMultipart,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::crypto::{CryptoError, DataKey, MasterKey, Opener, Sealer};
use dangan_domain::file::FileKind;

/// Bytes a multipart part carries to the store (S3's least is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Bytes read from a local file at once.
const READ_BYTES: usize = 1024 * 1024;
/// Parts on their way at once: with `PART_BYTES`, what an upload holds in memory.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("the store: {0}")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("not a kind of file an archive keeps (PDF, image, office document)")]
    Refused,
    #[error("the file is empty")]
    Empty,
    #[error("{0}")]
    Source(String),
}

/// The store of sealed files and the master key their data keys are wrapped with.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    master: MasterKey,
    /// The largest file accepted (`DANGAN_FILES_MAX_BYTES`).
    pub max_bytes: u64,
    /// Turns at marking a copy, which holds the file and its parsed objects in memory at once.
    pub marking: super::marking::Marking,
}

/// A sealed file as it was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub size_bytes: u64,
    /// Hex SHA-256 of the plaintext.
    pub sha256: String,
    pub kind: FileKind,
    pub wrapped_key: Vec<u8>,
}

fn path_of(file_id: Uuid) -> Path {
    Path::from(format!("files/{file_id}"))
}

/// An `http://` endpoint works only with `allow_http=true`; without it every upload would fail
/// with 503, so the start fails instead, saying what to set.
fn refuse_plain_http(builder: &AmazonS3Builder) -> Result<(), String> {
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allowed = builder
        .get_config_value(&AmazonS3ConfigKey::Client(
            object_store::ClientConfigKey::AllowHttp,
        ))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match endpoint {
        Some(endpoint) if endpoint.starts_with("http://") && !allowed => Err(format!(
            "DANGAN_FILES_URL: the S3 endpoint {endpoint} is plain http://, which needs \
             allow_http=true among the URL's options (…&allow_http=true), or an https:// endpoint"
        )),
        _ => Ok(()),
    }
}

impl Files {
    /// The store `url` names: `file://<directory>` or `s3://<bucket>?<option>=<value>&…`
    /// (options as `object_store` names them: `endpoint`, `region`, `allow_http`, …; credentials
    /// best from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).
    pub fn open(url: &str, master: MasterKey, max_bytes: u64) -> Result<Files, String> {
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| e.to_string())?;
            // A local file is read in 8 KiB pieces, each on a blocking thread, unless asked
            // for larger ones: 1 MiB pieces took a 200 MB download from 112 to 372 MB/s here.
            Arc::new(ChunkedStore::new(Arc::new(local), READ_BYTES))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let key: AmazonS3ConfigKey = key
                    .parse()
                    .map_err(|e| format!("DANGAN_FILES_URL option {key}: {e}"))?;
                builder = builder.with_config(key, value);
            }
            refuse_plain_http(&builder)?;
            Arc::new(builder.build().map_err(|e| e.to_string())?)
        } else {
            return Err(format!(
                "DANGAN_FILES_URL must start with file:// or s3://, not {url}"
            ));
        };
        Ok(Files {
            store,
            master,
            max_bytes,
            marking: super::marking::Marking::default(),
        })
    }

    pub fn fingerprint(&self) -> String {
        self.master.fingerprint()
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Seals what `source` yields into the store as `file_id`, streaming: never more than a few
    /// parts in memory. Refused (and nothing kept) when it is not a kind an archive keeps, is
    /// empty, or grows past `max_bytes`.
    pub async fn put<S, E>(&self, file_id: Uuid, mut source: S) -> Result<Stored, FilesError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = path_of(file_id);
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let written = async {
            let data_key = DataKey::random();
            let (mut sealer, header) = Sealer::new(&data_key, file_id);
            writer.write(&header);
            let (mut hash, mut size, mut head) = (Sha256::new(), 0u64, Vec::new());
            while let Some(piece) = source.next().await {
                let piece = piece.map_err(|e| FilesError::Source(e.to_string()))?;
                size += piece.len() as u64;
                if size > self.max_bytes {
                    return Err(FilesError::TooLarge(self.max_bytes));
                }
                if head.len() < FileKind::SNIFF_BYTES {
                    let wanted = FileKind::SNIFF_BYTES - head.len();
                    head.extend_from_slice(&piece[..wanted.min(piece.len())]);
                }
                hash.update(&piece);
                let sealed = sealer.push(&piece)?;
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&sealed);
            }
            if size == 0 {
                return Err(FilesError::Empty);
            }
            let kind = FileKind::sniff(&head).ok_or(FilesError::Refused)?;
            writer.write(&sealer.finish()?);
            Ok(Stored {
                size_bytes: size,
                sha256: hex::encode(hash.finalize()),
                kind,
                wrapped_key: self.master.wrap(&data_key, file_id),
            })
        }
        .await;
        match written {
            Ok(stored) => {
                writer.finish().await?;
                Ok(stored)
            }
            Err(refused) => {
                if let Err(e) = writer.abort().await {
                    log::warn!("abandoning the upload of {file_id}: {e}");
                }
                Err(refused)
            }
        }
    }

    /// Reads `file_id` through once and checks every chunk and the whole file's digest, before
    /// anyone is sent a byte of it.
    pub async fn verify(
        &self,
        file_id: Uuid,
        wrapped_key: &[u8],
        sha256: &str,
    ) -> Result<(), FilesError> {
        let key = self.master.unwrap(wrapped_key, file_id)?;
        let mut opener = Opener::new(&key, file_id);
        let mut hash = Sha256::new();
        let mut stored = self.store.get(&path_of(file_id)).await?.into_stream();
        while let Some(piece) = stored.next().await {
            let piece = piece?;
            hash.update(opener.push(&piece)?);
        }
        hash.update(opener.finish()?);
        if hex::encode(hash.finalize()) != sha256 {
            return Err(CryptoError::Tampered.into());
        }
        Ok(())
    }

    /// The whole plaintext of `file_id`, every chunk and the whole file's digest checked, if it
    /// is no larger than `limit` bytes (`TooLarge` otherwise, before anything is read).
    pub async fn read_whole(
        &self,
        file_id: Uuid,
        wrapped_key: &[u8],
        sha256: &str,
        size_bytes: u64,
        limit: usize,
    ) -> Result<Vec<u8>, FilesError> {
        let size = usize::try_from(size_bytes)
            .ok()
            .filter(|size| *size <= limit)
            .ok_or(FilesError::TooLarge(size_bytes))?;
        let mut plain = Vec::with_capacity(size);
        let mut pieces = std::pin::pin!(self.read(file_id, wrapped_key).await?);
        while let Some(piece) = pieces.next().await {
            plain.extend_from_slice(&piece?);
        }
        if hex::encode(Sha256::digest(&plain)) != sha256 {
            return Err(CryptoError::Tampered.into());
        }
        Ok(plain)
    }

    /// The plaintext of `file_id` as it is read and opened from the store.
    pub async fn read(
        &self,
        file_id: Uuid,
        wrapped_key: &[u8],
    ) -> Result<impl Stream<Item = Result<Bytes, FilesError>> + 'static, FilesError> {
        let key = self.master.unwrap(wrapped_key, file_id)?;
        let stored = self.store.get(&path_of(file_id)).await?.into_stream();
        let opener = Some(Opener::new(&key, file_id));
        Ok(futures_util::stream::try_unfold(
            (stored, opener),
            |(mut stored, mut opener)| async move {
                let Some(open) = opener.as_mut() else {
                    return Ok(None);
                };
                match stored.next().await {
                    Some(piece) => {
                        let piece = piece?;
                        let plain = open.push(&piece)?;
                        Ok(Some((Bytes::from(plain), (stored, opener))))
                    }
                    None => {
                        let last = opener.take().map(Opener::finish).transpose()?;
                        Ok(Some((
                            Bytes::from(last.unwrap_or_default()),
                            (stored, None),
                        )))
                    }
                }
            },
        ))
    }

    /// Removes `file_id`'s sealed bytes (a retired file; its wrapped key is forgotten too).
    pub async fn delete(&self, file_id: Uuid) -> Result<(), FilesError> {
        match self.store.delete(&path_of(file_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_endpoint_needs_allow_http_and_says_so() {
        let key = || MasterKey::parse(&"ab".repeat(32)).unwrap();
        let refused = Files::open(
            "s3://archives?endpoint=http://127.0.0.1:9000&region=cn-north-1",
            key(),
            1 << 20,
        )
        .err()
        .unwrap();
        assert!(refused.contains("allow_http=true"), "{refused}");
        assert!(Files::open(
            "s3://archives?endpoint=http://127.0.0.1:9000&region=cn-north-1&allow_http=true",
            key(),
            1 << 20,
        )
        .is_ok());
    }
}
