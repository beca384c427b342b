//! Encryption at rest: each file has its own random data key (AES-256-GCM), kept only wrapped by
//! the master key (`DANGAN_FILES_KEY`); the file is sealed in 64 KiB chunks (the STREAM
//! construction: each chunk's nonce carries its number and whether it is the last, so chunks
//! cannot be reordered, dropped or cut off unnoticed), each bound to the file's id. The store
//! sees only the sealed bytes.

use aes_gcm::{
    aead::{
        stream::{DecryptorBE32, EncryptorBE32},
        Aead, KeyInit, OsRng, Payload,
    },
    AeadCore, Aes256Gcm, Key, Nonce,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"DGF1";
const NONCE_PREFIX: usize = 7;
/// The magic and the stream's nonce prefix, before the first chunk.
pub const HEADER: usize = MAGIC.len() + NONCE_PREFIX;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A chunk's or a wrapped key's authentication tag does not verify: the stored bytes were
    /// changed, cut short, or belong to another file.
    #[error("the stored file fails its integrity check")]
    Tampered,
    /// The data key does not unwrap with this master key.
    #[error("the file's key does not unwrap with this master key")]
    WrongKey,
    #[error("not a sealed Dangan file")]
    Format,
}

/// The key that wraps every file's data key.
pub struct MasterKey(Key<Aes256Gcm>);

impl MasterKey {
    /// 64 hex digits, or the path of a file holding them.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let from_file;
        let hex_text = if text.trim().len() == 64 {
            text.trim()
        } else {
            from_file = std::fs::read_to_string(text.trim())
                .map_err(|e| format!("neither 64 hex digits nor a readable key file: {e}"))?;
            from_file.trim()
        };
        let bytes: [u8; 32] = hex::decode(hex_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("a files key is 32 bytes as 64 hex digits (`openssl rand -hex 32`)")?;
        Ok(MasterKey(Key::<Aes256Gcm>::from(bytes)))
    }

    /// A new random key and its hex form.
    pub fn generate() -> (MasterKey, String) {
        let key = Aes256Gcm::generate_key(OsRng);
        let text = hex::encode(key);
        (MasterKey(key), text)
    }

    /// What the store keeps to recognise this key, revealing nothing of it.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"dangan files key check\0");
        hash.update(self.0);
        hex::encode(&hash.finalize()[..8])
    }

    /// `data_key` sealed for the file `file_id`: nonce, then ciphertext and tag.
    pub fn wrap(&self, data_key: &DataKey, file_id: Uuid) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let sealed = Aes256Gcm::new(&self.0)
            .encrypt(
                &nonce,
                Payload {
                    msg: &data_key.0,
                    aad: file_id.as_bytes(),
                },
            )
            .unwrap_or_default();
        [&nonce[..], &sealed].concat()
    }

    pub fn unwrap(&self, wrapped: &[u8], file_id: Uuid) -> Result<DataKey, CryptoError> {
        if wrapped.len() != 12 + 32 + TAG {
            return Err(CryptoError::Format);
        }
        let (nonce, sealed) = wrapped.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Format)?;
        let key = Aes256Gcm::new(&self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: file_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::WrongKey)?;
        let key: [u8; 32] = key.try_into().map_err(|_| CryptoError::Format)?;
        Ok(DataKey(Key::<Aes256Gcm>::from(key)))
    }
}

/// One file's own key.
pub struct DataKey(Key<Aes256Gcm>);

impl DataKey {
    pub fn random() -> DataKey {
        DataKey(Aes256Gcm::generate_key(OsRng))
    }
}

/// Seals a file as its bytes arrive.
pub struct Sealer {
    encryptor: EncryptorBE32<Aes256Gcm>,
    pending: Vec<u8>,
    file_id: Uuid,
}

impl Sealer {
    /// The sealer and the header the sealed file starts with.
    pub fn new(key: &DataKey, file_id: Uuid) -> (Sealer, Vec<u8>) {
        let prefix: [u8; NONCE_PREFIX] = rand::random();
        let encryptor = EncryptorBE32::from_aead(Aes256Gcm::new(&key.0), (&prefix).into());
        let header = [MAGIC.as_slice(), &prefix].concat();
        let sealer = Sealer {
            encryptor,
            pending: Vec::with_capacity(2 * CHUNK),
            file_id,
        };
        (sealer, header)
    }

    /// The sealed chunks `bytes` completes (the last chunk waits for `finish`).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.pending.extend_from_slice(bytes);
        let mut sealed = Vec::new();
        let mut start = 0;
        while self.pending.len() - start > CHUNK {
            let chunk = &self.pending[start..start + CHUNK];
            sealed.extend(
                self.encryptor
                    .encrypt_next(Payload {
                        msg: chunk,
                        aad: self.file_id.as_bytes(),
                    })
                    .map_err(|_| CryptoError::Format)?,
            );
            start += CHUNK;
        }
        self.pending.drain(..start);
        Ok(sealed)
    }

    /// The last chunk, which says it is the last.
    pub fn finish(self) -> Result<Vec<u8>, CryptoError> {
        let Sealer {
            encryptor,
            pending,
            file_id,
        } = self;
        encryptor
            .encrypt_last(Payload {
                msg: &pending,
                aad: file_id.as_bytes(),
            })
            .map_err(|_| CryptoError::Format)
    }
}

/// Opens a sealed file as its bytes arrive, refusing at the first chunk that does not verify.
pub struct Opener {
    cipher: Option<Aes256Gcm>,
    decryptor: Option<DecryptorBE32<Aes256Gcm>>,
    pending: Vec<u8>,
    file_id: Uuid,
}

impl Opener {
    pub fn new(key: &DataKey, file_id: Uuid) -> Opener {
        Opener {
            cipher: Some(Aes256Gcm::new(&key.0)),
            decryptor: None,
            pending: Vec::with_capacity(2 * (CHUNK + TAG)),
            file_id,
        }
    }

    /// Reads the header once enough bytes are pending; false until then.
    fn started(&mut self) -> Result<bool, CryptoError> {
        if self.decryptor.is_none() {
            if self.pending.len() < HEADER {
                return Ok(false);
            }
            if &self.pending[..MAGIC.len()] != MAGIC {
                return Err(CryptoError::Format);
            }
            let prefix: [u8; NONCE_PREFIX] = self.pending[MAGIC.len()..HEADER]
                .try_into()
                .map_err(|_| CryptoError::Format)?;
            let cipher = self.cipher.take().ok_or(CryptoError::Format)?;
            self.decryptor = Some(DecryptorBE32::from_aead(cipher, (&prefix).into()));
            self.pending.drain(..HEADER);
        }
        Ok(true)
    }

    /// The plaintext of the chunks `bytes` completes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.pending.extend_from_slice(bytes);
        let mut plain = Vec::new();
        if !self.started()? {
            return Ok(plain);
        }
        let Opener {
            decryptor: Some(decryptor),
            pending,
            file_id,
            ..
        } = self
        else {
            return Err(CryptoError::Format);
        };
        let mut start = 0;
        while pending.len() - start > CHUNK + TAG {
            let chunk = &pending[start..start + CHUNK + TAG];
            plain.extend(
                decryptor
                    .decrypt_next(Payload {
                        msg: chunk,
                        aad: file_id.as_bytes(),
                    })
                    .map_err(|_| CryptoError::Tampered)?,
            );
            start += CHUNK + TAG;
        }
        pending.drain(..start);
        Ok(plain)
    }

    /// The last chunk's plaintext: a file cut short fails here.
    pub fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        self.started()?;
        let Opener {
            decryptor,
            pending,
            file_id,
            ..
        } = self;
        decryptor
            .ok_or(CryptoError::Format)?
            .decrypt_last(Payload {
                msg: &pending,
                aad: file_id.as_bytes(),
            })
            .map_err(|_| CryptoError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &DataKey, id: Uuid, plain: &[u8], piece: usize) -> Vec<u8> {
        let (mut sealer, mut out) = Sealer::new(key, id);
        for part in plain.chunks(piece.max(1)) {
            out.extend(sealer.push(part).unwrap());
        }
        out.extend(sealer.finish().unwrap());
        out
    }

    fn open(key: &DataKey, id: Uuid, sealed: &[u8], piece: usize) -> Result<Vec<u8>, CryptoError> {
        let mut opener = Opener::new(key, id);
        let mut out = Vec::new();
        for part in sealed.chunks(piece.max(1)) {
            out.extend(opener.push(part)?);
        }
        out.extend(opener.finish()?);
        Ok(out)
    }

    #[test]
    fn files_of_every_size_come_back_whole_whatever_the_pieces() {
        let (key, id) = (DataKey::random(), Uuid::new_v4());
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            for piece in [1000, 7, CHUNK + 5] {
                let sealed = seal(&key, id, &plain, piece);
                assert_eq!(
                    sealed.len(),
                    HEADER + size + TAG * (size / CHUNK + 1).max(1)
                        - if size > 0 && size % CHUNK == 0 {
                            TAG
                        } else {
                            0
                        }
                );
                for open_piece in [333, CHUNK + TAG + 1] {
                    assert_eq!(
                        open(&key, id, &sealed, open_piece).unwrap(),
                        plain,
                        "{size}/{piece}/{open_piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_changed_cut_or_borrowed_file_is_refused() {
        let (key, id) = (DataKey::random(), Uuid::new_v4());
        let plain = vec![42u8; 2 * CHUNK + 10];
        let sealed = seal(&key, id, &plain, 4096);
        let mut flipped = sealed.clone();
        flipped[HEADER + CHUNK + 3] ^= 1;
        assert_eq!(open(&key, id, &flipped, 5000), Err(CryptoError::Tampered));
        let cut = &sealed[..HEADER + CHUNK + TAG];
        assert_eq!(
            open(&key, id, cut, 5000),
            Err(CryptoError::Tampered),
            "a whole chunk is no last chunk"
        );
        assert_eq!(
            open(&key, Uuid::new_v4(), &sealed, 5000),
            Err(CryptoError::Tampered),
            "bound to its file"
        );
        assert_eq!(
            open(&DataKey::random(), id, &sealed, 5000),
            Err(CryptoError::Tampered)
        );
        assert_eq!(
            open(&key, id, b"%PDF-1.7 not sealed", 5),
            Err(CryptoError::Format)
        );
    }

    #[test]
    fn a_data_key_unwraps_only_with_its_master_key_for_its_file() {
        let (master, text) = MasterKey::generate();
        assert_eq!(
            MasterKey::parse(&text).unwrap().fingerprint(),
            master.fingerprint()
        );
        let (other, _) = MasterKey::generate();
        assert_ne!(other.fingerprint(), master.fingerprint());
        let (data, id) = (DataKey::random(), Uuid::new_v4());
        let wrapped = master.wrap(&data, id);
        assert!(master.unwrap(&wrapped, id).is_ok());
        assert_eq!(
            other.unwrap(&wrapped, id).err(),
            Some(CryptoError::WrongKey)
        );
        assert_eq!(
            master.unwrap(&wrapped, Uuid::new_v4()).err(),
            Some(CryptoError::WrongKey)
        );
        assert!(MasterKey::parse("abcd").is_err());
    }
}
