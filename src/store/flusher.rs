//! Group commit. Writers put their changes into sled (in memory) and take a ticket; one
//! flusher thread flushes whatever has been written since its last flush (and, when the
//! store is power-safe, `fdatasync`s it: see [`super::sync`]), then wakes every waiter whose
//! ticket that flush covered. Many concurrent sends share one flush and one sync.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};
use std::time::Instant;

use tokio::sync::watch;

use super::sync::DiskSync;
use super::StoreError;

/// A position in the write order: durable once a flush has covered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What the flusher has done so far, published to every waiter.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    durable: u64,
    /// Tickets `failed_from..=failed_to` had a flush fail: their writers must not acknowledge,
    /// even once a later flush succeeds (after a failed fsync the kernel may have dropped
    /// those pages). One span from the first failure on: tickets between two failures are
    /// refused too, the safe side of a rare event.
    failed_from: u64,
    failed_to: u64,
}

impl Progress {
    /// What the writer holding `ticket` learns now: `None` while it must wait.
    fn outcome(&self, ticket: Ticket) -> Option<Result<(), StoreError>> {
        if self.failed_to != 0 && (self.failed_from..=self.failed_to).contains(&ticket.0) {
            Some(Err(StoreError::Flush))
        } else if self.durable >= ticket.0 {
            Some(Ok(()))
        } else {
            None
        }
    }

    /// A flush covering the tickets after `done` up to `target` failed.
    fn fail(&mut self, done: u64, target: u64) {
        if self.failed_to == 0 {
            self.failed_from = done + 1;
        }
        self.failed_to = target;
    }
}

pub struct Flusher {
    written: AtomicU64,
    progress: watch::Receiver<Progress>,
    thread: Thread,
    stop: AtomicBool,
}

impl Flusher {
    /// `disk`: what makes a flush survive a power cut; `None` for sled's flush alone.
    pub fn start(db: sled::Db, disk: Option<DiskSync>) -> (Arc<Flusher>, JoinHandle<()>) {
        let (tx, rx) = watch::channel(Progress::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Arc<Flusher>>();
        let handle = thread::Builder::new()
            .name("switchboard-flusher".into())
            .spawn(move || {
                let Ok(me) = ready_rx.recv() else { return };
                me.run(db, disk, tx);
            })
            .expect("spawning the flusher thread");
        let flusher = Arc::new(Flusher {
            written: AtomicU64::new(0),
            progress: rx,
            thread: handle.thread().clone(),
            stop: AtomicBool::new(false),
        });
        let _ = ready_tx.send(flusher.clone());
        (flusher, handle)
    }

    /// Called after a write is in sled: the write is covered by any flush that starts later.
    pub fn ticket(&self) -> Ticket {
        let t = self.written.fetch_add(1, Ordering::AcqRel) + 1;
        self.thread.unpark();
        Ticket(t)
    }

    /// Resolves once `ticket` is on disk.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut rx = self.progress.clone();
        let p = rx.wait_for(|p| p.outcome(ticket).is_some()).await.map_err(|_| StoreError::Closed)?;
        p.outcome(ticket).expect("waited for an outcome")
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }

    fn run(&self, db: sled::Db, mut disk: Option<DiskSync>, progress: watch::Sender<Progress>) {
        let mut done = 0u64;
        loop {
            let target = self.written.load(Ordering::Acquire);
            if target == done {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                thread::park();
                continue;
            }
            let started = Instant::now();
            let result = db.flush().map_err(|e| e.to_string()).and_then(|_| match &mut disk {
                Some(disk) => disk.sync().map_err(|e| format!("fsync: {e}")),
                None => Ok(()),
            });
            crate::metrics::flush(started.elapsed());
            match result {
                Ok(()) => progress.send_modify(|p| p.durable = target),
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed");
                    progress.send_modify(|p| p.fail(done, target));
                }
            }
            done = target;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_whose_flush_failed_is_never_reported_durable() {
        let mut p = Progress { durable: 5, ..Progress::default() };
        p.fail(5, 10);
        // A later flush succeeds before the failed writers look.
        p.durable = 15;
        assert!(matches!(p.outcome(Ticket(8)), Some(Err(StoreError::Flush))), "its flush failed");
        assert!(matches!(p.outcome(Ticket(10)), Some(Err(StoreError::Flush))));
        assert!(matches!(p.outcome(Ticket(3)), Some(Ok(()))), "made durable before the failure");
        assert!(matches!(p.outcome(Ticket(12)), Some(Ok(()))), "made durable by the later flush");
        assert!(p.outcome(Ticket(16)).is_none(), "not flushed yet");
    }
}
