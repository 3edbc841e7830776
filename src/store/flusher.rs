//! Group commit. Writers log their changes in the journal and take a ticket; one flusher
//! thread writes whatever was logged since its last round into the write-ahead log (and, when
//! the store is power-safe, what was logged during that write too, then `fdatasync`s it),
//! wakes every waiter whose ticket that covered, runs the callbacks registered for those
//! tickets (`when_durable`: a conversation's deliveries go out from here, sparing a hand-off
//! to the conversation's thread and back out), and applies the writes to sled once it has
//! nothing more to write. Many concurrent sends share one write and one sync.
//!
//! When a segment of the log is full the flusher moves to the next (prepared ahead, zero-filled)
//! and asks the checkpoint thread to prepare the one after it, then to make sled durable up
//! to there, after which the full segments are deleted: see `checkpoint`.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::checkpoint::{Request, Segments};
use super::engine::OnDurable;
use super::journal::{Apply, Batch, Journal};
use super::wal::{Segment, MAX_SEGMENT_BYTES};
use super::StoreError;

/// A position in the write order: durable once a group commit has covered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Writes nobody waits on (a ticket wakes the flusher at once) still reach the log within this.
const IDLE_ROUND: Duration = Duration::from_millis(200);

/// How many more batches a group commit may write after its first before its one sync.
/// Writers that log while the first is being written (the direct write is a device round trip
/// of its own, ~40 µs here) join its sync instead of waiting for it and then for a sync of
/// their own; bounded, so a steady stream of them cannot put the sync off.
const JOINERS: usize = 2;

/// How many durable writes may wait for sled while the flusher has more to write. Applying
/// them is a few µs of sled inserts each, which would hold up the next commit's write (and
/// every writer waiting on it) when done first; reads find them in the journal meanwhile.
/// They are applied as soon as the log has nothing more to write, before the log moves to a
/// new segment (whose checkpoint must find them in sled), or once this many wait.
const APPLY_EVERY: usize = 512;

/// What the flusher has done so far, published to every waiter.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    durable: u64,
    /// Everything up to here is in sled too.
    applied: u64,
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

    /// Every ticket up to here has an outcome.
    fn settled_through(&self) -> u64 {
        self.durable.max(self.failed_to)
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
    journal: Arc<Journal>,
    progress: watch::Receiver<Progress>,
    callbacks: Arc<Callbacks>,
    thread: Thread,
    stop: AtomicBool,
}

/// Callbacks waiting for their tickets, by ticket. Registering and publishing progress both
/// happen under its lock, so a callback is either run by the publication that settles its
/// ticket or finds the ticket settled when it registers: never left waiting for a commit
/// that already happened.
#[derive(Default)]
struct Callbacks {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    by_ticket: BTreeMap<u64, Vec<OnDurable>>,
    /// The flusher has ended: nothing will be made durable any more.
    closed: bool,
}

impl Callbacks {
    fn register(&self, progress: &watch::Receiver<Progress>, ticket: Ticket, then: OnDurable) {
        let mut waiting = self.waiting.lock().expect("callbacks lock");
        let outcome = match waiting.closed {
            true => Some(Err(StoreError::Closed)),
            false => progress.borrow().outcome(ticket),
        };
        match outcome {
            Some(outcome) => {
                drop(waiting);
                then(outcome);
            }
            None => waiting.by_ticket.entry(ticket.0).or_default().push(then),
        }
    }

    /// Publishes `change` and runs, on this thread, every callback whose ticket it settled.
    fn publish(&self, progress: &watch::Sender<Progress>, change: impl FnOnce(&mut Progress)) {
        let (due, p) = {
            let mut waiting = self.waiting.lock().expect("callbacks lock");
            progress.send_modify(change);
            let p = *progress.borrow();
            let later = waiting.by_ticket.split_off(&(p.settled_through() + 1));
            (std::mem::replace(&mut waiting.by_ticket, later), p)
        };
        for (ticket, callbacks) in due {
            for then in callbacks {
                then(p.outcome(Ticket(ticket)).expect("a settled ticket"));
            }
        }
    }

    /// The flusher ended: every callback still waiting learns it, and so does every later one.
    fn close(&self) {
        let due = {
            let mut waiting = self.waiting.lock().expect("callbacks lock");
            waiting.closed = true;
            std::mem::take(&mut waiting.by_ticket)
        };
        for then in due.into_values().flatten() {
            then(Err(StoreError::Closed));
        }
    }
}

/// What the flusher thread owns.
struct Worker {
    journal: Arc<Journal>,
    /// sled's trees by journal slot.
    trees: Vec<sled::Tree>,
    segments: Arc<Segments>,
    /// The segment being written.
    current: Segment,
    checkpoints: mpsc::Sender<Request>,
    progress: watch::Sender<Progress>,
    callbacks: Arc<Callbacks>,
    /// Set when sled refused a write the log had made durable: from then on nothing is
    /// acknowledged, since reads and the log could part ways.
    broken: bool,
    /// Durable writes not yet applied to sled (see [`APPLY_EVERY`]), and the position they
    /// are durable through; `None` when sled holds everything durable.
    deferred: Vec<Apply>,
    unapplied: Option<u64>,
}

impl Flusher {
    /// Starts the flusher on segment `current`, applying to `trees` (by journal slot).
    pub fn start(
        journal: Arc<Journal>,
        trees: Vec<sled::Tree>,
        segments: Arc<Segments>,
        current: Segment,
        checkpoints: mpsc::Sender<Request>,
    ) -> (Arc<Flusher>, JoinHandle<()>) {
        let start = journal.last();
        let (tx, rx) = watch::channel(Progress { durable: start, applied: start, ..Progress::default() });
        let (ready_tx, ready_rx) = mpsc::channel::<Arc<Flusher>>();
        let callbacks = Arc::new(Callbacks::default());
        let worker = Worker {
            journal: journal.clone(),
            trees,
            segments,
            current,
            checkpoints,
            progress: tx,
            callbacks: callbacks.clone(),
            broken: false,
            deferred: Vec::new(),
            unapplied: None,
        };
        let handle = thread::Builder::new()
            .name("switchboard-flusher".into())
            .spawn(move || {
                let Ok(me) = ready_rx.recv() else { return };
                worker.run(&me);
            })
            .expect("spawning the flusher thread");
        let flusher = Arc::new(Flusher {
            journal,
            progress: rx,
            callbacks,
            thread: handle.thread().clone(),
            stop: AtomicBool::new(false),
        });
        let _ = ready_tx.send(flusher.clone());
        (flusher, handle)
    }

    /// A position after every write made so far; wakes the flusher to cover it.
    pub fn ticket(&self) -> Ticket {
        let t = Ticket(self.journal.last());
        self.thread.unpark();
        t
    }

    /// Resolves once `ticket` is durable. No wake-up here: `ticket()` made one for it already,
    /// and an acknowledgement's path is spared a second futex call.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut rx = self.progress.clone();
        let p = rx.wait_for(|p| p.outcome(ticket).is_some()).await.map_err(|_| StoreError::Closed)?;
        p.outcome(ticket).expect("waited for an outcome")
    }

    /// Runs `then` once `ticket` is durable, or with the error that stopped it: on the
    /// flusher's thread right after the commit that settles it, or at once, here, if it is
    /// settled already. `then` must be quick and never block: the next commit waits for it.
    pub fn when_durable(&self, ticket: Ticket, then: OnDurable) {
        self.callbacks.register(&self.progress, ticket, then);
    }

    /// Whether `ticket` is durable already.
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        self.progress.borrow().durable >= ticket.0
    }

    /// Resolves once everything written before `ticket` is in sled as well.
    pub async fn applied(&self, ticket: Ticket) {
        self.thread.unpark();
        let mut rx = self.progress.clone();
        let _ = rx.wait_for(|p| p.applied >= ticket.0).await;
    }

    /// Asks the thread to write what is left and end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Worker {
    fn run(mut self, flusher: &Flusher) {
        self.serve(flusher);
        self.callbacks.close();
    }

    fn serve(&mut self, flusher: &Flusher) {
        let mut done = self.journal.last();
        self.ask(None);
        // A batch that came too late for the segment a commit was writing: the next commit's.
        let mut carried = None;
        loop {
            let Some(mut batch) = carried.take().or_else(|| self.journal.take()) else {
                if self.unapplied.is_some() {
                    self.apply_deferred();
                    continue;
                }
                if flusher.stop.load(Ordering::Acquire) {
                    return;
                }
                thread::park_timeout(IDLE_ROUND);
                continue;
            };
            if !self.current.fits(batch.bytes.len()) {
                // This commit moves to the next segment, which asks for a checkpoint of
                // everything before it: that must be in sled first.
                self.apply_deferred();
            }
            let started = Instant::now();
            let result = self.commit(&mut batch, &mut carried, done);
            crate::metrics::flush(started.elapsed());
            let last = batch.last;
            match result {
                Ok(()) if !self.broken => self.callbacks.publish(&self.progress, |p| p.durable = last),
                Ok(()) => self.callbacks.publish(&self.progress, |p| p.fail(done, last)),
                Err(e) => {
                    tracing::error!(error = %e, "write-ahead log write failed");
                    self.callbacks.publish(&self.progress, |p| p.fail(done, last));
                }
            }
            done = batch.last;
            self.defer(batch.applies, done);
        }
    }

    /// One group commit: writes `batch`, then, when the log syncs, what was logged while it
    /// was being written (folded into `batch`, at most [`JOINERS`] more batches), then syncs
    /// once. A batch that does not fit the current segment waits in `carried` for the next
    /// commit: moving to the next segment asks for a checkpoint of everything before it,
    /// which must be in sled already, and this commit's batches are not yet.
    fn commit(&mut self, batch: &mut Batch, carried: &mut Option<Batch>, done: u64) -> io::Result<()> {
        self.write(&batch.bytes, done)?;
        if !self.segments.syncs() {
            return Ok(());
        }
        for _ in 0..JOINERS {
            let Some(more) = self.journal.take() else { break };
            if !self.current.fits(more.bytes.len()) {
                *carried = Some(more);
                break;
            }
            self.current.write(&more.bytes)?;
            batch.applies.extend(more.applies);
            batch.last = more.last;
        }
        self.current.sync()
    }

    /// Writes `bytes` into the log, moving to the next segment first when they do not fit
    /// and it is prepared; `done` is the last position written (and applied) before them.
    fn write(&mut self, bytes: &[u8], done: u64) -> io::Result<()> {
        if !self.current.fits(bytes.len()) {
            match self.segments.after(&self.current) {
                Some(next) => {
                    self.current = next;
                    // Everything before the new segment is in sled: a checkpoint may cover it
                    // (not once sled refused a write: then the log is all there is).
                    self.ask((!self.broken).then_some(done));
                }
                // Not prepared yet (or its preparation failed): ask once more if nothing is
                // under way, and write on past the zero-filled part meanwhile.
                None => self.ask(None),
            }
        }
        self.current.write(bytes)
    }

    /// Asks for the segment after the current one to be prepared, unless that is under way,
    /// and with `through`, for a checkpoint through that position.
    fn ask(&mut self, through: Option<u64>) {
        if self.segments.ask() || through.is_some() {
            let capacity = (self.current.capacity * 2).min(MAX_SEGMENT_BYTES);
            let _ = self.checkpoints.send(Request { current: self.current.number, through, capacity });
        }
    }

    /// Takes writes that are durable through `through` for sled: applied now if nothing more
    /// was logged meanwhile or [`APPLY_EVERY`] are waiting, else after the next commit.
    fn defer(&mut self, applies: Vec<Apply>, through: u64) {
        self.deferred.extend(applies);
        self.unapplied = Some(through);
        if self.deferred.len() >= APPLY_EVERY || self.journal.last() == through {
            self.apply_deferred();
        }
    }

    /// Applies every write waiting for sled, and says so to whoever waits for it.
    fn apply_deferred(&mut self) {
        let Some(through) = self.unapplied.take() else { return };
        let mut applies = std::mem::take(&mut self.deferred);
        self.apply(&applies);
        applies.clear();
        self.deferred = applies;
        self.progress.send_modify(|p| p.applied = through);
    }

    fn apply(&mut self, applies: &[Apply]) {
        for a in applies {
            let tree = &self.trees[a.slot];
            let result = match &a.pending.value {
                Some(v) => tree.insert(a.key.as_slice(), v.clone()).map(drop),
                None => tree.remove(a.key.as_slice()).map(drop),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "sled refused a logged write: the store stops acknowledging");
                self.broken = true;
                return;
            }
        }
        self.journal.applied(applies);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal;

    /// One commit of about 1 KiB, awaited.
    fn commit(journal: &Journal, flusher: &Flusher, i: u32) {
        journal.set(0, i.to_be_bytes().to_vec(), Some(vec![b'x'; 1000].into()));
        futures_executor::block_on(flusher.durable(flusher.ticket())).unwrap();
    }

    #[test]
    fn a_full_segment_is_written_on_until_its_successor_is_prepared() {
        let data = tempfile::tempdir().unwrap();
        let segments = Arc::new(Segments::new(wal::Dir::open(data.path(), true).unwrap(), 1));
        let first = segments.first(1, 4096).unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let journal = Arc::new(Journal::new(vec![tree.name()], 0, 0));
        // Nobody serves the requests: the segment after the first is never prepared.
        let (requests, asked) = mpsc::channel();
        let (flusher, thread) =
            Flusher::start(journal.clone(), vec![tree], segments.clone(), first, requests);

        for i in 0..20 {
            commit(&journal, &flusher, i);
        }
        let files = || wal::Dir::open(data.path(), true).unwrap().segments().unwrap();
        assert_eq!(files(), [1], "20 KiB went on into the 4 KiB segment, no file per commit");
        let asked_for: Vec<_> = asked.try_iter().map(|r| (r.current, r.through, r.capacity)).collect();
        assert_eq!(
            asked_for,
            [(1, None, 8192)],
            "one preparation asked for, at the start, not one per commit"
        );
        assert_eq!(wal::Dir::open(data.path(), true).unwrap().replay(0).unwrap().len(), 20);

        // Once the next one is ready, the next commit moves there and asks for a checkpoint
        // of everything before it, and for the segment after it.
        segments.prepare(2, 8192).unwrap();
        commit(&journal, &flusher, 20);
        assert_eq!(files(), [1, 2]);
        let asked_for: Vec<_> = asked.try_iter().map(|r| (r.current, r.through, r.capacity)).collect();
        assert_eq!(asked_for, [(2, Some(20), 16384)]);
        flusher.stop();
        thread.join().unwrap();
    }

    /// A worker on a fresh, power-safe log whose first segment holds `capacity` bytes, driven
    /// by hand (no thread).
    fn worker(capacity: u64) -> (tempfile::TempDir, Arc<Journal>, Worker) {
        let data = tempfile::tempdir().unwrap();
        let segments = Arc::new(Segments::new(wal::Dir::open(data.path(), true).unwrap(), 1));
        let current = segments.first(1, capacity).unwrap();
        let tree = sled::Config::new().temporary(true).open().unwrap().open_tree("t").unwrap();
        let journal = Arc::new(Journal::new(vec![tree.name()], 0, 0));
        let (progress, _) = watch::channel(Progress::default());
        let (checkpoints, _) = mpsc::channel();
        let worker = Worker {
            journal: journal.clone(),
            trees: vec![tree],
            segments,
            current,
            checkpoints,
            progress,
            callbacks: Arc::default(),
            broken: false,
            deferred: Vec::new(),
            unapplied: None,
        };
        (data, journal, worker)
    }

    fn log(journal: &Journal, key: &str, len: usize) {
        journal.set(0, key.as_bytes().to_vec(), Some(vec![b'x'; len].into()));
    }

    #[test]
    fn writes_logged_while_a_commit_writes_join_its_sync() {
        let (data, journal, mut worker) = worker(64 << 10);
        log(&journal, "a", 100);
        let mut batch = journal.take().unwrap();
        // Logged after the commit took its batch: as if while its write was under way.
        log(&journal, "b", 100);
        log(&journal, "c", 100);
        let mut carried = None;
        worker.commit(&mut batch, &mut carried, 0).unwrap();
        assert_eq!(batch.last, 3, "one sync covered all three");
        assert_eq!(batch.applies.len(), 3, "and they are applied with it");
        assert!(journal.take().is_none() && carried.is_none());
        let logged = wal::Dir::open(data.path(), true).unwrap().replay(0).unwrap();
        assert_eq!(logged.iter().map(|(pos, _)| *pos).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn a_write_that_does_not_fit_the_segment_waits_for_the_next_commit() {
        let (data, journal, mut worker) = worker(4096);
        log(&journal, "a", 100);
        let mut batch = journal.take().unwrap();
        log(&journal, "b", 5000);
        let mut carried = None;
        worker.commit(&mut batch, &mut carried, 0).unwrap();
        assert_eq!(batch.last, 1, "the commit covered only what fits its segment");
        assert_eq!(carried.as_ref().map(|b| b.last), Some(2), "the rest is the next commit's");
        let logged = wal::Dir::open(data.path(), true).unwrap().replay(0).unwrap();
        assert_eq!(logged.len(), 1);
    }

    #[test]
    fn durable_writes_reach_sled_once_the_log_has_nothing_more_to_write() {
        let (_data, journal, mut worker) = worker(64 << 10);
        let in_sled = |w: &Worker, key: &str| w.trees[0].get(key).unwrap().is_some();
        log(&journal, "a", 10);
        let mut batch = journal.take().unwrap();
        worker.commit(&mut batch, &mut None, 0).unwrap();
        log(&journal, "b", 10);
        worker.defer(batch.applies, batch.last);
        assert!(!in_sled(&worker, "a"), "a waits: b is to be written first");
        assert_eq!(worker.progress.borrow().applied, 0);

        let mut batch = journal.take().unwrap();
        worker.commit(&mut batch, &mut None, 1).unwrap();
        worker.defer(batch.applies, batch.last);
        assert!(in_sled(&worker, "a") && in_sled(&worker, "b"), "nothing more logged: both applied");
        assert_eq!(worker.progress.borrow().applied, 2);

        // A log that is never idle still applies them, APPLY_EVERY at a time.
        for i in 0..APPLY_EVERY {
            log(&journal, &format!("k{i}"), 10);
            let mut batch = journal.take().unwrap();
            let before = batch.last - 1;
            worker.commit(&mut batch, &mut None, before).unwrap();
            log(&journal, "more", 10);
            worker.defer(batch.applies, batch.last);
        }
        assert!(in_sled(&worker, "k0"), "applied though more was always logged");
        assert!(worker.progress.borrow().applied > 2);
    }

    #[test]
    fn a_callback_runs_once_its_ticket_is_settled_never_before_and_never_left_waiting() {
        let (tx, rx) = watch::channel(Progress::default());
        let callbacks = Callbacks::default();
        let (said, heard) = mpsc::channel();
        let tell = |name: &'static str| -> OnDurable {
            let said = said.clone();
            Box::new(move |r: Result<(), StoreError>| said.send((name, r.is_ok())).unwrap())
        };
        callbacks.register(&rx, Ticket(2), tell("two"));
        callbacks.register(&rx, Ticket(5), tell("five"));
        callbacks.publish(&tx, |p| p.durable = 1);
        assert!(heard.try_recv().is_err(), "nothing settled yet");

        callbacks.publish(&tx, |p| p.durable = 3);
        assert_eq!(heard.try_recv().unwrap(), ("two", true));
        assert!(heard.try_recv().is_err(), "five still waits");

        // Registered once its ticket is settled: run at once, by the caller.
        callbacks.register(&rx, Ticket(3), tell("three"));
        assert_eq!(heard.try_recv().unwrap(), ("three", true));

        // A failed flush settles its tickets too, as failures.
        callbacks.publish(&tx, |p| p.fail(3, 6));
        assert_eq!(heard.try_recv().unwrap(), ("five", false));

        callbacks.register(&rx, Ticket(9), tell("nine"));
        callbacks.close();
        assert_eq!(heard.try_recv().unwrap(), ("nine", false), "the flusher ended: told so");
        callbacks.register(&rx, Ticket(10), tell("ten"));
        assert_eq!(heard.try_recv().unwrap(), ("ten", false));
    }

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
