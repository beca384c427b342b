//! The scheduler: a thread inside `serve` that runs one tick every interval, and the same tick
//! once for `dangan scheduler run-once`. A tick is four use cases in turn, each in transactions of
//! its own. Several instances may run it against one database: the store does each thing once.

use std::time::Duration;

use dangan_persistence::{
    cases::{online, reminders, reservations},
    PersistenceError,
};

use crate::state::AppState;

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Reminders and escalations sent (each to one or more people).
    pub reminders: usize,
    pub notifications: usize,
    pub lapsed_reservations: usize,
    pub expired_items: usize,
    /// Online loans closed at their due date.
    pub expired_online_loans: usize,
}

/// One tick at the state's clock's time.
pub fn run_once(state: &AppState) -> Result<SchedulerRun, PersistenceError> {
    let mut conn = state.pool.get()?;
    let now = state.clock.now();
    // First, so that no reminder tells of a loan whose reading has already ended.
    let expired_online_loans = online::expire_due(&mut conn, now)?;
    let (reminders, notifications) = reminders::send_due(&mut conn, now, &state.reminders)?;
    Ok(SchedulerRun {
        reminders,
        notifications,
        lapsed_reservations: reservations::lapse_due_reservations(&mut conn, now)?,
        expired_items: reservations::expire_uncollected(&mut conn, now)?,
        expired_online_loans,
    })
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
