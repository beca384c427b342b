//! The marker's memory, measured in a process of its own (this test binary holds this one test,
//! so nothing else grows its heap meanwhile): marking the heaviest PDF its budget admits stays
//! under the ceiling `MarkingBudget` states, and a PDF beyond its budget is refused before any
//! parser holds it.
// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use dangan_api::files::mark::{mark_pdf, MarkError};
use dangan_domain::file::{CopyMark, MarkingBudget};
use dangan_tests::pdf::object_stream_bomb;

/// This process's heap and stacks now (`RssAnon`, Linux), in bytes.
fn anonymous() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The most `RssAnon` seen while `work` runs, sampled every 5 ms.
fn peak_while<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = anonymous();
        while flag.load(Ordering::Relaxed) {
            peak = peak.max(anonymous());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak.max(anonymous())
    });
    let out = work();
    running.store(false, Ordering::Relaxed);
    (out, sampler.join().unwrap())
}

fn mark() -> CopyMark {
    CopyMark::new(
        "JY-2026-000001-01",
        "lisi",
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
    )
}

#[test]
fn marking_stays_under_its_ceiling_and_a_bomb_is_refused_unparsed() {
    // A 24 KB file whose object streams unpack to 24 MB of integers: refused on its bytes.
    let bomb = object_stream_bomb(4, 3_000_000, 0);
    assert!(bomb.len() <= 24 * 1024);
    let before = anonymous();
    let (refused, peak) = peak_while(|| mark_pdf(bomb, &mark(), uuid::Uuid::now_v7()));
    assert!(
        matches!(refused, Err(MarkError::Overweight(_))),
        "{refused:?}"
    );
    let grew = peak.saturating_sub(before);
    eprintln!(
        "the 24 KB bomb: refused, heap grew {:.1} MB",
        grew as f64 / 1e6
    );
    assert!(grew < 32 << 20, "refusing the bomb took {grew} bytes");

    // 8 MB of file holding nearly the most tokens any file may have: admitted, and marked.
    let heavy = object_stream_bomb(1, 1_990_000, 8 << 20);
    let size = heavy.len() as u64;
    assert!(MarkingBudget::for_size(size).tokens >= 1_990_000);
    let before = anonymous();
    let (copy, peak) = peak_while(|| mark_pdf(heavy, &mark(), uuid::Uuid::now_v7()));
    let copy = copy.unwrap();
    let grew = peak.saturating_sub(before);
    eprintln!(
        "an 8 MB PDF at its token budget: marked ({} bytes), heap grew {:.1} MB (ceiling {:.1} MB)",
        copy.len(),
        grew as f64 / 1e6,
        MarkingBudget::memory_ceiling(size) as f64 / 1e6
    );
    assert!(
        grew < MarkingBudget::memory_ceiling(size),
        "marking took {grew} bytes"
    );
}
