//! Checkpoints: making sled durable up to a point of the write-ahead log, so the log segments
//! before it can go, and preparing the next segment ahead of the flusher.
//!
//! A checkpoint records in sled how far the log is applied (`applied_through`) and how far ids
//! are reserved, then flushes sled and, when the store is power-safe, syncs its files
//! (`sync::DiskSync`); only then are the segments it covers deleted. Replay after a crash
//! starts after `applied_through`, so a segment whose deletion was lost is never replayed over
//! newer state.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::journal::Journal;
use super::sync::DiskSync;
use super::wal::{self, Segment};

/// sled's tree for what the engine keeps about itself.
pub const ENGINE_TREE: &str = "engine_v1";
/// The last log position sled holds, durably once a checkpoint's flush is done.
pub const APPLIED_THROUGH: &str = "applied_through";
/// The highest id that may have been handed out.
pub const IDS_RESERVED: &str = "ids_reserved";

/// How long after a failed preparation (a full disk, say) the next one may start.
const PREPARE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads one of the engine's counters; 0 if it was never written.
pub fn counter(meta: &sled::Tree, name: &str) -> sled::Result<u64> {
    Ok(meta.get(name)?.and_then(|v| Some(u64::from_be_bytes(v.as_ref().try_into().ok()?))).unwrap_or(0))
}

/// What the flusher asks for when it starts on segment `current`: the segment after it,
/// `capacity` bytes, prepared first (the flusher must never catch up with its preparation),
/// then, if `through` is set, a checkpoint covering the log through that position, which is
/// everything before `current`.
pub struct Request {
    pub current: u64,
    pub through: Option<u64>,
    pub capacity: u64,
}

/// The log's directory and the hand-over of prepared segments to the flusher.
pub struct Segments {
    dir: wal::Dir,
    next: Mutex<Option<Segment>>,
    /// The number of the segment the flusher writes.
    current: AtomicU64,
    /// Whether a segment is being prepared (or waits to be): the flusher asks again only
    /// when none is, e.g. after a preparation failed.
    preparing: AtomicBool,
}

impl Segments {
    pub fn new(dir: wal::Dir, current: u64) -> Segments {
        Segments {
            dir,
            next: Mutex::new(None),
            current: AtomicU64::new(current),
            preparing: AtomicBool::new(false),
        }
    }

    pub fn syncs(&self) -> bool {
        self.dir.syncs()
    }

    /// The first segment of a run, `number`, prepared now.
    pub fn first(&self, number: u64, capacity: u64) -> io::Result<Segment> {
        let segment = self.dir.install(self.dir.prepare(capacity)?, number)?;
        self.current.store(number, Ordering::Release);
        Ok(segment)
    }

    /// The segment after `current` if it is prepared. Until it is, the flusher goes on
    /// writing `current` past its zero-filled part: a file of its own per group commit, made
    /// at once, would cost a directory sync and a checkpoint each and outrun the preparation
    /// for good (as it once did: 55 one-commit segments in 0.2 s under load).
    pub fn after(&self, current: &Segment) -> Option<Segment> {
        let number = current.number + 1;
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let segment = next.take_if(|s| s.number == number)?;
        self.current.store(number, Ordering::Release);
        Some(segment)
    }

    /// Marks a preparation asked for; false if one already is.
    pub fn ask(&self) -> bool {
        !self.preparing.swap(true, Ordering::AcqRel)
    }

    /// Prepares segment `number` of `capacity` bytes for the flusher, unless it has moved on;
    /// then (done or failed) lets the flusher ask again.
    pub(super) fn prepare(&self, number: u64, capacity: u64) -> io::Result<()> {
        let result = (|| {
            let prepared = self.dir.prepare(capacity)?;
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            if self.current.load(Ordering::Acquire) < number && next.is_none() {
                *next = Some(self.dir.install(prepared, number)?);
                Ok(())
            } else {
                self.dir.discard(prepared)
            }
        })();
        self.preparing.store(false, Ordering::Release);
        result
    }
}

pub struct Checkpointer {
    db: sled::Db,
    meta: sled::Tree,
    disk: Option<DiskSync>,
    journal: Arc<Journal>,
    segments: Arc<Segments>,
}

impl Checkpointer {
    pub fn new(
        db: sled::Db,
        meta: sled::Tree,
        disk: Option<DiskSync>,
        journal: Arc<Journal>,
        segments: Arc<Segments>,
    ) -> Checkpointer {
        Checkpointer { db, meta, disk, journal, segments }
    }

    /// Makes sled durable with everything through log position `through`, then deletes the
    /// segments numbered below `before`.
    pub fn checkpoint(&mut self, through: u64, before: u64) -> Result<(), String> {
        let started = std::time::Instant::now();
        let result = (|| {
            self.meta.insert(APPLIED_THROUGH, &through.to_be_bytes()).map_err(|e| e.to_string())?;
            self.meta
                .insert(IDS_RESERVED, &self.journal.reserved().to_be_bytes())
                .map_err(|e| e.to_string())?;
            self.db.flush().map_err(|e| e.to_string())?;
            if let Some(disk) = &mut self.disk {
                disk.sync().map_err(|e| format!("fsync: {e}"))?;
            }
            self.segments.dir.delete_before(before).map_err(|e| format!("deleting log segments: {e}"))
        })();
        crate::metrics::checkpoint(started.elapsed());
        result
    }

    /// Runs checkpoints as the flusher asks until it goes; hands itself back for the last one.
    pub fn start(self, requests: mpsc::Receiver<Request>) -> JoinHandle<Checkpointer> {
        thread::Builder::new()
            .name("switchboard-checkpoint".into())
            .spawn(move || {
                let mut me = self;
                for r in requests {
                    if let Err(e) = me.segments.prepare(r.current + 1, r.capacity) {
                        tracing::warn!(error = %e, "preparing the next log segment failed");
                        // The flusher asks again at its next commit: not more than this often.
                        thread::sleep(PREPARE_RETRY);
                    }
                    if let Some(through) = r.through {
                        if let Err(e) = me.checkpoint(through, r.current) {
                            // The segments stay: replay covers what sled may have lost.
                            tracing::error!(error = %e, "checkpoint failed");
                        }
                    }
                }
                me
            })
            .expect("spawning the checkpoint thread")
    }
}
