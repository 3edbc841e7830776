//! The NATS calls, with the retries a JetStream cluster needs: while a stream elects a leader
//! (seconds after a server dies) requests time out, find no responders or report the stream
//! missing, and each is tried again until `retry_for` has passed. A publish that is retried
//! may already have been stored: its `Nats-Msg-Id` makes the server say so (a duplicate on a
//! replicated stream), or, on a single replica where the expected-sequence check comes first,
//! the subject's last message is read and its id compared before the write counts as refused.

use std::time::{Duration, Instant};

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{
    self,
    context::PublishErrorKind,
    message::{PublishMessage, StreamMessage},
    stream, Context,
};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::keys;
use super::Settings;
use crate::store::engine::Tree;
use crate::store::StoreError;

/// The oldest nats-server this engine runs on (per-message TTLs, limit markers, and the
/// conditional-publish fixes of 2.9.21 and later).
pub const MIN_SERVER: (u64, u64) = (2, 11);

/// The header that keeps a transcript entry's seq, so the last one can be read back.
pub const SEQ_HEADER: &str = "Sb-Seq";

const MSG_ID: &str = "Nats-Msg-Id";
const EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";

/// How a write ended at the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored; the stream sequence it got (0 for a removal).
    At(u64),
    /// Its condition did not hold: nothing was stored.
    Refused,
}

/// The connection and every stream of one deployment (`prefix`).
pub struct Remote {
    pub client: async_nats::Client,
    js: Context,
    prefix: String,
    /// One KV stream per tree, by `tree as usize` (attachment bytes' slot unused).
    trees: Vec<stream::Stream>,
    messages: stream::Stream,
    ids: stream::Stream,
    files: jetstream::object_store::ObjectStore,
    retry_for: Duration,
}

/// `major.minor.patch` of a server's version string ("2.15.1", "2.11.0-RC.1").
pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim_start_matches('v').split(['-', '+']).next()?;
    let mut numbers = core.split('.').map(|n| n.parse::<u64>().ok());
    Some((numbers.next()??, numbers.next()??, numbers.next().flatten().unwrap_or(0)))
}

/// Refuses a server older than [`MIN_SERVER`], with what to do about it.
pub fn check_version(version: &str) -> Result<(), StoreError> {
    match parse_version(version) {
        Some((major, minor, _)) if (major, minor) >= MIN_SERVER => Ok(()),
        _ => Err(StoreError::Nats(format!(
            "nats-server {version} is too old: cluster mode needs nats-server {}.{} or newer",
            MIN_SERVER.0, MIN_SERVER.1
        ))),
    }
}

fn nats(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Nats(format!("{what}: {e}"))
}

/// The KV bucket of `tree` (a KV bucket in every respect, so `nats kv` can inspect it).
pub fn bucket(prefix: &str, tree: Tree) -> String {
    format!("{prefix}_{}", tree.name())
}

impl Remote {
    /// Connects, checks the server, and creates the streams that are missing.
    pub async fn connect(settings: &Settings) -> Result<Remote, StoreError> {
        let urls: Vec<async_nats::ServerAddr> = settings
            .urls
            .iter()
            .map(|u| u.parse().map_err(|e| nats(&format!("the NATS address {u:?}"), e)))
            .collect::<Result<_, _>>()?;
        let options = async_nats::ConnectOptions::new()
            .name(&settings.node_name)
            .connection_timeout(settings.request_timeout)
            .request_timeout(Some(settings.request_timeout))
            .retain_servers_order();
        let client = options
            .connect(urls)
            .await
            .map_err(|e| nats(&format!("connecting to NATS at {}", settings.urls.join(", ")), e))?;
        check_version(&client.server_info().version)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(settings.request_timeout)
            .max_ack_inflight(4096)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let prefix = settings.prefix.clone();
        let replicas = settings.replicas;
        let retry_for = settings.retry_for;
        let kv = |name: String| stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            allow_rollup: true,
            deny_delete: true,
            // Reads go to the leader, which has every acknowledged write.
            allow_direct: false,
            discard: stream::DiscardPolicy::New,
            num_replicas: replicas,
            ..Default::default()
        };
        let mut configs: Vec<stream::Config> = Tree::ALL
            .iter()
            .map(|t| {
                kv(if *t == Tree::AttachmentBytes { format!("{prefix}_ids") } else { bucket(&prefix, *t) })
            })
            .collect();
        configs.push(stream::Config {
            name: format!("{prefix}_messages"),
            subjects: vec![format!("{prefix}.msg.>")],
            allow_direct: false,
            num_replicas: replicas,
            ..Default::default()
        });
        let files = format!("{prefix}_files");
        configs.push(stream::Config {
            name: format!("OBJ_{files}"),
            subjects: vec![format!("$O.{files}.C.>"), format!("$O.{files}.M.>")],
            allow_rollup: true,
            allow_direct: false,
            discard: stream::DiscardPolicy::New,
            num_replicas: replicas,
            ..Default::default()
        });
        let deadline = Instant::now() + retry_for;
        let mut streams = futures_util::future::try_join_all(
            configs.into_iter().map(|config| ensure_stream(&js, config, deadline)),
        )
        .await?;
        let files_stream = streams.pop().expect("the files stream");
        let messages = streams.pop().expect("the messages stream");
        let ids = streams[Tree::AttachmentBytes as usize].clone();
        drop(files_stream);
        let files_store = open_object_store(&js, &files, deadline).await?;
        Ok(Remote { client, js, prefix, trees: streams, messages, ids, files: files_store, retry_for })
    }

    /// The JetStream context, for what is not a store operation (the deployment's lease).
    pub fn context(&self) -> &Context {
        &self.js
    }

    fn kv_subject(&self, tree: Tree, token: &str) -> String {
        format!("$KV.{}.{token}", bucket(&self.prefix, tree))
    }

    /// Runs `call` until it succeeds, fails for good, or `retry_for` has passed.
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(nats(what, e)),
                Err(Attempt::Again(e)) if started.elapsed() >= self.retry_for => {
                    return Err(nats(&format!("{what} (retried for {:?})", self.retry_for), e))
                }
                Err(Attempt::Again(e)) => {
                    tracing::debug!(%e, "{what}: retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// The last message on `subject` in `stream`, if any.
    async fn last_on(
        &self,
        stream: &stream::Stream,
        subject: &str,
    ) -> Result<Option<StreamMessage>, StoreError> {
        self.retrying(&format!("reading {subject}"), || async {
            match stream.get_last_raw_message_by_subject(subject).await {
                Ok(m) => Ok(Some(m)),
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(Attempt::Again(e.to_string())),
            }
        })
        .await
    }

    /// A record's value and its revision (the stream sequence that wrote it).
    pub async fn get(&self, tree: Tree, token: &str) -> Result<Option<(Bytes, u64)>, StoreError> {
        let subject = self.kv_subject(tree, token);
        Ok(self.last_on(&self.trees[tree as usize], &subject).await?.map(|m| (m.payload, m.sequence)))
    }

    /// Stores a record's value; `expect`: the revision that must be there (0: none).
    pub async fn put(
        &self,
        tree: Tree,
        token: &str,
        value: Bytes,
        expect: Option<u64>,
        msg_id: &str,
    ) -> Result<Written, StoreError> {
        let subject = self.kv_subject(tree, token);
        self.publish(&self.trees[tree as usize], subject, value, HeaderMap::new(), expect, msg_id).await
    }

    /// Removes a record: its subject is purged, so no marker is left behind and the tree is
    /// empty when its last key goes.
    pub async fn remove(&self, tree: Tree, token: &str) -> Result<Written, StoreError> {
        let subject = self.kv_subject(tree, token);
        let stream = &self.trees[tree as usize];
        self.retrying(&format!("removing {subject}"), || async {
            stream.purge().filter(&subject).await.map_err(|e| Attempt::Again(e.to_string()))
        })
        .await?;
        Ok(Written::At(0))
    }

    /// Every key under `filter_token` (all of them for ""), with its value.
    pub async fn list(&self, tree: Tree, filter_token: &str) -> Result<Vec<(String, Bytes)>, StoreError> {
        let stream = &self.trees[tree as usize];
        let base = format!("$KV.{}.", bucket(&self.prefix, tree));
        let filter = match (filter_token.is_empty(), tree.shape().len() == filter_token.split('.').count()) {
            (true, _) => format!("{base}>"),
            (false, true) => format!("{base}{filter_token}"),
            (false, false) => format!("{base}{filter_token}.>"),
        };
        let subjects: Vec<String> = self
            .retrying(&format!("listing {filter}"), || async {
                let info =
                    stream.info_with_subjects(&filter).await.map_err(|e| Attempt::Again(e.to_string()))?;
                info.map_ok(|(subject, _)| subject)
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| Attempt::Again(e.to_string()))
            })
            .await?;
        // Values are read many at a time: a scan costs a few round trips, not one per key.
        let base = &base;
        let values = futures_util::stream::iter(subjects.into_iter().map(|subject| async move {
            let last = self.last_on(stream, &subject).await?;
            Ok::<_, StoreError>(last.map(|m| (subject[base.len()..].to_owned(), m.payload)))
        }))
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(values.into_iter().flatten().collect())
    }

    /// Whether the tree's stream holds no message at all.
    pub async fn is_empty(&self, tree: Tree) -> Result<bool, StoreError> {
        let stream = &self.trees[tree as usize];
        self.retrying(&format!("reading the size of {}", bucket(&self.prefix, tree)), || async {
            stream.get_info().await.map(|i| i.state.messages == 0).map_err(|e| Attempt::Again(e.to_string()))
        })
        .await
    }

    /// Appends an entry to transcript `log`; `expect`: the stream sequence of the entry before
    /// (0 for the first).
    pub async fn append(
        &self,
        log: u64,
        seq: u64,
        value: Bytes,
        expect: u64,
        msg_id: &str,
    ) -> Result<Written, StoreError> {
        let mut headers = HeaderMap::new();
        headers.insert(SEQ_HEADER, seq.to_string().as_str());
        let subject = keys::log_subject(&self.prefix, log);
        self.publish(&self.messages, subject, value, headers, Some(expect), msg_id).await
    }

    /// The last entry of `log`: its seq and stream sequence.
    pub async fn log_last(&self, log: u64) -> Result<Option<(u64, u64)>, StoreError> {
        let subject = keys::log_subject(&self.prefix, log);
        match self.last_on(&self.messages, &subject).await? {
            None => Ok(None),
            Some(m) => Ok(Some((entry_seq(&m)?, m.sequence))),
        }
    }

    /// Removes every entry of `log`: its subject is purged, as a record's is.
    pub async fn log_purge(&self, log: u64) -> Result<(), StoreError> {
        let subject = keys::log_subject(&self.prefix, log);
        self.retrying(&format!("purging {subject}"), || async {
            self.messages.purge().filter(&subject).await.map_err(|e| Attempt::Again(e.to_string()))
        })
        .await?;
        Ok(())
    }

    /// The entries of `log` after seq `after`, in order.
    pub async fn log_read(&self, log: u64, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let subject = keys::log_subject(&self.prefix, log);
        let Some(last) = self.last_on(&self.messages, &subject).await? else { return Ok(Vec::new()) };
        let last_seq = entry_seq(&last)?;
        if last_seq <= after {
            return Ok(Vec::new());
        }
        if last_seq - after <= 8 {
            // A few entries (a resync): walk back from the last one, each naming the stream
            // sequence of the one before in the header its append was checked with.
            let mut out = vec![(last_seq, last.payload.clone())];
            let mut prev = previous(&last);
            while out.len() as u64 != last_seq - after {
                let m = self.message(prev).await?;
                out.push((entry_seq(&m)?, m.payload.clone()));
                prev = previous(&m);
            }
            out.reverse();
            return Ok(out);
        }
        self.retrying(&format!("reading {subject}"), || async {
            let consumer = self
                .messages
                .create_consumer(jetstream::consumer::push::OrderedConfig {
                    deliver_subject: self.client.new_inbox(),
                    filter_subject: subject.clone(),
                    deliver_policy: jetstream::consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await
                .map_err(|e| Attempt::Again(e.to_string()))?;
            let mut messages = consumer.messages().await.map_err(|e| Attempt::Again(e.to_string()))?;
            let mut out = Vec::with_capacity((last_seq - after) as usize);
            loop {
                let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
                let m = match next {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(e))) => return Err(Attempt::Again(e.to_string())),
                    Ok(None) | Err(_) => return Err(Attempt::Again("the transcript stopped short".into())),
                };
                let info = m.info().map_err(|e| Attempt::Again(e.to_string()))?;
                let stream_seq = info.stream_sequence;
                let seq = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(SEQ_HEADER))
                    .and_then(|v| v.as_str().parse::<u64>().ok())
                    .ok_or_else(|| Attempt::Fatal(format!("an entry of {subject} without its seq")))?;
                if seq > after {
                    out.push((seq, m.payload.clone()));
                }
                if stream_seq >= last.sequence {
                    return Ok(out);
                }
            }
        })
        .await
    }

    async fn message(&self, sequence: u64) -> Result<StreamMessage, StoreError> {
        self.retrying(&format!("reading message {sequence}"), || async {
            self.messages.get_raw_message(sequence).await.map_err(|e| Attempt::Again(e.to_string()))
        })
        .await
    }

    /// Reserves `count` ids by compare-and-set on one key: the first of them.
    pub async fn reserve_ids(&self, count: u64) -> Result<u64, StoreError> {
        let subject = format!("$KV.{}_ids.next", self.prefix);
        loop {
            let (first, revision) = match self.last_on(&self.ids, &subject).await? {
                None => (1, 0),
                Some(m) => {
                    let text = std::str::from_utf8(&m.payload).ok().and_then(|t| t.parse::<u64>().ok());
                    (
                        text.ok_or_else(|| StoreError::Corrupt("the id counter is unreadable".into()))?,
                        m.sequence,
                    )
                }
            };
            let next = first.checked_add(count).ok_or_else(|| StoreError::Corrupt("ids ran out".into()))?;
            let id = format!("ids.{first}.{}", self.client.server_info().client_id);
            match self
                .publish(
                    &self.ids,
                    subject.clone(),
                    next.to_string().into(),
                    HeaderMap::new(),
                    Some(revision),
                    &id,
                )
                .await?
            {
                Written::At(_) => return Ok(first),
                // Another node reserved a block in between: read again.
                Written::Refused => continue,
            }
        }
    }

    /// An attachment's bytes.
    pub async fn object(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        use tokio::io::AsyncReadExt;
        self.retrying(&format!("reading file {name}"), || async {
            let mut object = match self.files.get(name).await {
                Ok(o) => o,
                Err(e) if e.kind() == jetstream::object_store::GetErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Attempt::Again(e.to_string())),
            };
            if object.info().deleted {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(object.info().size);
            object.read_to_end(&mut out).await.map_err(|e| Attempt::Again(e.to_string()))?;
            Ok(Some(out))
        })
        .await
    }

    pub async fn put_object(&self, name: &str, bytes: Bytes) -> Result<Written, StoreError> {
        self.retrying(&format!("storing file {name}"), || async {
            let mut reader = std::io::Cursor::new(bytes.clone());
            self.files.put(name, &mut reader).await.map_err(|e| Attempt::Again(e.to_string()))
        })
        .await?;
        Ok(Written::At(1))
    }

    pub async fn remove_object(&self, name: &str) -> Result<Written, StoreError> {
        self.retrying(&format!("removing file {name}"), || async {
            match self.files.delete(name).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == jetstream::object_store::DeleteErrorKind::NotFound => Ok(()),
                Err(e) => Err(Attempt::Again(e.to_string())),
            }
        })
        .await?;
        Ok(Written::At(0))
    }

    /// Names of the stored files.
    pub async fn objects(&self) -> Result<Vec<String>, StoreError> {
        self.retrying("listing files", || async {
            let list = self.files.list().await.map_err(|e| Attempt::Again(e.to_string()))?;
            let infos: Vec<_> = list.try_collect().await.map_err(|e| Attempt::Again(e.to_string()))?;
            Ok(infos.into_iter().filter(|i| !i.deleted).map(|i| i.name).collect())
        })
        .await
    }

    /// Publishes with an id (so a retry is recognised) and, if given, the expected last
    /// sequence of the subject.
    async fn publish(
        &self,
        stream: &stream::Stream,
        subject: String,
        payload: Bytes,
        headers: HeaderMap,
        expect: Option<u64>,
        msg_id: &str,
    ) -> Result<Written, StoreError> {
        let what = format!("writing {subject}");
        self.retrying(&what, || async {
            let mut message =
                PublishMessage::build().payload(payload.clone()).headers(headers.clone()).message_id(msg_id);
            if let Some(seq) = expect {
                message = message.expected_last_subject_sequence(seq);
            }
            let ack = match self.js.send_publish(subject.clone(), message).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(ack) => Ok(Written::At(ack.sequence)),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Ours already, from an attempt whose answer was lost (a single replica
                    // checks the sequence before the duplicate id), or another writer's.
                    match self.last_on(stream, &subject).await.map_err(|e| Attempt::Again(e.to_string()))? {
                        Some(last) if header(&last.headers, MSG_ID) == Some(msg_id) => {
                            Ok(Written::At(last.sequence))
                        }
                        _ => Ok(Written::Refused),
                    }
                }
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    Err(Attempt::Fatal(e.to_string()))
                }
                Err(e) => Err(Attempt::Again(e.to_string())),
            }
        })
        .await
    }
}

/// One try of a call: worth another, or not.
enum Attempt {
    Again(String),
    Fatal(String),
}

async fn ensure_stream(
    js: &Context,
    config: stream::Config,
    deadline: Instant,
) -> Result<stream::Stream, StoreError> {
    let name = config.name.clone();
    loop {
        let result = match js.get_stream(&name).await {
            Ok(s) => Ok(s),
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(ref j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                js.create_stream(config.clone()).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(s) => {
                if s.cached_info().config.allow_direct {
                    tracing::warn!(stream = %name, "allows direct gets: reads may miss acknowledged writes");
                }
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(StoreError::Nats(format!(
                    "creating the stream {name}: {e} (is JetStream enabled?)"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The object store `name`, whose stream `ensure_stream` made sure of: asked again until
/// `deadline`, since a node opening a new deployment beside another can ask while the stream
/// the other just created is electing its leader, and hear "stream not found".
async fn open_object_store(
    js: &Context,
    name: &str,
    deadline: Instant,
) -> Result<jetstream::object_store::ObjectStore, StoreError> {
    loop {
        match js.get_object_store(name).await {
            Ok(store) => return Ok(store),
            Err(e) if Instant::now() >= deadline => {
                return Err(nats(&format!("opening the object store {name}"), e))
            }
            Err(e) => {
                tracing::debug!(%e, "opening the object store {name}: retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.as_str())
}

fn entry_seq(m: &StreamMessage) -> Result<u64, StoreError> {
    header(&m.headers, SEQ_HEADER)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("an entry of {} without its seq", m.subject)))
}

/// The stream sequence of the entry before `m` in its transcript.
fn previous(m: &StreamMessage) -> u64 {
    header(&m.headers, EXPECTED_LAST_SUBJECT_SEQ).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_servers_are_refused_with_the_version_needed() {
        assert_eq!(parse_version("2.15.1"), Some((2, 15, 1)));
        assert_eq!(parse_version("v2.11.0-RC.1"), Some((2, 11, 0)));
        assert!(check_version("2.11.0").is_ok());
        assert!(check_version("2.15.1").is_ok());
        assert!(check_version("3.0.0").is_ok());
        let old = check_version("2.9.10").unwrap_err().to_string();
        assert!(old.contains("2.9.10 is too old") && old.contains("2.11 or newer"), "{old}");
        assert!(check_version("garbage").is_err());
    }
}
