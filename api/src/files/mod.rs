//! Electronic files of archives: stored encrypted behind one interface.

pub mod crypto;
pub mod mark;
pub mod store;

use dangan_persistence::{db, files as stored_files, PersistenceError};

pub use store::{Files, FilesError, Stored};

use crate::{config::Config, StartupError};
use crypto::MasterKey;

/// The file store, if `DANGAN_FILES_KEY` is set, after checking that its master key is the one
/// the stored keys are wrapped with (a wrong key refuses to start rather than fail at every
/// read). Without a key, archive files are off.
pub fn open(
    config: &Config,
    conn: &mut dangan_persistence::Conn,
) -> Result<Option<Files>, StartupError> {
    let Some(key) = &config.files_key else {
        return Ok(None);
    };
    let master = MasterKey::parse(key.expose())
        .map_err(|e| StartupError::Invalid(format!("DANGAN_FILES_KEY: {e}")))?;
    let files = Files::open(&config.files_url, master, config.files_max_bytes)
        .map_err(|e| StartupError::Invalid(format!("DANGAN_FILES_URL: {e}")))?;
    let known = stored_files::key_fingerprint(conn, &files.fingerprint())?;
    if known != files.fingerprint() {
        return Err(StartupError::Invalid(format!(
            "DANGAN_FILES_KEY is not the key the stored files are sealed with (its fingerprint is \
             {}, theirs {known}); set the right key, or change keys with `dangan files rotate-key`",
            files.fingerprint()
        )));
    }
    Ok(Some(files))
}

/// Re-wraps every file's data key from the current master key to `new_key` (64 hex digits or a
/// key file), in one transaction; no file is rewritten. Afterwards every instance must start
/// with `DANGAN_FILES_KEY` set to the new key. Returns how many keys were re-wrapped.
pub fn rotate_key(config: &Config, new_key: &str) -> Result<usize, StartupError> {
    let pool = db::connect(&config.database_url, 1)?;
    let mut conn = pool.get().map_err(PersistenceError::from)?;
    db::run_migrations(&mut conn)?;
    let old = open(config, &mut conn)?
        .ok_or_else(|| StartupError::Invalid("set DANGAN_FILES_KEY to the current key".into()))?;
    let new = MasterKey::parse(new_key)
        .map_err(|e| StartupError::Invalid(format!("the new key: {e}")))?;
    let count = stored_files::rewrap_keys(&mut conn, &new.fingerprint(), |id, wrapped| {
        let wrapped = hex::decode(wrapped).map_err(|e| e.to_string())?;
        let data_key = old
            .master()
            .unwrap(&wrapped, id)
            .map_err(|e| e.to_string())?;
        Ok(hex::encode(new.wrap(&data_key, id)))
    })?;
    Ok(count)
}
