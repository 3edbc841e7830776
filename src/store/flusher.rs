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
    /// The highest ticket whose flush failed: its writer must not acknowledge.
    failed: u64,
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
        let p = rx
            .wait_for(|p| p.durable >= ticket.0 || p.failed >= ticket.0)
            .await
            .map_err(|_| StoreError::Closed)?;
        if p.durable >= ticket.0 {
            Ok(())
        } else {
            Err(StoreError::Flush)
        }
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
                    progress.send_modify(|p| p.failed = target);
                }
            }
            done = target;
        }
    }
}
