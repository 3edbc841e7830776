//! The rules every [`Engine`] keeps, as one suite: the embedded engine runs it in its unit
//! tests, and every other engine runs it against a real server of its kind. It needs a fresh,
//! empty engine and panics with the rule that broke.

use std::sync::Arc;

use super::engine::{Engine, Expect, Part, Revision, Tree};
use super::StoreError;

/// Runs every rule against `engine`, which must be empty.
pub async fn run(engine: Arc<dyn Engine>) {
    let e = engine.as_ref();
    records_and_revisions(e).await;
    insert_new_decides_at_once(e);
    removal(e);
    scans_keep_key_order(e);
    keys_round_trip(e);
    logs_append_in_order(e).await;
    erased_logs_read_empty(e).await;
    ids_are_fresh(e);
    tickets_become_durable(e).await;
}

/// Whether a conditional write was refused: at once, or when its ticket is awaited.
async fn refused<T: std::fmt::Debug>(e: &dyn Engine, result: Result<T, StoreError>) -> bool {
    match result {
        Err(StoreError::Conflict) => true,
        Err(other) => panic!("a refused conditional write must say Conflict, not {other}"),
        Ok(_) => matches!(e.durable(e.ticket()).await, Err(StoreError::Conflict)),
    }
}

fn id(n: u64) -> Part {
    Part::Id(n)
}

async fn records_and_revisions(e: &dyn Engine) {
    let key = [id(1)];
    assert_eq!(e.get(Tree::Experts, &key).unwrap(), None, "an empty engine holds nothing");
    let r1 = e.put(Tree::Experts, &key, b"one", Expect::Any).unwrap();
    assert_ne!(r1, Revision::ABSENT, "a stored value has a revision");
    assert_eq!(
        e.get(Tree::Experts, &key).unwrap(),
        Some((b"one".to_vec(), r1)),
        "a write is read back at once"
    );

    let r2 = e.put(Tree::Experts, &key, b"two", Expect::At(r1)).unwrap();
    assert_ne!(r2, r1, "each write makes a new revision");
    assert!(
        refused(e, e.put(Tree::Experts, &key, b"stale", Expect::At(r1))).await,
        "a write naming an old revision is refused"
    );
    assert_eq!(
        e.get(Tree::Experts, &key).unwrap(),
        Some((b"two".to_vec(), r2)),
        "a refused write changes nothing"
    );
    assert!(
        refused(e, e.put(Tree::Experts, &key, b"new", Expect::At(Revision::ABSENT))).await,
        "expecting no value where there is one is refused"
    );
    let fresh = e.put(Tree::Experts, &[id(2)], b"fresh", Expect::At(Revision::ABSENT)).unwrap();
    assert_eq!(e.get(Tree::Experts, &[id(2)]).unwrap(), Some((b"fresh".to_vec(), fresh)), "creating works");
    let r3 = e.put(Tree::Experts, &key, b"three", Expect::At(r2)).unwrap();
    e.durable(e.ticket()).await.expect("writes after a refused one become durable");
    assert_eq!(e.get(Tree::Experts, &key).unwrap(), Some((b"three".to_vec(), r3)));
}

fn insert_new_decides_at_once(e: &dyn Engine) {
    let key = [Part::Text("ada".into())];
    assert_eq!(e.insert_new(Tree::ExpertNames, &key, b"7").unwrap(), None, "the first insert wins");
    assert_eq!(
        e.insert_new(Tree::ExpertNames, &key, b"8").unwrap(),
        Some(b"7".to_vec()),
        "a second insert gets the value already there"
    );
    assert_eq!(e.get(Tree::ExpertNames, &key).unwrap().map(|(v, _)| v), Some(b"7".to_vec()), "and it stays");
}

fn removal(e: &dyn Engine) {
    let key = [id(40)];
    e.put(Tree::Canned, &key, b"x", Expect::Any).unwrap();
    assert!(e.remove(Tree::Canned, &key).unwrap(), "removing a value says it was there");
    assert!(!e.remove(Tree::Canned, &key).unwrap(), "removing nothing says so");
    assert_eq!(e.get(Tree::Canned, &key).unwrap(), None);
    assert!(e.is_empty(Tree::Canned).unwrap(), "a tree whose last value went is empty");
}

fn scans_keep_key_order(e: &dyn Engine) {
    assert!(e.is_empty(Tree::CustomerConversations).unwrap());
    for (owner, item) in [(3, 300), (3, 2), (2, 9), (3, 10), (30, 1), (3, 256)] {
        e.put(Tree::CustomerConversations, &[id(owner), id(item)], &[], Expect::Any).unwrap();
    }
    assert!(!e.is_empty(Tree::CustomerConversations).unwrap());
    let under_3: Vec<u64> =
        e.scan(Tree::CustomerConversations, &[id(3)]).unwrap().iter().map(|(k, _)| k[1].id()).collect();
    assert_eq!(under_3, [2, 10, 256, 300], "a prefix scan lists only its prefix, ids in numeric order");
    let all: Vec<(u64, u64)> = e
        .scan(Tree::CustomerConversations, &[])
        .unwrap()
        .iter()
        .map(|(k, _)| (k[0].id(), k[1].id()))
        .collect();
    assert_eq!(all, [(2, 9), (3, 2), (3, 10), (3, 256), (3, 300), (30, 1)], "a whole scan is in key order");

    for (event, endpoint) in [(9, 1), (8, 300), (8, 2)] {
        let key = [id(event), Part::Short(endpoint)];
        e.put(Tree::WebhookOutbox, &key, format!("{event}/{endpoint}").as_bytes(), Expect::Any).unwrap();
    }
    let hooks: Vec<Vec<u8>> = e.scan(Tree::WebhookOutbox, &[]).unwrap().into_iter().map(|(_, v)| v).collect();
    assert_eq!(hooks, [b"8/2".to_vec(), b"8/300".to_vec(), b"9/1".to_vec()], "short parts sort numerically");
}

fn keys_round_trip(e: &dyn Engine) {
    // Text and bytes as clients send them: dots, spaces, slashes, non-ASCII, arbitrary bytes.
    let texts = ["a.b c/d", "é-ü_*>", "", "client-msg-1"];
    for (i, t) in texts.iter().enumerate() {
        let key = [id(5), Part::Text((*t).into())];
        e.put(Tree::Starts, &key, &[i as u8], Expect::Any).unwrap();
        assert_eq!(e.get(Tree::Starts, &key).unwrap().map(|(v, _)| v), Some(vec![i as u8]), "text key {t:?}");
    }
    let listed: Vec<String> = e
        .scan(Tree::Starts, &[id(5)])
        .unwrap()
        .into_iter()
        .map(|(k, _)| match &k[1] {
            Part::Text(t) => t.clone(),
            other => panic!("a text part came back as {other:?}"),
        })
        .collect();
    let mut expected: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "text keys come back whole and in byte order");

    let digest: Vec<u8> = (0..=255u8).rev().step_by(7).collect();
    let key = [id(6), Part::Bytes(digest.clone())];
    e.put(Tree::ExpertTokens, &key, &[], Expect::Any).unwrap();
    let scanned = e.scan(Tree::ExpertTokens, &[id(6)]).unwrap();
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].0, key.to_vec(), "byte keys come back whole");
}

async fn logs_append_in_order(e: &dyn Engine) {
    assert_eq!(e.last_seq(100).unwrap(), 0, "an empty log's last seq is 0");
    assert!(e.read(100, 0).unwrap().is_empty());
    for seq in 1..=3u64 {
        e.append(100, seq, format!("m{seq}").as_bytes()).unwrap();
    }
    e.append(101, 1, b"other").unwrap();
    let all: Vec<(u64, Vec<u8>)> = e.read(100, 0).unwrap();
    assert_eq!(
        all,
        [(1, b"m1".to_vec()), (2, b"m2".to_vec()), (3, b"m3".to_vec())],
        "a log reads back in order"
    );
    assert_eq!(e.read(100, 1).unwrap().len(), 2, "reading after a seq skips up to it");
    assert!(e.read(100, 3).unwrap().is_empty());
    assert_eq!(e.last_seq(100).unwrap(), 3);
    assert_eq!(e.last_seq(101).unwrap(), 1, "logs are separate");

    assert!(refused(e, e.append(100, 3, b"again")).await, "a seq that is taken is refused");
    assert!(refused(e, e.append(100, 5, b"gap")).await, "a seq past the next is refused");
    assert!(refused(e, e.append(102, 2, b"gap")).await, "a new log starts at 1");
    assert_eq!(e.read(100, 0).unwrap().len(), 3, "refused appends change nothing");
    assert_eq!(e.read(100, 2).unwrap(), [(3, b"m3".to_vec())]);
    e.append(100, 4, b"m4").unwrap();
    e.durable(e.ticket()).await.expect("appends after refused ones become durable");
    assert_eq!(e.last_seq(100).unwrap(), 4);
}

async fn erased_logs_read_empty(e: &dyn Engine) {
    for seq in 1..=3u64 {
        e.append(110, seq, format!("e{seq}").as_bytes()).unwrap();
    }
    e.append(111, 1, b"kept").unwrap();
    e.erase_log(110).unwrap();
    assert!(e.read(110, 0).unwrap().is_empty(), "an erased log reads empty at once");
    assert_eq!(e.last_seq(110).unwrap(), 0, "an erased log's last seq is 0");
    e.durable(e.ticket()).await.expect("an erasure becomes durable");
    assert!(e.read(110, 0).unwrap().is_empty(), "and stays empty once durable");
    assert_eq!(e.read(111, 0).unwrap(), [(1, b"kept".to_vec())], "other logs keep their entries");
    e.erase_log(112).unwrap();
    assert!(e.read(112, 0).unwrap().is_empty(), "erasing a log that never was is harmless");
}

fn ids_are_fresh(e: &dyn Engine) {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let id = e.next_id().unwrap();
        assert_ne!(id, 0, "0 never names anything");
        assert!(seen.insert(id), "id {id} was handed out twice");
    }
}

async fn tickets_become_durable(e: &dyn Engine) {
    let before = e.ticket();
    e.put(Tree::Customers, &[id(77)], b"c", Expect::Any).unwrap();
    let after = e.ticket();
    assert!(after > before, "tickets count up");
    e.durable(after).await.expect("a ticket becomes durable");
    e.durable(before).await.expect("an earlier ticket is durable too");
}
