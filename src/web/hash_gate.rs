//! At most a few argon2 checks at once. Every login (and every guest code issued) runs one
//! argon2id computation of ~19 MiB (at most 64 MiB, see `roster::MAX_ARGON2_M_KIB`); without
//! a bound, 64 concurrent wrong logins take over a gigabyte, past the service's memory
//! limit. The gate runs [`AT_ONCE`] checks at a time; up to [`QUEUE`] more wait at most
//! [`WAIT`] for their turn; anyone beyond that is told to retry ([`Busy`], answered with
//! 503 and `Retry-After`). Waiting costs no argon2 memory, so memory stays bounded by
//! `AT_ONCE` × the largest argon2 memory cost, whatever the number of clients.
//!
//! The permit travels into the blocking task and is released when the computation ends,
//! not when the request's future is dropped (a client that hangs up cannot free a permit
//! while its argon2 still runs). Each turn computes in one of `AT_ONCE` reused
//! [`Argon2Memory`] buffers, so the process holds `AT_ONCE` blocks of argon2 memory for
//! good instead of leaving freed ~19 MiB blocks in the allocator's per-thread arenas.

use crate::roster::Argon2Memory;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// argon2 checks that run at the same time (the box has two cores).
pub(crate) const AT_ONCE: usize = 2;
/// Requests that may wait for a turn; more get [`Busy`] at once.
pub(crate) const QUEUE: usize = 16;
/// How long a request waits for its turn before it gets [`Busy`].
pub(crate) const WAIT: Duration = Duration::from_secs(3);
/// What `Retry-After` tells a client that got [`Busy`], in seconds.
pub(crate) const RETRY_AFTER_SECS: u64 = 2;

/// Too many argon2 checks at once: retry in [`RETRY_AFTER_SECS`] seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins at once; retry in {RETRY_AFTER_SECS} s")]
pub struct Busy;

/// The gate (one per server).
pub struct HashGate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Largest number of checks seen running at once (for tests and metrics).
    peak: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// The working memories (at most `AT_ONCE`, one per running check).
    memories: Arc<Mutex<Vec<Argon2Memory>>>,
}

impl Default for HashGate {
    fn default() -> Self {
        HashGate {
            permits: Arc::new(Semaphore::new(AT_ONCE)),
            waiting: AtomicUsize::new(0),
            peak: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            memories: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

fn lock(m: &Mutex<Vec<Argon2Memory>>) -> std::sync::MutexGuard<'_, Vec<Argon2Memory>> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Gives a waiting place back when the waiting request is done or dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashGate {
    /// Runs `f` (an argon2 hash or check, computing in the memory it is given) on a
    /// blocking thread when a turn is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Argon2Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= QUEUE {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let waiting = Waiting(&self.waiting);
        let permit = tokio::time::timeout(WAIT, self.permits.clone().acquire_owned()).await;
        drop(waiting);
        let Ok(Ok(permit)) = permit else {
            return Err(Busy);
        };
        let (running, peak) = (self.running.clone(), self.peak.clone());
        let memories = self.memories.clone();
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let mut mem = lock(&memories).pop().unwrap_or_default();
            let out = f(&mut mem);
            lock(&memories).push(mem);
            running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            out
        })
        .await
        .map_err(|_| Busy)
    }

    /// The most checks that ever ran at once.
    #[cfg(test)]
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_at_once_and_the_queue_overflow_is_busy() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let gate = Arc::new(HashGate::default());
            let mut tasks = Vec::new();
            for _ in 0..40 {
                let g = gate.clone();
                tasks.push(tokio::spawn(async move {
                    g.run(|_| std::thread::sleep(Duration::from_millis(50)))
                        .await
                }));
            }
            let mut ok = 0;
            let mut busy = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(()) => ok += 1,
                    Err(Busy) => busy += 1,
                }
            }
            assert!(gate.peak() <= AT_ONCE, "{}", gate.peak());
            assert!(busy >= 40 - AT_ONCE - QUEUE, "{busy}");
            assert!(ok >= AT_ONCE, "{ok}");
        });
    }
}
