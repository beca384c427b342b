//! SQLite's write-ahead log is copied into the database by the server's checkpoint thread, not
//! by whichever request commits past a threshold, and its file does not keep the size of its
//! largest burst, nor grow without bound under a writer that never pauses; on PostgreSQL
//! checkpointing is the server's.

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
                let wal = db::checkpoint(&mut conn, db::RESTART_FRAMES).unwrap().unwrap();
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
                let wal = db::checkpoint(&mut conn, db::RESTART_FRAMES).unwrap().unwrap();
                assert_eq!(wal.copied, wal.frames);
                app.department(&admin, "CL");
                assert!(std::fs::metadata(&log).unwrap().len() <= 64 * 1024 * 1024, "the log was cut back");
            }
            db::AnyConnection::Postgresql(_) => assert_eq!(db::checkpoint(&mut conn, db::RESTART_FRAMES).unwrap(), None),
        }
    }

    fn a_writer_that_never_waits_for_the_checkpoint_still_lets_the_log_start_over(store) {
        let app = TestApp::start(store);
        let mut checkpointer = app.state.pool.get().unwrap();
        let mut writer = app.state.pool.get().unwrap();
        let db::AnyConnection::Sqlite(sqlite) = &mut *writer else {
            assert_eq!(db::checkpoint(&mut checkpointer, 1).unwrap(), None);
            return;
        };
        diesel::sql_query("CREATE TABLE stream (bytes BLOB)").execute(sqlite).unwrap();
        // Back-to-back imports: each transaction begins before the checkpoint has copied the one
        // before it (the checkpoint runs while a transaction is open), so no writer ever finds
        // every frame copied and the log is never started over; it holds everything written.
        let mut transaction = |checkpointer: &mut db::PooledConn| {
            diesel::sql_query("BEGIN IMMEDIATE").execute(sqlite).unwrap();
            diesel::sql_query("INSERT INTO stream VALUES (zeroblob(8000))").execute(sqlite).unwrap();
            let wal = db::checkpoint(checkpointer, i64::MAX).unwrap().unwrap();
            diesel::sql_query("COMMIT").execute(sqlite).unwrap();
            wal.frames
        };
        let mut frames = Vec::new();
        for _ in 0..200 {
            frames.push(transaction(&mut checkpointer));
        }
        assert!(frames.windows(2).all(|w| w[1] > w[0]) && frames[199] > 400, "the log only grows: {:?}", &frames[190..]);
        // Once it is long, the checkpoint that finds the writer between two transactions copies
        // the rest and empties the log file: the next transaction writes from its start.
        let log = std::path::PathBuf::from(format!("{}-wal", app.store.url.trim_start_matches("sqlite://")));
        assert!(std::fs::metadata(&log).unwrap().len() > 1_000_000);
        let restarted = db::checkpoint(&mut checkpointer, 400).unwrap().unwrap();
        assert_eq!((restarted.frames, restarted.copied), (0, 0));
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "the log file was emptied");
        diesel::sql_query("INSERT INTO stream VALUES (zeroblob(8000))").execute(sqlite).unwrap();
        let next = db::checkpoint(&mut checkpointer, i64::MAX).unwrap().unwrap().frames;
        assert!(next < 10, "the log started over: {next} frames after {}", frames[199]);
    }
}
