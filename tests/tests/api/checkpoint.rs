//! SQLite's write-ahead log is copied into the database by the server's checkpoint thread, not
//! by whichever request commits past a threshold; on PostgreSQL checkpointing is the server's.

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
            }
            db::AnyConnection::Postgresql(_) => assert_eq!(db::checkpoint(&mut conn).unwrap(), None),
        }
    }
}
