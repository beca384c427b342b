//! Brute-force protection for logins: failures counted per account name (known or not, so the
//! answer never tells which names exist) with a growing lock-out, plus a per-address ceiling on
//! failures. Only failures count, so a whole office behind one NAT address logging in correctly
//! is never throttled.

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that lock the account name.
    pub max_failures: i32,
    pub window: Duration,
    /// The first lock-out; each further one doubles, up to `max_lockout`, so nobody — an admin
    /// included — is ever locked out for longer than that.
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Failures from one address within `window` before that address gets 429.
    pub max_address_failures: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::minutes(15),
            base_lockout: Duration::minutes(1),
            max_lockout: Duration::minutes(30),
            max_address_failures: 100,
        }
    }
}

/// The failure record of one account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountThrottle {
    pub failures: i32,
    pub window_started_at: Option<OffsetDateTime>,
    pub locked_until: Option<OffsetDateTime>,
    pub lockouts: i32,
}

/// A lock-out that a failure has just started; it is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub until: OffsetDateTime,
    pub lockouts: i32,
}

impl AccountThrottle {
    /// Time left on a lock-out in force at `now`.
    pub fn locked_for(&self, now: OffsetDateTime) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts one more failure at `now`; returns the new record and the lock-out it starts, if any.
    pub fn record_failure(
        self,
        now: OffsetDateTime,
        policy: &ThrottlePolicy,
    ) -> (AccountThrottle, Option<Lockout>) {
        let in_window = self
            .window_started_at
            .is_some_and(|start| now - start < policy.window);
        let (failures, window_started_at) = if in_window {
            (self.failures + 1, self.window_started_at)
        } else {
            (1, Some(now))
        };
        if failures < policy.max_failures {
            let next = AccountThrottle {
                failures,
                window_started_at,
                ..self
            };
            return (next, None);
        }
        let lockouts = self.lockouts + 1;
        let doubling = 2_i32.saturating_pow(u32::try_from(lockouts - 1).unwrap_or(0).min(20));
        let until = now + (policy.base_lockout * doubling).min(policy.max_lockout);
        let next = AccountThrottle {
            failures: 0,
            window_started_at: None,
            locked_until: Some(until),
            lockouts,
        };
        (next, Some(Lockout { until, lockouts }))
    }
}

/// The wait an address must observe, given its failures within the window and the oldest of them.
pub fn address_retry_after(
    failures_in_window: i64,
    oldest_failure_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    policy: &ThrottlePolicy,
) -> Option<Duration> {
    if failures_in_window < policy.max_address_failures {
        return None;
    }
    let oldest = oldest_failure_at.unwrap_or(now);
    Some((oldest + policy.window - now).max(Duration::SECOND))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-24 09:00 UTC);

    fn fail_times(
        mut t: AccountThrottle,
        n: i32,
        now: OffsetDateTime,
    ) -> (AccountThrottle, Option<Lockout>) {
        let policy = ThrottlePolicy::default();
        let mut last = None;
        for _ in 0..n {
            (t, last) = t.record_failure(now, &policy);
        }
        (t, last)
    }

    #[test]
    fn locks_after_max_failures_in_window() {
        let (t, lockout) = fail_times(AccountThrottle::default(), 4, NOW);
        assert_eq!(lockout, None);
        assert_eq!(t.locked_for(NOW), None);
        let (t, lockout) = fail_times(t, 1, NOW);
        assert_eq!(lockout.map(|l| l.until), Some(NOW + Duration::minutes(1)));
        assert_eq!(t.locked_for(NOW), Some(Duration::minutes(1)));
        assert_eq!(t.locked_for(NOW + Duration::minutes(1)), None);
    }

    #[test]
    fn failures_outside_the_window_start_a_new_count() {
        let (t, _) = fail_times(AccountThrottle::default(), 4, NOW);
        let (t, lockout) = fail_times(t, 1, NOW + Duration::minutes(16));
        assert_eq!(lockout, None);
        assert_eq!(t.failures, 1);
    }

    #[test]
    fn lockouts_grow_and_are_capped() {
        let policy = ThrottlePolicy::default();
        let mut t = AccountThrottle::default();
        let mut lengths = Vec::new();
        for _ in 0..10 {
            let (next, lockout) = fail_times(t, policy.max_failures, NOW);
            lengths.push(lockout.map(|l| l.until - NOW));
            t = next;
        }
        assert_eq!(lengths[0], Some(Duration::minutes(1)));
        assert_eq!(lengths[1], Some(Duration::minutes(2)));
        assert_eq!(lengths[2], Some(Duration::minutes(4)));
        assert_eq!(lengths[9], Some(policy.max_lockout));
    }

    #[test]
    fn address_limit_counts_only_past_the_ceiling() {
        let policy = ThrottlePolicy::default();
        let oldest = Some(NOW - Duration::minutes(5));
        assert_eq!(address_retry_after(99, oldest, NOW, &policy), None);
        assert_eq!(
            address_retry_after(100, oldest, NOW, &policy),
            Some(Duration::minutes(10))
        );
    }
}
