//! Writes between the moment a writer makes them and the moment sled holds them: the batch
//! of log records the next group commit writes, and the values those records carry, which
//! every read sees first (read-your-writes). The flusher (`flusher`) takes the batch, makes
//! it durable in the write-ahead log (`wal`), applies it to sled and only then forgets the
//! values here, so a reader always finds a write in one place or the other.
//!
//! One mutex orders every write: the order records take in the log is the order they were
//! decided in, which is what makes replaying the log after a crash give the same state.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use sled::IVec;

use super::wal::{self, Record};

/// A write waiting to reach sled; `value` is `None` for a removal.
#[derive(Clone)]
pub struct Pending {
    pub pos: u64,
    pub value: Option<IVec>,
}

/// A write to apply to sled once durable.
pub struct Apply {
    pub slot: usize,
    pub key: Vec<u8>,
    pub pending: Pending,
}

/// What a group commit takes: the encoded records, the writes they carry, and the position
/// of the last one.
pub struct Batch {
    pub bytes: Vec<u8>,
    pub applies: Vec<Apply>,
    pub last: u64,
}

struct State {
    /// By slot (one per sled tree the engine writes), the newest pending write of each key.
    pending: Vec<BTreeMap<Vec<u8>, Pending>>,
    batch: Vec<u8>,
    applies: Vec<Apply>,
    /// The newest id reservation logged and the one before it, as (the highest id it covers,
    /// the position of its record; 0 for one durable since the engine opened).
    reserved: (u64, u64),
    previous: (u64, u64),
}

pub struct Journal {
    state: Mutex<State>,
    /// The position of the last record made; read without the lock for tickets.
    pos: AtomicU64,
    /// sled's names of the trees, by slot, for the log records.
    names: Vec<IVec>,
}

/// A write's outcome as its check decides it, seeing the current value.
pub enum Decision<T> {
    /// Write `value` (`None`: remove), and answer `T`.
    Write(Option<IVec>, T),
    /// Change nothing, and answer `T`.
    Keep(T),
}

impl Journal {
    /// A journal for trees named `names` (by slot), whose log continues after position `pos`
    /// with ids reserved up to `reserved`.
    pub fn new(names: Vec<IVec>, pos: u64, reserved: u64) -> Journal {
        Journal {
            state: Mutex::new(State {
                pending: names.iter().map(|_| BTreeMap::new()).collect(),
                batch: Vec::new(),
                applies: Vec::new(),
                reserved: (reserved, 0),
                previous: (reserved, 0),
            }),
            pos: AtomicU64::new(pos),
            names,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps as they were before or after one
        // whole write: nothing half-made to guard against.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The position of the last record made.
    pub fn last(&self) -> u64 {
        self.pos.load(Ordering::Acquire)
    }

    /// The pending write of `key`, if there is one.
    pub fn get(&self, slot: usize, key: &[u8]) -> Option<Pending> {
        self.lock().pending[slot].get(key).cloned()
    }

    /// Decides a write on the current value of `key` (the pending one, else `stored(key)`,
    /// read under the lock so no other write comes in between) and logs what `decide` chose.
    pub fn write<T, E>(
        &self,
        slot: usize,
        key: Vec<u8>,
        stored: impl FnOnce(&[u8]) -> Result<Option<IVec>, E>,
        decide: impl FnOnce(Option<&IVec>) -> Result<Decision<T>, E>,
    ) -> Result<T, E> {
        let mut state = self.lock();
        let decision = match state.pending[slot].get(&key) {
            Some(p) => decide(p.value.as_ref())?,
            None => decide(stored(&key)?.as_ref())?,
        };
        match decision {
            Decision::Keep(answer) => Ok(answer),
            Decision::Write(value, answer) => {
                self.log(&mut state, slot, key, value);
                Ok(answer)
            }
        }
    }

    /// Logs `value` under `key` (`None`: removes it) whatever is there.
    pub fn set(&self, slot: usize, key: Vec<u8>, value: Option<IVec>) {
        let mut state = self.lock();
        self.log(&mut state, slot, key, value);
    }

    fn log(&self, state: &mut State, slot: usize, key: Vec<u8>, value: Option<IVec>) {
        let pos = self.pos.load(Ordering::Relaxed) + 1;
        wal::encode_change(&mut state.batch, pos, &self.names[slot], &key, value.as_deref());
        let pending = Pending { pos, value };
        state.pending[slot].insert(key.clone(), pending.clone());
        state.applies.push(Apply { slot, key, pending });
        self.pos.store(pos, Ordering::Release);
    }

    /// Makes sure a logged reservation covers id `id`, logging the next one (`block` ids
    /// further) when `id` comes within half a block of the end: the position of the record
    /// that covers `id`, which must be durable before `id` is handed out (0: it was at open).
    pub fn reserve_for(&self, id: u64, block: u64) -> u64 {
        let mut state = self.lock();
        if id + block / 2 > state.reserved.0 {
            let through = id.max(state.reserved.0) + block;
            let pos = self.pos.load(Ordering::Relaxed) + 1;
            wal::encode(&mut state.batch, pos, &Record::Reserve(through));
            self.pos.store(pos, Ordering::Release);
            state.previous = state.reserved;
            state.reserved = (through, pos);
        }
        if id <= state.previous.0 {
            state.previous.1
        } else {
            state.reserved.1
        }
    }

    /// The highest id reserved so far (logged, not necessarily durable).
    pub fn reserved(&self) -> u64 {
        self.lock().reserved.0
    }

    /// The pending writes of keys in `range` of `slot`, in key order.
    pub fn range(&self, slot: usize, from: &[u8], to: Bound<&[u8]>) -> Vec<(Vec<u8>, Option<IVec>)> {
        let state = self.lock();
        state.pending[slot]
            .range::<[u8], _>((Bound::Included(from), to))
            .map(|(k, p)| (k.clone(), p.value.clone()))
            .collect()
    }

    /// Whether `slot` has a pending write that stores a value.
    pub fn stores_any(&self, slot: usize) -> bool {
        self.lock().pending[slot].values().any(|p| p.value.is_some())
    }

    /// Takes everything made since the last take; `None` if nothing was.
    pub fn take(&self) -> Option<Batch> {
        let mut state = self.lock();
        if state.batch.is_empty() {
            return None;
        }
        Some(Batch {
            bytes: std::mem::take(&mut state.batch),
            applies: std::mem::take(&mut state.applies),
            last: self.pos.load(Ordering::Relaxed),
        })
    }

    /// Forgets the pending writes `applies` carried, now that sled holds them, unless a newer
    /// write of the same key is pending.
    pub fn applied(&self, applies: &[Apply]) {
        let mut state = self.lock();
        for a in applies {
            let map = &mut state.pending[a.slot];
            if map.get(&a.key).is_some_and(|p| p.pos == a.pending.pos) {
                map.remove(&a.key);
            }
        }
    }
}

/// The exclusive end of the keys starting with `prefix`: `Unbounded` if there is none.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal() -> Journal {
        Journal::new(vec![IVec::from("a"), IVec::from("b")], 0, 0)
    }

    fn put(j: &Journal, key: &[u8], value: &str) {
        let v = IVec::from(value);
        j.write(0, key.to_vec(), |_| Ok::<_, ()>(None), |_| Ok(Decision::Write(Some(v), ()))).unwrap();
    }

    #[test]
    fn a_pending_write_is_read_until_applied_unless_a_newer_one_replaced_it() {
        let j = journal();
        put(&j, b"k", "one");
        let first = j.take().unwrap();
        assert_eq!(first.last, 1);
        assert_eq!(j.get(0, b"k").unwrap().value.unwrap(), IVec::from("one"));
        put(&j, b"k", "two");
        j.applied(&first.applies);
        assert_eq!(j.get(0, b"k").unwrap().value.unwrap(), IVec::from("two"), "the newer write stays");
        let second = j.take().unwrap();
        j.applied(&second.applies);
        assert!(j.get(0, b"k").is_none());
        assert!(j.take().is_none(), "nothing new");
        let (records, _) = wal::decode_all(&[first.bytes, second.bytes].concat());
        assert_eq!(records.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_decision_sees_the_pending_value_before_the_stored_one() {
        let j = journal();
        put(&j, b"k", "pending");
        let seen = j
            .write(
                0,
                b"k".to_vec(),
                |_| Ok::<_, ()>(Some(IVec::from("stored"))),
                |v| Ok(Decision::Keep(v.cloned())),
            )
            .unwrap();
        assert_eq!(seen, Some(IVec::from("pending")));
        let seen = j.write(
            1,
            b"k".to_vec(),
            |_| Ok::<_, ()>(Some(IVec::from("stored"))),
            |v| Ok(Decision::Keep(v.cloned())),
        );
        assert_eq!(seen.unwrap(), Some(IVec::from("stored")), "another tree's key");
        assert_eq!(j.last(), 1, "keeping logs nothing");
    }

    #[test]
    fn ids_wait_only_for_the_reservation_that_covers_them() {
        let j = Journal::new(vec![IVec::from("a")], 0, 100);
        assert_eq!(j.reserve_for(10, 100), 0, "covered since open");
        assert_eq!(j.last(), 0, "far from the end: nothing logged");
        assert_eq!(j.reserve_for(60, 100), 0, "within half a block of the end: the next is logged");
        assert_eq!(j.reserved(), 200);
        assert_eq!(j.reserve_for(100, 100), 0, "still the one from open");
        assert_eq!(j.reserve_for(101, 100), 1, "past it: the record logged at position 1");
        assert_eq!(j.reserve_for(400, 100), 2, "a jump logs a reservation that covers it");
        assert_eq!(j.reserved(), 500);
        assert_eq!(j.last(), 2);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
