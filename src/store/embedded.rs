//! The embedded engine: sled on one machine, behind a write-ahead log of our own. One sled
//! tree per [`Tree`] (named as it always was, so existing data directories read as they are),
//! transcripts in one `messages` tree under `conversation | 0 | seq`, keys big-endian so
//! sled's byte order is numeric order and a transcript is one range scan.
//!
//! A write is decided and logged in the `journal` (where reads see it at once), made durable
//! by the group commit of `flusher` into the log (`wal`), then applied to sled; `checkpoint`
//! makes sled durable from time to time and deletes the log it covers. Opening replays the log
//! after the last checkpoint.

use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use sled::IVec;

use super::checkpoint::{self, Checkpointer, Segments};
use super::engine::{Durable, Engine, Entry, Expect, Kind, OnDurable, Part, Revision, Tree};
use super::flusher::Flusher;
use super::journal::{prefix_end, Decision, Journal};
use super::keys;
use super::sync::DiskSync;
use super::wal::{self, Record};
use super::{StoreError, Ticket};
use crate::config::Durability;
use crate::ids::ConversationId;

/// The messages tree: every transcript, one after another, keyed as `keys` says. Data
/// written before format 3 also holds idempotency entries there, which the migration to
/// format 3 folds into the messages.
const MESSAGES: &str = "messages_v1";
/// The journal slot of the messages tree; the others are `Tree as usize`.
const MESSAGES_SLOT: usize = Tree::ALL.len();
/// Ids are reserved in the log this many at a time, so handing one out never waits for a
/// sync (unless a whole half-block goes between two group commits).
const ID_BLOCK: u64 = 100_000;

pub struct Embedded {
    db: sled::Db,
    /// sled's trees by journal slot: `Tree::ALL`, then the messages.
    slots: Vec<sled::Tree>,
    journal: Arc<Journal>,
    flusher: Arc<Flusher>,
    /// The last id handed out.
    ids: AtomicU64,
    dir: std::path::PathBuf,
    power_safe: bool,
    threads: Option<(JoinHandle<()>, JoinHandle<Checkpointer>)>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.flusher.stop();
        let Some((flusher, checkpoints)) = self.threads.take() else { return };
        // The flusher writes what is left and goes; the checkpoint thread follows once its
        // queue is empty, and hands back what the last checkpoint needs: the whole log is
        // then in sled, durably, and deleted.
        if flusher.join().is_err() {
            return;
        }
        if let Ok(mut last) = checkpoints.join() {
            if let Err(e) = last.checkpoint(self.journal.last(), u64::MAX) {
                tracing::error!(error = %e, "the closing checkpoint failed; the log is replayed at the next start");
            }
        }
    }
}

impl Embedded {
    /// Opens (creating if need be) the engine in `dir`; what each durable write survives is
    /// `durability`.
    pub fn open(dir: &Path, cache_bytes: u64, durability: Durability) -> Result<Embedded, StoreError> {
        let io = |e: std::io::Error| StoreError::Sled(e.into());
        std::fs::create_dir_all(dir).map_err(io)?;
        let power_safe = durability == Durability::PowerLoss;
        // sled's own periodic flush is off: the log makes writes durable, checkpoints make sled.
        // What sled counts as stable is durable when a power cut is to be survived (our patch
        // of sled: see `sync`).
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .power_safe(power_safe);
        let db = config.open().map_err(|e| match e {
            sled::Error::Io(ref io)
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
            {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Sled(other),
        })?;
        let mut slots = Tree::ALL.iter().map(|t| db.open_tree(t.name())).collect::<Result<Vec<_>, _>>()?;
        slots.push(db.open_tree(MESSAGES)?);
        let meta = db.open_tree(checkpoint::ENGINE_TREE)?;
        let log = wal::Dir::open(dir, power_safe).map_err(io)?;

        // What the last run logged after its last checkpoint goes into sled first.
        let applied = checkpoint::counter(&meta, checkpoint::APPLIED_THROUGH)?;
        let mut reserved = match checkpoint::counter(&meta, checkpoint::IDS_RESERVED)? {
            // A store from before the log handed out sled's ids, which restart above any given.
            0 => db.generate_id()?,
            n => n,
        };
        let replayed = log.replay(applied).map_err(io)?;
        let last = replayed.last().map_or(applied, |(pos, _)| *pos);
        for (_, record) in &replayed {
            match record {
                Record::Put { tree, key, value } => {
                    db.open_tree(tree)?.insert(key.as_slice(), value.as_slice())?;
                }
                Record::Remove { tree, key } => {
                    db.open_tree(tree)?.remove(key.as_slice())?;
                }
                Record::Reserve(through) => reserved = reserved.max(*through),
            }
        }
        if !replayed.is_empty() {
            tracing::info!(records = replayed.len(), "replayed the write-ahead log");
        }

        // This run's ids start above every id the last one may have handed out, with a block
        // reserved that the checkpoint below makes durable.
        let names = slots.iter().map(|t| t.name()).collect();
        let journal = Arc::new(Journal::new(names, last, reserved + ID_BLOCK));
        let newest = log.segments().map_err(io)?.last().copied().unwrap_or(0);
        // Everything sled wrote while opening and replaying (the new snapshot, a new `conf`,
        // the directories) is made durable before anything relies on it.
        let disk = if power_safe { Some(DiskSync::open(dir).map_err(io)?) } else { None };
        let segments = Arc::new(Segments::new(log, newest + 1));
        let mut checkpointer = Checkpointer::new(db.clone(), meta, disk, journal.clone(), segments.clone());
        checkpointer
            .checkpoint(last, u64::MAX)
            .map_err(|e| StoreError::Sled(std::io::Error::other(e).into()))?;
        let first = segments.first(newest + 1, wal::FIRST_SEGMENT_BYTES).map_err(io)?;

        let (requests, incoming) = mpsc::channel();
        let checkpoints = checkpointer.start(incoming);
        let (flusher, flushing) = Flusher::start(journal.clone(), slots.clone(), segments, first, requests);
        Ok(Embedded {
            db,
            slots,
            journal,
            flusher,
            ids: AtomicU64::new(reserved),
            dir: dir.to_path_buf(),
            power_safe,
            threads: Some((flushing, checkpoints)),
        })
    }

    /// The transcripts' tree as sled keeps it, for tests of its layout: everything written
    /// so far is applied first.
    #[cfg(test)]
    pub(super) fn messages(&self) -> &sled::Tree {
        futures_executor::block_on(self.flusher.applied(self.flusher.ticket()));
        &self.slots[MESSAGES_SLOT]
    }

    fn sled(&self, slot: usize) -> &sled::Tree {
        &self.slots[slot]
    }

    /// The value of `key` in `slot`: the pending write, else sled's.
    fn current(&self, slot: usize, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        match self.journal.get(slot, key) {
            Some(p) => Ok(p.value),
            None => Ok(self.sled(slot).get(key)?),
        }
    }

    /// A conditional write of `key` in `slot`: `decide` sees its current value, pending or
    /// stored, with no other write in between.
    fn decide<T>(
        &self,
        slot: usize,
        key: Vec<u8>,
        decide: impl FnOnce(Option<&IVec>) -> Result<Decision<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let stored = self.sled(slot);
        self.journal.write(slot, key, |k| Ok(stored.get(k)?), decide)
    }

    /// The entries of `slot` from `from` up to `to`, pending writes over sled's: read from
    /// sled first, so an entry applied (and forgotten by the journal) in between is found in
    /// one or the other.
    fn range(&self, slot: usize, from: &[u8], to: Bound<&[u8]>) -> Result<Vec<(IVec, IVec)>, StoreError> {
        // The journal first, as `current` does: a write leaves it only after sled holds it, so
        // one missing from it then is in sled by the time sled is read. Read the other way
        // round, a write the flusher applies in between is in neither read (an erasure then
        // missed entries, which came back once applied).
        let pending = self.journal.range(slot, from, to);
        let stored = self.sled(slot).range::<&[u8], _>((Bound::Included(from), to));
        let mut merged = std::collections::BTreeMap::new();
        for kv in stored {
            let (k, v) = kv?;
            merged.insert(k, v);
        }
        for (k, v) in pending {
            match v {
                Some(v) => merged.insert(IVec::from(k), v),
                None => merged.remove(k.as_slice()),
            };
        }
        Ok(merged.into_iter().collect())
    }
}

/// A value's revision: a hash of its bytes, so a compare-and-swap on the bytes checks it.
/// Valid while this process runs, which is as long as revisions are kept.
fn revision_of(value: Option<&[u8]>) -> Revision {
    match value {
        None => Revision::ABSENT,
        Some(bytes) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            Revision(h.finish().max(1))
        }
    }
}

fn key_bytes(tree: Tree, key: &[Part], whole: bool) -> Result<Vec<u8>, StoreError> {
    if !tree.fits(key, whole) {
        return Err(StoreError::Corrupt(format!("a key {key:?} that does not fit {}", tree.name())));
    }
    let mut out = Vec::with_capacity(16);
    for part in key {
        match part {
            Part::Id(id) => out.extend_from_slice(&id.to_be_bytes()),
            Part::Short(n) => out.extend_from_slice(&n.to_be_bytes()),
            Part::Text(t) => out.extend_from_slice(t.as_bytes()),
            Part::Bytes(b) => out.extend_from_slice(b),
        }
    }
    Ok(out)
}

fn parts_of(tree: Tree, mut bytes: &[u8]) -> Result<Vec<Part>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("a key in {} that does not fit its shape", tree.name()));
    let mut parts = Vec::with_capacity(tree.shape().len());
    for kind in tree.shape() {
        let part = match kind {
            Kind::Id => {
                let (head, rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
                bytes = rest;
                Part::Id(u64::from_be_bytes(*head))
            }
            Kind::Short => {
                let (head, rest) = bytes.split_first_chunk::<2>().ok_or_else(corrupt)?;
                bytes = rest;
                Part::Short(u16::from_be_bytes(*head))
            }
            Kind::Text => {
                Part::Text(String::from_utf8(std::mem::take(&mut bytes).to_vec()).map_err(|_| corrupt())?)
            }
            Kind::Bytes => Part::Bytes(std::mem::take(&mut bytes).to_vec()),
        };
        parts.push(part);
    }
    if bytes.is_empty() {
        Ok(parts)
    } else {
        Err(corrupt())
    }
}

fn message_key(log: u64, seq: u64) -> [u8; 17] {
    keys::message(ConversationId(log), seq)
}

fn seq_of(key: &[u8]) -> u64 {
    keys::seq_of_message_key(key)
}

fn conflict() -> StoreError {
    StoreError::Conflict
}

impl Engine for Embedded {
    fn get(&self, tree: Tree, key: &[Part]) -> Result<Option<(Vec<u8>, Revision)>, StoreError> {
        let value = self.current(tree as usize, &key_bytes(tree, key, true)?)?;
        Ok(value.map(|v| {
            let rev = revision_of(Some(&v));
            (v.to_vec(), rev)
        }))
    }

    fn put(&self, tree: Tree, key: &[Part], value: &[u8], expect: Expect) -> Result<Revision, StoreError> {
        let slot = tree as usize;
        let k = key_bytes(tree, key, true)?;
        let written = revision_of(Some(value));
        let value = IVec::from(value);
        match expect {
            Expect::Any => self.journal.set(slot, k, Some(value)),
            Expect::At(rev) => self.decide(slot, k, |current| {
                if revision_of(current.map(|v| v.as_ref())) == rev {
                    Ok(Decision::Write(Some(value), ()))
                } else {
                    Err(conflict())
                }
            })?,
        }
        Ok(written)
    }

    fn insert_new(&self, tree: Tree, key: &[Part], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.decide(tree as usize, key_bytes(tree, key, true)?, |current| {
            Ok(match current {
                Some(there) => Decision::Keep(Some(there.to_vec())),
                None => Decision::Write(Some(IVec::from(value)), None),
            })
        })
    }

    fn remove(&self, tree: Tree, key: &[Part]) -> Result<bool, StoreError> {
        self.decide(tree as usize, key_bytes(tree, key, true)?, |current| {
            Ok(if current.is_some() { Decision::Write(None, true) } else { Decision::Keep(false) })
        })
    }

    fn scan(&self, tree: Tree, prefix: &[Part]) -> Result<Vec<Entry>, StoreError> {
        let from = key_bytes(tree, prefix, false)?;
        let end = prefix_end(&from);
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.range(tree as usize, &from, to)?
            .into_iter()
            .map(|(k, v)| Ok((parts_of(tree, &k)?, v.to_vec())))
            .collect()
    }

    fn is_empty(&self, tree: Tree) -> Result<bool, StoreError> {
        let slot = tree as usize;
        if self.journal.stores_any(slot) {
            return Ok(false);
        }
        // Pending removals may empty what sled still holds.
        for key in self.sled(slot).iter().keys() {
            if self.journal.get(slot, &key?).is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn append(&self, log: u64, seq: u64, value: &[u8]) -> Result<(), StoreError> {
        // The entry before must be there and this one must not: with one writer per log (a
        // conversation's actor), nothing appends between the check and the write.
        if seq == 0 || (seq > 1 && self.current(MESSAGES_SLOT, &message_key(log, seq - 1))?.is_none()) {
            return Err(conflict());
        }
        self.decide(MESSAGES_SLOT, message_key(log, seq).to_vec(), |current| match current {
            Some(_) => Err(conflict()),
            None => Ok(Decision::Write(Some(IVec::from(value)), ())),
        })
    }

    fn read(&self, log: u64, after: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = message_key(log, after.saturating_add(1));
        let end = message_key(log, u64::MAX);
        Ok(self
            .range(MESSAGES_SLOT, &start, Bound::Included(&end))?
            .into_iter()
            .map(|(k, v)| (seq_of(&k), v.to_vec()))
            .collect())
    }

    fn last_seq(&self, log: u64) -> Result<u64, StoreError> {
        let start = message_key(log, 0);
        let end = message_key(log, u64::MAX);
        let pending = self.journal.range(MESSAGES_SLOT, &start, Bound::Included(&end));
        let newest_pending = pending.iter().rev().find(|(_, v)| v.is_some()).map_or(0, |(k, _)| seq_of(k));
        let removed = |k: &[u8]| pending.iter().any(|(p, v)| v.is_none() && p.as_slice() == k);
        let mut newest_stored = 0;
        for k in self.sled(MESSAGES_SLOT).range(start..=end).keys().rev() {
            let k = k?;
            if !removed(&k) {
                newest_stored = seq_of(&k);
                break;
            }
        }
        Ok(newest_pending.max(newest_stored))
    }

    fn erase_log(&self, log: u64) -> Result<(), StoreError> {
        let start = message_key(log, 0);
        let end = message_key(log, u64::MAX);
        for (key, _) in self.range(MESSAGES_SLOT, &start, Bound::Included(&end))? {
            self.journal.set(MESSAGES_SLOT, key.to_vec(), None);
        }
        Ok(())
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        let id = self.ids.fetch_add(1, Ordering::AcqRel) + 1;
        let covering = self.journal.reserve_for(id, ID_BLOCK);
        // The reservation must be durable before the id leaves, or a power cut could hand
        // it out again; it almost always is, a half-block of ids ago.
        if !self.flusher.is_durable(Ticket(covering)) {
            // A ticket now covers the reservation and wakes the flusher for it.
            futures_executor::block_on(self.flusher.durable(self.flusher.ticket()))?;
        }
        Ok(id)
    }

    fn ticket(&self) -> Ticket {
        self.flusher.ticket()
    }

    fn upgrade(&self, from: u8) -> Result<(), StoreError> {
        // The migrations rewrite sled directly: everything logged so far goes in first, and
        // what they wrote is made durable before the store is marked as this format.
        futures_executor::block_on(self.flusher.applied(self.flusher.ticket()));
        super::migrations::upgrade(&self.slots[MESSAGES_SLOT], from)?;
        self.db.flush()?;
        if self.power_safe {
            // Migrations rewrite transcripts, small records: sled's log holds them, no blobs.
            std::fs::File::open(self.dir.join("db"))
                .and_then(|f| f.sync_data())
                .map_err(|e| StoreError::Sled(e.into()))?;
        }
        Ok(())
    }

    fn durable(&self, ticket: Ticket) -> Durable {
        let flusher = self.flusher.clone();
        Box::pin(async move { flusher.durable(ticket).await })
    }

    fn when_durable(&self, ticket: Ticket, then: OnDurable) {
        self.flusher.when_durable(ticket, then);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_byte_layout_of_earlier_releases() {
        // Data directories written before the engine seam must read as they are.
        let pair = key_bytes(Tree::CustomerConversations, &[Part::Id(1), Part::Id(2)], true).unwrap();
        assert_eq!(pair, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
        let start = key_bytes(Tree::Starts, &[Part::Id(3), Part::Text("c-1".into())], true).unwrap();
        assert_eq!(start, b"\0\0\0\0\0\0\0\x03c-1");
        let hook = key_bytes(Tree::WebhookOutbox, &[Part::Id(5), Part::Short(2)], true).unwrap();
        assert_eq!(hook, [0, 0, 0, 0, 0, 0, 0, 5, 0, 2]);
        assert_eq!(parts_of(Tree::WebhookOutbox, &hook).unwrap(), [Part::Id(5), Part::Short(2)]);
    }

    #[test]
    fn opening_replays_the_log_after_the_last_checkpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Embedded::open(dir.path(), 1 << 20, Durability::PowerLoss).unwrap();
        let experts = |n| [Part::Id(n)];
        {
            let e = open();
            e.put(Tree::Experts, &experts(1), b"checkpointed", Expect::Any).unwrap();
            futures_executor::block_on(e.durable(e.ticket())).unwrap();
        } // a clean close: everything through position 1 is in sled, durably.

        // What a crash leaves: a segment holding records from before that checkpoint (not to
        // be replayed over newer state) and after it.
        let log = wal::Dir::open(dir.path(), true).unwrap();
        let key = |n: u64| key_bytes(Tree::Experts, &experts(n), true).unwrap();
        let name = Tree::Experts.name().as_bytes().to_vec();
        let put = |n, v: &[u8]| Record::Put { tree: name.clone(), key: key(n), value: v.to_vec() };
        let mut bytes = Vec::new();
        wal::encode(&mut bytes, 1, &put(1, b"an older value"));
        wal::encode(&mut bytes, 2, &put(2, b"logged"));
        wal::encode(&mut bytes, 3, &Record::Remove { tree: name.clone(), key: key(2) });
        wal::encode(&mut bytes, 4, &put(2, b"logged again"));
        wal::encode(&mut bytes, 5, &Record::Reserve(1_000_000_000));
        wal::encode(&mut bytes, 7, &put(3, b"after a gap: not part of the log"));
        let mut segment = log.install(log.prepare(4096).unwrap(), 7).unwrap();
        segment.write(&bytes).and_then(|()| segment.sync()).unwrap();

        let e = open();
        assert_eq!(
            e.get(Tree::Experts, &experts(2)).unwrap().unwrap().0,
            b"logged again",
            "replayed in order"
        );
        let first = e.get(Tree::Experts, &experts(1)).unwrap().unwrap().0;
        assert_eq!(
            first, b"checkpointed",
            "position 1 was covered by the checkpoint: never replayed over it"
        );
        assert_eq!(e.get(Tree::Experts, &experts(3)).unwrap(), None);
        assert!(e.next_id().unwrap() > 1_000_000_000, "ids stay above every logged reservation");
        assert_eq!(log.segments().unwrap(), [8], "the replayed log was checkpointed and deleted");
    }

    #[test]
    fn keys_that_do_not_fit_the_tree_are_refused() {
        assert!(key_bytes(Tree::Experts, &[Part::Text("x".into())], true).is_err());
        assert!(key_bytes(Tree::CustomerConversations, &[Part::Id(1)], true).is_err());
        assert!(key_bytes(Tree::CustomerConversations, &[Part::Id(1)], false).is_ok());
    }
}
