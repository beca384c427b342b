//! E-mail of notices: when a refused mail is tried again, and when a notice is too old to mail.

use time::Duration;

/// A notice not mailed within this time is dropped: news a day late is a backlog.
pub const FRESH_FOR: Duration = Duration::days(1);

/// How long after failed attempt `attempt` (1 = the first) the next one follows: 1, 2, 4 and
/// 8 minutes; `None` after the fifth, when the mail is given up.
pub fn retry_delay(attempt: i32) -> Option<Duration> {
    (1..5)
        .contains(&attempt)
        .then(|| Duration::minutes(1 << (attempt - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_mail_is_tried_four_more_times_with_doubling_waits() {
        let waits: Vec<_> = (1..=5).map(retry_delay).collect();
        assert_eq!(
            waits,
            [
                Some(Duration::minutes(1)),
                Some(Duration::minutes(2)),
                Some(Duration::minutes(4)),
                Some(Duration::minutes(8)),
                None
            ]
        );
        assert_eq!(retry_delay(0), None);
    }
}
