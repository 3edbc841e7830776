use super::model::*;
use super::*;
use crate::clock::Timestamp;
use crate::domain::{Page, SlaKind, Status, Style};

fn sample_conversation() -> Conversation {
    let created = Timestamp(1_700_000_000_000);
    let mut c =
        Conversation::new(ConversationId(7), CustomerId(3), "billing".into(), Style::Returning, created);
    c.status = Status::Open;
    c.owner = Some(Owner { id: ExpertId(2), name: "Ada".into() });
    c.past_owners = vec![ExpertId(2)];
    c.declined = vec![ExpertId(5)];
    c.page = Some(Page { url: "https://shop.example/cart".into(), title: Some("Cart".into()) });
    c.accepted_at = Some(Timestamp(1_700_000_001_000));
    c.last_customer_at = Some(created);
    c.last_activity_at = Timestamp(1_700_000_001_000);
    c.nudges = 1;
    c.rating = Some(Rating { score: 4, comment: Some("quick".into()), at: Timestamp(1_700_000_003_000) });
    c.transfers = 1;
    c.begin_spell(ExpertId(2), Timestamp(1_700_000_001_000));
    c.lang = Some("de-CH".into());
    c.offline = Some(Contact { name: Some("Mo".into()), email: Some("mo@example.com".into()) });
    c.consultants = vec![ExpertId(4)];
    c.sla = Sla {
        running: Some(SlaClock {
            kind: SlaKind::NextResponse,
            target_ms: 60_000,
            due: Timestamp(1_700_000_061_000),
        }),
        outcomes: vec![SlaOutcome { kind: SlaKind::FirstResponse, breached_at: None }],
    };
    c
}

/// The sample as format 6 could hold it: no consult, no SLA clock.
fn sample_conversation_v6() -> Conversation {
    Conversation { consultants: vec![], sla: Sla::default(), ..sample_conversation() }
}

/// The sample as format 5 could hold it: a chat, not a left message.
fn sample_conversation_v5() -> Conversation {
    Conversation { offline: None, ..sample_conversation_v6() }
}

/// The sample as formats 1 to 4 could hold it: no language either.
fn sample_conversation_v4() -> Conversation {
    Conversation { lang: None, ..sample_conversation_v5() }
}

fn sample_message() -> StoredMessage {
    StoredMessage {
        seq: 3,
        author: Author { kind: AuthorKind::Expert, id: Some(2), name: Some("Ada".into()) },
        text: "Hello!".into(),
        internal: false,
        at: Timestamp(1_700_000_002_000),
        attachments: vec![AttachmentRef {
            id: crate::ids::AttachmentId(11),
            name: "receipt.pdf".into(),
            size: 2048,
            content_type: "application/pdf".into(),
        }],
        client_msg_id: None,
    }
}

/// The sample as its author's client sent it, under a client id.
fn sample_sent_message() -> StoredMessage {
    StoredMessage { client_msg_id: Some("m-3".into()), ..sample_message() }
}

/// Golden bytes: if one of these fails, the persisted format changed. Bump FORMAT_VERSION
/// and add a migration rather than editing the expected bytes (keep the old ones as `_V1`...
/// goldens that must still decode).
#[test]
fn persisted_conversation_bytes_are_stable() {
    assert_eq!(hex::encode(encode(&sample_conversation())), GOLDEN_CONVERSATION);
}

#[test]
fn persisted_message_bytes_are_stable() {
    assert_eq!(hex::encode(encode(&sample_message())), GOLDEN_MESSAGE);
    assert_eq!(hex::encode(encode(&sample_sent_message())), GOLDEN_SENT_MESSAGE);
}

#[test]
fn persisted_expert_and_token_bytes_are_stable() {
    let e = Expert {
        id: ExpertId(2),
        username: "ada".into(),
        name: "Ada".into(),
        password_hash: "$argon2id$x".into(),
        categories: vec!["billing".into()],
        certifications: vec![],
        max_concurrent: Some(3),
        created_at: Timestamp(1),
        removed: false,
        roles: vec![Role::Admin],
        bot: false,
    };
    assert_eq!(hex::encode(encode(&e)), GOLDEN_EXPERT);
    let t = LoginToken { expert: ExpertId(2), expires_at: Timestamp(1000) };
    assert_eq!(hex::encode(encode(&t)), GOLDEN_TOKEN);
    let c = Customer {
        id: CustomerId(9),
        external_id: Some("u1".into()),
        name: None,
        email: None,
        created_at: Timestamp(1),
    };
    assert_eq!(hex::encode(encode(&c)), GOLDEN_CUSTOMER);
}

/// Format 1 wrote the same sample without segments: it reads as the sample, its history
/// rebuilt (a wait until the accept, the owner's spell running since).
#[test]
fn format_1_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    let old: Conversation = decode(&read(GOLDEN_CONVERSATION_V1)).unwrap();
    assert_eq!(old, sample_conversation_v4());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V1)).unwrap(), sample_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V1)).unwrap();
    assert_eq!((expert.username.as_str(), expert.max_concurrent), ("ada", Some(3)));
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V1)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V1)).unwrap().external_id.as_deref(), Some("u1"));
    // A conversation's format-2 body is not a format-1 one, nor the other way round.
    let mut relabelled = encode(&sample_conversation());
    relabelled[0] = 1;
    assert!(matches!(decode::<Conversation>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v1 = read(GOLDEN_CONVERSATION_V1);
    v1[0] = FORMAT_VERSION;
    assert!(matches!(decode::<Conversation>(&v1), Err(StoreError::Corrupt(_))));
}

/// Format 2 wrote every value in today's shape but messages, which had no client id.
#[test]
fn format_2_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    assert_eq!(decode::<Conversation>(&read(GOLDEN_CONVERSATION_V2)).unwrap(), sample_conversation_v4());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V2)).unwrap(), sample_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V2)).unwrap();
    assert_eq!((expert.username.as_str(), expert.max_concurrent), ("ada", Some(3)));
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V2)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V2)).unwrap().external_id.as_deref(), Some("u1"));
    // A message's format-3 body is not a format-2 one, nor the other way round.
    let mut relabelled = encode(&sample_sent_message());
    relabelled[0] = 2;
    assert!(matches!(decode::<StoredMessage>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v2 = read(GOLDEN_MESSAGE_V2);
    v2[0] = FORMAT_VERSION;
    assert!(matches!(decode::<StoredMessage>(&v2), Err(StoreError::Corrupt(_))));
}

/// Format 3 wrote every value in today's shape but experts, which had no roles: they read as
/// no admin.
#[test]
fn format_3_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    assert_eq!(decode::<Conversation>(&read(GOLDEN_CONVERSATION_V3)).unwrap(), sample_conversation_v4());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V3)).unwrap(), sample_message());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_SENT_MESSAGE_V3)).unwrap(), sample_sent_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V3)).unwrap();
    assert_eq!((expert.username.as_str(), expert.max_concurrent), ("ada", Some(3)));
    assert!(expert.roles.is_empty() && !expert.is_admin());
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V3)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V3)).unwrap().external_id.as_deref(), Some("u1"));
    // An expert's format-4 body is not a format-3 one, nor the other way round.
    let mut relabelled = read(GOLDEN_EXPERT);
    relabelled[0] = 3;
    assert!(matches!(decode::<Expert>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v3 = read(GOLDEN_EXPERT_V3);
    v3[0] = FORMAT_VERSION;
    assert!(matches!(decode::<Expert>(&v3), Err(StoreError::Corrupt(_))));
}

/// Format 4 wrote every value in today's shape but conversations, which had no language: they
/// read as none.
#[test]
fn format_4_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    assert_eq!(decode::<Conversation>(&read(GOLDEN_CONVERSATION_V4)).unwrap(), sample_conversation_v4());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V4)).unwrap(), sample_message());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_SENT_MESSAGE_V4)).unwrap(), sample_sent_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V4)).unwrap();
    assert_eq!((expert.username.as_str(), expert.roles.as_slice()), ("ada", &[Role::Admin][..]));
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V4)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V4)).unwrap().external_id.as_deref(), Some("u1"));
    // Today's conversation body is not a format-4 one, nor the other way round.
    let mut relabelled = encode(&sample_conversation());
    relabelled[0] = 4;
    assert!(matches!(decode::<Conversation>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v4 = read(GOLDEN_CONVERSATION_V4);
    v4[0] = FORMAT_VERSION;
    assert!(matches!(decode::<Conversation>(&v4), Err(StoreError::Corrupt(_))));
}

/// Format 5 wrote every value in today's shape but conversations, which could not be left
/// messages: they read as chats.
#[test]
fn format_5_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    assert_eq!(decode::<Conversation>(&read(GOLDEN_CONVERSATION_V5)).unwrap(), sample_conversation_v5());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V5)).unwrap(), sample_message());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_SENT_MESSAGE_V5)).unwrap(), sample_sent_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V5)).unwrap();
    assert_eq!((expert.username.as_str(), expert.roles.as_slice()), ("ada", &[Role::Admin][..]));
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V5)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V5)).unwrap().external_id.as_deref(), Some("u1"));
    // Today's conversation body is not a format-5 one, nor the other way round.
    let mut relabelled = encode(&sample_conversation());
    relabelled[0] = 5;
    assert!(matches!(decode::<Conversation>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v5 = read(GOLDEN_CONVERSATION_V5);
    v5[0] = FORMAT_VERSION;
    assert!(matches!(decode::<Conversation>(&v5), Err(StoreError::Corrupt(_))));
}

/// Format 6 wrote every value in today's shape but conversations, which had no consult or SLA
/// clock, and experts, which could not be bots.
#[test]
fn format_6_values_still_read() {
    let read = |golden: &str| hex::decode(golden).unwrap();
    assert_eq!(decode::<Conversation>(&read(GOLDEN_CONVERSATION_V6)).unwrap(), sample_conversation_v6());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_MESSAGE_V6)).unwrap(), sample_message());
    assert_eq!(decode::<StoredMessage>(&read(GOLDEN_SENT_MESSAGE_V6)).unwrap(), sample_sent_message());
    let expert: Expert = decode(&read(GOLDEN_EXPERT_V6)).unwrap();
    assert_eq!(
        (expert.username.as_str(), expert.roles.as_slice(), expert.bot),
        ("ada", &[Role::Admin][..], false)
    );
    assert_eq!(decode::<LoginToken>(&read(GOLDEN_TOKEN_V6)).unwrap().expires_at, Timestamp(1000));
    assert_eq!(decode::<Customer>(&read(GOLDEN_CUSTOMER_V6)).unwrap().external_id.as_deref(), Some("u1"));
    // Today's conversation body is not a format-6 one, nor the other way round.
    let mut relabelled = encode(&sample_conversation());
    relabelled[0] = 6;
    assert!(matches!(decode::<Conversation>(&relabelled), Err(StoreError::Corrupt(_))));
    let mut v6 = read(GOLDEN_CONVERSATION_V6);
    v6[0] = FORMAT_VERSION;
    assert!(matches!(decode::<Conversation>(&v6), Err(StoreError::Corrupt(_))));
}

/// What a build of format `version` left behind: its meta entry, and messages 3 and 4 of
/// conversation 7 by expert 2 (`GOLDEN_MESSAGE_V1`/`_V2`), message 3 sent under the client id
/// "m-3", which that format kept as an entry of its own.
fn older_store(dir: &std::path::Path, version: u8, golden_message: &str) {
    let db = sled::open(dir).unwrap();
    db.open_tree("meta").unwrap().insert("format_version", &[version]).unwrap();
    let messages = db.open_tree("messages_v1").unwrap();
    let conv = ConversationId(7);
    for seq in [3u64, 4] {
        let mut bytes = hex::decode(golden_message).unwrap();
        // The seq is the body's first byte (bincode varint): 3, or 4 for the second message.
        bytes[1] = seq as u8;
        messages.insert(keys::message(conv, seq), bytes).unwrap();
    }
    messages.insert(keys::client_message(conv, 2, "m-3"), &3u64.to_be_bytes()).unwrap();
    db.flush().unwrap();
}

/// Opening a format-1 or format-2 store moves each client id into its message, written in this
/// format, and removes the entry: from then on a message is one key.
#[tokio::test]
async fn an_older_store_opens_with_its_client_ids_folded_into_the_messages() {
    for (version, golden) in [(1, GOLDEN_MESSAGE_V1), (2, GOLDEN_MESSAGE_V2)] {
        let dir = tempfile::tempdir().unwrap();
        older_store(dir.path(), version, golden);
        let engine =
            std::sync::Arc::new(Embedded::open(dir.path(), 1 << 20, Durability::ProcessCrash).unwrap());
        let store = Store::on(engine.clone()).unwrap();
        let conv = ConversationId(7);
        let third = sample_sent_message();
        let fourth = StoredMessage { seq: 4, ..sample_message() };
        assert_eq!(store.transcript(conv, 0).unwrap(), vec![third.clone(), fourth], "format {version}");
        let keys: Vec<Vec<u8>> = engine.messages().iter().keys().map(|k| k.unwrap().to_vec()).collect();
        assert_eq!(keys, vec![keys::message(conv, 3).to_vec(), keys::message(conv, 4).to_vec()]);
        let bytes = engine.messages().get(keys::message(conv, 3)).unwrap().unwrap();
        assert_eq!(hex::encode(bytes), GOLDEN_SENT_MESSAGE, "written in this format");
        let meta = store.engine.get(Tree::Meta, &[text(FORMAT)]).unwrap().unwrap().0;
        assert_eq!(meta, [FORMAT_VERSION]);
        // Run again, as after a crash before the mark, one that came between a message's rewrite
        // and its entry's removal: the entry goes, the message stays as it is.
        let entry = keys::client_message(conv, 2, "m-3");
        engine.messages().insert(entry, &3u64.to_be_bytes()).unwrap();
        engine.upgrade(version).unwrap();
        assert_eq!(
            store.transcript(conv, 0).unwrap(),
            vec![third, StoredMessage { seq: 4, ..sample_message() }]
        );
        assert_eq!(engine.messages().len(), 2);
    }
}

#[tokio::test]
async fn a_format_1_store_opens_and_its_records_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What a format-1 build left behind: its meta entry and a conversation it wrote.
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta").unwrap().insert("format_version", &[1]).unwrap();
        let key = sample_conversation().id.to_be_bytes();
        db.open_tree("conversations_v1")
            .unwrap()
            .insert(key, hex::decode(GOLDEN_CONVERSATION_V1).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.conversations().unwrap(), vec![sample_conversation_v4()]);
    let meta = store.engine.get(Tree::Meta, &[text(FORMAT)]).unwrap().unwrap().0;
    assert_eq!(meta, [FORMAT_VERSION], "the store is marked as this build's from now on");
}

#[test]
fn values_round_trip_and_foreign_versions_are_refused() {
    let c = sample_conversation();
    assert_eq!(decode::<Conversation>(&encode(&c)).unwrap(), c);
    let mut bytes = encode(&c);
    bytes[0] = FORMAT_VERSION + 1;
    assert!(matches!(decode::<Conversation>(&bytes), Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn transcript_reads_in_seq_order_with_each_message_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let engine = std::sync::Arc::new(Embedded::open(dir.path(), 1 << 20, Durability::ProcessCrash).unwrap());
    let store = Store::on(engine.clone()).unwrap();
    let conv = ConversationId(1);
    let mut t = None;
    for seq in 1..=11u64 {
        let m = StoredMessage { seq, client_msg_id: Some(format!("c{seq}")), ..sample_message() };
        t = Some(store.append_message(conv, &m).unwrap());
    }
    // A neighbouring conversation must not leak into the range.
    store.append_message(ConversationId(2), &StoredMessage { seq: 1, ..sample_message() }).unwrap();
    store.durable(t.unwrap()).await.unwrap();
    let seqs: Vec<u64> = store.transcript(conv, 0).unwrap().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    let after: Vec<u64> = store.transcript(conv, 8).unwrap().iter().map(|m| m.seq).collect();
    assert_eq!(after, vec![9, 10, 11]);
    assert_eq!(store.last_seq(conv).unwrap(), 11);
    let ids: Vec<_> = store.transcript(conv, 0).unwrap().into_iter().map(|m| m.client_msg_id).collect();
    assert_eq!(ids, (1..=11).map(|n| Some(format!("c{n}"))).collect::<Vec<_>>());
    // One write a message, client id or not: no entry of its own beside it.
    assert_eq!(engine.messages().len(), 12);
}

#[tokio::test]
async fn live_index_follows_status_and_a_second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut c = sample_conversation();
    store.put_conversation(&c).unwrap();
    assert_eq!(store.live_conversations().unwrap().len(), 1);
    c.status = Status::Closed;
    store.sync().await.unwrap();
    store.put_conversation(&c).unwrap();
    assert!(store.live_conversations().unwrap().is_empty());
    assert_eq!(store.conversations_of_expert(ExpertId(2)).unwrap().len(), 1);
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked(_))));
}

#[tokio::test]
async fn usernames_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let e = Expert {
        id: ExpertId(1),
        username: "ada".into(),
        name: "Ada".into(),
        password_hash: String::new(),
        categories: vec![],
        certifications: vec![],
        max_concurrent: None,
        created_at: Timestamp(0),
        removed: false,
        roles: vec![],
        bot: false,
    };
    store.create_expert(&e).unwrap();
    let again = Expert { id: ExpertId(2), ..e };
    assert!(matches!(store.create_expert(&again), Err(StoreError::Taken)));
    assert_eq!(store.expert_by_username("ada").unwrap().unwrap().id, ExpertId(1));
}

const GOLDEN_CONVERSATION: &str = "0707030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000010564652d43480101024d6f010e6d6f406578616d706c652e636f6d01040101fb60eafd90accc9f17030000010000";
const GOLDEN_MESSAGE: &str = "070301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646600";
const GOLDEN_SENT_MESSAGE: &str = "070301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646601036d2d33";
const GOLDEN_EXPERT: &str = "070203616461034164610b246172676f6e3269642478010762696c6c696e670001030200010000";
const GOLDEN_TOKEN: &str = "0702fbd007";
const GOLDEN_CUSTOMER: &str = "070901027531000002";

/// Format 6, before consults, SLA clocks and bots.
const GOLDEN_CONVERSATION_V6: &str = "0607030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000010564652d43480101024d6f010e6d6f406578616d706c652e636f6d";
const GOLDEN_MESSAGE_V6: &str = "060301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646600";
const GOLDEN_SENT_MESSAGE_V6: &str = "060301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646601036d2d33";
const GOLDEN_EXPERT_V6: &str = "060203616461034164610b246172676f6e3269642478010762696c6c696e6700010302000100";
const GOLDEN_TOKEN_V6: &str = "0602fbd007";
const GOLDEN_CUSTOMER_V6: &str = "060901027531000002";

// Format 5, before conversations could be left messages.
const GOLDEN_CONVERSATION_V5: &str = "0507030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000010564652d4348";
const GOLDEN_MESSAGE_V5: &str = "050301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646600";
const GOLDEN_SENT_MESSAGE_V5: &str = "050301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646601036d2d33";
const GOLDEN_EXPERT_V5: &str = "050203616461034164610b246172676f6e3269642478010762696c6c696e6700010302000100";
const GOLDEN_TOKEN_V5: &str = "0502fbd007";
const GOLDEN_CUSTOMER_V5: &str = "050901027531000002";

// Format 4, before conversations had a language.
const GOLDEN_CONVERSATION_V4: &str = "0407030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000";
const GOLDEN_MESSAGE_V4: &str = "040301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646600";
const GOLDEN_SENT_MESSAGE_V4: &str = "040301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646601036d2d33";
const GOLDEN_EXPERT_V4: &str = "040203616461034164610b246172676f6e3269642478010762696c6c696e6700010302000100";
const GOLDEN_TOKEN_V4: &str = "0402fbd007";
const GOLDEN_CUSTOMER_V4: &str = "040901027531000002";

// Format 3, before experts had roles.
const GOLDEN_CONVERSATION_V3: &str = "0307030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000";
const GOLDEN_MESSAGE_V3: &str = "030301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646600";
const GOLDEN_SENT_MESSAGE_V3: &str = "030301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f70646601036d2d33";
const GOLDEN_EXPERT_V3: &str = "030203616461034164610b246172676f6e3269642478010762696c6c696e670001030200";
const GOLDEN_TOKEN_V3: &str = "0302fbd007";
const GOLDEN_CUSTOMER_V3: &str = "030901027531000002";

// Format 2, before messages kept their client id.
const GOLDEN_CONVERSATION_V2: &str = "0207030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f17030000010200fd00d0ca9f1703000001fdd0d7ca9f170300000102fdd0d7ca9f1703000000";
const GOLDEN_MESSAGE_V2: &str = "020301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f706466";
const GOLDEN_EXPERT_V2: &str = "020203616461034164610b246172676f6e3269642478010762696c6c696e670001030200";
const GOLDEN_TOKEN_V2: &str = "0202fbd007";
const GOLDEN_CUSTOMER_V2: &str = "020901027531000002";

// Format 1, before conversations kept segments.
const GOLDEN_CONVERSATION_V1: &str = "0107030762696c6c696e6701020102034164610102000105011968747470733a2f2f73686f702e6578616d706c652f63617274010443617274fd00d0ca9f17030000fd00d0ca9f1703000001fdd0d7ca9f170300000001fd00d0ca9f1703000000fdd0d7ca9f1703000001fd00d0ca9f170300000100000000000001040105717569636bfd70e7ca9f1703000001";
const GOLDEN_MESSAGE_V1: &str = "010301010201034164610648656c6c6f2100fda0dfca9f17030000010b0b726563656970742e706466fb00080f6170706c69636174696f6e2f706466";
const GOLDEN_EXPERT_V1: &str = "010203616461034164610b246172676f6e3269642478010762696c6c696e670001030200";
const GOLDEN_TOKEN_V1: &str = "0102fbd007";
const GOLDEN_CUSTOMER_V1: &str = "010901027531000002";

#[tokio::test]
async fn the_embedded_engine_keeps_the_engine_rules() {
    for durability in [crate::config::Durability::PowerLoss, crate::config::Durability::ProcessCrash] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Embedded::open(dir.path(), crate::config::DEFAULT_CACHE_BYTES, durability).unwrap();
        conformance::run(std::sync::Arc::new(engine)).await;
    }
}

/// A range read racing the flusher sees every write: each was pending or stored when read.
/// (Reading sled before the journal lost writes applied in between: an erasure then missed
/// entries, which came back.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_racing_the_flusher_see_every_write() {
    use super::engine::Engine;
    let dir = tempfile::tempdir().unwrap();
    let durability = crate::config::Durability::ProcessCrash;
    let engine = Embedded::open(dir.path(), crate::config::DEFAULT_CACHE_BYTES, durability).unwrap();
    for log in 1..=5_000u64 {
        engine.append(log, 1, b"a").unwrap();
        engine.append(log, 2, b"b").unwrap();
        let ticket = engine.ticket();
        assert_eq!(engine.read(log, 0).unwrap().len(), 2, "log {log}: both entries read");
        if log % 50 == 0 {
            engine.durable(ticket).await.unwrap();
        }
    }
}
