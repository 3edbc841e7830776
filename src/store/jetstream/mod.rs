//! The JetStream engine: the storage seam on a NATS JetStream cluster, so several nodes can
//! share one deployment's state (cluster mode).
//!
//! # Layout (every name under `cluster.prefix`, here `sb`)
//! - Records: one KV bucket per [`Tree`], `sb_{tree name}` (stream `KV_sb_...`, history 1,
//!   direct gets off so every read is answered by the stream leader). A key is dot-separated
//!   tokens (`keys`). A revision is the stream sequence that wrote the value; a conditional
//!   write publishes with `Nats-Expected-Last-Subject-Sequence`. A removal purges the key's
//!   subject (no delete marker is left).
//! - Transcripts: stream `sb_messages`, one subject per transcript (`sb.msg.{log:016x}`); an
//!   append names the stream sequence of the entry before it (0 for the first) and carries a
//!   `Nats-Msg-Id` of `log.seq.writer`, so a retried send is not stored twice while a second
//!   writer is refused; its seq is kept in the `Sb-Seq` header.
//! - Attachment bytes: object store `sb_files` (files are MiBs, past a KV value's limit).
//! - Ids: blocks of 1024 reserved by compare-and-set on `next` in bucket `sb_ids`.
//!
//! # Guarantees
//! - A write returns once it is queued; reads through this engine see it at once (`overlay`);
//!   a ticket is durable when JetStream has acknowledged every write before it, which with
//!   `replicas` = R means stored on a majority of R servers (and on disk when the servers run
//!   with `sync_interval: always`; otherwise in their memory until their next sync).
//! - Writes to one key or one transcript reach JetStream in the order they were made. Writes
//!   to different keys are sent concurrently, so after a crash of this process a later one may
//!   be stored while an earlier one is not; except that the writes one thread makes between
//!   two tickets (one caller's operation: an index, then the record it lists) are sent one
//!   after another, in order (`writer::Group`). Nothing is lost that a durable ticket covered.
//! - Conditional writes are decided at once against what this engine knows (what it wrote
//!   and read: the first write to a key or transcript it has not seen reads it first). Only a
//!   write by another node in between is found at the server; then the write never takes
//!   effect, the writes after it in its stretch are cancelled, its key or transcript is
//!   forgotten (so the next conditional write there reads it again and is refused at once),
//!   and every ticket taken from that write until the refusal was learned resolves
//!   `Conflict`: another caller's ticket in that window fails too, which is safe (it reloads)
//!   and rare (two nodes writing one conversation is a fencing event).
//! - A write NATS does not take within `retry_for` (default 15 s: long enough for a stream to
//!   elect a new leader) fails the tickets in the same window with [`StoreError::Nats`]; such a
//!   write may or may not have been stored.
//! - [`Engine::insert_new`] and [`Engine::next_id`] (once per 1024 ids) wait for the server.
//!
//! # Costs and limits
//! - A read of a key that has no write pending is a round trip to the stream leader. A scan
//!   lists the bucket's subjects (one request per page) then reads the values 64 at a time;
//!   [`Engine::is_empty`] is one stream-info request.
//! - Appends to one transcript wait for each other (each names the previous stream sequence):
//!   one round trip each, many transcripts in parallel. Up to 1024 writes are in flight.
//! - Attachment bytes are written unconditionally (the store never does otherwise); a
//!   conditional write there is refused as a programming error.
//! - Revisions of up to 200 000 keys are remembered; a conditional write naming the local
//!   revision of a forgotten key is refused (its writer reads it again).
//! - nats-server 2.11 or newer (checked on connect), JetStream enabled on every server.

mod keys;
mod lease;
mod overlay;
pub mod remote;
mod writer;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Semaphore};

use super::engine::{Claim, Durable, Engine, Entry, Expect, Part, Revision, Tree};
use super::{StoreError, Ticket};
use overlay::{local_revision, KeyState, LogState, Overlay, PendingKey};
pub use remote::{check_version, parse_version};
use remote::{Remote, Written};
use writer::{outcome, Done, Failure, Group, Outcome, Pipeline};

/// How to reach JetStream and what to create there.
#[derive(Debug, Clone)]
pub struct Settings {
    pub urls: Vec<String>,
    /// Prefix of every stream, bucket and subject.
    pub prefix: String,
    /// Replicas of every stream created (existing ones keep theirs).
    pub replicas: usize,
    /// The NATS connection's name: which node this is, in `nats server report connections`.
    pub node_name: String,
    /// How long one request waits for its answer.
    pub request_timeout: Duration,
    /// How long a failing request is retried (a leader election takes seconds).
    pub retry_for: Duration,
}

impl Settings {
    pub fn new(urls: Vec<String>, prefix: &str) -> Settings {
        Settings {
            urls,
            prefix: prefix.to_owned(),
            replicas: 3,
            node_name: "switchboard".into(),
            request_timeout: Duration::from_secs(5),
            retry_for: Duration::from_secs(15),
        }
    }
}

/// Ids reserved per round trip.
const ID_BLOCK: u64 = 1024;
/// Writes sent and not yet acknowledged, at most.
const IN_FLIGHT: usize = 1024;

static ENGINES: AtomicU64 = AtomicU64::new(1);

/// The deployment's lease as this engine holds it: what releasing it needs, and the task
/// renewing it (stopped first, or it would take the lease back).
struct Held {
    bucket: async_nats::jetstream::kv::Store,
    value: String,
    renewing: tokio::task::JoinHandle<()>,
}

pub struct JetStream {
    /// Tells this engine's stretches of writes from another's on the same thread.
    id: u64,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    inner: Arc<Inner>,
    ids: Mutex<Range<u64>>,
    settings: Settings,
    /// The deployment's lease while this engine serves (`Engine::serve_alone`), released when
    /// it closes.
    lease: Mutex<Option<Held>>,
    /// The deployment's lease bucket, opened on the first claim.
    leases: std::sync::OnceLock<lease::Leases>,
}

struct Inner {
    remote: Remote,
    overlay: Mutex<Overlay>,
    pipeline: Arc<Pipeline>,
    in_flight: Semaphore,
    /// Part of every message id: a second engine's append of the same seq is not taken for a
    /// retry of this one's.
    writer: String,
}

/// What a queued write must find at the server.
#[derive(Debug, Clone, Copy)]
enum Cond {
    Any,
    /// This stream sequence (0: nothing).
    Seq(u64),
    /// What the write before it to the same key or transcript stored.
    Chain,
}

enum Op {
    Put { tree: Tree, token: String, value: Bytes, cond: Cond },
    Remove { tree: Tree, token: String },
    Append { log: u64, seq: u64, value: Bytes, cond: Cond },
}

impl Op {
    fn cond(&self) -> Cond {
        match self {
            Op::Put { cond, .. } | Op::Append { cond, .. } => *cond,
            Op::Remove { .. } => Cond::Any,
        }
    }
}

impl JetStream {
    /// Connects, checks the server version, and creates the streams and buckets missing.
    pub fn connect(settings: &Settings) -> Result<JetStream, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("switchboard-nats")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Nats(format!("starting the NATS runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let s = settings.clone();
        let connected = futures_executor::block_on(handle.spawn(async move { Remote::connect(&s).await }))
            .map_err(|e| StoreError::Nats(format!("connecting: {e}")))
            .and_then(|r| r);
        let remote = match connected {
            Ok(remote) => remote,
            Err(e) => {
                // Dropping a runtime blocks on its threads, which tokio refuses inside another
                // runtime (the server connects from its actix system).
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let mut writer = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut writer);
        let inner = Arc::new(Inner {
            remote,
            overlay: Mutex::new(Overlay::default()),
            pipeline: Arc::new(Pipeline::default()),
            in_flight: Semaphore::new(IN_FLIGHT),
            writer: hex::encode(writer),
        });
        Ok(JetStream {
            id: ENGINES.fetch_add(1, Ordering::Relaxed),
            runtime: Some(runtime),
            handle,
            inner,
            ids: Mutex::new(0..0),
            settings: settings.clone(),
            lease: Mutex::new(None),
            leases: std::sync::OnceLock::new(),
        })
    }

    /// Runs `work` on the engine's runtime and waits for it from this thread, which may be an
    /// actor's (inside another runtime, where tokio's own `block_on` is refused).
    fn block<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        futures_executor::block_on(self.handle.spawn(work))
            .map_err(|e| StoreError::Nats(format!("a NATS request failed: {e}")))?
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.inner.overlay.lock().expect("overlay lock")
    }

    /// Makes sure the engine knows what the server holds for a key (reading it if not).
    fn know_key(&self, tree: Tree, token: &str) -> Result<(), StoreError> {
        if self.overlay().keys.contains_key(&(tree, token.to_owned())) {
            return Ok(());
        }
        let stored = self.fetch(tree, token)?.map(|(_, seq)| seq);
        self.overlay().learn(tree, token, stored);
        Ok(())
    }

    /// The server's value of a key and its stream sequence (attachment bytes: 1).
    fn fetch(&self, tree: Tree, token: &str) -> Result<Option<(Bytes, u64)>, StoreError> {
        let inner = self.inner.clone();
        let token = token.to_owned();
        self.block(async move {
            if tree == Tree::AttachmentBytes {
                Ok(inner.remote.object(&token).await?.map(|v| (Bytes::from(v), 1)))
            } else {
                inner.remote.get(tree, &token).await
            }
        })
    }

    /// Queues a write to a key; `group`: whether it joins this thread's stretch.
    fn write_key(
        &self,
        tree: Tree,
        token: String,
        value: Option<Bytes>,
        expect: Expect,
        group: bool,
    ) -> Result<(Revision, Done), StoreError> {
        if matches!(expect, Expect::At(_)) {
            self.know_key(tree, &token)?;
        }
        let mut overlay = self.overlay();
        let epoch_if_new = overlay.epoch();
        let state = overlay.keys.entry((tree, token.clone())).or_insert_with(|| KeyState {
            epoch: epoch_if_new,
            issued: Revision::ABSENT,
            stored: None,
            pending: None,
        });
        let cond = match expect {
            Expect::Any => Cond::Any,
            Expect::At(rev) if rev != state.issued => return Err(StoreError::Conflict),
            Expect::At(_) if state.pending.is_some() => Cond::Chain,
            Expect::At(_) => Cond::Seq(state.stored.unwrap_or(0)),
        };
        let pos = self.inner.pipeline.issue();
        let (tx, done) = watch::channel(None);
        let key_prev = state.pending.as_ref().map(|p| p.done.clone());
        let revision = if value.is_some() { local_revision(pos) } else { Revision::ABSENT };
        state.issued = revision;
        state.pending = Some(PendingKey { pos, value: value.clone(), done: done.clone() });
        let epoch = state.epoch;
        let group_prev = if group { Group::chain(self.id, done.clone()) } else { None };
        drop(overlay);
        let op = match value {
            Some(value) => Op::Put { tree, token, value, cond },
            None => Op::Remove { tree, token },
        };
        self.launch(pos, epoch, op, key_prev, group_prev, tx);
        Ok((revision, done))
    }

    fn launch(
        &self,
        pos: u64,
        epoch: u64,
        op: Op,
        key_prev: Option<Done>,
        group_prev: Option<Done>,
        tx: watch::Sender<Option<Outcome>>,
    ) {
        let inner = self.inner.clone();
        self.handle.spawn(async move {
            let result = inner.perform(&op, key_prev, group_prev).await;
            inner.settle(&op, pos, epoch, &result);
            let _ = tx.send(Some(result.clone()));
            inner.pipeline.complete(pos, &result);
        });
    }

    fn pending_key(&self, tree: Tree, token: &str) -> Option<Option<(Vec<u8>, Revision)>> {
        let overlay = self.overlay();
        let state = overlay.keys.get(&(tree, token.to_owned()))?;
        let pending = state.pending.as_ref()?;
        Some(pending.value.as_ref().map(|v| (v.to_vec(), state.issued)))
    }
}

impl Inner {
    async fn perform(&self, op: &Op, key_prev: Option<Done>, group_prev: Option<Done>) -> Outcome {
        if let Some(prev) = group_prev {
            if outcome(prev).await.is_err() {
                return Err(Failure::Cancelled);
            }
        }
        let prev = match key_prev {
            Some(prev) => Some(outcome(prev).await),
            None => None,
        };
        let expect = match op.cond() {
            Cond::Any => None,
            Cond::Seq(seq) => Some(seq),
            Cond::Chain => match prev {
                Some(Ok(seq)) => Some(seq),
                // What it was to follow never took effect: neither does it.
                _ => return Err(Failure::Refused),
            },
        };
        let _permit =
            self.in_flight.acquire().await.map_err(|_| Failure::Lost("the writer stopped".into()))?;
        let remote = &self.remote;
        let written = match op {
            Op::Put { tree: Tree::AttachmentBytes, token, value, .. } => {
                remote.put_object(token, value.clone()).await
            }
            Op::Remove { tree: Tree::AttachmentBytes, token } => remote.remove_object(token).await,
            Op::Put { tree, token, value, .. } => {
                let id = format!("{}.{}", self.writer, hex::encode(rand_id()));
                remote.put(*tree, token, value.clone(), expect, &id).await
            }
            Op::Remove { tree, token } => remote.remove(*tree, token).await,
            Op::Append { log, seq, value, .. } => {
                let id = format!("{log}.{seq}.{}", self.writer);
                remote.append(*log, *seq, value.clone(), expect.unwrap_or(0), &id).await
            }
        };
        match written {
            Ok(Written::At(seq)) => Ok(seq),
            Ok(Written::Refused) => Err(Failure::Refused),
            Err(e) => {
                tracing::error!(error = %e, "a write to JetStream failed");
                Err(Failure::Lost(e.to_string()))
            }
        }
    }

    /// Brings the overlay up to date with how a write ended.
    fn settle(&self, op: &Op, pos: u64, epoch: u64, result: &Outcome) {
        let mut overlay = self.overlay.lock().expect("overlay lock");
        match op {
            Op::Put { tree, token, .. } | Op::Remove { tree, token } => {
                let key = (*tree, token.clone());
                let Some(state) = overlay.keys.get_mut(&key) else { return };
                if state.epoch != epoch || state.pending.as_ref().is_none_or(|p| p.pos != pos) {
                    return;
                }
                match result {
                    Ok(seq) => {
                        state.pending = None;
                        state.stored = matches!(op, Op::Put { .. }).then_some(*seq);
                    }
                    // What the server holds is unknown here: read it again when needed.
                    Err(_) => {
                        overlay.keys.remove(&key);
                    }
                }
            }
            Op::Append { log, seq, .. } => {
                let Some(state) = overlay.logs.get_mut(log) else { return };
                if state.epoch != epoch {
                    return;
                }
                match result {
                    Ok(stream_seq) => {
                        state.pending.remove(seq);
                        if state.tail.as_ref().is_some_and(|(p, _)| *p == pos) {
                            state.tail = None;
                            state.last_stored = Some(*stream_seq);
                        }
                    }
                    // The appends after it fail too: the transcript is read again next time.
                    Err(_) => {
                        overlay.logs.remove(log);
                    }
                }
            }
        }
    }
}

fn rand_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
    id
}

impl Drop for JetStream {
    fn drop(&mut self) {
        // Writes still queued get a moment to reach JetStream, as the embedded engine
        // flushes when it closes; then the lease goes, so a replacement starts at once.
        let pending = self.inner.pipeline.durable(self.inner.pipeline.ticket());
        let waited = self.handle.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), pending).await;
        });
        let _ = futures_executor::block_on(waited);
        self.leave();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Engine for JetStream {
    fn get(&self, tree: Tree, key: &[Part]) -> Result<Option<(Vec<u8>, Revision)>, StoreError> {
        let token = keys::token(tree, key, true)?;
        if let Some(pending) = self.pending_key(tree, &token) {
            return Ok(pending);
        }
        let fetched = self.fetch(tree, &token)?;
        // A write made while the read was out is newer than what it found.
        if let Some(pending) = self.pending_key(tree, &token) {
            return Ok(pending);
        }
        let revision = self.overlay().learn(tree, &token, fetched.as_ref().map(|(_, seq)| *seq));
        Ok(fetched.map(|(v, _)| (v.to_vec(), revision)))
    }

    fn put(&self, tree: Tree, key: &[Part], value: &[u8], expect: Expect) -> Result<Revision, StoreError> {
        if tree == Tree::AttachmentBytes && expect != Expect::Any {
            return Err(StoreError::Corrupt("attachment bytes are only ever written unconditionally".into()));
        }
        let token = keys::token(tree, key, true)?;
        Ok(self.write_key(tree, token, Some(Bytes::copy_from_slice(value)), expect, true)?.0)
    }

    fn insert_new(&self, tree: Tree, key: &[Part], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if tree == Tree::AttachmentBytes {
            return Err(StoreError::Corrupt("attachment bytes are only ever written unconditionally".into()));
        }
        let token = keys::token(tree, key, true)?;
        loop {
            let value = Bytes::copy_from_slice(value);
            let done =
                match self.write_key(tree, token.clone(), Some(value), Expect::At(Revision::ABSENT), false) {
                    Ok((_, done)) => done,
                    Err(StoreError::Conflict) => match self.get(tree, key)? {
                        Some((current, _)) => return Ok(Some(current)),
                        None => continue,
                    },
                    Err(e) => return Err(e),
                };
            match futures_executor::block_on(outcome(done)) {
                Ok(_) => return Ok(None),
                // Another node stored one first: this engine forgot the key, so it reads it.
                Err(Failure::Refused) => continue,
                Err(failure) => return Err(failure.error()),
            }
        }
    }

    fn remove(&self, tree: Tree, key: &[Part]) -> Result<bool, StoreError> {
        let token = keys::token(tree, key, true)?;
        self.know_key(tree, &token)?;
        let held = {
            let overlay = self.overlay();
            overlay.keys.get(&(tree, token.clone())).is_some_and(|s| match &s.pending {
                Some(p) => p.value.is_some(),
                None => s.stored.is_some(),
            })
        };
        if held {
            self.write_key(tree, token, None, Expect::Any, true)?;
        }
        Ok(held)
    }

    fn scan(&self, tree: Tree, prefix: &[Part]) -> Result<Vec<Entry>, StoreError> {
        let filter = keys::token(tree, prefix, false)?;
        let under = |token: &str| {
            filter.is_empty()
                || token == filter
                || token.strip_prefix(&filter).is_some_and(|r| r.starts_with('.'))
        };
        // Pending writes are taken before the server is read: one acknowledged in between
        // is in what the server answers.
        let pending: Vec<(String, Option<Bytes>)> = self
            .overlay()
            .keys
            .iter()
            .filter(|((t, token), _)| *t == tree && under(token))
            .filter_map(|((_, token), s)| s.pending.as_ref().map(|p| (token.clone(), p.value.clone())))
            .collect();
        let inner = self.inner.clone();
        let server_filter = filter.clone();
        let stored: Vec<(String, Bytes)> = self.block(async move {
            if tree != Tree::AttachmentBytes {
                return inner.remote.list(tree, &server_filter).await;
            }
            let mut out = Vec::new();
            for name in inner.remote.objects().await? {
                if let Some(bytes) = inner.remote.object(&name).await? {
                    out.push((name, Bytes::from(bytes)));
                }
            }
            Ok(out)
        })?;
        let mut merged: BTreeMap<String, Bytes> = stored.into_iter().filter(|(t, _)| under(t)).collect();
        for (token, value) in pending {
            match value {
                Some(v) => merged.insert(token, v),
                None => merged.remove(&token),
            };
        }
        let mut entries = merged
            .into_iter()
            .map(|(token, v)| Ok((keys::parts(tree, &token)?, v.to_vec())))
            .collect::<Result<Vec<Entry>, StoreError>>()?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    fn is_empty(&self, tree: Tree) -> Result<bool, StoreError> {
        let (puts, removals) = self.overlay().keys.iter().filter(|((t, _), _)| *t == tree).fold(
            (false, false),
            |(puts, removals), (_, s)| match &s.pending {
                Some(p) => (puts || p.value.is_some(), removals || p.value.is_none()),
                None => (puts, removals),
            },
        );
        if puts {
            return Ok(false);
        }
        if removals || tree == Tree::AttachmentBytes {
            return Ok(self.scan(tree, &[])?.is_empty());
        }
        let inner = self.inner.clone();
        self.block(async move { inner.remote.is_empty(tree).await })
    }

    fn append(&self, log: u64, seq: u64, value: &[u8]) -> Result<(), StoreError> {
        if !self.overlay().logs.contains_key(&log) {
            let inner = self.inner.clone();
            let last = self.block(async move { inner.remote.log_last(log).await })?;
            let mut overlay = self.overlay();
            let epoch = overlay.epoch();
            overlay.logs.entry(log).or_insert_with(|| LogState {
                epoch,
                last: last.map_or(0, |(seq, _)| seq),
                last_stored: Some(last.map_or(0, |(_, stream_seq)| stream_seq)),
                pending: BTreeMap::new(),
                tail: None,
            });
        }
        let mut overlay = self.overlay();
        let Some(state) = overlay.logs.get_mut(&log) else {
            // Forgotten after a refusal in the meantime: the caller reads again.
            return Err(StoreError::Conflict);
        };
        if seq == 0 || seq != state.last + 1 {
            return Err(StoreError::Conflict);
        }
        let cond = match (&state.tail, state.last_stored) {
            (None, Some(stream_seq)) => Cond::Seq(stream_seq),
            _ => Cond::Chain,
        };
        let pos = self.inner.pipeline.issue();
        let (tx, done) = watch::channel(None);
        let key_prev = state.tail.as_ref().map(|(_, d)| d.clone());
        let value = Bytes::copy_from_slice(value);
        state.last = seq;
        state.pending.insert(seq, value.clone());
        state.tail = Some((pos, done.clone()));
        let epoch = state.epoch;
        let group_prev = Group::chain(self.id, done);
        drop(overlay);
        self.launch(pos, epoch, Op::Append { log, seq, value, cond }, key_prev, group_prev, tx);
        Ok(())
    }

    fn read(&self, log: u64, after: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let pending = self.overlay().pending_entries(log, after);
        let inner = self.inner.clone();
        let stored = self.block(async move { inner.remote.log_read(log, after).await })?;
        let mut merged: BTreeMap<u64, Bytes> = stored.into_iter().collect();
        merged.extend(pending);
        Ok(merged.into_iter().map(|(seq, v)| (seq, v.to_vec())).collect())
    }

    fn last_seq(&self, log: u64) -> Result<u64, StoreError> {
        if let Some(state) = self.overlay().logs.get(&log) {
            if state.tail.is_some() {
                return Ok(state.last);
            }
        }
        let inner = self.inner.clone();
        let last = self.block(async move { inner.remote.log_last(log).await })?;
        let (seq, stream_seq) = last.unwrap_or((0, 0));
        // What the server says is what the next append must follow (another node may have
        // appended since this engine last did).
        let mut overlay = self.overlay();
        if let Some(state) = overlay.logs.get_mut(&log) {
            if state.tail.is_none() {
                state.last = seq;
                state.last_stored = Some(stream_seq);
            }
            return Ok(state.last);
        }
        let epoch = overlay.epoch();
        overlay.logs.insert(
            log,
            LogState {
                epoch,
                last: seq,
                last_stored: Some(stream_seq),
                pending: BTreeMap::new(),
                tail: None,
            },
        );
        Ok(seq)
    }

    fn erase_log(&self, log: u64) -> Result<(), StoreError> {
        // Appends still on their way land first, so none arrives after the purge.
        futures_executor::block_on(self.durable(self.ticket()))?;
        let inner = self.inner.clone();
        self.block(async move { inner.remote.log_purge(log).await })?;
        self.overlay().logs.remove(&log);
        Ok(())
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        let mut ids = self.ids.lock().expect("ids lock");
        if ids.is_empty() {
            let inner = self.inner.clone();
            let first = self.block(async move { inner.remote.reserve_ids(ID_BLOCK).await })?;
            *ids = first..first + ID_BLOCK;
        }
        Ok(ids.next().expect("a reserved id"))
    }

    fn ticket(&self) -> Ticket {
        Group::end(self.id);
        self.inner.pipeline.ticket()
    }

    fn durable(&self, ticket: Ticket) -> Durable {
        Box::pin(self.inner.pipeline.durable(ticket))
    }

    fn connected(&self) -> bool {
        self.inner.remote.client.connection_state() == async_nats::connection::State::Connected
    }

    fn claim(&self, node: &str, url: &str) -> Result<Claim, StoreError> {
        if self.lease.lock().expect("lease lock").is_some() {
            return Ok(Claim::Serving);
        }
        let leases = match self.leases.get() {
            Some(leases) => leases.clone(),
            None => {
                let inner = self.inner.clone();
                let (prefix, replicas, retry_for) =
                    (self.settings.prefix.clone(), self.settings.replicas, self.settings.retry_for);
                let opened = self.block(async move {
                    lease::Leases::open(inner.remote.context(), &prefix, replicas, retry_for).await
                })?;
                self.leases.get_or_init(|| opened).clone()
            }
        };
        let (node, url, retry_for) = (node.to_owned(), url.to_owned(), self.settings.retry_for);
        let taken = self.block(async move {
            // A new bucket answers once its stream has elected a leader: retried meanwhile.
            let until = tokio::time::Instant::now() + retry_for;
            loop {
                match leases.try_take(&node, &url).await {
                    Err(e) if tokio::time::Instant::now() < until => {
                        tracing::debug!(error = %e, "taking the deployment's lease: retrying");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    taken => return taken,
                }
            }
        })?;
        match taken {
            lease::Taken::Theirs(holder) => Ok(Claim::Elsewhere(holder)),
            lease::Taken::Ours(held) => {
                let (bucket, value) = held.handle();
                let renewing = self.handle.spawn(held.keep());
                *self.lease.lock().expect("lease lock") = Some(Held { bucket, value, renewing });
                Ok(Claim::Serving)
            }
        }
    }

    fn leave(&self) {
        let Some(held) = self.lease.lock().expect("lease lock").take() else { return };
        held.renewing.abort();
        let release = self.handle.spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), lease::Lease::release(held.bucket, held.value))
                    .await;
        });
        let _ = futures_executor::block_on(release);
    }
}
