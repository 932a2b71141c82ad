//! A party's worker threads: the cores it is given (`--threads N`), as one pool per
//! party, never rayon's global pool (both parties of a test, of `tessera circuit` or of
//! `tessera bench` run in one process, and each must use its own cores only).
//!
//! The pool is built on first use, so a party that never has enough work to split (or
//! that runs on one thread) starts no thread. Work split across the pool must give the
//! same result whatever the thread count: callers cut it into parts fixed by the data
//! alone (never by the number of threads) and combine the parts in order.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

/// A party's compute threads. With one thread there is no pool and every caller runs
/// its work inline, exactly as before threads existed.
pub struct Threads {
    count: NonZeroUsize,
    pool: OnceLock<Option<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Threads({})", self.count)
    }
}

impl Threads {
    /// `count` threads (the pool is built when first needed).
    pub fn new(count: NonZeroUsize) -> Self {
        Threads {
            count,
            pool: OnceLock::new(),
        }
    }

    /// One thread: no pool, every caller's work inline (what the pure steps use when
    /// no party's threads are at hand).
    pub const fn one() -> Self {
        Threads {
            count: NonZeroUsize::MIN,
            pool: OnceLock::new(),
        }
    }

    /// The cores this process may use (`std::thread::available_parallelism`), or 1 if
    /// that is unknown: the default of `--threads`.
    pub fn available() -> NonZeroUsize {
        std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
    }

    /// Each party's share when both parties run in this process (`tessera circuit`,
    /// `infer`, `bench`, `demo`): half of [`Threads::available`], at least 1. Giving
    /// each party every core would run twice as many compute threads as cores.
    pub fn available_to_each_of_two() -> NonZeroUsize {
        NonZeroUsize::new(Self::available().get() / 2).unwrap_or(NonZeroUsize::MIN)
    }

    /// The number of threads.
    pub fn count(&self) -> usize {
        self.count.get()
    }

    /// The pool of [`Threads::count`] threads, built on the first call; `None` with one
    /// thread, or if the system refused to start the threads (then the work runs on the
    /// caller's thread, which gives the same results, and a warning says so once).
    pub fn pool(&self) -> Option<&rayon::ThreadPool> {
        if self.count.get() == 1 {
            return None;
        }
        self.pool
            .get_or_init(|| {
                let built = rayon::ThreadPoolBuilder::new()
                    .num_threads(self.count.get())
                    .thread_name(|i| format!("tessera-worker-{i}"))
                    .build();
                match built {
                    Ok(pool) => Some(pool),
                    Err(e) => {
                        tracing::warn!(threads = self.count.get(), error = %e,
                            "could not start worker threads; computing on one thread");
                        None
                    }
                }
            })
            .as_ref()
    }
}

/// Runs `f` on every item of `items`, on the pool when there is one and more than one
/// item, else in order on this thread. Items are independent, so the results do not
/// depend on the thread count.
pub fn for_each_mut<T: Send>(threads: &Threads, items: &mut [T], f: impl Fn(&mut T) + Sync) {
    match threads.pool() {
        Some(pool) if items.len() > 1 => pool.scope(|s| {
            let f = &f;
            for item in items.iter_mut() {
                s.spawn(move |_| f(item));
            }
        }),
        _ => items.iter_mut().for_each(f),
    }
}

/// How many parts to cut `work` units into on `threads`: one per thread, but none
/// smaller than `min_part` units (handing a part to a pool thread costs some
/// microseconds), and 1 without a pool. Only for work whose result does not depend on
/// how it is cut (each output computed whole by one part).
pub fn parts_for(threads: &Threads, work: usize, min_part: usize) -> usize {
    let want = threads.count().min(work / min_part.max(1)).max(1);
    // Work too small to split never starts the pool (starting it costs about as much).
    if want > 1 && threads.pool().is_some() {
        want
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_has_no_pool_and_several_share_one() {
        let one = Threads::new(NonZeroUsize::MIN);
        assert!(one.pool().is_none());
        let three = Threads::new(NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN));
        let a = three.pool().map(|p| p as *const _);
        assert_eq!(three.pool().map(|p| p.current_num_threads()), Some(3));
        assert_eq!(a, three.pool().map(|p| p as *const _));
        assert_eq!(format!("{three:?}"), "Threads(3)");
        assert!(Threads::one().pool().is_none());
        let idle = Threads::new(NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN));
        assert_eq!(parts_for(&idle, 3, 4), 1);
        assert!(
            idle.pool.get().is_none(),
            "a part too small started the pool"
        );
        assert_eq!(parts_for(&one, 1 << 20, 1), 1);
        assert_eq!(parts_for(&three, 1 << 20, 1), 3);
        assert_eq!(parts_for(&three, 10, 4), 2);
        assert_eq!(parts_for(&three, 3, 4), 1);
    }

    #[test]
    fn for_each_mut_visits_every_item_once() {
        for t in 1..=3 {
            let threads = Threads::new(NonZeroUsize::new(t).unwrap_or(NonZeroUsize::MIN));
            let mut v: Vec<u64> = (0..100).collect();
            for_each_mut(&threads, &mut v, |x| *x = *x * *x + 1);
            assert_eq!(v, (0..100).map(|x| x * x + 1).collect::<Vec<_>>());
        }
    }
}
