//! Read-your-writes: what this engine has written and JetStream has not yet acknowledged,
//! and what it knows of the keys and transcripts it touched (the revision it handed out, the
//! stream sequence behind it). Reads see pending writes at once; conditional writes are
//! decided against this knowledge at once, and only another node's writes in between are
//! found out later, at the server.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::writer::Done;
use crate::store::engine::{Revision, Tree};

/// Revisions this engine hands out for writes JetStream has not stored yet carry this bit;
/// stream sequences never reach it.
const LOCAL: u64 = 1 << 63;

/// How many keys' revisions are remembered: past it, keys with nothing pending are
/// forgotten, and a conditional write naming a forgotten local revision is refused.
const REMEMBERED_KEYS: usize = 200_000;

pub fn local_revision(pos: u64) -> Revision {
    Revision(LOCAL | pos)
}

/// A key's state as this engine knows it.
pub struct KeyState {
    /// Tells this state from a later one for the same key (after it was forgotten).
    pub epoch: u64,
    /// The revision a reader was last handed: what a conditional write must name.
    pub issued: Revision,
    /// The stream sequence of the stored value (`None`: no value), when nothing is pending.
    pub stored: Option<u64>,
    /// The newest write not yet acknowledged.
    pub pending: Option<PendingKey>,
}

pub struct PendingKey {
    pub pos: u64,
    /// The value written; `None` for a removal.
    pub value: Option<Bytes>,
    pub done: Done,
}

/// A transcript as this engine knows it.
pub struct LogState {
    pub epoch: u64,
    /// The highest seq taken, pending or stored.
    pub last: u64,
    /// The stream sequence of entry `last`, once stored.
    pub last_stored: Option<u64>,
    /// Entries not yet acknowledged, by seq.
    pub pending: BTreeMap<u64, Bytes>,
    /// The newest pending append (its position and completion): the next one waits for it.
    pub tail: Option<(u64, Done)>,
}

#[derive(Default)]
pub struct Overlay {
    pub keys: HashMap<(Tree, String), KeyState>,
    pub logs: HashMap<u64, LogState>,
    epochs: u64,
}

impl Overlay {
    pub fn epoch(&mut self) -> u64 {
        self.epochs += 1;
        self.epochs
    }

    /// Remembers what the server holds for a key nobody has written through this engine
    /// since: the revision readers are handed. A state with a write pending, or whose stored
    /// sequence is still the server's, keeps its revision.
    pub fn learn(&mut self, tree: Tree, token: &str, stored: Option<u64>) -> Revision {
        let server_revision = stored.map_or(Revision::ABSENT, Revision);
        if let Some(state) = self.keys.get_mut(&(tree, token.to_owned())) {
            if state.pending.is_some() || state.stored == stored {
                return state.issued;
            }
            state.stored = stored;
            state.issued = server_revision;
            return server_revision;
        }
        if self.keys.len() >= REMEMBERED_KEYS {
            self.keys.retain(|_, s| s.pending.is_some());
        }
        let epoch = self.epoch();
        self.keys.insert(
            (tree, token.to_owned()),
            KeyState { epoch, issued: server_revision, stored, pending: None },
        );
        server_revision
    }

    /// Pending transcript entries of `log` after `after`.
    pub fn pending_entries(&self, log: u64, after: u64) -> Vec<(u64, Bytes)> {
        self.logs.get(&log).map_or_else(Vec::new, |l| {
            l.pending.range(after.saturating_add(1)..).map(|(s, v)| (*s, v.clone())).collect()
        })
    }
}
