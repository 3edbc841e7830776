//! The embedded store: named, versioned sled trees behind a cheap-to-clone `Store`.
//!
//! Writes go into sled and return a [`Ticket`]; callers await [`Store::durable`] before they
//! acknowledge or deliver anything, and the flusher shares one fsync among all of them.

mod codec;
mod flusher;
pub mod keys;
pub mod migrations;
pub mod model;
mod sync;

use std::path::Path;
use std::sync::Arc;

pub use codec::{decode, encode, Persisted, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use flusher::Flusher;
pub use flusher::Ticket;
use model::{
    Attachment, Callback, Canned, Conversation, Customer, Expert, LoginToken, StoredMessage, WebhookEntry,
};

use crate::config::Durability;
use crate::ids::{AttachmentId, CallbackId, CannedId, ConversationId, CustomerId, ExpertId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {0} is in use by another switchboard process")]
    Locked(String),
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
}

/// The meta entry holding the visitor token key.
const VISITOR_KEY: &str = "visitor_key";

/// Tree names carry the layout version; `FORMAT_VERSION` covers the value encoding.
mod tree {
    pub const META: &str = "meta";
    pub const EXPERTS: &str = "experts_v1";
    pub const EXPERT_NAMES: &str = "expert_names_v1";
    pub const TOKENS: &str = "login_tokens_v1";
    pub const CUSTOMERS: &str = "customers_v1";
    pub const EXTERNAL_USERS: &str = "external_users_v1";
    pub const CONVERSATIONS: &str = "conversations_v1";
    pub const LIVE: &str = "live_conversations_v1";
    pub const CUSTOMER_CONVERSATIONS: &str = "customer_conversations_v1";
    pub const EXPERT_CONVERSATIONS: &str = "expert_conversations_v1";
    pub const STARTS: &str = "conversation_starts_v1";
    pub const MESSAGES: &str = "messages_v1";
    pub const ABANDONED: &str = "abandoned_v1";
    pub const CALLBACKS: &str = "callbacks_v1";
    pub const ATTACHMENTS: &str = "attachments_v1";
    pub const ATTACHMENT_BYTES: &str = "attachment_bytes_v1";
    pub const CONVERSATION_ATTACHMENTS: &str = "conversation_attachments_v1";
    pub const CANNED: &str = "canned_responses_v1";
    pub const EXPERT_TOKENS: &str = "expert_tokens_v1";
    pub const WEBHOOK_OUTBOX: &str = "webhook_outbox_v1";
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    /// The format version and the visitor key.
    meta: sled::Tree,
    experts: sled::Tree,
    expert_names: sled::Tree,
    tokens: sled::Tree,
    customers: sled::Tree,
    external_users: sled::Tree,
    conversations: sled::Tree,
    /// Ids of conversations that are not closed: what a restart brings back to life.
    live: sled::Tree,
    customer_conversations: sled::Tree,
    expert_conversations: sled::Tree,
    /// `start` frames by client_msg_id, so a resent start does not open a second chat.
    starts: sled::Tree,
    messages: sled::Tree,
    /// Abandoned conversations: the follow-up list.
    abandoned: sled::Tree,
    callbacks: sled::Tree,
    attachments: sled::Tree,
    attachment_bytes: sled::Tree,
    conversation_attachments: sled::Tree,
    canned: sled::Tree,
    /// Each expert's login token digests, so all of them can be revoked at once.
    expert_tokens: sled::Tree,
    /// Webhook deliveries owed, by event id then endpoint.
    webhooks: sled::Tree,
    flusher: Arc<Flusher>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.flusher.stop();
        let _ = self.db.flush();
    }
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, crate::config::DEFAULT_CACHE_BYTES)
    }

    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(dir, cache_bytes, Durability::default())
    }

    /// Opens (creating if need be) the store in `dir`; what each acknowledged write survives
    /// is `durability`.
    pub fn open_with(dir: &Path, cache_bytes: u64, durability: Durability) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(e.into()))?;
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes).open().map_err(|e| match e {
            sled::Error::Io(ref io)
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
            {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Sled(other),
        })?;
        let meta = db.open_tree(tree::META)?;
        match meta.get("format_version")? {
            None => {
                meta.insert("format_version", &[FORMAT_VERSION])?;
            }
            Some(v) if v.as_ref() == [FORMAT_VERSION] => {}
            // Older values read through `migrations` and are written anew as they change.
            Some(v) if matches!(*v, [old] if (OLDEST_FORMAT_VERSION..FORMAT_VERSION).contains(&old)) => {
                migrations::upgrade(&db, v[0])?;
                meta.insert("format_version", &[FORMAT_VERSION])?;
            }
            Some(v) => {
                return Err(StoreError::Corrupt(format!(
                    "data format version {v:?}, this build reads {FORMAT_VERSION}"
                )))
            }
        }
        if meta.get(VISITOR_KEY)?.is_none() {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            meta.insert(VISITOR_KEY, &key)?;
            // Tokens signed with it go out without a flush of their own.
            db.flush()?;
        }
        // Everything sled wrote while opening (the new snapshot, a new `conf`, the directories)
        // and the visitor key are made durable here, before anything relies on them.
        let disk = match durability {
            Durability::PowerLoss => Some(sync::DiskSync::open(dir).map_err(|e| StoreError::Sled(e.into()))?),
            Durability::ProcessCrash => None,
        };
        let (flusher, _thread) = Flusher::start(db.clone(), disk);
        let t = |name| db.open_tree(name);
        Ok(Store {
            inner: Arc::new(Inner {
                experts: t(tree::EXPERTS)?,
                expert_names: t(tree::EXPERT_NAMES)?,
                tokens: t(tree::TOKENS)?,
                customers: t(tree::CUSTOMERS)?,
                external_users: t(tree::EXTERNAL_USERS)?,
                conversations: t(tree::CONVERSATIONS)?,
                live: t(tree::LIVE)?,
                customer_conversations: t(tree::CUSTOMER_CONVERSATIONS)?,
                expert_conversations: t(tree::EXPERT_CONVERSATIONS)?,
                starts: t(tree::STARTS)?,
                messages: t(tree::MESSAGES)?,
                abandoned: t(tree::ABANDONED)?,
                callbacks: t(tree::CALLBACKS)?,
                attachments: t(tree::ATTACHMENTS)?,
                attachment_bytes: t(tree::ATTACHMENT_BYTES)?,
                conversation_attachments: t(tree::CONVERSATION_ATTACHMENTS)?,
                canned: t(tree::CANNED)?,
                expert_tokens: t(tree::EXPERT_TOKENS)?,
                webhooks: t(tree::WEBHOOK_OUTBOX)?,
                meta,
                db,
                flusher,
            }),
        })
    }

    /// A fresh id, unique across restarts.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        // sled ids start at 0; ours start at 1 so that 0 never names anything.
        Ok(self.inner.db.generate_id()? + 1)
    }

    fn ticket(&self) -> Ticket {
        self.inner.flusher.ticket()
    }

    /// Resolves once everything written before `ticket` was taken is on disk.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.inner.flusher.durable(ticket).await
    }

    /// Waits for a flush that starts after this call: whatever a read just saw is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let t = self.ticket();
        self.durable(t).await
    }

    // --- experts and their logins ---

    /// Stores a new expert; `Taken` if the username is in use.
    pub fn create_expert(&self, expert: &Expert) -> Result<Ticket, StoreError> {
        let i = &self.inner;
        let claimed = i.expert_names.compare_and_swap(
            expert.username.as_bytes(),
            None as Option<&[u8]>,
            Some(&expert.id.to_be_bytes()[..]),
        )?;
        if claimed.is_err() {
            return Err(StoreError::Taken);
        }
        i.experts.insert(expert.id.to_be_bytes(), encode(expert))?;
        Ok(self.ticket())
    }

    pub fn put_expert(&self, expert: &Expert) -> Result<Ticket, StoreError> {
        self.inner.experts.insert(expert.id.to_be_bytes(), encode(expert))?;
        Ok(self.ticket())
    }

    pub fn expert(&self, id: ExpertId) -> Result<Option<Expert>, StoreError> {
        get(&self.inner.experts, id.to_be_bytes())
    }

    pub fn expert_by_username(&self, username: &str) -> Result<Option<Expert>, StoreError> {
        match self.inner.expert_names.get(username.as_bytes())? {
            Some(id) => self.expert(ExpertId(keys::u64_from(&id))),
            None => Ok(None),
        }
    }

    pub fn experts(&self) -> Result<Vec<Expert>, StoreError> {
        all(&self.inner.experts)
    }

    pub fn put_token(&self, token_hash: &[u8], token: &LoginToken) -> Result<Ticket, StoreError> {
        let mut index = token.expert.to_be_bytes().to_vec();
        index.extend_from_slice(token_hash);
        self.inner.expert_tokens.insert(index, &[])?;
        self.inner.tokens.insert(token_hash, encode(token))?;
        Ok(self.ticket())
    }

    /// Revokes every login token of an expert.
    pub fn revoke_tokens(&self, expert: ExpertId) -> Result<Ticket, StoreError> {
        for key in self.inner.expert_tokens.scan_prefix(expert.to_be_bytes()).keys() {
            let key = key?;
            self.inner.tokens.remove(&key[8..])?;
            self.inner.expert_tokens.remove(&key)?;
        }
        Ok(self.ticket())
    }

    pub fn token(&self, token_hash: &[u8]) -> Result<Option<LoginToken>, StoreError> {
        get(&self.inner.tokens, token_hash)
    }

    pub fn remove_token(&self, token_hash: &[u8]) -> Result<Ticket, StoreError> {
        self.inner.tokens.remove(token_hash)?;
        Ok(self.ticket())
    }

    // --- customers ---

    pub fn put_customer(&self, customer: &Customer) -> Result<Ticket, StoreError> {
        self.inner.customers.insert(customer.id.to_be_bytes(), encode(customer))?;
        Ok(self.ticket())
    }

    pub fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        get(&self.inner.customers, id.to_be_bytes())
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
        let key = customer.id.to_be_bytes();
        let _ = self.inner.customers.compare_and_swap(key, None as Option<&[u8]>, Some(encode(customer)))?;
        Ok(self.ticket())
    }

    /// The key that signs visitor tokens (`auth::visitor_token`).
    pub fn visitor_key(&self) -> Result<Vec<u8>, StoreError> {
        let key = self.inner.meta.get(VISITOR_KEY)?;
        key.map(|k| k.to_vec()).ok_or_else(|| StoreError::Corrupt("the visitor key is missing".into()))
    }

    /// Adopts another store's visitor key, so its visitors' tokens keep working (import).
    pub fn set_visitor_key(&self, key: &[u8]) -> Result<Ticket, StoreError> {
        self.inner.meta.insert(VISITOR_KEY, key)?;
        Ok(self.ticket())
    }

    /// The customer for a company user id, created with `fresh` on first sight.
    pub fn external_customer(&self, external_id: &str, fresh: CustomerId) -> Result<CustomerId, StoreError> {
        let i = &self.inner;
        let won = i.external_users.compare_and_swap(
            external_id.as_bytes(),
            None as Option<&[u8]>,
            Some(&fresh.to_be_bytes()[..]),
        )?;
        Ok(match won {
            Ok(()) => fresh,
            Err(current) => CustomerId(keys::u64_from(&current.current.unwrap_or_default())),
        })
    }

    // --- conversations ---

    pub fn put_conversation(&self, c: &Conversation) -> Result<Ticket, StoreError> {
        let i = &self.inner;
        let id = c.id.to_be_bytes();
        // Index first and unindex last, so a crash in between leaves at worst an extra
        // live entry (filtered on load), never a live conversation nobody reloads.
        if !c.status.is_terminal() {
            i.live.insert(id, &[])?;
        }
        i.customer_conversations.insert(keys::pair(c.customer.0, c.id.0), &[])?;
        for expert in c.owner.iter().map(|o| o.id).chain(c.past_owners.iter().copied()) {
            i.expert_conversations.insert(keys::pair(expert.0, c.id.0), &[])?;
        }
        if c.status == crate::domain::Status::Abandoned {
            i.abandoned.insert(id, &[])?;
        }
        i.conversations.insert(id, encode(c))?;
        if c.status.is_terminal() {
            i.live.remove(id)?;
        }
        Ok(self.ticket())
    }

    pub fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        get(&self.inner.conversations, id.to_be_bytes())
    }

    /// Every conversation that is not closed, in id order.
    pub fn live_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        let mut out = Vec::new();
        for key in self.inner.live.iter().keys() {
            let id = ConversationId(keys::u64_from(&key?));
            if let Some(c) = self.conversation(id)? {
                if !c.status.is_terminal() {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// Abandoned conversations, oldest first.
    pub fn abandoned(&self) -> Result<Vec<Conversation>, StoreError> {
        let mut out = Vec::new();
        for key in self.inner.abandoned.iter().keys() {
            if let Some(c) = self.conversation(ConversationId(keys::u64_from(&key?)))? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Stores a file's bytes first, then its record: a record never points at nothing.
    pub fn put_attachment(&self, a: &Attachment, bytes: &[u8]) -> Result<Ticket, StoreError> {
        let i = &self.inner;
        let id = a.summary.id.to_be_bytes();
        i.attachment_bytes.insert(id, bytes)?;
        i.attachments.insert(id, encode(a))?;
        i.conversation_attachments.insert(keys::pair(a.conversation.0, a.summary.id.0), &[])?;
        Ok(self.ticket())
    }

    pub fn attachments_of(&self, conversation: ConversationId) -> Result<Vec<Attachment>, StoreError> {
        let mut out = Vec::new();
        for key in self.inner.conversation_attachments.scan_prefix(conversation.to_be_bytes()).keys() {
            let id = AttachmentId(keys::u64_from(&key?[8..]));
            out.extend(self.attachment(id)?);
        }
        Ok(out)
    }

    pub fn attachment(&self, id: AttachmentId) -> Result<Option<Attachment>, StoreError> {
        get(&self.inner.attachments, id.to_be_bytes())
    }

    pub fn attachment_bytes(&self, id: AttachmentId) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.inner.attachment_bytes.get(id.to_be_bytes())?)
    }

    pub fn put_webhook(&self, e: &WebhookEntry) -> Result<Ticket, StoreError> {
        self.inner.webhooks.insert(webhook_key(e), encode(e))?;
        Ok(self.ticket())
    }

    pub fn remove_webhook(&self, e: &WebhookEntry) -> Result<(), StoreError> {
        self.inner.webhooks.remove(webhook_key(e))?;
        Ok(())
    }

    /// Deliveries whose time has come, oldest event first.
    pub fn due_webhooks(
        &self,
        now: crate::clock::Timestamp,
        limit: usize,
    ) -> Result<Vec<WebhookEntry>, StoreError> {
        let mut out = Vec::new();
        for value in self.inner.webhooks.iter().values() {
            let e: WebhookEntry = decode(&value?)?;
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
        self.inner.canned.insert(c.id.to_be_bytes(), encode(c))?;
        Ok(self.ticket())
    }

    pub fn canned(&self) -> Result<Vec<Canned>, StoreError> {
        all(&self.inner.canned)
    }

    /// Removes a canned response; whether it existed.
    pub fn remove_canned(&self, id: CannedId) -> Result<Option<Ticket>, StoreError> {
        Ok(self.inner.canned.remove(id.to_be_bytes())?.map(|_| self.ticket()))
    }

    pub fn canned_one(&self, id: CannedId) -> Result<Option<Canned>, StoreError> {
        get(&self.inner.canned, id.to_be_bytes())
    }

    pub fn put_callback(&self, c: &Callback) -> Result<Ticket, StoreError> {
        self.inner.callbacks.insert(c.id.to_be_bytes(), encode(c))?;
        Ok(self.ticket())
    }

    pub fn callback(&self, id: CallbackId) -> Result<Option<Callback>, StoreError> {
        get(&self.inner.callbacks, id.to_be_bytes())
    }

    pub fn callbacks(&self) -> Result<Vec<Callback>, StoreError> {
        all(&self.inner.callbacks)
    }

    pub fn conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        all(&self.inner.conversations)
    }

    pub fn conversations_of_customer(&self, customer: CustomerId) -> Result<Vec<Conversation>, StoreError> {
        self.indexed(&self.inner.customer_conversations, customer.0)
    }

    /// Conversations an expert owns or has owned.
    pub fn conversations_of_expert(&self, expert: ExpertId) -> Result<Vec<Conversation>, StoreError> {
        self.indexed(&self.inner.expert_conversations, expert.0)
    }

    fn indexed(&self, index: &sled::Tree, owner: u64) -> Result<Vec<Conversation>, StoreError> {
        let mut out = Vec::new();
        for key in index.scan_prefix(owner.to_be_bytes()).keys() {
            let key = key?;
            if let Some(c) = self.conversation(ConversationId(keys::u64_from(&key[8..])))? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub fn started_conversation(
        &self,
        customer: CustomerId,
        client_id: &str,
    ) -> Result<Option<ConversationId>, StoreError> {
        Ok(self
            .inner
            .starts
            .get(keys::customer_start(customer, client_id))?
            .map(|v| ConversationId(keys::u64_from(&v))))
    }

    pub fn record_start(
        &self,
        customer: CustomerId,
        client_id: &str,
        id: ConversationId,
    ) -> Result<(), StoreError> {
        self.inner.starts.insert(keys::customer_start(customer, client_id), &id.to_be_bytes())?;
        Ok(())
    }

    // --- messages ---

    /// Appends a message; its client id, if any, is part of the record: one insert.
    pub fn append_message(
        &self,
        conversation: ConversationId,
        message: &StoredMessage,
    ) -> Result<Ticket, StoreError> {
        self.inner.messages.insert(keys::message(conversation, message.seq), encode(message))?;
        Ok(self.ticket())
    }

    /// Messages with seq > `after_seq`, in order: one range scan.
    pub fn transcript(
        &self,
        conversation: ConversationId,
        after_seq: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let start = keys::message(conversation, after_seq.saturating_add(1));
        let end = keys::message(conversation, u64::MAX);
        self.inner.messages.range(start..=end).values().map(|v| decode(&v?)).collect()
    }

    pub fn last_seq(&self, conversation: ConversationId) -> Result<u64, StoreError> {
        Ok(self
            .inner
            .messages
            .scan_prefix(keys::messages_of(conversation))
            .keys()
            .next_back()
            .transpose()?
            .map(|k| keys::seq_of_message_key(&k))
            .unwrap_or(0))
    }

    // --- whole-store reads and writes for `switchboard export` / `import` ---

    /// Whether the store holds any record at all: import only writes into an empty one.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let i = &self.inner;
        let trees = [
            &i.experts,
            &i.customers,
            &i.conversations,
            &i.callbacks,
            &i.canned,
            &i.attachments,
            &i.webhooks,
        ];
        Ok(trees.iter().all(|t| t.is_empty()))
    }

    pub fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        all(&self.inner.customers)
    }

    /// Every (expert, conversation) pair of the experts' index. It can list more than a
    /// record's owners: a claimer who lost a claim keeps the entry (see `put_conversation`).
    pub fn expert_conversation_index(&self) -> Result<Vec<(ExpertId, ConversationId)>, StoreError> {
        let pair = |k: &[u8]| (ExpertId(keys::u64_from(&k[..8])), ConversationId(keys::u64_from(&k[8..])));
        self.inner.expert_conversations.iter().keys().map(|k| Ok(pair(&k?))).collect()
    }

    pub fn index_expert_conversation(
        &self,
        expert: ExpertId,
        conversation: ConversationId,
    ) -> Result<Ticket, StoreError> {
        self.inner.expert_conversations.insert(keys::pair(expert.0, conversation.0), &[])?;
        Ok(self.ticket())
    }

    /// Makes `next_id` return ids above `last`, so records written with their old ids are never
    /// named again. sled cannot set its counter, only count up, which costs nanoseconds an id.
    pub fn reserve_ids_through(&self, last: u64) -> Result<(), StoreError> {
        while self.next_id()? <= last {}
        Ok(())
    }
}

fn webhook_key(e: &WebhookEntry) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..8].copy_from_slice(&e.id.to_be_bytes());
    k[8..].copy_from_slice(&e.endpoint.to_be_bytes());
    k
}

fn get<T: Persisted>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|v| decode(&v)).transpose()
}

fn all<T: Persisted>(tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
    tree.iter().values().map(|v| decode(&v?)).collect()
}

#[cfg(test)]
mod tests;
