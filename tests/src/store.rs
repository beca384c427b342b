//! A fresh, empty database per test, removed when the test ends.

use diesel::{Connection, PgConnection, RunQueryDsl};

pub struct TestStore {
    pub url: String,
    /// A directory of its own for archive files (`DANGAN_FILES_URL=file://…`).
    pub files_dir: std::path::PathBuf,
    cleanup: Cleanup,
}

/// `files` in a directory of its own, where a key generated beside the files lands too.
fn files_dir() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("dangan-files-{}", uuid::Uuid::new_v4().simple()));
    let dir = root.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

enum Cleanup {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestStore {
    pub fn sqlite() -> TestStore {
        let dir =
            std::env::temp_dir().join(format!("dangan-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TestStore {
            url: format!("sqlite://{}", dir.join("dangan.db").display()),
            files_dir: files_dir(),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new database on the server that `DANGAN_TEST_POSTGRES_URL` names, if it is set.
    pub fn postgres() -> Option<TestStore> {
        let admin_url = std::env::var("DANGAN_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let name = format!("dangan_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            PgConnection::establish(&admin_url).expect("connect to DANGAN_TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(TestStore {
            url: format!("{base}/{name}"),
            files_dir: files_dir(),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }
}

impl TestStore {
    /// Drops a PostgreSQL database now, cutting every connection to it.
    pub fn drop_database(&self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let mut conn = PgConnection::establish(admin_url).unwrap();
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(root) = self.files_dir.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
        match &self.cleanup {
            Cleanup::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut conn) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn);
                }
            }
        }
    }
}
