//! CPU work on accounts split over a few threads.

use std::iter::StepBy;
use std::ops::Range;

/// Threads for CPU work on accounts: the machine's cores, 1 to 4.
pub fn count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 4)
}

/// Runs `work` on up to [`count`] threads at once over `0..items`: worker w gets the indices
/// w, w + n, w + 2n, …; the results come back in worker order. A worker's panic is raised again
/// here.
pub fn strided<T: Send>(items: usize, work: impl Fn(StepBy<Range<usize>>) -> T + Sync) -> Vec<T> {
    let n = count().min(items.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                let work = &work;
                s.spawn(move || work((w..items).step_by(n)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_goes_to_exactly_one_worker() {
        for items in [0, 1, 3, 17] {
            let mut seen: Vec<usize> = strided(items, |mine| mine.collect::<Vec<_>>())
                .into_iter()
                .flatten()
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..items).collect::<Vec<_>>());
        }
    }
}
