//! The engine's own rayon pools: never the global one, rebuilt in a forked child.
//!
//! An engine has two: the query pool (batch calls, parallel scans) and the background pool,
//! which runs the write side's work that readers do not wait for — linking upserted items
//! with the lock downgraded, planning factor updates, fits and tuning — with its threads at
//! a lower CPU priority (nice 10 on Linux, where a thread may always lower its own
//! priority). On a busy machine the scheduler then gives queries the cores first, so a
//! writer or a fit barely moves query latency, and the write side still takes every idle
//! cycle. Work done under the write lock (readers are waiting for it) runs on the query
//! pool, at normal priority.
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
    /// Whether the threads run at background priority.
    background: bool,
    inner: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
}

/// Niceness of background threads (0 normal, 19 lowest): low enough that a query thread
/// wins a contended core almost always (CFS weights 1024 against 110).
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: libc::c_int = 10;

/// Lowers the calling thread's CPU priority (Linux; elsewhere nothing changes). Failure is
/// harmless (the thread keeps its priority).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
    }
}

impl Pool {
    /// The query pool.
    pub(crate) fn new(threads: usize) -> Self {
        Pool {
            threads: AtomicUsize::new(threads),
            background: false,
            inner: Mutex::new(None),
        }
    }

    /// The background pool (see the module documentation).
    pub(crate) fn background(threads: usize) -> Self {
        Pool {
            background: true,
            ..Pool::new(threads)
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
        let background = self.background;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads())
            .thread_name(move |i| {
                if background {
                    format!("embedrec-bg-{i}")
                } else {
                    format!("embedrec-{i}")
                }
            })
            .start_handler(move |_| {
                if background {
                    lower_priority();
                }
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Background threads run at a lower priority; query threads keep the caller's.
    #[cfg(target_os = "linux")]
    #[test]
    fn background_threads_run_at_lower_priority() {
        let nice = || {
            // SAFETY: reads the calling thread's own priority.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            }
        };
        let base = nice();
        let bg = Pool::background(2).install(nice).unwrap();
        let fg = Pool::new(2).install(nice).unwrap();
        assert_eq!(fg, base);
        assert_eq!(bg, BACKGROUND_NICE.max(base));
        assert_eq!(nice(), base);
    }
}
