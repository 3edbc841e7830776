//! Which node is the deployment's core: the one node that runs the router and every live
//! conversation of a `cluster.prefix`, while the others forward their clients to it (see
//! docs/CLUSTER.md for why the work is split this way). The core holds a lease, a key in
//! the KV bucket `{prefix}_node` whose entries lapse `LEASE` after their last renewal (the
//! bucket's `max_age`), renewed by revision every `RENEW`. Its value names the holder and
//! the address the other nodes forward to.
//!
//! Any node may take a lapsed (or released) lease; a node restarting under its own name
//! takes its old one over at once. A core that finds its lease taken by another (it was
//! paused or cut off from NATS for longer than `LEASE`) stops: the process exits, as it
//! would on losing a file lock, rather than serve beside the new core. Records written by
//! revision and transcripts by expected sequence refuse its late writes meanwhile.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};

use crate::store::engine::Holder;
use crate::store::StoreError;

/// How long a lease outlives its last renewal (KV ages are whole seconds).
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the holder renews it.
const RENEW: Duration = Duration::from_secs(1);
const KEY: &str = "serving";

fn nats(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Nats(format!("{what}: {e}"))
}

/// A lease's value: who holds it, which start of that node (so a restarted node's old lease
/// is told from its new one), and where it serves.
#[derive(Debug, Serialize, Deserialize)]
struct Value {
    node: String,
    instance: String,
    url: String,
}

impl Value {
    fn holder(bytes: &[u8]) -> Holder {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => Holder { node: v.node, url: v.url },
            // Written by an older build: it names its node only.
            Err(_) => Holder { node: String::from_utf8_lossy(bytes).into_owned(), url: String::new() },
        }
    }
}

/// What one attempt to take the lease found.
pub enum Taken {
    Ours(Box<Lease>),
    Theirs(Holder),
}

/// The lease bucket of one deployment.
#[derive(Clone)]
pub struct Leases {
    bucket: kv::Store,
}

impl Leases {
    /// Opens (creating when missing) the deployment's lease bucket; retried for `retry_for`
    /// while a stream elects a leader (a NATS server just died).
    pub async fn open(
        js: &jetstream::Context,
        prefix: &str,
        replicas: usize,
        retry_for: Duration,
    ) -> Result<Leases, StoreError> {
        let name = format!("{prefix}_node");
        let retry_until = tokio::time::Instant::now() + retry_for;
        loop {
            let config = kv::Config {
                bucket: name.clone(),
                history: 1,
                max_age: LEASE,
                num_replicas: replicas,
                ..Default::default()
            };
            match js.create_key_value(config).await {
                Ok(bucket) => return Ok(Leases { bucket }),
                Err(e) if tokio::time::Instant::now() >= retry_until => {
                    return Err(nats(&format!("creating the bucket {name}"), e))
                }
                Err(e) => tracing::debug!(error = %e, "creating the bucket {name}: retrying"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One attempt to take the lease for `node` serving at `url`: it is ours when nobody
    /// holds it or when it is this node's own from before a restart; otherwise it names
    /// the holder.
    pub async fn try_take(&self, node: &str, url: &str) -> Result<Taken, StoreError> {
        let mut instance = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut instance);
        let value = Value { node: node.to_owned(), instance: hex::encode(instance), url: url.to_owned() };
        let value = serde_json::to_string(&value).expect("a lease value serializes");
        let ours = |revision| {
            Taken::Ours(Box::new(Lease { bucket: self.bucket.clone(), value: value.clone(), revision }))
        };
        match self.bucket.create(KEY, value.clone().into()).await {
            Ok(revision) => return Ok(ours(revision)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(nats("taking the deployment's lease", e)),
        }
        let entry = match self.bucket.entry(KEY).await {
            Ok(Some(entry)) if entry.operation == kv::Operation::Put => entry,
            // Gone between the create and the read (it lapsed or was released): next attempt.
            Ok(_) => return Ok(Taken::Theirs(Holder::default())),
            Err(e) => return Err(nats("reading the deployment's lease", e)),
        };
        let holder = Value::holder(&entry.value);
        if holder.node == node {
            // This node restarting: its old lease is its own.
            if let Ok(revision) = self.bucket.update(KEY, value.clone().into(), entry.revision).await {
                return Ok(ours(revision));
            }
        }
        Ok(Taken::Theirs(holder))
    }
}

pub struct Lease {
    bucket: kv::Store,
    value: String,
    revision: u64,
}

impl Lease {
    /// Renews the lease until it is lost to another node; then the process exits.
    pub async fn keep(mut self) {
        let mut tick = tokio::time::interval(RENEW);
        loop {
            tick.tick().await;
            match self.bucket.update(KEY, self.value.clone().into(), self.revision).await {
                Ok(revision) => self.revision = revision,
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    // Lapsed (we were cut off) or taken. Take it back if nobody else did.
                    match self.bucket.create(KEY, self.value.clone().into()).await {
                        Ok(revision) => self.revision = revision,
                        Err(_) => {
                            let other = match self.bucket.entry(KEY).await {
                                Ok(Some(entry)) => Value::holder(&entry.value).node,
                                _ => "unknown".into(),
                            };
                            tracing::error!(holder = %other, "another node took over this deployment: stopping");
                            std::process::exit(1);
                        }
                    }
                }
                // NATS unreachable for now: keep trying; the lease lapses only after LEASE.
                Err(e) => tracing::warn!(error = %e, "renewing the deployment's lease"),
            }
        }
    }

    /// Gives the lease up (a clean stop), so another node need not wait for it to lapse.
    pub async fn release(bucket: kv::Store, value: String) {
        if let Ok(Some(entry)) = bucket.entry(KEY).await {
            if *entry.value == *value.as_bytes() {
                let _ = bucket.purge_expect_revision(KEY, Some(entry.revision)).await;
            }
        }
    }

    /// What `release` needs, kept by the engine while `keep` runs.
    pub fn handle(&self) -> (kv::Store, String) {
        (self.bucket.clone(), self.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn a_lease_names_its_holder_and_where_it_serves() {
        let v = br#"{"node":"chat 1","instance":"0a1b","url":"http://10.0.0.5:8080"}"#;
        let h = Value::holder(v);
        assert_eq!((h.node.as_str(), h.url.as_str()), ("chat 1", "http://10.0.0.5:8080"));
        let old = Value::holder(b"chat-1:8080 0a1b2c3d4e5f6071");
        assert_eq!((old.node.as_str(), old.url.as_str()), ("chat-1:8080 0a1b2c3d4e5f6071", ""));
    }
}
