//! The embedded engine: sled on one machine. One sled tree per [`Tree`] (named as it always
//! was, so existing data directories read as they are), transcripts in one `messages` tree
//! under `conversation | 0 | seq`, keys big-endian so sled's byte order is numeric order and a
//! transcript is one range scan. Group commit and the power-safe sync are `flusher` and
//! `sync`.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use super::engine::{Durable, Engine, Entry, Expect, Kind, Part, Revision, Tree};
use super::flusher::Flusher;
use super::keys;
use super::sync::DiskSync;
use super::{StoreError, Ticket};
use crate::config::Durability;
use crate::ids::ConversationId;

/// The messages tree: every transcript, one after another, keyed as `keys` says. Data
/// written before format 3 also holds idempotency entries there, which the migration to
/// format 3 folds into the messages.
const MESSAGES: &str = "messages_v1";

pub struct Embedded {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    messages: sled::Tree,
    flusher: Arc<Flusher>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.flusher.stop();
        let _ = self.db.flush();
    }
}

impl Embedded {
    /// Opens (creating if need be) the engine in `dir`; what each durable write survives is
    /// `durability`.
    pub fn open(dir: &Path, cache_bytes: u64, durability: Durability) -> Result<Embedded, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(e.into()))?;
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes).open().map_err(|e| match e {
            sled::Error::Io(ref io)
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
            {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Sled(other),
        })?;
        let trees = Tree::ALL.iter().map(|t| db.open_tree(t.name())).collect::<Result<Vec<_>, _>>()?;
        let messages = db.open_tree(MESSAGES)?;
        // Everything sled wrote while opening (the new snapshot, a new `conf`, the directories)
        // is made durable here, before anything relies on it.
        let disk = match durability {
            Durability::PowerLoss => Some(DiskSync::open(dir).map_err(|e| StoreError::Sled(e.into()))?),
            Durability::ProcessCrash => None,
        };
        let (flusher, _thread) = Flusher::start(db.clone(), disk);
        Ok(Embedded { db, trees, messages, flusher })
    }

    /// The transcripts' tree as sled keeps it, for tests of its layout.
    #[cfg(test)]
    pub(super) fn messages(&self) -> &sled::Tree {
        &self.messages
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree as usize]
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
        let value = self.tree(tree).get(key_bytes(tree, key, true)?)?;
        Ok(value.map(|v| {
            let rev = revision_of(Some(&v));
            (v.to_vec(), rev)
        }))
    }

    fn put(&self, tree: Tree, key: &[Part], value: &[u8], expect: Expect) -> Result<Revision, StoreError> {
        let t = self.tree(tree);
        let k = key_bytes(tree, key, true)?;
        match expect {
            Expect::Any => {
                t.insert(k, value)?;
            }
            Expect::At(rev) => {
                let current = t.get(&k)?;
                if revision_of(current.as_deref()) != rev {
                    return Err(conflict());
                }
                t.compare_and_swap(k, current, Some(value))?.map_err(|_| conflict())?;
            }
        }
        Ok(revision_of(Some(value)))
    }

    fn insert_new(&self, tree: Tree, key: &[Part], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let k = key_bytes(tree, key, true)?;
        Ok(match self.tree(tree).compare_and_swap(k, None as Option<&[u8]>, Some(value))? {
            Ok(()) => None,
            Err(e) => Some(e.current.map(|v| v.to_vec()).unwrap_or_default()),
        })
    }

    fn remove(&self, tree: Tree, key: &[Part]) -> Result<bool, StoreError> {
        Ok(self.tree(tree).remove(key_bytes(tree, key, true)?)?.is_some())
    }

    fn scan(&self, tree: Tree, prefix: &[Part]) -> Result<Vec<Entry>, StoreError> {
        let t = self.tree(tree);
        t.scan_prefix(key_bytes(tree, prefix, false)?)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((parts_of(tree, &k)?, v.to_vec()))
            })
            .collect()
    }

    fn is_empty(&self, tree: Tree) -> Result<bool, StoreError> {
        Ok(self.tree(tree).is_empty())
    }

    fn append(&self, log: u64, seq: u64, value: &[u8]) -> Result<(), StoreError> {
        // The entry before must be there and this one must not: with one writer per log (a
        // conversation's actor), the check and the swap cannot be raced in between.
        if seq == 0 || (seq > 1 && !self.messages.contains_key(message_key(log, seq - 1))?) {
            return Err(conflict());
        }
        self.messages
            .compare_and_swap(message_key(log, seq), None as Option<&[u8]>, Some(value))?
            .map_err(|_| conflict())
    }

    fn read(&self, log: u64, after: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = message_key(log, after.saturating_add(1));
        let end = message_key(log, u64::MAX);
        self.messages
            .range(start..=end)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((seq_of(&k), v.to_vec()))
            })
            .collect()
    }

    fn last_seq(&self, log: u64) -> Result<u64, StoreError> {
        let start = message_key(log, 0);
        let end = message_key(log, u64::MAX);
        Ok(self.messages.range(start..=end).keys().next_back().transpose()?.map_or(0, |k| seq_of(&k)))
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        // sled ids start at 0; ours start at 1 so that 0 never names anything.
        Ok(self.db.generate_id()? + 1)
    }

    fn ticket(&self) -> Ticket {
        self.flusher.ticket()
    }

    fn upgrade(&self, from: u8) -> Result<(), StoreError> {
        super::migrations::upgrade(&self.messages, from)
    }

    fn durable(&self, ticket: Ticket) -> Durable {
        let flusher = self.flusher.clone();
        Box::pin(async move { flusher.durable(ticket).await })
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
    fn keys_that_do_not_fit_the_tree_are_refused() {
        assert!(key_bytes(Tree::Experts, &[Part::Text("x".into())], true).is_err());
        assert!(key_bytes(Tree::CustomerConversations, &[Part::Id(1)], true).is_err());
        assert!(key_bytes(Tree::CustomerConversations, &[Part::Id(1)], false).is_ok());
    }
}
