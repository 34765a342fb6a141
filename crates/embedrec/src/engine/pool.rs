//! The engine's own rayon pool: never the global one, rebuilt in a forked child.
//!
//! A process that forks after the pool's threads started gets a child in which those threads
//! do not exist; installing work on the inherited pool would hang forever. The pool remembers
//! the pid that created it and is replaced (the stale one leaked, never joined) when the pid
//! changes.

use crate::{Error, Result};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) struct Pool {
    /// Configured thread count (0 = all cores).
    threads: AtomicUsize,
    inner: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
}

impl Pool {
    pub(crate) fn new(threads: usize) -> Self {
        Pool {
            threads: AtomicUsize::new(threads),
            inner: Mutex::new(None),
        }
    }

    /// `threads` capped at this machine's cores (0, all cores, stays 0).
    pub(crate) fn capped(threads: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads == 0 { 0 } else { threads.min(cores) }
    }

    /// The configured thread count (0 = all cores).
    pub(crate) fn configured(&self) -> usize {
        self.threads.load(Ordering::Relaxed)
    }

    /// Number of worker threads the pool runs (resolved from 0 = all cores).
    pub(crate) fn threads(&self) -> usize {
        match self.configured() {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }

    /// Changes the thread count; the next parallel call starts a pool of that size. Work
    /// running on the old pool finishes there (it holds the pool), then its threads exit.
    pub(crate) fn set_threads(&self, threads: usize) {
        let mut g = self.inner.lock();
        self.threads.store(threads, Ordering::Relaxed);
        if let Some((pid, old)) = g.take()
            && pid != std::process::id()
        {
            // Inherited across a fork: its threads do not exist here (see `get`).
            std::mem::forget(old);
        }
    }

    fn get(&self) -> Result<Arc<rayon::ThreadPool>> {
        let pid = std::process::id();
        let mut g = self.inner.lock();
        if let Some((p, pool)) = g.as_ref()
            && *p == pid
        {
            return Ok(pool.clone());
        }
        if let Some((_, stale)) = g.take() {
            // Threads of a pool created in the parent do not exist in this child:
            // dropping it would try to signal them, so it is deliberately leaked.
            std::mem::forget(stale);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads())
            .thread_name(|i| format!("embedrec-{i}"))
            .build()
            .map_err(|e| Error::Internal(format!("cannot start thread pool: {e}")))?;
        let pool = Arc::new(pool);
        *g = Some((pid, pool.clone()));
        Ok(pool)
    }

    /// Runs `f` inside the pool (parallel iterators in `f` use its threads).
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        Ok(self.get()?.install(f))
    }
}
