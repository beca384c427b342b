//! Electronic files of archives: stored encrypted behind one interface.

pub mod crypto;
pub mod mark;
pub mod marking;
pub mod return_form;
pub mod serve;
pub mod store;
pub mod weigh;

use std::{
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use dangan_persistence::{cases::files as stored_files, db, PersistenceError};

pub use store::{Files, FilesError, Stored};

use crate::{config::Config, StartupError};
use crypto::MasterKey;

/// The file store, after checking that its master key is the one the stored keys are wrapped
/// with (a wrong key refuses to start rather than fail at every read). The key is
/// `DANGAN_FILES_KEY`; without it, a local store's key is generated on first start and kept
/// beside the files (`./files` → `./files.key`), while an S3-compatible store, whose files
/// would then sit beside nothing, refuses to start.
pub fn open(config: &Config, conn: &mut dangan_persistence::Conn) -> Result<Files, StartupError> {
    let key = match &config.files_key {
        Some(key) => key.expose().to_owned(),
        None => {
            let path = key_beside(&config.files_url).ok_or_else(|| {
                StartupError::Invalid(format!(
                    "DANGAN_FILES_KEY must be set for {}: a generated key is kept only beside \
                     a local directory of files",
                    config.files_url
                ))
            })?;
            generated_key(&path)?
        }
    };
    let master = MasterKey::parse(&key)
        .map_err(|e| StartupError::Invalid(format!("DANGAN_FILES_KEY: {e}")))?;
    let files = Files::open(&config.files_url, master, config.files_max_bytes)
        .map_err(|e| StartupError::Invalid(format!("DANGAN_FILES_URL: {e}")))?;
    let known = stored_files::key_fingerprint(conn, &files.fingerprint())?;
    if known != files.fingerprint() && stored_files::nothing_sealed(conn)? {
        // Nothing is sealed with the key the store knew (say, one generated beside the files of
        // a `dangan migrate` run elsewhere): this one takes its place.
        log::warn!("no file is sealed yet: the files master key is now the one given here");
        stored_files::replace_key_fingerprint(conn, &files.fingerprint())?;
    } else if known != files.fingerprint() {
        return Err(StartupError::Invalid(format!(
            "DANGAN_FILES_KEY is not the key the stored files are sealed with (its fingerprint is \
             {}, theirs {known}); set the right key, or change keys with `dangan files rotate-key`",
            files.fingerprint()
        )));
    }
    Ok(files)
}

/// Where the key of a local store is kept when none is set: beside its directory, never in it.
fn key_beside(files_url: &str) -> Option<PathBuf> {
    let dir = Path::new(files_url.strip_prefix("file://")?.trim_end_matches('/'));
    let name = dir.file_name()?.to_str()?;
    Some(dir.with_file_name(format!("{name}.key")))
}

/// The key kept at `path` (64 hex digits), made on first start readable by its owner only.
/// Written whole under another name and linked into place, so that of two instances starting
/// at once, one makes it and both read it.
fn generated_key(path: &Path) -> Result<String, StartupError> {
    let fail = |e: std::io::Error| StartupError::Invalid(format!("{}: {e}", path.display()));
    if path.exists() {
        return std::fs::read_to_string(path).map_err(fail);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let draft = path.with_extension(format!("key.{}", std::process::id()));
    let (_, text) = MasterKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&draft)
        .map_err(fail)?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    let linked = std::fs::hard_link(&draft, path);
    std::fs::remove_file(&draft).map_err(fail)?;
    match linked {
        Ok(()) => log::warn!(
            "generated the files master key at {}: keep a copy apart from the files and the \
             database (without it nothing stored can be read), and set DANGAN_FILES_KEY in \
             production",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    std::fs::read_to_string(path).map_err(fail)
}

/// Re-wraps every file's data key from the current master key to `new_key` (64 hex digits or a
/// key file), in one transaction; no file is rewritten. Afterwards every instance must start
/// with `DANGAN_FILES_KEY` set to the new key. Returns how many keys were re-wrapped.
pub fn rotate_key(config: &Config, new_key: &str) -> Result<usize, StartupError> {
    let pool = db::connect(&config.database_url, 1)?;
    let mut conn = pool.get().map_err(PersistenceError::from)?;
    db::run_migrations(&mut conn)?;
    let old = open(config, &mut conn)?;
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
