//! Turns at marking copies, fair between borrowers: a marking holds a file and its parsed
//! structure in memory, so only `AT_ONCE` run at a time; each loan has at most one of them
//! (its other reads wait behind it, not in front of other borrowers); at most `QUEUE` wait, and
//! anyone past that is told to come back (503 with `Retry-After`) instead of waiting unseen; and
//! a copy just made is handed again to its loan for `KEPT` instead of being made anew (a viewer
//! that opens a file twice, or four tabs at once).

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use bytes::Bytes;
use time::{Duration, OffsetDateTime};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Markings at once: with the 256 MiB limit on a marked PDF and its budget's ceiling, the
/// server's markings hold at most about 2.2 GiB.
pub const AT_ONCE: usize = 2;
/// Markings that may wait for a turn; past that a reader is asked to retry.
pub const QUEUE: usize = 16;
/// How long a copy just made is handed again to its loan.
pub const KEPT: Duration = Duration::seconds(60);
/// Copies kept for reuse: the largest copy kept, and how many at most.
const KEPT_BYTES: usize = 16 << 20;
const KEPT_COPIES: usize = 64;
/// How long a reader told the queue is full should wait.
pub const RETRY_AFTER_SECS: i64 = 5;

/// A copy made for a loan, as it was handed out.
#[derive(Debug, Clone)]
pub struct MarkedCopy {
    pub copy_id: Uuid,
    pub sha256: String,
    pub bytes: Bytes,
}

struct Kept {
    loan_id: Uuid,
    file_id: Uuid,
    made_at: OffsetDateTime,
    copy: MarkedCopy,
}

/// The queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A turn at marking: the loan's and one of the server's, both given back when dropped.
pub struct Turn {
    _loan: OwnedMutexGuard<()>,
    _permit: OwnedSemaphorePermit,
}

pub struct Marking {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    loans: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    kept: Mutex<VecDeque<Kept>>,
}

impl Default for Marking {
    fn default() -> Self {
        Marking::new(AT_ONCE, QUEUE)
    }
}

impl Marking {
    pub fn new(at_once: usize, queue: usize) -> Marking {
        Marking {
            permits: Arc::new(Semaphore::new(at_once)),
            waiting: AtomicUsize::new(0),
            queue,
            loans: Mutex::new(HashMap::new()),
            kept: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits for a turn to mark for `owner` (a loan; an upload's own file), after that owner's
    /// earlier markings; `Busy` at once when `QUEUE` wait already.
    pub async fn turn(&self, owner: Uuid) -> Result<Turn, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let line = {
            let mut loans = self.loans.lock().unwrap_or_else(PoisonError::into_inner);
            // Lines nobody waits in any more are dropped as new ones come.
            loans.retain(|_, line| Arc::strong_count(line) > 1);
            loans.entry(owner).or_default().clone()
        };
        let loan = line.lock_owned().await;
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        // The semaphore is never closed.
        let permit = permit.map_err(|_| Busy)?;
        Ok(Turn {
            _loan: loan,
            _permit: permit,
        })
    }

    /// The copy of `file_id` made for `loan_id` within `KEPT` of `now`, if there is one.
    pub fn kept(&self, loan_id: Uuid, file_id: Uuid, now: OffsetDateTime) -> Option<MarkedCopy> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .rev()
            .find(|k| k.loan_id == loan_id && k.file_id == file_id)
            .filter(|k| now - k.made_at < KEPT && now >= k.made_at)
            .map(|k| k.copy.clone())
    }

    /// Keeps a copy just made for reuse by its loan (small copies only).
    pub fn keep(&self, loan_id: Uuid, file_id: Uuid, now: OffsetDateTime, copy: MarkedCopy) {
        if copy.bytes.len() > KEPT_BYTES {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|k| now - k.made_at < KEPT);
        if kept.len() >= KEPT_COPIES {
            kept.pop_front();
        }
        kept.push_back(Kept {
            loan_id,
            file_id,
            made_at: now,
            copy,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn one_loan_marks_one_copy_at_a_time_and_a_full_queue_says_so() {
        let marking = Arc::new(Marking::new(2, 3));
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        let first = marking.turn(mine).await.unwrap();
        // My second marking waits behind my first, though a server turn is free...
        let waiting = {
            let marking = marking.clone();
            actix_web::rt::spawn(async move { marking.turn(mine).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // ...which someone else takes at once.
        let other = marking.turn(theirs).await.unwrap();
        drop(first);
        drop(other);
        waiting.await.unwrap().unwrap();

        // Three wait (the queue is full): the fourth is told so at once.
        let held = marking.turn(mine).await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..3 {
            let marking = marking.clone();
            queued.push(actix_web::rt::spawn(async move {
                marking.turn(mine).await.map(|_| ())
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(marking.turn(theirs).await.err(), Some(Busy));
        drop(held);
        for waiting in queued {
            waiting.await.unwrap().unwrap();
        }
    }

    #[test]
    fn a_copy_is_kept_for_its_loan_for_a_minute() {
        let marking = Marking::default();
        let (loan, file, now) = (Uuid::now_v7(), Uuid::now_v7(), OffsetDateTime::now_utc());
        let copy = MarkedCopy {
            copy_id: Uuid::now_v7(),
            sha256: "ab".into(),
            bytes: Bytes::from_static(b"%PDF-"),
        };
        marking.keep(loan, file, now, copy.clone());
        assert_eq!(
            marking
                .kept(loan, file, now + Duration::seconds(59))
                .map(|c| c.copy_id),
            Some(copy.copy_id)
        );
        assert!(marking.kept(loan, file, now + KEPT).is_none());
        assert!(
            marking.kept(Uuid::now_v7(), file, now).is_none(),
            "another loan's"
        );
    }
}
