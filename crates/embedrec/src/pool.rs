//! The engine's own rayon pool: never the global one, rebuilt in a forked child.
//!
//! A process that forks after the pool's threads started gets a child in which those threads
//! do not exist; installing work on the inherited pool would hang forever. The pool remembers
//! the pid that created it and is replaced (the stale one leaked, never joined) when the pid
//! changes.

use crate::{Error, Result};
use parking_lot::Mutex;
use std::sync::Arc;

pub(crate) struct Pool {
    threads: usize,
    inner: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
}

impl Pool {
    pub(crate) fn new(threads: usize) -> Self {
        Pool {
            threads,
            inner: Mutex::new(None),
        }
    }

    /// Number of worker threads the pool runs (resolved from 0 = all cores).
    pub(crate) fn threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.threads
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
