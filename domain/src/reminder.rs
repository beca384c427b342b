//! When reminders and escalations are due. Each reminder is a rung of a ladder (a due-soon offset,
//! the n-th overdue notice, the escalation); a run of the scheduler considers only the highest rung
//! that has been reached, so a server that was down for a week sends one overdue notice, not a
//! backlog of them, and never a due-soon reminder for a loan that is already overdue.

use time::{Duration, OffsetDateTime};

named_enum! {
    /// What a reminder is about; with its rung it names the reminder (each is sent once).
    ReminderKind {
        /// The loan is due within one of the due-soon offsets.
        DueSoon => "loan.due_soon",
        /// The loan is overdue: on the first day, then every `overdue_every`.
        Overdue => "loan.overdue",
        /// Long overdue: the borrower's department head and the archivists are told.
        OverdueEscalation => "loan.overdue_escalated",
        /// An approval step has waited `approval_remind_after`.
        ApprovalReminder => "approval.reminder",
        /// An approval step has waited `approval_escalate_after`: the admins are told.
        ApprovalEscalation => "approval.escalated",
    }
}

/// Who a reminder goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The loan's borrower.
    Borrower,
    /// The borrower's department head (unless the borrower is the head) and every archivist.
    DepartmentHeadAndArchivists,
    /// The approvers of the waiting step.
    StepApprovers,
    /// Every active admin.
    Admins,
}

impl ReminderKind {
    pub fn audience(self) -> Audience {
        match self {
            ReminderKind::DueSoon | ReminderKind::Overdue => Audience::Borrower,
            ReminderKind::OverdueEscalation => Audience::DepartmentHeadAndArchivists,
            ReminderKind::ApprovalReminder => Audience::StepApprovers,
            ReminderKind::ApprovalEscalation => Audience::Admins,
        }
    }
}

/// One reminder: its kind and the rung it stands for. For `DueSoon` the rung is the offset in
/// hours before the due time; for `Overdue` the notice number (0 on the first day); otherwise 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminder {
    pub kind: ReminderKind,
    pub rung: i64,
}

/// The offsets of every reminder (DESIGN.md defaults; each is configurable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSchedule {
    /// How long before `due_at` a due-soon reminder goes out, one reminder per offset.
    pub due_soon: Vec<Duration>,
    pub overdue_every: Duration,
    pub escalate_overdue_after: Duration,
    pub approval_remind_after: Duration,
    pub approval_escalate_after: Duration,
}

impl Default for ReminderSchedule {
    fn default() -> Self {
        ReminderSchedule {
            due_soon: vec![Duration::days(3), Duration::days(1)],
            overdue_every: Duration::days(3),
            escalate_overdue_after: Duration::days(7),
            approval_remind_after: Duration::hours(24),
            approval_escalate_after: Duration::hours(72),
        }
    }
}

impl ReminderSchedule {
    /// The loans worth looking at: those due before `now` plus the longest due-soon offset.
    pub fn horizon(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self
            .due_soon
            .iter()
            .copied()
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The reminders an open loan due at `due_at` has reached at `now`: at most one per kind.
    pub fn for_loan(&self, due_at: OffsetDateTime, now: OffsetDateTime) -> Vec<Reminder> {
        if now < due_at {
            // The nearest offset already reached: the reminder for the time left now.
            return self
                .due_soon
                .iter()
                .filter(|offset| now >= due_at - **offset)
                .min()
                .map(|offset| Reminder {
                    kind: ReminderKind::DueSoon,
                    rung: offset.whole_hours(),
                })
                .into_iter()
                .collect();
        }
        let late = now - due_at;
        let every = self.overdue_every.max(Duration::HOUR);
        let mut due = vec![Reminder {
            kind: ReminderKind::Overdue,
            rung: late.whole_seconds() / every.whole_seconds(),
        }];
        if late >= self.escalate_overdue_after {
            due.push(Reminder {
                kind: ReminderKind::OverdueEscalation,
                rung: 0,
            });
        }
        due
    }

    /// The reminders an approval step pending since `pending_since` has reached at `now`.
    pub fn for_step(&self, pending_since: OffsetDateTime, now: OffsetDateTime) -> Vec<Reminder> {
        let waited = now - pending_since;
        [
            (ReminderKind::ApprovalReminder, self.approval_remind_after),
            (
                ReminderKind::ApprovalEscalation,
                self.approval_escalate_after,
            ),
        ]
        .into_iter()
        .filter(|(_, after)| waited >= *after)
        .map(|(kind, _)| Reminder { kind, rung: 0 })
        .collect()
    }

    /// Steps worth looking at: pending since before this time.
    pub fn step_horizon(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.approval_remind_after.min(self.approval_escalate_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DUE: OffsetDateTime = datetime!(2026-12-10 12:00 UTC);

    fn kinds(reminders: &[Reminder]) -> Vec<(ReminderKind, i64)> {
        reminders.iter().map(|r| (r.kind, r.rung)).collect()
    }

    #[test]
    fn due_soon_reminders_fire_at_their_offsets() {
        let schedule = ReminderSchedule::default();
        assert!(schedule
            .for_loan(DUE, DUE - Duration::days(3) - Duration::SECOND)
            .is_empty());
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE - Duration::days(3))),
            [(ReminderKind::DueSoon, 72)]
        );
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE - Duration::hours(30))),
            [(ReminderKind::DueSoon, 72)]
        );
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE - Duration::days(1))),
            [(ReminderKind::DueSoon, 24)]
        );
    }

    #[test]
    fn an_overdue_loan_gets_no_due_soon_reminder_and_one_notice_per_period() {
        let schedule = ReminderSchedule::default();
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE)),
            [(ReminderKind::Overdue, 0)]
        );
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE + Duration::days(2))),
            [(ReminderKind::Overdue, 0)]
        );
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE + Duration::days(3))),
            [(ReminderKind::Overdue, 1)]
        );
    }

    #[test]
    fn after_downtime_only_the_latest_rung_is_due() {
        let schedule = ReminderSchedule::default();
        // Down from before the first offset until 25 days overdue: one notice and the escalation.
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE + Duration::days(25))),
            [
                (ReminderKind::Overdue, 8),
                (ReminderKind::OverdueEscalation, 0)
            ]
        );
        assert_eq!(
            kinds(&schedule.for_loan(DUE, DUE - Duration::hours(2))),
            [(ReminderKind::DueSoon, 24)]
        );
    }

    #[test]
    fn escalation_comes_after_seven_days() {
        let schedule = ReminderSchedule::default();
        let at = |d| kinds(&schedule.for_loan(DUE, DUE + d));
        assert!(!at(Duration::days(7) - Duration::SECOND)
            .contains(&(ReminderKind::OverdueEscalation, 0)));
        assert!(at(Duration::days(7)).contains(&(ReminderKind::OverdueEscalation, 0)));
    }

    #[test]
    fn approval_steps_are_reminded_then_escalated() {
        let schedule = ReminderSchedule::default();
        let since = DUE;
        assert!(schedule
            .for_step(since, since + Duration::hours(23))
            .is_empty());
        assert_eq!(
            kinds(&schedule.for_step(since, since + Duration::hours(24))),
            [(ReminderKind::ApprovalReminder, 0)]
        );
        assert_eq!(
            kinds(&schedule.for_step(since, since + Duration::hours(72))),
            [
                (ReminderKind::ApprovalReminder, 0),
                (ReminderKind::ApprovalEscalation, 0)
            ]
        );
        assert_eq!(
            schedule.step_horizon(since + Duration::hours(30)),
            since + Duration::hours(6)
        );
    }

    #[test]
    fn escalations_go_past_the_person_who_is_late() {
        assert_eq!(ReminderKind::Overdue.audience(), Audience::Borrower);
        assert_eq!(
            ReminderKind::OverdueEscalation.audience(),
            Audience::DepartmentHeadAndArchivists
        );
        assert_eq!(
            ReminderKind::ApprovalReminder.audience(),
            Audience::StepApprovers
        );
        assert_eq!(
            ReminderKind::ApprovalEscalation.audience(),
            Audience::Admins
        );
    }

    #[test]
    fn the_horizon_reaches_the_longest_offset() {
        let schedule = ReminderSchedule::default();
        assert_eq!(schedule.horizon(DUE), DUE + Duration::days(3));
    }
}
