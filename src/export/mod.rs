//! `switchboard export` and `switchboard import`: the whole store as JSON lines, to move data
//! between store versions (the sled trees and bincode bytes may change; this file does not).
//!
//! One JSON object a line, each with a `kind`: first a `header` with the file format and the key
//! that signs visitor tokens, then every `expert` (with its password hash), `customer` (stored
//! once they chat or ask for a callback), `canned` response, `callback` and `conversation` (the
//! record, its customer, every message including internal notes, its files with their bytes in
//! hex, and the experts whose lists show it), every `erased_customer` (the id alone, so their
//! visitor token stays unknown after an import) and `erased_conversation` (the anonymized
//! copy the reports count), every `webhook` delivery still owed, and last an `end` line with
//! the number of records, so a truncated file is refused rather than imported in part. Times
//! are milliseconds since the Unix epoch and ids the store's numbers (conversation 12 is
//! `c_12` in the API), so that nothing is rounded on the way.
//!
//! The records are serde mirrors of the bincode model, so the store's format stays its own.
//! Each message keeps the `client_msg_id` it was sent under. Left out on purpose: expert login
//! tokens (experts log in again) and which `start` frame opened which chat, which only matters
//! to a client retrying within seconds.
//!
//! # Online: as of one moment
//! A running server exports through `GET /api/v1/export` (`http::export`), while chats go on;
//! sled has no snapshots and JetStream none across buckets and streams, so the export is cut
//! by hand. Transcripts are append-only logs with gapless seqs, so a conversation's transcript
//! as it stood at any moment is its entries up to the seq it had then. A [`Cut`] takes that
//! moment first, before any line is written: it reads every conversation record, then each
//! one's last seq. The server then waits for one sync of its store, so everything the cut
//! holds is durable before the first line leaves. What the export then guarantees:
//! - every message acknowledged before the request arrived is in it (acknowledged means
//!   stored and synced, so the cut, read after, sees it), and so is its conversation;
//! - each transcript is exactly seqs 1 to n, n being its last seq at the cut: nothing
//!   appended later, no gap (an import appends them in order and would refuse a gap);
//! - the set of conversations is the one at the cut: a chat started later is left out, with
//!   its files and messages; each record is as read at the cut, no older than the request;
//! - every other record (experts, customers, canned responses, callbacks, the experts' lists,
//!   files of the cut's conversations, erasures, webhook deliveries owed) is read as the
//!   lines are written, after the cut: it holds at least what it held at the cut, and may
//!   show a later change (an expert added, a callback marked done, a file uploaded but not
//!   yet sent, a delivery made or a canned response deleted since). Experts are never
//!   deleted, customers and files only by an erasure, so nothing the cut's conversations
//!   point at is missing unless an erasure ran meanwhile (then the export may show the
//!   conversation and its erasure both, or stop at a file already gone: run it again);
//! - the `end` line counts the lines written, as for a file export.
//!
//! Not guaranteed: that the export is a state the store was in at one instant for records
//! other than transcripts; a message taken but not yet acknowledged at the cut may be in it
//! (it was durable before the stream began, but its client may still resend it: its
//! `client_msg_id` makes the copy harmless after a restore).

pub mod fetch;

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Write};

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::domain::{Page, SlaKind, Status, Style};
use crate::ids::{AttachmentId, CallbackId, CannedId, ConversationId, CustomerId, ExpertId};
use crate::store::migrations::v1_segments;
use crate::store::model::{
    Attachment, AttachmentRef, Author, AuthorKind, Callback, Canned, Contact, Conversation, Customer, Expert,
    Offer, Owner, Rating, Role, Segment, Sla, SlaClock, SlaOutcome, StoredMessage, WebhookEntry,
};
use crate::store::{Store, StoreError};

/// The shape of the lines written; an import refuses any other but the older ones below.
/// 2: conversations carry `segments`.
/// 3: messages carry `client_msg_id`.
/// 4: experts carry `roles`.
/// 5: conversations carry `lang`.
/// 6: conversations carry `offline`.
/// 7: experts carry `bot`; `erased_customer` and `erased_conversation` lines.
pub const FORMAT: u32 = 7;

/// The oldest format an import reads: format 1 lacks `segments`, rebuilt as the store's
/// migration of format-1 records rebuilds them; formats 1 and 2 lack messages' client ids,
/// which read as none; formats 1 to 3 lack experts' roles, which read as none; formats 1 to 4
/// lack conversations' languages, which read as none; formats 1 to 5 lack the mark of a left
/// message, and their conversations read as chats; formats 1 to 6 lack experts' bot mark
/// (everyone a person) and erasures (their files predate them or left them out).
pub const OLDEST_FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Header(Header),
    Expert(ExpertRecord),
    Customer(CustomerLine),
    Canned(CannedRecord),
    Callback(CallbackRecord),
    Conversation(Box<ConversationLine>),
    ErasedCustomer(ErasedCustomerLine),
    ErasedConversation(Box<ErasedConversationLine>),
    Webhook(WebhookLine),
    End(End),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: u32,
    /// The key that signs visitor tokens, so widgets keep their customer after a move.
    visitor_key: Hex,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    /// Lines between the header and this one.
    records: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerLine {
    customer: CustomerRecord,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationLine {
    conversation: ConversationRecord,
    /// For a reader of the file; import writes the `customer` line's record.
    customer: Option<CustomerRecord>,
    messages: Vec<MessageRecord>,
    files: Vec<FileRecord>,
    /// Experts whose conversation list shows it: its owners, and claimers who lost it.
    listed_for: Vec<ExpertId>,
}

/// A customer whose data was erased: the id alone, so that their visitor token keeps
/// answering as an unknown one wherever the file is imported.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasedCustomerLine {
    customer_id: CustomerId,
}

/// What the reports keep of an erased conversation: its anonymized record (no customer,
/// page, language, contact or comment), no messages or files.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasedConversationLine {
    conversation: ConversationRecord,
}

/// Nested: a delivery has a `kind` of its own.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookLine {
    webhook: WebhookRecord,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRecord {
    attachment: AttachmentRecord,
    content_hex: Hex,
}

/// A value converted between the model and its mirror.
trait Twin<T> {
    fn twin(self) -> T;
}

/// Types whose serde form is a stable contract already: plain data, ids and times (numbers),
/// and the status and style names of PROTOCOL.md.
macro_rules! same {
    ($($t:ty),*) => {$(impl Twin<$t> for $t { fn twin(self) -> $t { self } })*};
}
same!(String, bool, u8, u16, u32, u64, Timestamp, Status, Style, SlaKind);
same!(ExpertId, CustomerId, ConversationId, AttachmentId, CallbackId, CannedId);
// Roles serialize under their contract names (`"admin"`).
same!(Role);

impl<A: Twin<B>, B> Twin<Option<B>> for Option<A> {
    fn twin(self) -> Option<B> {
        self.map(Twin::twin)
    }
}

impl<A: Twin<B>, B> Twin<Vec<B>> for Vec<A> {
    fn twin(self) -> Vec<B> {
        self.into_iter().map(Twin::twin).collect()
    }
}

/// Bytes as a hex string: exact, and plain to check by eye.
#[derive(Debug)]
struct Hex(Vec<u8>);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        hex::decode(String::deserialize(d)?).map(Hex).map_err(serde::de::Error::custom)
    }
}

impl Twin<Hex> for Vec<u8> {
    fn twin(self) -> Hex {
        Hex(self)
    }
}

impl Twin<Vec<u8>> for Hex {
    fn twin(self) -> Vec<u8> {
        self.0
    }
}

/// A serde twin of a model struct. Destructuring names every field, so a field added to the
/// model fails to compile here rather than silently missing from exports.
macro_rules! mirror {
    ($record:ident <-> $model:ident { $($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $record { $($(#[$doc])* $field: $ty),* }

        impl Twin<$record> for $model {
            fn twin(self) -> $record {
                let $model { $($field),* } = self;
                $record { $($field: $field.twin()),* }
            }
        }

        impl Twin<$model> for $record {
            fn twin(self) -> $model {
                let $record { $($field),* } = self;
                $model { $($field: $field.twin()),* }
            }
        }
    };
}

mirror!(ExpertRecord <-> Expert {
    id: ExpertId,
    username: String,
    name: String,
    password_hash: String,
    categories: Vec<String>,
    certifications: Vec<String>,
    max_concurrent: Option<u32>,
    created_at: Timestamp,
    removed: bool,
    /// Absent from exports written before roles existed: no admin then.
    #[serde(default)]
    roles: Vec<Role>,
    /// Absent before format 7: a person.
    #[serde(default)]
    bot: bool,
});

mirror!(CustomerRecord <-> Customer {
    id: CustomerId,
    external_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    created_at: Timestamp,
});

mirror!(ConversationRecord <-> Conversation {
    id: ConversationId,
    customer: CustomerId,
    category: String,
    style: Style,
    status: Status,
    owner: Option<OwnerRecord>,
    past_owners: Vec<ExpertId>,
    offer: Option<OfferRecord>,
    declined: Vec<ExpertId>,
    page: Option<PageRecord>,
    created_at: Timestamp,
    queued_at: Timestamp,
    accepted_at: Option<Timestamp>,
    first_response_at: Option<Timestamp>,
    last_customer_at: Option<Timestamp>,
    last_expert_at: Option<Timestamp>,
    last_activity_at: Timestamp,
    awaiting_reply_since: Option<Timestamp>,
    nudges: u32,
    customer_left_at: Option<Timestamp>,
    first_response_due: Option<Timestamp>,
    solved_at: Option<Timestamp>,
    close_at: Option<Timestamp>,
    closed_at: Option<Timestamp>,
    left: bool,
    rating: Option<RatingRecord>,
    transfers: u32,
    /// Absent from format 1, and then rebuilt on import from the fields above.
    #[serde(default)]
    segments: Vec<SegmentRecord>,
    /// Absent before format 5: no language known.
    #[serde(default)]
    lang: Option<String>,
    /// Absent before format 6: a chat, not a left message.
    #[serde(default)]
    offline: Option<ContactRecord>,
    /// Absent before format 7: no consult, no target.
    #[serde(default)]
    consultants: Vec<ExpertId>,
    #[serde(default)]
    sla: SlaRecord,
});

mirror!(SlaRecord <-> Sla { running: Option<SlaClockRecord>, outcomes: Vec<SlaOutcomeRecord> });
mirror!(SlaClockRecord <-> SlaClock { kind: SlaKind, target_ms: u64, due: Timestamp });
mirror!(SlaOutcomeRecord <-> SlaOutcome { kind: SlaKind, breached_at: Option<Timestamp> });

impl Default for SlaRecord {
    fn default() -> SlaRecord {
        Sla::default().twin()
    }
}

mirror!(ContactRecord <-> Contact { name: Option<String>, email: Option<String> });

mirror!(OwnerRecord <-> Owner { id: ExpertId, name: String });
mirror!(OfferRecord <-> Offer { expert: ExpertId, expires_at: Timestamp });
mirror!(PageRecord <-> Page { url: String, title: Option<String> });
mirror!(RatingRecord <-> Rating { score: u8, comment: Option<String>, at: Timestamp });

mirror!(MessageRecord <-> StoredMessage {
    seq: u64,
    author: AuthorRecord,
    text: String,
    internal: bool,
    at: Timestamp,
    attachments: Vec<AttachmentRefRecord>,
    /// Absent before format 3.
    #[serde(default)]
    client_msg_id: Option<String>,
});

mirror!(AuthorRecord <-> Author { kind: AuthorKindRecord, id: Option<u64>, name: Option<String> });

mirror!(AttachmentRefRecord <-> AttachmentRef {
    id: AttachmentId,
    name: String,
    size: u64,
    content_type: String,
});

mirror!(AttachmentRecord <-> Attachment {
    summary: AttachmentRefRecord,
    conversation: ConversationId,
    uploaded_by: AuthorRecord,
    created_at: Timestamp,
});

mirror!(CallbackRecord <-> Callback {
    id: CallbackId,
    customer: CustomerId,
    phone: String,
    message: Option<String>,
    category: Option<String>,
    created_at: Timestamp,
    done_at: Option<Timestamp>,
    done_by: Option<ExpertId>,
});

mirror!(CannedRecord <-> Canned {
    id: CannedId,
    title: String,
    shortcut: String,
    text: String,
    updated_at: Timestamp,
});

mirror!(WebhookRecord <-> WebhookEntry {
    id: u64,
    endpoint: u16,
    kind: String,
    /// The event's JSON, as the endpoint will receive it.
    body: Hex,
    attempts: u32,
    next_attempt_at: Timestamp,
});

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AuthorKindRecord {
    Customer,
    Expert,
    Bot,
    System,
}

/// A [`Segment`], named by `kind`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SegmentRecord {
    Waiting { since: Timestamp, taken_at: Option<Timestamp> },
    Owned { expert: ExpertId, since: Timestamp, until: Option<Timestamp> },
}

impl Twin<SegmentRecord> for Segment {
    fn twin(self) -> SegmentRecord {
        match self {
            Segment::Waiting { since, taken_at } => SegmentRecord::Waiting { since, taken_at },
            Segment::Owned { expert, since, until } => SegmentRecord::Owned { expert, since, until },
        }
    }
}

impl Twin<Segment> for SegmentRecord {
    fn twin(self) -> Segment {
        match self {
            SegmentRecord::Waiting { since, taken_at } => Segment::Waiting { since, taken_at },
            SegmentRecord::Owned { expert, since, until } => Segment::Owned { expert, since, until },
        }
    }
}

impl Twin<AuthorKindRecord> for AuthorKind {
    fn twin(self) -> AuthorKindRecord {
        match self {
            AuthorKind::Customer => AuthorKindRecord::Customer,
            AuthorKind::Expert => AuthorKindRecord::Expert,
            AuthorKind::Bot => AuthorKindRecord::Bot,
            AuthorKind::System => AuthorKindRecord::System,
        }
    }
}

impl Twin<AuthorKind> for AuthorKindRecord {
    fn twin(self) -> AuthorKind {
        match self {
            AuthorKindRecord::Customer => AuthorKind::Customer,
            AuthorKindRecord::Expert => AuthorKind::Expert,
            AuthorKindRecord::Bot => AuthorKind::Bot,
            AuthorKindRecord::System => AuthorKind::System,
        }
    }
}

/// What an export or import moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub experts: u64,
    pub customers: u64,
    pub canned: u64,
    pub callbacks: u64,
    pub conversations: u64,
    pub messages: u64,
    pub files: u64,
    pub webhooks: u64,
    pub erased_customers: u64,
    pub erased_conversations: u64,
}

impl Counts {
    fn records(&self) -> u64 {
        self.experts
            + self.customers
            + self.canned
            + self.callbacks
            + self.conversations
            + self.erased_customers
            + self.erased_conversations
            + self.webhooks
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} experts, {} customers, {} canned responses, {} callbacks, {} conversations \
             ({} messages, {} files), {} erased customers, {} erased conversations (kept \
             anonymized for reports), {} webhook deliveries",
            self.experts,
            self.customers,
            self.canned,
            self.callbacks,
            self.conversations,
            self.messages,
            self.files,
            self.erased_customers,
            self.erased_conversations,
            self.webhooks
        )
    }
}

/// Writes every record of `store` to `out`, in id order, so that the same store always gives
/// the same bytes. On a running server this is [`Cut::take`] then [`Cut::write`], with the
/// server's sync in between (see the module docs, "Online").
pub fn export(store: &Store, out: &mut dyn Write) -> anyhow::Result<Counts> {
    Cut::take(store)?.write(store, out)
}

/// The moment an export is as of: which conversations it holds, each with its record as read
/// then and the last seq of its transcript then. Taken before any line is written, so that
/// everything acknowledged before it was taken is in the export, and nothing later stretches
/// a transcript past it.
pub struct Cut {
    /// Records as read at the cut, in id order, each with its transcript's last seq.
    conversations: Vec<(Conversation, u64)>,
}

impl Cut {
    /// Reads the conversation records, then each one's last seq. The last seqs are read after
    /// the records, so no transcript is cut short of what its record says happened; both are
    /// read after anything the caller saw acknowledged.
    pub fn take(store: &Store) -> Result<Cut, StoreError> {
        let mut conversations = Vec::new();
        for c in store.conversations()? {
            let last = store.last_seq(c.id)?;
            conversations.push((c, last));
        }
        Ok(Cut { conversations })
    }

    /// How many conversations the cut holds.
    pub fn conversations(&self) -> usize {
        self.conversations.len()
    }

    /// Writes the export: the cut's conversations with their transcripts up to the cut's seq,
    /// and every other record as read while writing. One conversation's messages and files
    /// are read at a time, so the memory an export holds is one conversation's worth beside
    /// the records, whatever the store's size.
    pub fn write(self, store: &Store, out: &mut dyn Write) -> anyhow::Result<Counts> {
        let mut counts = Counts::default();
        let mut write = |line: Line| -> anyhow::Result<()> {
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            Ok(())
        };
        write(Line::Header(Header { format: FORMAT, visitor_key: Hex(store.visitor_key()?) }))?;
        for e in store.experts()? {
            write(Line::Expert(e.twin()))?;
            counts.experts += 1;
        }
        for c in store.customers()? {
            write(Line::Customer(CustomerLine { customer: c.twin() }))?;
            counts.customers += 1;
        }
        for c in store.canned()? {
            write(Line::Canned(c.twin()))?;
            counts.canned += 1;
        }
        for c in store.callbacks()? {
            write(Line::Callback(c.twin()))?;
            counts.callbacks += 1;
        }
        let mut listed: HashMap<ConversationId, Vec<ExpertId>> = HashMap::new();
        for (expert, conversation) in store.expert_conversation_index()? {
            listed.entry(conversation).or_default().push(expert);
        }
        for (c, last_seq) in self.conversations {
            // An append-only log with gapless seqs: the entries up to the cut's seq are the
            // transcript as it stood then, whatever was appended since.
            let mut messages = store.transcript(c.id, 0)?;
            messages.retain(|m| m.seq <= last_seq);
            if messages.len() as u64 != last_seq || messages.iter().zip(1..).any(|(m, seq)| m.seq != seq) {
                bail!("the transcript of conversation {} is not seqs 1 to {last_seq}", c.id);
            }
            let mut files = Vec::new();
            for a in store.attachments_of(c.id)? {
                let bytes = store
                    .attachment_bytes(a.summary.id)?
                    .ok_or_else(|| anyhow!("the bytes of attachment {} are missing", a.summary.id))?;
                files.push(FileRecord { attachment: a.twin(), content_hex: Hex(bytes.to_vec()) });
            }
            counts.conversations += 1;
            counts.messages += messages.len() as u64;
            counts.files += files.len() as u64;
            write(Line::Conversation(Box::new(ConversationLine {
                customer: store.customer(c.customer)?.twin(),
                messages: messages.twin(),
                files,
                listed_for: listed.remove(&c.id).unwrap_or_default(),
                conversation: c.twin(),
            })))?;
        }
        // Read as written, like every record but the cut's conversations: an erasure made
        // meanwhile may show here while the conversation's line, from before it, went out.
        for customer_id in store.erased_customers()? {
            write(Line::ErasedCustomer(ErasedCustomerLine { customer_id }))?;
            counts.erased_customers += 1;
        }
        for c in store.erased_conversations()? {
            write(Line::ErasedConversation(Box::new(ErasedConversationLine { conversation: c.twin() })))?;
            counts.erased_conversations += 1;
        }
        // Every delivery still owed is due by the end of time.
        for w in store.due_webhooks(Timestamp(i64::MAX), usize::MAX)? {
            write(Line::Webhook(WebhookLine { webhook: w.twin() }))?;
            counts.webhooks += 1;
        }
        write(Line::End(End { records: counts.records() }))?;
        Ok(counts)
    }
}

/// Checks an export as it streams past (a backup fetched from a server) without holding it:
/// it must open with a header and close with an `end` line that counts the lines between, so
/// a stream cut short is refused here, as an import would refuse it, rather than saved as if
/// whole.
#[derive(Debug, Default)]
pub struct Tally {
    /// Complete lines seen.
    lines: u64,
    /// The start of the line being read: enough for a header or an end line, never a whole
    /// conversation (which can hold megabytes of files).
    current: Vec<u8>,
    /// Bytes of the line being read, past what `current` keeps.
    current_len: usize,
    /// The last complete line, if it was short enough to be an end line.
    last: Option<Vec<u8>>,
}

/// Header and end lines are far shorter; anything longer is a record.
const SHORT_LINE: usize = 512;

impl Tally {
    pub fn feed(&mut self, mut chunk: &[u8]) -> anyhow::Result<()> {
        while let Some(at) = chunk.iter().position(|b| *b == b'\n') {
            self.take(&chunk[..at]);
            let line = std::mem::take(&mut self.current);
            let whole = self.current_len <= SHORT_LINE;
            self.current_len = 0;
            if self.lines == 0 && !(whole && matches!(serde_json::from_slice(&line), Ok(Line::Header(_)))) {
                bail!("the answer is not a switchboard export (its first line is not a header)");
            }
            self.lines += 1;
            self.last = whole.then_some(line);
            chunk = &chunk[at + 1..];
        }
        self.take(chunk);
        Ok(())
    }

    fn take(&mut self, part: &[u8]) {
        let room = SHORT_LINE.saturating_sub(self.current.len()) + 1;
        self.current.extend_from_slice(&part[..part.len().min(room)]);
        self.current_len += part.len();
    }

    /// The number of records, once the stream has ended with its `end` line.
    pub fn finish(&self) -> anyhow::Result<u64> {
        let ended = match (&self.last, self.current_len) {
            (Some(last), 0) => serde_json::from_slice::<Line>(last).ok(),
            _ => None,
        };
        match ended {
            Some(Line::End(end)) if self.lines >= 2 && end.records == self.lines - 2 => Ok(end.records),
            Some(Line::End(end)) => {
                bail!(
                    "the end line counts {} records, the stream held {}",
                    end.records,
                    self.lines.saturating_sub(2)
                )
            }
            _ => bail!("the export has no end line: it was cut short after {} lines", self.lines),
        }
    }
}

/// Reads an export into `store`, which must hold nothing yet: ids are kept, and mixing two
/// stores' ids would merge strangers. The caller makes the store durable afterwards.
pub fn import(store: &Store, input: &mut dyn BufRead) -> anyhow::Result<Counts> {
    if !store.is_empty()? {
        bail!("the data directory already holds data; import only into an empty one");
    }
    // Messages carry their causes inline: `main` prints only the outermost one.
    read_lines(store, input).map_err(|e| {
        anyhow!("{e:#}; the data directory may now hold part of the file: empty it before importing again")
    })
}

fn read_lines(store: &Store, input: &mut dyn BufRead) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    // The highest id written, which fresh ids must stay above.
    let mut last_id = 0;
    let mut ended = false;
    // Set by the header, which must come first.
    let mut format = FORMAT;
    for (n, text) in input.lines().enumerate() {
        let at = n + 1;
        let text = text.map_err(|e| anyhow!("reading line {at}: {e}"))?;
        if ended {
            bail!("line {at}: data after the end line");
        }
        let line: Line =
            serde_json::from_str(&text).map_err(|e| anyhow!("line {at} is not a valid record: {e}"))?;
        match line {
            Line::Header(h) if n == 0 && (OLDEST_FORMAT..=FORMAT).contains(&h.format) => {
                format = h.format;
                store.set_visitor_key(&h.visitor_key.0)?;
            }
            Line::Header(h) if n == 0 => {
                bail!("export format {}, this build reads formats {OLDEST_FORMAT} to {FORMAT}", h.format)
            }
            _ if n == 0 => bail!("line 1 is not a switchboard export header"),
            Line::Header(_) => bail!("line {at}: a second header"),
            Line::End(end) if end.records == counts.records() => ended = true,
            Line::End(end) => {
                bail!("the end line counts {} records, the file holds {}", end.records, counts.records())
            }
            line => {
                let written =
                    write(store, line, format, &mut counts).map_err(|e| anyhow!("line {at}: {e:#}"))?;
                last_id = last_id.max(written);
            }
        }
    }
    if !ended {
        bail!("the file has no end line: it was cut short");
    }
    store.reserve_ids_through(last_id)?;
    Ok(counts)
}

/// Writes one record of a file in `format`; returns the highest id it holds.
fn write(store: &Store, line: Line, format: u32, counts: &mut Counts) -> anyhow::Result<u64> {
    Ok(match line {
        Line::Header(_) | Line::End(_) => 0,
        Line::Expert(e) => {
            let e: Expert = e.twin();
            store.create_expert(&e).map_err(|err| match err {
                StoreError::Taken => anyhow!("the username {:?} appears twice", e.username),
                other => other.into(),
            })?;
            counts.experts += 1;
            e.id.0
        }
        Line::Customer(CustomerLine { customer }) => {
            let c: Customer = customer.twin();
            store.put_customer(&c)?;
            if let Some(external) = &c.external_id {
                if store.external_customer(external, c.id)? != c.id {
                    bail!("the external id {external:?} belongs to two customers");
                }
            }
            counts.customers += 1;
            c.id.0
        }
        Line::Canned(c) => {
            let c: Canned = c.twin();
            store.put_canned(&c)?;
            counts.canned += 1;
            c.id.0
        }
        Line::Callback(c) => {
            let c: Callback = c.twin();
            store.put_callback(&c)?;
            counts.callbacks += 1;
            c.id.0
        }
        Line::Conversation(line) => {
            let ConversationLine { conversation, customer: _, messages, files, listed_for } = *line;
            let mut c: Conversation = conversation.twin();
            if format == 1 {
                c.segments = v1_segments(&c);
            }
            store.put_conversation(&c)?;
            for m in messages {
                store.append_message(c.id, &m.twin())?;
                counts.messages += 1;
            }
            let mut last_id = c.id.0;
            for FileRecord { attachment, content_hex } in files {
                let a: Attachment = attachment.twin();
                if a.conversation != c.id {
                    bail!("attachment {} belongs to another conversation", a.summary.id);
                }
                store.put_attachment(&a, &content_hex.0)?;
                last_id = last_id.max(a.summary.id.0);
                counts.files += 1;
            }
            for expert in listed_for {
                store.index_expert_conversation(expert, c.id)?;
            }
            counts.conversations += 1;
            last_id
        }
        Line::ErasedCustomer(ErasedCustomerLine { customer_id }) => {
            store.revoke_customer(customer_id, None)?;
            counts.erased_customers += 1;
            customer_id.0
        }
        Line::ErasedConversation(line) => {
            let c: Conversation = line.conversation.twin();
            store.put_erased_conversation(&c)?;
            counts.erased_conversations += 1;
            c.id.0
        }
        Line::Webhook(WebhookLine { webhook }) => {
            let w: WebhookEntry = webhook.twin();
            store.put_webhook(&w)?;
            counts.webhooks += 1;
            w.id
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ConversationId;

    fn sample(store: &Store) {
        let expert = Expert {
            id: ExpertId(store.next_id().unwrap()),
            username: "ada".into(),
            name: "Ada \"Countess\" Lovelace".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            categories: vec!["general".into()],
            certifications: vec!["cert".into()],
            max_concurrent: Some(2),
            created_at: Timestamp(1_700_000_000_123),
            removed: false,
            roles: vec![Role::Admin],
            bot: false,
        };
        store.create_expert(&expert).unwrap();
        let customer = Customer {
            id: CustomerId(store.next_id().unwrap()),
            external_id: Some("crm-7".into()),
            name: Some("Grace".into()),
            email: None,
            created_at: Timestamp(1_700_000_000_000),
        };
        store.put_customer(&customer).unwrap();
        store.external_customer("crm-7", customer.id).unwrap();
        let id = ConversationId(store.next_id().unwrap());
        let mut c = Conversation::new(
            id,
            customer.id,
            "general".into(),
            Style::Returning,
            Timestamp(1_700_000_001_000),
        );
        c.status = Status::Solved;
        c.owner = Some(Owner { id: expert.id, name: expert.name.clone() });
        c.past_owners = vec![expert.id];
        c.page = Some(Page { url: "https://shop.example/ünïcode".into(), title: None });
        c.accepted_at = Some(Timestamp(1_700_000_001_500));
        c.solved_at = Some(Timestamp(1_700_000_008_000));
        c.begin_spell(expert.id, Timestamp(1_700_000_001_500));
        c.end_spell(Timestamp(1_700_000_008_000));
        c.rating =
            Some(Rating { score: 4, comment: Some("line\nbreak".into()), at: Timestamp(1_700_000_009_000) });
        c.lang = Some("de-CH".into());
        c.offline = Some(Contact { name: Some("Mo".into()), email: Some("mo@example.com".into()) });
        store.put_conversation(&c).unwrap();
        // A claimer who lost it stays listed.
        store.index_expert_conversation(ExpertId(999), id).unwrap();
        let file = AttachmentRef {
            id: AttachmentId(store.next_id().unwrap()),
            name: "a.png".into(),
            size: 3,
            content_type: "image/png".into(),
        };
        let author = Author::customer(&customer);
        let attachment = Attachment {
            summary: file.clone(),
            conversation: id,
            uploaded_by: author.clone(),
            created_at: c.created_at,
        };
        store.put_attachment(&attachment, &[0, 255, 10]).unwrap();
        for (seq, internal, client_msg_id) in [(1, false, Some("m-1")), (2, true, None)] {
            let m = StoredMessage {
                seq,
                author: author.clone(),
                text: format!("message {seq}"),
                internal,
                at: Timestamp(1_700_000_002_000 + seq as i64),
                attachments: vec![file.clone()],
                client_msg_id: client_msg_id.map(str::to_owned),
            };
            store.append_message(id, &m).unwrap();
        }
        let body = br#"{"id":"evt_9","type":"conversation.solved"}"#.to_vec();
        let w = WebhookEntry {
            id: store.next_id().unwrap(),
            endpoint: 1,
            kind: "conversation.solved".into(),
            body,
            attempts: 3,
            next_attempt_at: Timestamp(1_700_000_010_000),
        };
        store.put_webhook(&w).unwrap();
    }

    fn exported(store: &Store) -> Vec<u8> {
        let mut out = Vec::new();
        export(store, &mut out).unwrap();
        out
    }

    #[test]
    fn an_import_reproduces_every_record_and_exports_the_same_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        let target = Store::open(b.path()).unwrap();
        let counts = import(&target, &mut &file[..]).unwrap();
        assert_eq!(
            (counts.experts, counts.customers, counts.conversations, counts.messages, counts.files),
            (1, 1, 1, 2, 1)
        );
        assert_eq!(exported(&target), file);
        let (c, copy) = (&source.conversations().unwrap()[0], &target.conversations().unwrap()[0]);
        assert_eq!(crate::store::encode(c), crate::store::encode(copy));
        assert_eq!(source.transcript(c.id, 0).unwrap(), target.transcript(c.id, 0).unwrap());
        assert_eq!(target.expert_by_username("ada").unwrap(), source.expert_by_username("ada").unwrap());
        assert_eq!(target.visitor_key().unwrap(), source.visitor_key().unwrap());
        assert_eq!(target.external_customer("crm-7", CustomerId(12345)).unwrap(), c.customer);
        assert_eq!(
            target.due_webhooks(Timestamp(i64::MAX), 9).unwrap(),
            source.due_webhooks(Timestamp(i64::MAX), 9).unwrap()
        );
        assert_eq!(counts.webhooks, 1);
        // Fresh ids never name an imported record.
        let highest = source.next_id().unwrap();
        assert!(target.next_id().unwrap() >= highest);
    }

    #[test]
    fn erasures_survive_an_export_and_an_import() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let c = source.conversations().unwrap().remove(0);
        let customer = source.customer(c.customer).unwrap().unwrap();
        source.revoke_customer(customer.id, customer.external_id.as_deref()).unwrap();
        source.erase_conversation(&c).unwrap();
        source.erase_customer_records(&customer).unwrap();

        let file = exported(&source);
        let target = Store::open(b.path()).unwrap();
        let counts = import(&target, &mut &file[..]).unwrap();
        assert_eq!(
            (counts.customers, counts.conversations, counts.erased_customers, counts.erased_conversations),
            (0, 0, 1, 1)
        );
        assert!(target.customer_erased(customer.id).unwrap(), "their visitor token stays dead");
        let reported = target.reported_conversations().unwrap();
        assert_eq!(reported.len(), 1, "the reports still count the erased conversation");
        assert_eq!(crate::store::encode(&reported[0]), crate::store::encode(&c.anonymized()));
        assert_eq!(exported(&target), file);
        // The file names nothing of theirs: not their user id, not the page or the comment.
        let text = String::from_utf8(file).unwrap();
        for said in ["crm-7", "Grace", "shop.example", "line\\nbreak", "message 1", "mo@example.com"] {
            assert!(!text.contains(said), "{said:?} is in the export");
        }
    }

    /// `file` as an older build wrote it: its header says `format`, and `older` takes from each
    /// conversation line what that format did not have.
    fn as_format(file: &[u8], format: u32, older: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
        let mut old = Vec::new();
        for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut v: serde_json::Value = serde_json::from_slice(line).unwrap();
            match v["kind"].as_str() {
                Some("header") => v["format"] = format.into(),
                Some("conversation") => older(&mut v),
                _ => {}
            }
            serde_json::to_writer(&mut old, &v).unwrap();
            old.push(b'\n');
        }
        old
    }

    #[test]
    fn a_format_1_file_imports_with_its_segments_rebuilt() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        // What the previous build wrote: format 1, conversations without segments.
        let old = as_format(&file, 1, |line| {
            line["conversation"].as_object_mut().unwrap().remove("segments").expect("segments");
        });
        let b = tempfile::tempdir().unwrap();
        let target = Store::open(b.path()).unwrap();
        import(&target, &mut &old[..]).unwrap();
        // The sample's history is one wait and one spell, as format 1's fields tell it.
        assert_eq!(exported(&target), file);
    }

    #[test]
    fn messages_keep_their_client_ids_and_a_format_2_file_imports_without_them() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        let c = &source.conversations().unwrap()[0];
        let client_ids = |store: &Store| -> Vec<Option<String>> {
            store.transcript(c.id, 0).unwrap().into_iter().map(|m| m.client_msg_id).collect()
        };
        let b = tempfile::tempdir().unwrap();
        let copy = Store::open(b.path()).unwrap();
        import(&copy, &mut &file[..]).unwrap();
        assert_eq!(client_ids(&copy), vec![Some("m-1".to_owned()), None]);
        // What the previous build wrote: format 2, messages without client ids.
        let old = as_format(&file, 2, |line| {
            for m in line["messages"].as_array_mut().unwrap() {
                m.as_object_mut().unwrap().remove("client_msg_id").expect("client_msg_id");
            }
        });
        let d = tempfile::tempdir().unwrap();
        let target = Store::open(d.path()).unwrap();
        import(&target, &mut &old[..]).unwrap();
        assert_eq!(client_ids(&target), vec![None, None]);
        let without: Vec<StoredMessage> = source
            .transcript(c.id, 0)
            .unwrap()
            .into_iter()
            .map(|m| StoredMessage { client_msg_id: None, ..m })
            .collect();
        assert_eq!(target.transcript(c.id, 0).unwrap(), without, "everything else as it was");
    }

    #[test]
    fn conversations_keep_their_language_and_a_format_4_file_imports_without_one() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        let before = source.conversations().unwrap().remove(0);
        assert_eq!(before.lang.as_deref(), Some("de-CH"));
        let b = tempfile::tempdir().unwrap();
        let copy = Store::open(b.path()).unwrap();
        import(&copy, &mut &file[..]).unwrap();
        assert_eq!(copy.conversations().unwrap(), vec![before.clone()]);
        // What the previous build wrote: format 4, conversations without a language.
        let old = as_format(&file, 4, |line| {
            line["conversation"].as_object_mut().unwrap().remove("lang").expect("lang");
        });
        let d = tempfile::tempdir().unwrap();
        let target = Store::open(d.path()).unwrap();
        import(&target, &mut &old[..]).unwrap();
        assert_eq!(target.conversations().unwrap(), vec![Conversation { lang: None, ..before }]);
    }

    #[test]
    fn left_messages_keep_their_contact_and_a_format_5_file_imports_chats() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        let before = source.conversations().unwrap().remove(0);
        assert_eq!(before.offline.as_ref().and_then(|o| o.email.as_deref()), Some("mo@example.com"));
        let b = tempfile::tempdir().unwrap();
        let copy = Store::open(b.path()).unwrap();
        import(&copy, &mut &file[..]).unwrap();
        assert_eq!(copy.conversations().unwrap(), vec![before.clone()]);
        // What the previous build wrote: format 5, conversations that could only be chats.
        let old = as_format(&file, 5, |line| {
            line["conversation"].as_object_mut().unwrap().remove("offline").expect("offline");
        });
        let d = tempfile::tempdir().unwrap();
        let target = Store::open(d.path()).unwrap();
        import(&target, &mut &old[..]).unwrap();
        assert_eq!(target.conversations().unwrap(), vec![Conversation { offline: None, ..before }]);
    }

    #[test]
    fn a_tally_takes_a_whole_export_in_any_pieces_and_refuses_one_cut_short() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = exported(&source);
        let tally = |bytes: &[u8], piece: usize| -> anyhow::Result<u64> {
            let mut t = Tally::default();
            for chunk in bytes.chunks(piece) {
                t.feed(chunk)?;
            }
            t.finish()
        };
        for piece in [1, 7, 4096, file.len()] {
            assert_eq!(tally(&file, piece).unwrap(), 4, "in pieces of {piece}");
        }
        let lines: Vec<&[u8]> = file.split_inclusive(|b| *b == b'\n').collect();
        let without_end = lines[..lines.len() - 1].concat();
        assert!(format!("{}", tally(&without_end, 100).unwrap_err()).contains("cut short"));
        assert!(format!("{}", tally(&file[..file.len() - 1], 100).unwrap_err()).contains("cut short"));
        let one_lost = [&lines[..2], &lines[3..]].concat().concat();
        assert!(
            format!("{}", tally(&one_lost, 100).unwrap_err()).contains("counts 4 records, the stream held 3")
        );
        assert!(format!("{}", tally(b"<html>\n", 100).unwrap_err()).contains("not a switchboard export"));
    }

    #[test]
    fn import_refuses_a_used_store_and_a_damaged_file() {
        let a = tempfile::tempdir().unwrap();
        let source = Store::open(a.path()).unwrap();
        sample(&source);
        let file = String::from_utf8(exported(&source)).unwrap();
        let err = import(&source, &mut file.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("already holds data"), "{err}");

        let attempt = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            format!("{:#}", import(&store, &mut text.as_bytes()).unwrap_err())
        };
        let cut = file.lines().take(3).collect::<Vec<_>>().join("\n");
        assert!(attempt(&cut).contains("cut short"));
        let no_header = file.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert!(attempt(&no_header).contains("header"));
        // A field this build does not know would be lost: refused.
        let newer = file.replacen("\"removed\":false", "\"removed\":false,\"shiny\":1", 1);
        assert!(attempt(&newer).contains("shiny"), "{}", attempt(&newer));
        assert!(attempt(&file.replacen("\"format\":7", "\"format\":8", 1)).contains("format 8"));
    }
}
