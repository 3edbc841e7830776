//! The store: every record, index and transcript of the product, kept by an [`Engine`]
//! behind a cheap-to-clone `Store`.
//!
//! Writes return a [`Ticket`]; callers await [`Store::durable`] before they acknowledge or
//! deliver anything, and the engine shares one sync among all of them. The engine is the
//! seam (`engine`): sled on one machine (`embedded`), NATS JetStream for a cluster
//! (`jetstream`); what this module writes, and in which order, is the same on every engine.

mod checkpoint;
mod codec;
pub mod conformance;
mod direct;
mod embedded;
pub mod engine;
mod erasure;
mod flusher;
pub mod jetstream;
mod journal;
mod keys;
pub mod migrations;
pub mod model;
mod sync;
mod wal;

use std::path::Path;
use std::sync::Arc;

pub use codec::{decode, encode, Persisted, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use embedded::Embedded;
pub use engine::{Engine, Expect, Part, Revision, Tree};
pub use flusher::Ticket;
use keys::u64_from;
use model::{
    Attachment, Callback, Canned, Conversation, Customer, Expert, LoginToken, StoredMessage, WebhookEntry,
};

use crate::config::Durability;
use crate::ids::{AttachmentId, CallbackId, CannedId, ConversationId, CustomerId, ExpertId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {0} is in use by another switchboard process")]
    Locked(String),
    /// A shared store is served by another node (cluster mode: one node per prefix).
    #[error("{0}")]
    InUse(String),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("the data could not be flushed to disk")]
    Flush,
    #[error("the store is shut down")]
    Closed,
    #[error("that name is taken")]
    Taken,
    /// A conditional write found another writer's change: the writer must read again.
    #[error("someone else changed this since it was read")]
    Conflict,
    /// NATS JetStream (cluster mode) could not be reached or refused a request.
    #[error("NATS: {0}")]
    Nats(String),
}

/// The meta entries: the format version of the values, the visitor token key, and the first
/// run's setup code with the claims made under each code.
const FORMAT: &str = "format_version";
const VISITOR_KEY: &str = "visitor_key";
const SETUP_CODE: &str = "setup_code";
const SETUP_CLAIM: &str = "setup_claimed:";

#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
}

fn id(n: u64) -> Part {
    Part::Id(n)
}

fn text(t: &str) -> Part {
    Part::Text(t.to_owned())
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, crate::config::DEFAULT_CACHE_BYTES)
    }

    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(dir, cache_bytes, Durability::default())
    }

    /// Opens (creating if need be) the embedded store in `dir`; what each acknowledged write
    /// survives is `durability`.
    pub fn open_with(dir: &Path, cache_bytes: u64, durability: Durability) -> Result<Store, StoreError> {
        let engine = Embedded::open(dir, cache_bytes, durability)?;
        Store::on(Arc::new(engine))
    }

    /// The store `config` names: JetStream when cluster mode is on (`[cluster] nats_urls`),
    /// else the embedded engine in the data directory.
    pub fn configured(config: &crate::config::Config) -> Result<Store, StoreError> {
        let cluster = &config.cluster;
        if !cluster.enabled() {
            let server = &config.server;
            tracing::info!(data_dir = %server.data_dir.display(), "store: embedded (sled)");
            return Store::open_with(&server.data_dir, server.cache_bytes, server.durability);
        }
        let mut settings = jetstream::Settings::new(cluster.nats_urls.clone(), &cluster.prefix);
        settings.replicas = cluster.replicas;
        settings.node_name = node_name(config);
        tracing::info!(
            urls = %cluster.nats_urls.join(","),
            prefix = %cluster.prefix,
            replicas = cluster.replicas,
            node = %settings.node_name,
            "store: NATS JetStream"
        );
        Store::on(Arc::new(jetstream::JetStream::connect(&settings)?))
    }

    /// The store kept by `engine`: its format is checked (older formats are read through
    /// `migrations`) and a visitor key made on first use.
    pub fn on(engine: Arc<dyn Engine>) -> Result<Store, StoreError> {
        let store = Store { engine };
        let e = &store.engine;
        match e.get(Tree::Meta, &[text(FORMAT)])?.map(|(v, _)| v) {
            // Nodes of a cluster may open a new store together: the first mark stored wins,
            // and every one of them writes the same.
            None => {
                e.insert_new(Tree::Meta, &[text(FORMAT)], &[FORMAT_VERSION])?;
            }
            Some(v) if v == [FORMAT_VERSION] => {}
            // Older values read through `migrations` and are written anew as they change.
            Some(v) if matches!(*v, [old] if (OLDEST_FORMAT_VERSION..FORMAT_VERSION).contains(&old)) => {
                // Layout changes first: a crash part way leaves the old mark, and the next
                // open runs them again.
                e.upgrade(v[0])?;
                e.put(Tree::Meta, &[text(FORMAT)], &[FORMAT_VERSION], Expect::Any)?;
            }
            Some(v) => {
                return Err(StoreError::Corrupt(format!(
                    "data format version {v:?}, this build reads {FORMAT_VERSION}"
                )))
            }
        }
        if e.get(Tree::Meta, &[text(VISITOR_KEY)])?.is_none() {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            // Two nodes starting together agree on one key: the first stored wins. Tokens
            // signed with it go out without a sync of their own, so it is made durable now.
            e.insert_new(Tree::Meta, &[text(VISITOR_KEY)], &key)?;
            futures_executor::block_on(e.durable(e.ticket()))?;
        }
        Ok(store)
    }

    /// A fresh id, unique across restarts.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        self.engine.next_id()
    }

    fn ticket(&self) -> Ticket {
        self.engine.ticket()
    }

    /// Resolves once everything written before `ticket` was taken is durable.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.engine.durable(ticket).await
    }

    /// Runs `then` once everything written before `ticket` was taken is durable, or with
    /// the error that stopped it, on whichever thread learns it first (see
    /// [`Engine::when_durable`]); `then` must not block.
    pub fn when_durable(&self, ticket: Ticket, then: engine::OnDurable) {
        self.engine.when_durable(ticket, then)
    }

    /// Claims the store for this node, serving at `url`, or names the node that holds it
    /// (see [`Engine::claim`]).
    pub fn claim(&self, node: &str, url: &str) -> Result<engine::Claim, StoreError> {
        self.engine.claim(node, url)
    }

    /// Gives the store up at a clean stop (see [`Engine::leave`]).
    pub fn leave(&self) {
        self.engine.leave()
    }

    /// Whether writes can be made durable now (see [`Engine::connected`]).
    pub fn connected(&self) -> bool {
        self.engine.connected()
    }

    /// Waits for a sync that starts after this call: whatever a read just saw is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let t = self.ticket();
        self.durable(t).await
    }

    fn get<T: Persisted>(&self, tree: Tree, key: &[Part]) -> Result<Option<T>, StoreError> {
        self.engine.get(tree, key)?.map(|(v, _)| decode(&v)).transpose()
    }

    fn put<T: Persisted>(&self, tree: Tree, key: &[Part], value: &T) -> Result<Ticket, StoreError> {
        self.engine.put(tree, key, &encode(value), Expect::Any)?;
        Ok(self.ticket())
    }

    /// Marks `key` in an index tree (its value is empty: the key says it all).
    fn mark(&self, tree: Tree, key: &[Part]) -> Result<(), StoreError> {
        self.engine.put(tree, key, &[], Expect::Any).map(drop)
    }

    fn all<T: Persisted>(&self, tree: Tree) -> Result<Vec<T>, StoreError> {
        self.engine.scan(tree, &[])?.iter().map(|(_, v)| decode(v)).collect()
    }

    /// The ids an index lists under `owner` (the second part of its keys), in order.
    fn listed(&self, tree: Tree, owner: u64) -> Result<Vec<u64>, StoreError> {
        Ok(self.engine.scan(tree, &[id(owner)])?.iter().map(|(k, _)| k[1].id()).collect())
    }

    // --- experts and their logins ---

    /// Stores a new expert; `Taken` if the username is in use.
    pub fn create_expert(&self, expert: &Expert) -> Result<Ticket, StoreError> {
        let name = [text(&expert.username)];
        if self.engine.insert_new(Tree::ExpertNames, &name, &expert.id.to_be_bytes())?.is_some() {
            return Err(StoreError::Taken);
        }
        self.put_expert(expert)
    }

    pub fn put_expert(&self, expert: &Expert) -> Result<Ticket, StoreError> {
        self.put(Tree::Experts, &[id(expert.id.0)], expert)
    }

    pub fn expert(&self, expert: ExpertId) -> Result<Option<Expert>, StoreError> {
        self.get(Tree::Experts, &[id(expert.0)])
    }

    pub fn expert_by_username(&self, username: &str) -> Result<Option<Expert>, StoreError> {
        match self.engine.get(Tree::ExpertNames, &[text(username)])? {
            Some((v, _)) => self.expert(ExpertId(u64_from(&v))),
            None => Ok(None),
        }
    }

    pub fn experts(&self) -> Result<Vec<Expert>, StoreError> {
        self.all(Tree::Experts)
    }

    pub fn put_token(&self, token_hash: &[u8], token: &LoginToken) -> Result<Ticket, StoreError> {
        self.mark(Tree::ExpertTokens, &[id(token.expert.0), Part::Bytes(token_hash.to_vec())])?;
        self.put(Tree::LoginTokens, &[Part::Bytes(token_hash.to_vec())], token)
    }

    /// Revokes every login token of an expert.
    pub fn revoke_tokens(&self, expert: ExpertId) -> Result<Ticket, StoreError> {
        for (key, _) in self.engine.scan(Tree::ExpertTokens, &[id(expert.0)])? {
            self.engine.remove(Tree::LoginTokens, &key[1..])?;
            self.engine.remove(Tree::ExpertTokens, &key)?;
        }
        Ok(self.ticket())
    }

    pub fn token(&self, token_hash: &[u8]) -> Result<Option<LoginToken>, StoreError> {
        self.get(Tree::LoginTokens, &[Part::Bytes(token_hash.to_vec())])
    }

    pub fn remove_token(&self, token_hash: &[u8]) -> Result<Ticket, StoreError> {
        self.engine.remove(Tree::LoginTokens, &[Part::Bytes(token_hash.to_vec())])?;
        Ok(self.ticket())
    }

    // --- the first run (see `accounts::first_run`) ---

    /// The one-time code that creates the first admin, while one is kept.
    pub fn setup_code(&self) -> Result<Option<String>, StoreError> {
        let value = self.engine.get(Tree::Meta, &[text(SETUP_CODE)])?;
        Ok(value.map(|(v, _)| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Keeps `code` unless a code is kept already (another node of the cluster made one first);
    /// the code kept either way.
    pub fn offer_setup_code(&self, code: &str) -> Result<String, StoreError> {
        match self.engine.insert_new(Tree::Meta, &[text(SETUP_CODE)], code.as_bytes())? {
            Some(kept) => Ok(String::from_utf8_lossy(&kept).into_owned()),
            None => Ok(code.to_owned()),
        }
    }

    pub fn forget_setup_code(&self) -> Result<Ticket, StoreError> {
        self.engine.remove(Tree::Meta, &[text(SETUP_CODE)])?;
        Ok(self.ticket())
    }

    /// Claims the first run under `code` for `expert`: true for exactly one caller per code,
    /// decided at once on every engine (`insert_new`), so two racing requests make one admin.
    pub fn claim_setup(&self, code: &str, expert: ExpertId) -> Result<bool, StoreError> {
        let key = [text(&format!("{SETUP_CLAIM}{code}"))];
        Ok(self.engine.insert_new(Tree::Meta, &key, &expert.to_be_bytes())?.is_none())
    }

    /// Whether the first run was claimed under `code`.
    pub fn setup_claimed(&self, code: &str) -> Result<bool, StoreError> {
        Ok(self.engine.get(Tree::Meta, &[text(&format!("{SETUP_CLAIM}{code}"))])?.is_some())
    }

    /// Gives a claim up: its admin could not be made (the username was taken).
    pub fn release_setup(&self, code: &str) -> Result<(), StoreError> {
        self.engine.remove(Tree::Meta, &[text(&format!("{SETUP_CLAIM}{code}"))]).map(drop)
    }

    // --- customers ---

    pub fn put_customer(&self, customer: &Customer) -> Result<Ticket, StoreError> {
        self.put(Tree::Customers, &[id(customer.id.0)], customer)
    }

    pub fn customer(&self, customer: CustomerId) -> Result<Option<Customer>, StoreError> {
        self.get(Tree::Customers, &[id(customer.0)])
    }

    /// The stored customer, or one known only by id (created `since`) for a visitor whose
    /// record is not written yet.
    pub fn customer_or_anonymous(
        &self,
        id: CustomerId,
        since: crate::clock::Timestamp,
    ) -> Result<Customer, StoreError> {
        Ok(self.customer(id)?.unwrap_or_else(|| Customer::anonymous(id, since)))
    }

    /// Stores the customer unless a record exists: an anonymous visitor gets one only when
    /// they first leave something behind (a chat, a callback request).
    pub fn keep_customer(&self, customer: &Customer) -> Result<Ticket, StoreError> {
        self.engine.insert_new(Tree::Customers, &[id(customer.id.0)], &encode(customer))?;
        Ok(self.ticket())
    }

    /// The key that signs visitor tokens (`auth::visitor_token`).
    pub fn visitor_key(&self) -> Result<Vec<u8>, StoreError> {
        let key = self.engine.get(Tree::Meta, &[text(VISITOR_KEY)])?;
        key.map(|(k, _)| k).ok_or_else(|| StoreError::Corrupt("the visitor key is missing".into()))
    }

    /// Adopts another store's visitor key, so its visitors' tokens keep working (import).
    pub fn set_visitor_key(&self, key: &[u8]) -> Result<Ticket, StoreError> {
        self.engine.put(Tree::Meta, &[text(VISITOR_KEY)], key, Expect::Any)?;
        Ok(self.ticket())
    }

    /// The customer for a company user id, created with `fresh` on first sight.
    pub fn external_customer(&self, external_id: &str, fresh: CustomerId) -> Result<CustomerId, StoreError> {
        let key = [text(external_id)];
        Ok(match self.engine.insert_new(Tree::ExternalUsers, &key, &fresh.to_be_bytes())? {
            None => fresh,
            Some(current) => CustomerId(u64_from(&current)),
        })
    }

    // --- conversations ---

    /// Stores a conversation, whoever wrote it last.
    pub fn put_conversation(&self, c: &Conversation) -> Result<Ticket, StoreError> {
        self.save_conversation(c, Expect::Any).map(|(ticket, _)| ticket)
    }

    /// Stores a conversation if `expect` holds (its single writer names the revision it
    /// last saw); the ticket and the new revision.
    pub fn save_conversation(
        &self,
        c: &Conversation,
        expect: Expect,
    ) -> Result<(Ticket, Revision), StoreError> {
        let key = [id(c.id.0)];
        // Index first and unindex last, so a crash in between leaves at worst an extra
        // live entry (filtered on load), never a live conversation nobody reloads. An index
        // entry written before a refused record write is harmless the same way.
        if !c.status.is_terminal() {
            self.mark(Tree::Live, &key)?;
        }
        self.mark(Tree::CustomerConversations, &[id(c.customer.0), id(c.id.0)])?;
        for expert in c.owner.iter().map(|o| o.id).chain(c.past_owners.iter().copied()) {
            self.mark(Tree::ExpertConversations, &[id(expert.0), id(c.id.0)])?;
        }
        if c.status == crate::domain::Status::Abandoned {
            self.mark(Tree::Abandoned, &key)?;
        }
        let revision = self.engine.put(Tree::Conversations, &key, &encode(c), expect)?;
        if c.status.is_terminal() {
            self.engine.remove(Tree::Live, &key)?;
        }
        Ok((self.ticket(), revision))
    }

    pub fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        Ok(self.conversation_at(id)?.map(|(c, _)| c))
    }

    /// A conversation with the revision its next conditional write names.
    pub fn conversation_at(&self, c: ConversationId) -> Result<Option<(Conversation, Revision)>, StoreError> {
        match self.engine.get(Tree::Conversations, &[id(c.0)])? {
            Some((v, rev)) => Ok(Some((decode(&v)?, rev))),
            None => Ok(None),
        }
    }

    fn conversations_listed(&self, ids: Vec<u64>) -> Result<Vec<Conversation>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for c in ids {
            out.extend(self.conversation(ConversationId(c))?);
        }
        Ok(out)
    }

    fn ids_in(&self, tree: Tree) -> Result<Vec<u64>, StoreError> {
        Ok(self.engine.scan(tree, &[])?.iter().map(|(k, _)| k[0].id()).collect())
    }

    /// Every conversation that is not closed, in id order.
    pub fn live_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        let live = self.conversations_listed(self.ids_in(Tree::Live)?)?;
        Ok(live.into_iter().filter(|c| !c.status.is_terminal()).collect())
    }

    /// Abandoned conversations, oldest first.
    pub fn abandoned(&self) -> Result<Vec<Conversation>, StoreError> {
        self.conversations_listed(self.ids_in(Tree::Abandoned)?)
    }

    /// Stores a file's bytes first, then its record: a record never points at nothing.
    pub fn put_attachment(&self, a: &Attachment, bytes: &[u8]) -> Result<Ticket, StoreError> {
        let key = [id(a.summary.id.0)];
        self.engine.put(Tree::AttachmentBytes, &key, bytes, Expect::Any)?;
        self.engine.put(Tree::Attachments, &key, &encode(a), Expect::Any)?;
        self.mark(Tree::ConversationAttachments, &[id(a.conversation.0), id(a.summary.id.0)])?;
        Ok(self.ticket())
    }

    pub fn attachments_of(&self, conversation: ConversationId) -> Result<Vec<Attachment>, StoreError> {
        let mut out = Vec::new();
        for a in self.listed(Tree::ConversationAttachments, conversation.0)? {
            out.extend(self.attachment(AttachmentId(a))?);
        }
        Ok(out)
    }

    pub fn attachment(&self, a: AttachmentId) -> Result<Option<Attachment>, StoreError> {
        self.get(Tree::Attachments, &[id(a.0)])
    }

    pub fn attachment_bytes(&self, a: AttachmentId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.engine.get(Tree::AttachmentBytes, &[id(a.0)])?.map(|(v, _)| v))
    }

    pub fn put_webhook(&self, e: &WebhookEntry) -> Result<Ticket, StoreError> {
        self.put(Tree::WebhookOutbox, &webhook_key(e), e)
    }

    pub fn remove_webhook(&self, e: &WebhookEntry) -> Result<(), StoreError> {
        self.engine.remove(Tree::WebhookOutbox, &webhook_key(e)).map(drop)
    }

    /// Deliveries whose time has come, oldest event first.
    pub fn due_webhooks(
        &self,
        now: crate::clock::Timestamp,
        limit: usize,
    ) -> Result<Vec<WebhookEntry>, StoreError> {
        let mut out = Vec::new();
        for (_, value) in self.engine.scan(Tree::WebhookOutbox, &[])? {
            let e: WebhookEntry = decode(&value)?;
            if e.next_attempt_at <= now {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn put_canned(&self, c: &Canned) -> Result<Ticket, StoreError> {
        self.put(Tree::Canned, &[id(c.id.0)], c)
    }

    pub fn canned(&self) -> Result<Vec<Canned>, StoreError> {
        self.all(Tree::Canned)
    }

    /// Removes a canned response; whether it existed.
    pub fn remove_canned(&self, c: CannedId) -> Result<Option<Ticket>, StoreError> {
        Ok(self.engine.remove(Tree::Canned, &[id(c.0)])?.then(|| self.ticket()))
    }

    pub fn canned_one(&self, c: CannedId) -> Result<Option<Canned>, StoreError> {
        self.get(Tree::Canned, &[id(c.0)])
    }

    pub fn put_callback(&self, c: &Callback) -> Result<Ticket, StoreError> {
        self.put(Tree::Callbacks, &[id(c.id.0)], c)
    }

    pub fn callback(&self, c: CallbackId) -> Result<Option<Callback>, StoreError> {
        self.get(Tree::Callbacks, &[id(c.0)])
    }

    pub fn callbacks(&self) -> Result<Vec<Callback>, StoreError> {
        self.all(Tree::Callbacks)
    }

    pub fn conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        self.all(Tree::Conversations)
    }

    pub fn conversations_of_customer(&self, customer: CustomerId) -> Result<Vec<Conversation>, StoreError> {
        self.conversations_listed(self.listed(Tree::CustomerConversations, customer.0)?)
    }

    /// Conversations an expert owns or has owned.
    pub fn conversations_of_expert(&self, expert: ExpertId) -> Result<Vec<Conversation>, StoreError> {
        self.conversations_listed(self.listed(Tree::ExpertConversations, expert.0)?)
    }

    pub fn started_conversation(
        &self,
        customer: CustomerId,
        client_id: &str,
    ) -> Result<Option<ConversationId>, StoreError> {
        let key = [id(customer.0), text(client_id)];
        Ok(self.engine.get(Tree::Starts, &key)?.map(|(v, _)| ConversationId(u64_from(&v))))
    }

    pub fn record_start(
        &self,
        customer: CustomerId,
        client_id: &str,
        conversation: ConversationId,
    ) -> Result<(), StoreError> {
        let key = [id(customer.0), text(client_id)];
        self.engine.put(Tree::Starts, &key, &conversation.to_be_bytes(), Expect::Any).map(drop)
    }

    // --- messages ---

    /// Appends a message; its client id, if any, is part of the record: one insert.
    pub fn append_message(
        &self,
        conversation: ConversationId,
        message: &StoredMessage,
    ) -> Result<Ticket, StoreError> {
        self.engine.append(conversation.0, message.seq, &encode(message))?;
        Ok(self.ticket())
    }

    /// Messages with seq > `after_seq`, in order.
    pub fn transcript(
        &self,
        conversation: ConversationId,
        after_seq: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.engine.read(conversation.0, after_seq)?.iter().map(|(_, v)| decode(v)).collect()
    }

    pub fn last_seq(&self, conversation: ConversationId) -> Result<u64, StoreError> {
        self.engine.last_seq(conversation.0)
    }

    // --- whole-store reads and writes for `switchboard export` / `import` ---

    /// Whether the store holds any record at all: import only writes into an empty one.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let trees = [
            Tree::Experts,
            Tree::Customers,
            Tree::Conversations,
            Tree::Callbacks,
            Tree::Canned,
            Tree::Attachments,
            Tree::WebhookOutbox,
        ];
        for tree in trees {
            if !self.engine.is_empty(tree)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        self.all(Tree::Customers)
    }

    /// Every (expert, conversation) pair of the experts' index. It can list more than a
    /// record's owners: a claimer who lost a claim keeps the entry (see `save_conversation`).
    pub fn expert_conversation_index(&self) -> Result<Vec<(ExpertId, ConversationId)>, StoreError> {
        let pairs = self.engine.scan(Tree::ExpertConversations, &[])?;
        Ok(pairs.iter().map(|(k, _)| (ExpertId(k[0].id()), ConversationId(k[1].id()))).collect())
    }

    pub fn index_expert_conversation(
        &self,
        expert: ExpertId,
        conversation: ConversationId,
    ) -> Result<Ticket, StoreError> {
        self.mark(Tree::ExpertConversations, &[id(expert.0), id(conversation.0)])?;
        Ok(self.ticket())
    }

    /// Makes `next_id` return ids above `last`, so records written with their old ids are never
    /// named again. An engine's counter only counts up, which costs nanoseconds an id.
    pub fn reserve_ids_through(&self, last: u64) -> Result<(), StoreError> {
        while self.next_id()? <= last {}
        Ok(())
    }
}

/// This node's name on its NATS connection: `cluster.node_name`, else host name and port.
pub fn node_name(config: &crate::config::Config) -> String {
    if !config.cluster.node_name.is_empty() {
        return config.cluster.node_name.clone();
    }
    let host = crate::net::host_name();
    format!("{host}:{}", config.server.bind.port())
}

fn webhook_key(e: &WebhookEntry) -> [Part; 2] {
    [id(e.id), Part::Short(e.endpoint)]
}

#[cfg(test)]
mod tests;
