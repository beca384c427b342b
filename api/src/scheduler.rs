//! The reminder scheduler: a thread inside `serve` that runs `reminders::run` every interval, and
//! the same run once for `dangan scheduler run-once`. Several instances may run it against one
//! database: the store sends each reminder once.

use std::time::Duration;

use dangan_persistence::{reminders, reminders::SchedulerRun, PersistenceError};

use crate::state::AppState;

/// One run at the state's clock's time.
pub fn run_once(state: &AppState) -> Result<SchedulerRun, PersistenceError> {
    let mut conn = state.pool.get()?;
    reminders::run(&mut conn, state.clock.now(), &state.reminders)
}

/// Runs the scheduler every `every` on a thread of its own, for as long as the process lives.
/// A failed run is logged and the next one tries again: reminders not sent are still due then.
pub fn spawn(state: AppState, every: Duration) -> std::io::Result<()> {
    crate::background::drain_forever("dangan-scheduler", usize::MAX, every, move || {
        let run = run_once(&state)?;
        if run != SchedulerRun::default() {
            log::info!("scheduler: {run:?}");
        }
        Ok(0)
    })
}
