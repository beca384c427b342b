//! SQLite's write-ahead log is copied into the database by the server's checkpoint thread, not
//! by whichever request commits past a threshold, and its file does not keep the size of its
//! largest burst; on PostgreSQL checkpointing is the server's.

use dangan_persistence::db;
use dangan_tests::{both_stores, TestApp};
use diesel::{sql_types::BigInt, QueryableByName, RunQueryDsl};

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = BigInt)]
    wal_autocheckpoint: i64,
}

both_stores! {
    fn commits_leave_the_log_to_the_checkpoint_thread(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.department(&admin, "CK");
        let mut conn = app.state.pool.get().unwrap();
        match &mut *conn {
            db::AnyConnection::Sqlite(sqlite) => {
                let pragma: Pragma = diesel::sql_query("PRAGMA wal_autocheckpoint").get_result(sqlite).unwrap();
                assert_eq!(pragma.wal_autocheckpoint, 0, "no checkpoint inside a request's commit");
                let wal = db::checkpoint(&mut conn).unwrap().unwrap();
                assert!(wal.frames > 0, "the writes were still in the log: {wal:?}");
                assert_eq!(wal.copied, wal.frames, "and are in the database now");

                // A burst of 80 MB (a big import) grows the log file; once it is checkpointed,
                // the next writer cuts it back to 64 MiB instead of keeping 80 MB on disk.
                let log = std::path::PathBuf::from(format!("{}-wal", app.store.url.trim_start_matches("sqlite://")));
                let db::AnyConnection::Sqlite(sqlite) = &mut *conn else { unreachable!() };
                diesel::sql_query("CREATE TABLE burst (bytes BLOB)").execute(sqlite).unwrap();
                diesel::sql_query(
                    "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80) \
                     INSERT INTO burst SELECT zeroblob(1000000) FROM n",
                )
                .execute(sqlite)
                .unwrap();
                assert!(std::fs::metadata(&log).unwrap().len() > 80_000_000);
                let wal = db::checkpoint(&mut conn).unwrap().unwrap();
                assert_eq!(wal.copied, wal.frames);
                app.department(&admin, "CL");
                assert!(std::fs::metadata(&log).unwrap().len() <= 64 * 1024 * 1024, "the log was cut back");
            }
            db::AnyConnection::Postgresql(_) => assert_eq!(db::checkpoint(&mut conn).unwrap(), None),
        }
    }
}
