//! One node serves a deployment (a `cluster.prefix`) at a time, until cluster part 2 shares
//! the work between nodes: each node runs its own router and owns every conversation it
//! loads, so two on one prefix would route the same queue twice. The serving node holds a
//! lease, a key in the KV bucket `{prefix}_node` whose entries lapse `LEASE` after their last
//! renewal (the bucket's `max_age`), renewed by revision every `RENEW`. It is what the
//! embedded engine's directory lock is on one machine.
//!
//! A node whose lease is held by another waits up to `LEASE` and a little for it to lapse (a
//! killed node's does), then gives up with the holder's name. A node restarting under its
//! own name takes its lease over at once. A node that finds its lease taken by another
//! (it was paused or cut off from NATS for longer than `LEASE`) stops serving: the process
//! exits, as it would on losing a file lock, rather than serve beside the new holder.

use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::store::StoreError;

/// How long a lease outlives its last renewal (KV ages are whole seconds).
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the holder renews it.
const RENEW: Duration = Duration::from_secs(1);
const KEY: &str = "serving";

fn nats(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Nats(format!("{what}: {e}"))
}

/// The holder's node name, from a lease value (`node` then a space and an instance id).
fn holder(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.rsplit_once(' ').map_or(text.to_string(), |(node, _)| node.to_owned())
}

pub struct Lease {
    bucket: kv::Store,
    value: String,
    revision: u64,
}

impl Lease {
    /// Takes the deployment's lease for `node`, waiting for another holder's to lapse.
    pub async fn take(
        js: &jetstream::Context,
        prefix: &str,
        replicas: usize,
        node: &str,
        retry_for: Duration,
    ) -> Result<Lease, StoreError> {
        let name = format!("{prefix}_node");
        // Requests fail while a stream elects a leader (a NATS server just died): retried.
        let retry_until = tokio::time::Instant::now() + retry_for;
        let again = |what: &str, e: &dyn std::fmt::Display| {
            if tokio::time::Instant::now() >= retry_until {
                return Err(nats(what, e));
            }
            tracing::debug!(error = %e, "{what}: retrying");
            Ok(())
        };
        let bucket = loop {
            let config = kv::Config {
                bucket: name.clone(),
                history: 1,
                max_age: LEASE,
                num_replicas: replicas,
                ..Default::default()
            };
            match js.create_key_value(config).await {
                Ok(bucket) => break bucket,
                Err(e) => again(&format!("creating the bucket {name}"), &e)?,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let mut instance = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut instance);
        let value = format!("{node} {}", hex::encode(instance));
        let deadline = tokio::time::Instant::now() + LEASE + Duration::from_secs(1);
        let mut waiting = false;
        loop {
            match bucket.create(KEY, value.clone().into()).await {
                Ok(revision) => return Ok(Lease { bucket, value, revision }),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => {
                    again("taking the deployment's lease", &e)?;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
            let entry = match bucket.entry(KEY).await {
                Ok(Some(entry)) if entry.operation == kv::Operation::Put => entry,
                // Gone between the create and the read (it lapsed or was released): try again,
                // after a pause so a flapping key is not hammered.
                Ok(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                Err(e) => {
                    again("reading the deployment's lease", &e)?;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            let other = holder(&entry.value);
            if other == node {
                // This node restarting: its old lease is its own.
                match bucket.update(KEY, value.clone().into(), entry.revision).await {
                    Ok(revision) => return Ok(Lease { bucket, value, revision }),
                    Err(_) => continue,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::InUse(format!(
                    "cluster.prefix {prefix:?} is served by node {other:?}; one node serves a \
                     deployment until cluster part 2 (stop it first, or use another prefix)"
                )));
            }
            if !waiting {
                tracing::warn!(holder = %other, "waiting for another node's lease on this deployment to lapse");
                waiting = true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

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
                                Ok(Some(entry)) => holder(&entry.value),
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

    /// Gives the lease up (a clean stop), so a replacement need not wait for it to lapse.
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
    use super::holder;

    #[test]
    fn the_holder_is_the_node_name_before_the_instance() {
        assert_eq!(holder(b"chat-1:8080 0a1b2c3d4e5f6071"), "chat-1:8080");
        assert_eq!(holder(b"a node with spaces 00"), "a node with spaces");
    }
}
