//! The storage seam: the few operations [`super::Store`] needs from an engine. The store
//! builds every record, index and transcript of the product on top of them; an engine only
//! keeps bytes under structured keys, orders a write log, and says when writes are durable.
//!
//! It is shaped for an engine with conditional appends and per-key revisions (NATS JetStream:
//! key-value buckets updated by revision, one stream subject per transcript appended with an
//! expected last sequence) as much as for sled, which does the same with compare-and-swap.
//! `sled.rs` implements it for one machine; `conformance` is the suite every engine passes.
//!
//! # Writes, visibility and durability
//! A write returns as soon as the engine has taken it: reads through the same engine see it at
//! once, and it is durable when [`Engine::durable`] resolves for a [`Ticket`] taken after it.
//! Writes become durable in the order they were made. Nothing may be acknowledged to a client
//! before its ticket is durable. A conditional write ([`Expect::At`], [`Engine::append`]) that
//! does not hold is refused with [`StoreError::Conflict`], either at once or, for an engine that
//! learns it only from its replicas, when its ticket is awaited: in both cases it never takes
//! effect, so the writer must stop and read again (a conversation actor does: see
//! `conversation::outbox`). Only [`Engine::insert_new`] decides at once on every engine; it is
//! for the rare writes whose caller needs the answer (a username, a company's user id).

use std::future::Future;
use std::pin::Pin;

use super::{StoreError, Ticket};

/// A key's version as an engine sees it; [`Revision::ABSENT`] for no value. Opaque: compare it
/// for equality, hand it back to the engine that issued it, never persist it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Revision(pub u64);

impl Revision {
    pub const ABSENT: Revision = Revision(0);
}

/// What a write expects to find under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Whatever is there is replaced.
    Any,
    /// The value at this revision (or none, for [`Revision::ABSENT`]) is still there: nobody
    /// else wrote since the caller read or wrote it.
    At(Revision),
}

/// One component of a key. Each tree names the kinds its keys are made of ([`Tree::shape`]);
/// an engine encodes them in an order-keeping way (sled: big-endian bytes) or as tokens
/// (JetStream: dot-separated), and decodes them again for scans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Id(u64),
    Short(u16),
    /// Text is only ever the last part of a key.
    Text(String),
    /// Bytes are only ever the last part of a key.
    Bytes(Vec<u8>),
}

impl Part {
    /// The id this part holds; 0 if it is another kind (a tree's shape rules that out).
    pub fn id(&self) -> u64 {
        match self {
            Part::Id(id) => *id,
            Part::Short(n) => u64::from(*n),
            _ => 0,
        }
    }
}

/// The kinds a tree's keys are made of, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Short,
    Text,
    Bytes,
}

/// A stored key with its value, as a scan returns it.
pub type Entry = (Vec<Part>, Vec<u8>);

/// Resolves once a ticket's writes are durable, or with the error that stopped them.
pub type Durable = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'static>>;

/// What runs once a ticket's writes are durable, or with the error that stopped them.
pub type OnDurable = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Every keyed collection the store keeps. Transcripts are not here: they are logs
/// ([`Engine::append`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    // Declared in the order of `ALL`: `tree as usize` indexes it.
    /// The format version and the visitor token key, by name.
    Meta,
    Experts,
    ExpertNames,
    LoginTokens,
    /// Each expert's login token digests, so all of them can be revoked at once.
    ExpertTokens,
    Customers,
    ExternalUsers,
    Conversations,
    /// Ids of conversations that are not closed: what a restart brings back to life.
    Live,
    CustomerConversations,
    ExpertConversations,
    /// `start` frames by client_msg_id, so a resent start does not open a second chat.
    Starts,
    /// Abandoned conversations: the follow-up list.
    Abandoned,
    Callbacks,
    Attachments,
    AttachmentBytes,
    ConversationAttachments,
    Canned,
    /// Webhook deliveries owed, by event id then endpoint.
    WebhookOutbox,
    /// Customers whose data was erased: their visitor tokens answer as unknown ones.
    ErasedCustomers,
    /// What the reports still count of an erased conversation: its record with everything
    /// that names or quotes the customer taken out (`model::Conversation::anonymized`).
    ErasedConversations,
}

impl Tree {
    pub const ALL: [Tree; 21] = [
        Tree::Meta,
        Tree::Experts,
        Tree::ExpertNames,
        Tree::LoginTokens,
        Tree::ExpertTokens,
        Tree::Customers,
        Tree::ExternalUsers,
        Tree::Conversations,
        Tree::Live,
        Tree::CustomerConversations,
        Tree::ExpertConversations,
        Tree::Starts,
        Tree::Abandoned,
        Tree::Callbacks,
        Tree::Attachments,
        Tree::AttachmentBytes,
        Tree::ConversationAttachments,
        Tree::Canned,
        Tree::WebhookOutbox,
        Tree::ErasedCustomers,
        Tree::ErasedConversations,
    ];

    /// The tree's name; it carries the layout version, as the value encoding carries
    /// `FORMAT_VERSION`.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Experts => "experts_v1",
            Tree::ExpertNames => "expert_names_v1",
            Tree::LoginTokens => "login_tokens_v1",
            Tree::ExpertTokens => "expert_tokens_v1",
            Tree::Customers => "customers_v1",
            Tree::ExternalUsers => "external_users_v1",
            Tree::Conversations => "conversations_v1",
            Tree::Live => "live_conversations_v1",
            Tree::CustomerConversations => "customer_conversations_v1",
            Tree::ExpertConversations => "expert_conversations_v1",
            Tree::Starts => "conversation_starts_v1",
            Tree::Abandoned => "abandoned_v1",
            Tree::Callbacks => "callbacks_v1",
            Tree::Attachments => "attachments_v1",
            Tree::AttachmentBytes => "attachment_bytes_v1",
            Tree::ConversationAttachments => "conversation_attachments_v1",
            Tree::Canned => "canned_responses_v1",
            Tree::WebhookOutbox => "webhook_outbox_v1",
            Tree::ErasedCustomers => "erased_customers_v1",
            Tree::ErasedConversations => "erased_conversations_v1",
        }
    }

    /// What its keys are made of.
    pub fn shape(self) -> &'static [Kind] {
        use Kind::*;
        match self {
            Tree::Meta | Tree::ExpertNames | Tree::ExternalUsers => &[Text],
            Tree::LoginTokens => &[Bytes],
            Tree::ExpertTokens => &[Id, Bytes],
            Tree::Starts => &[Id, Text],
            Tree::CustomerConversations | Tree::ExpertConversations | Tree::ConversationAttachments => {
                &[Id, Id]
            }
            Tree::WebhookOutbox => &[Id, Short],
            Tree::Experts
            | Tree::Customers
            | Tree::Conversations
            | Tree::Live
            | Tree::Abandoned
            | Tree::Callbacks
            | Tree::Attachments
            | Tree::AttachmentBytes
            | Tree::Canned
            | Tree::ErasedCustomers
            | Tree::ErasedConversations => &[Id],
        }
    }

    /// Whether `key` (or a prefix of it, for scans) fits this tree's shape.
    pub fn fits(self, key: &[Part], whole: bool) -> bool {
        let shape = self.shape();
        (if whole { key.len() == shape.len() } else { key.len() <= shape.len() })
            && key.iter().zip(shape).all(|(part, kind)| {
                matches!(
                    (part, kind),
                    (Part::Id(_), Kind::Id)
                        | (Part::Short(_), Kind::Short)
                        | (Part::Text(_), Kind::Text)
                        | (Part::Bytes(_), Kind::Bytes)
                )
            })
    }
}

/// What [`Engine::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This process runs the router and the live conversations.
    Serving,
    /// Another node does; this one forwards its clients there.
    Elsewhere(Holder),
}

/// The node that holds a deployment, and the address it serves at for the other nodes
/// (empty while nobody holds it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub url: String,
}

/// An engine that keeps the store's bytes. See the module docs for the rules every
/// implementation keeps; `conformance` checks them.
pub trait Engine: Send + Sync + 'static {
    /// The value under `key` and its revision.
    fn get(&self, tree: Tree, key: &[Part]) -> Result<Option<(Vec<u8>, Revision)>, StoreError>;

    /// Stores `value` under `key` if `expect` holds; the key's new revision.
    fn put(&self, tree: Tree, key: &[Part], value: &[u8], expect: Expect) -> Result<Revision, StoreError>;

    /// Stores `value` only if `key` holds nothing, decided before it returns on every engine:
    /// `None` if it was stored, else the value already there (which stays).
    fn insert_new(&self, tree: Tree, key: &[Part], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes `key`; whether it held a value.
    fn remove(&self, tree: Tree, key: &[Part]) -> Result<bool, StoreError>;

    /// Every entry whose key starts with `prefix` (all of them for `&[]`), in key order: ids
    /// numerically, text and bytes bytewise.
    fn scan(&self, tree: Tree, prefix: &[Part]) -> Result<Vec<Entry>, StoreError>;

    /// Whether the tree holds nothing.
    fn is_empty(&self, tree: Tree) -> Result<bool, StoreError>;

    /// Appends entry `seq` to the log `log`, which must hold exactly the entries `1..seq`
    /// (a conditional append: a second writer, or a retry after a lost answer, is refused
    /// with `Conflict` and changes nothing).
    fn append(&self, log: u64, seq: u64, value: &[u8]) -> Result<(), StoreError>;

    /// The entries of `log` after `after`, in order, with their seqs.
    fn read(&self, log: u64, after: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The seq of `log`'s last entry; 0 for an empty log.
    fn last_seq(&self, log: u64) -> Result<u64, StoreError>;

    /// Removes every entry of `log` (a transcript erased for data rights): afterwards it
    /// reads as empty, and a new append must start at 1 again. Its writer must be gone first
    /// (the log's conversation actor stopped), or its next append is refused.
    fn erase_log(&self, log: u64) -> Result<(), StoreError>;

    /// A fresh id, never 0, unique across restarts.
    fn next_id(&self) -> Result<u64, StoreError>;

    /// A position after every write made so far.
    fn ticket(&self) -> Ticket;

    /// Resolves once every write made before `ticket` was taken is durable.
    fn durable(&self, ticket: Ticket) -> Durable;

    /// Runs `then` once every write made before `ticket` was taken is durable, or with the
    /// error that stopped them, on whichever thread learns it (`then` must not block). By
    /// default a task of the caller's runtime awaits [`Engine::durable`]; the embedded
    /// engine runs it on its flusher thread, right after the commit.
    fn when_durable(&self, ticket: Ticket, then: OnDurable) {
        let durable = self.durable(ticket);
        tokio::spawn(async move { then(durable.await) });
    }

    /// Rewrites what a store of the older format `from` keeps in a layout this build no
    /// longer reads; run when such a store is opened, before it is marked as this build's, and
    /// again if a crash interrupted it (so each step may run more than once). An engine newer
    /// than every older format has nothing to do.
    fn upgrade(&self, from: u8) -> Result<(), StoreError> {
        let _ = from;
        Ok(())
    }

    /// Whether the engine can make writes durable now (an embedded one always can; a
    /// networked one while it is connected): what `/healthz` reports.
    fn connected(&self) -> bool {
        true
    }

    /// Claims the store for this process, as `node` serving at `url`, so that one process
    /// at a time runs the router and the live conversations (two would route the same queue
    /// twice). The embedded engine holds its directory's lock from the moment it opens; a
    /// shared engine takes a lease and keeps it, or names the node that holds it (whom the
    /// other nodes forward to). Called again by a node waiting for the holder to go.
    fn claim(&self, node: &str, url: &str) -> Result<Claim, StoreError> {
        let _ = (node, url);
        Ok(Claim::Serving)
    }

    /// Gives up what [`Engine::claim`] claimed, at a clean stop, so a replacement need
    /// not wait for a lease to lapse.
    fn leave(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_tree_in_declaration_order() {
        for (i, tree) in Tree::ALL.iter().enumerate() {
            assert_eq!(*tree as usize, i, "{tree:?}");
        }
    }

    #[test]
    fn keys_fit_their_tree_shape() {
        assert!(Tree::Starts.fits(&[Part::Id(1), Part::Text("a".into())], true));
        assert!(Tree::Starts.fits(&[Part::Id(1)], false));
        assert!(!Tree::Starts.fits(&[Part::Id(1)], true));
        assert!(!Tree::Experts.fits(&[Part::Short(1)], true));
    }
}
