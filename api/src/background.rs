//! The server's own threads: the scheduler, the outbox senders (webhooks, e-mail), the audit
//! sealer and the SQLite checkpoint.

use std::{thread, time::Duration};

use dangan_persistence::PersistenceError;

/// Runs `round` on a thread named `name` for as long as the process lives: at once again when a
/// round handled a full `batch` (more is waiting), otherwise after `every`. A failed round is
/// logged; what it did not send is still due at the next.
pub fn drain_forever<F>(
    name: &str,
    batch: usize,
    every: Duration,
    mut round: F,
) -> std::io::Result<()>
where
    F: FnMut() -> Result<usize, PersistenceError> + Send + 'static,
{
    let label = name.to_owned();
    thread::Builder::new()
        .name(name.into())
        .spawn(move || loop {
            match round() {
                Ok(n) if n >= batch => continue,
                Ok(_) => {}
                Err(e) => log::warn!("{label}: {e}"),
            }
            thread::sleep(every);
        })
        .map(drop)
}

/// Checkpoints the SQLite write-ahead log every `every` on a thread of its own (connections do
/// not checkpoint on commit, see `db::connect`). Nothing to do on PostgreSQL.
pub fn checkpoint_forever(state: crate::state::AppState, every: Duration) -> std::io::Result<()> {
    drain_forever("dangan-checkpoint", usize::MAX, every, move || {
        let mut conn = state.pool.get()?;
        dangan_persistence::db::checkpoint(&mut conn, dangan_persistence::db::RESTART_FRAMES)
            .map(|_| 0)
    })
}

/// Seals committed audit events into the chain every `every`: the instance that wins the seal
/// does it, the others find nothing to do or leave it to the winner.
pub fn seal_forever(state: crate::state::AppState, every: Duration) -> std::io::Result<()> {
    drain_forever("dangan-sealer", usize::MAX, every, move || {
        let mut conn = state.pool.get()?;
        dangan_persistence::store::audit::seal(
            &mut conn,
            dangan_persistence::store::audit::Sealing::GiveUp,
        )
    })
}

/// Adds the waiting report counter changes into the day counters every `every`.
pub fn fold_forever(state: crate::state::AppState, every: Duration) -> std::io::Result<()> {
    drain_forever("dangan-rollups", usize::MAX, every, move || {
        let mut conn = state.pool.get()?;
        dangan_persistence::store::rollups::fold(&mut conn)
    })
}
