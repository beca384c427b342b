//! The reminder scheduler: a thread inside `serve` that runs `reminders::run` every interval, and
//! the same run once for `dangan scheduler run-once`. Several instances may run it against one
//! database: the store sends each reminder once.

use std::{thread, time::Duration};

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
    thread::Builder::new()
        .name("dangan-scheduler".into())
        .spawn(move || loop {
            thread::sleep(every);
            match run_once(&state) {
                Ok(run) if run == SchedulerRun::default() => {}
                Ok(run) => log::info!("scheduler: {run:?}"),
                Err(e) => log::warn!("scheduler run failed: {e}"),
            }
        })
        .map(drop)
}
