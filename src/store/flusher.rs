//! Group commit. Writers put their changes into sled (in memory) and take a ticket; a flusher
//! thread flushes whatever has been written since the last flush (and, when the store is
//! power-safe, `fdatasync`s it: see [`super::sync`]), then wakes every waiter whose ticket that
//! flush covered. Many concurrent sends share one flush and one sync.
//!
//! When power-safe, two flusher threads pipeline the groups: while one waits for the disk to
//! `fdatasync` group N, the other already has sled write group N+1. A sync makes durable what
//! was written to the file before it started, and sled's flush of a group writes every earlier
//! group too, so whichever thread finishes publishes its own group's last ticket; syncs take
//! turns so that each covers everything flushed before it. Without the sync (process_crash)
//! one thread does it all: back-to-back flushes cost more than the wait they would save.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use tokio::sync::watch;

use super::sync::DiskSync;
use super::StoreError;

/// A position in the write order: durable once a flush has covered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What the flushers have done so far, published to every waiter.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    durable: u64,
    /// The highest ticket whose flush or sync failed: its writer must not acknowledge, even
    /// if a later sync succeeds (after a failed `fdatasync` Linux may have dropped the pages).
    failed: u64,
}

pub struct Flusher {
    db: sled::Db,
    written: AtomicU64,
    /// The highest ticket a flush has started for; held while sled flushes, so one flush runs
    /// at a time and the next group's starts the moment it ends.
    flushing: Mutex<u64>,
    /// Held while syncing: syncs run in flush order, each covering every flush before it.
    disk: Mutex<Option<DiskSync>>,
    /// Flusher threads waiting for a write, counted so that `ticket` wakes one only if
    /// there is one (the count is read without the lock, the waiting is done with it).
    idle: Mutex<()>,
    idle_count: AtomicUsize,
    wake: Condvar,
    progress: watch::Sender<Progress>,
    stop: AtomicBool,
}

impl Flusher {
    /// `disk`: what makes a flush survive a power cut; `None` for sled's flush alone.
    pub fn start(db: sled::Db, disk: Option<DiskSync>) -> Arc<Flusher> {
        let threads = if disk.is_some() { 2 } else { 1 };
        let flusher = Arc::new(Flusher {
            db,
            written: AtomicU64::new(0),
            flushing: Mutex::new(0),
            disk: Mutex::new(disk),
            idle: Mutex::new(()),
            idle_count: AtomicUsize::new(0),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
            stop: AtomicBool::new(false),
        });
        for i in 0..threads {
            let me = flusher.clone();
            thread::Builder::new()
                .name(format!("switchboard-flusher-{i}"))
                .spawn(move || me.run())
                .expect("spawning a flusher thread");
        }
        flusher
    }

    /// Called after a write is in sled: the write is covered by any flush that starts later.
    pub fn ticket(&self) -> Ticket {
        let t = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        if self.idle_count.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this with a flusher between counting itself idle and
            // waiting: it either sees the new ticket or is waiting and gets the signal.
            drop(lock(&self.idle));
            self.wake.notify_one();
        }
        Ticket(t)
    }

    /// Resolves once `ticket` is on disk.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut rx = self.progress.subscribe();
        let p = rx
            .wait_for(|p| p.durable >= ticket.0 || p.failed >= ticket.0)
            .await
            .map_err(|_| StoreError::Closed)?;
        if p.failed >= ticket.0 {
            Err(StoreError::Flush)
        } else {
            Ok(())
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(lock(&self.idle));
        self.wake.notify_all();
    }

    fn run(&self) {
        loop {
            let started = Instant::now();
            let (target, flushed) = {
                let mut claimed = lock(&self.flushing);
                let target = self.written.load(Ordering::SeqCst);
                if target == *claimed {
                    drop(claimed);
                    if !self.wait_for_writes(target) {
                        return;
                    }
                    continue;
                }
                *claimed = target;
                (target, self.db.flush().map(|_| ()).map_err(|e| e.to_string()))
            };
            let result = flushed.and_then(|()| match lock(&self.disk).as_mut() {
                Some(disk) => disk.sync().map_err(|e| format!("fsync: {e}")),
                None => Ok(()),
            });
            crate::metrics::flush(started.elapsed());
            match result {
                Ok(()) => self.progress.send_modify(|p| p.durable = p.durable.max(target)),
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed");
                    self.progress.send_modify(|p| p.failed = p.failed.max(target));
                }
            }
        }
    }

    /// Waits until a ticket after `seen` is taken; false once stopped with nothing to do.
    fn wait_for_writes(&self, seen: u64) -> bool {
        let mut guard = lock(&self.idle);
        self.idle_count.fetch_add(1, Ordering::SeqCst);
        let more = loop {
            if self.written.load(Ordering::SeqCst) != seen {
                break true;
            }
            if self.stop.load(Ordering::SeqCst) {
                break false;
            }
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        };
        self.idle_count.fetch_sub(1, Ordering::SeqCst);
        more
    }
}

/// The flusher's locks guard plain counters and a file handle, valid even if a holder
/// panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
