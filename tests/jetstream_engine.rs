//! The JetStream engine against real NATS servers (`common::nats`): the conformance suite on
//! one replica and on three, what a second engine and a restarted cluster see, fencing of two
//! writers on one transcript, a retried send after a lost answer, `kill -9` of one of three
//! servers mid-writes, a large attachment, ids across engines; and end to end, the
//! `switchboard` binary on a three-node cluster, killed and restarted mid-chat.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nats::Nats;
use common::*;
use serde_json::json;
use switchboard::store::jetstream::remote::{Remote, Written};
use switchboard::store::jetstream::{JetStream, Settings};
use switchboard::store::{conformance, Engine, Expect, Part, StoreError, Tree};

static PREFIXES: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test (or earlier run) uses.
fn fresh_prefix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t{}x{}x{nanos}", std::process::id(), PREFIXES.fetch_add(1, Ordering::Relaxed))
}

fn settings(nats: &Nats, prefix: &str, replicas: usize) -> Settings {
    let mut s = Settings::new(nats.urls(), prefix);
    s.replicas = replicas;
    s.node_name = "engine-test".into();
    s
}

/// An engine on its own thread-free connect (connecting blocks; tests run on a runtime).
async fn engine(settings: Settings) -> Arc<JetStream> {
    tokio::task::spawn_blocking(move || JetStream::connect(&settings).map(Arc::new))
        .await
        .unwrap()
        .expect("the engine connects")
}

async fn durable(e: &JetStream) -> Result<(), StoreError> {
    tokio::time::timeout(Duration::from_secs(30), e.durable(e.ticket())).await.expect("a ticket resolves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite_on_one_replica() {
    let nats = Nats::start(1).await;
    let e = engine(settings(&nats, &fresh_prefix(), 1)).await;
    conformance::run(e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite_on_three_replicas() {
    let nats = Nats::start(3).await;
    let e = engine(settings(&nats, &fresh_prefix(), 3)).await;
    conformance::run(e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_writes_are_seen_by_a_second_engine_and_survive_a_cluster_restart() {
    let mut nats = Nats::start(3).await;
    let prefix = fresh_prefix();
    let a = engine(settings(&nats, &prefix, 3)).await;
    a.put(Tree::Experts, &[Part::Id(1)], b"ada", Expect::Any).unwrap();
    a.put(Tree::Starts, &[Part::Id(1), Part::Text("c.1 é".into())], b"s", Expect::Any).unwrap();
    a.put(Tree::Canned, &[Part::Id(9)], b"gone", Expect::Any).unwrap();
    assert!(a.remove(Tree::Canned, &[Part::Id(9)]).unwrap());
    for seq in 1..=20 {
        a.append(7, seq, format!("m{seq}").as_bytes()).unwrap();
    }
    durable(&a).await.expect("the writes become durable");

    let check = |e: &JetStream| {
        assert_eq!(e.get(Tree::Experts, &[Part::Id(1)]).unwrap().map(|(v, _)| v), Some(b"ada".to_vec()));
        let starts = e.scan(Tree::Starts, &[Part::Id(1)]).unwrap();
        assert_eq!(starts, [(vec![Part::Id(1), Part::Text("c.1 é".into())], b"s".to_vec())]);
        assert_eq!(e.get(Tree::Canned, &[Part::Id(9)]).unwrap(), None, "a removal is kept");
        assert!(e.is_empty(Tree::Canned).unwrap());
        assert_eq!(e.last_seq(7).unwrap(), 20);
        let log = e.read(7, 0).unwrap();
        assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
        assert_eq!(log[19].1, b"m20");
        assert_eq!(e.read(7, 17).unwrap().len(), 3, "a short read after a seq");
    };
    let b = engine(settings(&nats, &prefix, 3)).await;
    tokio::task::block_in_place(|| check(&b));
    drop((a, b));

    for i in 0..3 {
        nats.kill9(i);
    }
    nats.restart_all().await;
    let c = engine(settings(&nats, &prefix, 3)).await;
    tokio::task::block_in_place(|| check(&c));
}

/// Two engines append to one transcript, seq by seq: exactly one wins each seq.
async fn two_writers_one_log(replicas: usize) {
    let nats = Nats::start(replicas).await;
    let prefix = fresh_prefix();
    let a = engine(settings(&nats, &prefix, replicas)).await;
    let b = engine(settings(&nats, &prefix, replicas)).await;
    let mut winners = Vec::new();
    for seq in 1..=10u64 {
        let mut results = Vec::new();
        // Both read the transcript before either appends: each thinks `seq` is free.
        let read = Arc::new(tokio::sync::Barrier::new(2));
        for (name, e) in [("a", a.clone()), ("b", b.clone())] {
            let read = read.clone();
            results.push(tokio::spawn(async move {
                let next = tokio::task::block_in_place(|| e.last_seq(42).unwrap()) + 1;
                assert_eq!(next, seq, "{name} reads the seq before the race");
                read.wait().await;
                let text = format!("{name}{seq}");
                let at_once = tokio::task::block_in_place(|| e.append(42, seq, text.as_bytes()));
                let won = match at_once {
                    Ok(()) => durable(&e).await,
                    Err(err) => Err(err),
                };
                match won {
                    Ok(()) => Some(text),
                    Err(StoreError::Conflict) => None,
                    Err(other) => panic!("a fenced append must say Conflict, not {other}"),
                }
            }));
        }
        let mut won = Vec::new();
        for r in results {
            won.extend(r.await.unwrap());
        }
        assert_eq!(won.len(), 1, "exactly one writer wins seq {seq}: {won:?}");
        winners.push(won.remove(0));
    }
    let log = tokio::task::block_in_place(|| a.read(42, 0).unwrap());
    let stored: Vec<String> = log.iter().map(|(_, v)| String::from_utf8(v.clone()).unwrap()).collect();
    assert_eq!(stored, winners, "the transcript holds each seq's winner, once");
    assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_are_fenced_on_one_replica() {
    two_writers_one_log(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_are_fenced_on_three_replicas() {
    two_writers_one_log(3).await;
}

/// A send whose answer was lost is sent again with the same message id: it counts as stored
/// (a replicated stream says duplicate; a single one refuses the sequence, and the last
/// message's id tells it was ours), and is stored once; another writer's is refused.
async fn retried_append_is_not_doubled(replicas: usize) {
    let nats = Nats::start(replicas).await;
    let prefix = fresh_prefix();
    let s = settings(&nats, &prefix, replicas);
    let remote = Remote::connect(&s).await.expect("connect");
    let first = remote.append(5, 1, "hello".into(), 0, "5.1.w1").await.unwrap();
    let Written::At(stream_seq) = first else { panic!("the first append is stored: {first:?}") };
    let retry = remote.append(5, 1, "hello".into(), 0, "5.1.w1").await.unwrap();
    assert_eq!(retry, Written::At(stream_seq), "a retry is the same stored entry");
    let other = remote.append(5, 1, "intruder".into(), 0, "5.1.w2").await.unwrap();
    assert_eq!(other, Written::Refused, "another writer's append of a taken seq is refused");
    let log = remote.log_read(5, 0).await.unwrap();
    assert_eq!(log, [(1, bytes::Bytes::from("hello"))], "stored exactly once");
    let next = remote.append(5, 2, "again".into(), stream_seq, "5.2.w1").await.unwrap();
    assert!(matches!(next, Written::At(_)), "the next append follows the retried one");
}

#[tokio::test]
async fn a_retried_append_is_stored_once_on_one_replica() {
    retried_append_is_not_doubled(1).await;
}

#[tokio::test]
async fn a_retried_append_is_stored_once_on_three_replicas() {
    retried_append_is_not_doubled(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_durable_write_survives_kill_9_of_one_of_three_servers() {
    let mut nats = Nats::start(3).await;
    let prefix = fresh_prefix();
    let e = engine(settings(&nats, &prefix, 3)).await;
    let durable_seqs = Arc::new(std::sync::Mutex::new(vec![0u64; 16]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (e, durable_seqs, stop) = (e.clone(), durable_seqs.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                tokio::task::block_in_place(|| {
                    for log in 0..16u64 {
                        e.append(1000 + log, seq, format!("{log}/{seq}").as_bytes()).unwrap();
                        e.put(Tree::Customers, &[Part::Id(log)], &seq.to_be_bytes(), Expect::Any).unwrap();
                    }
                });
                durable(&e).await.expect("writes become durable across the election");
                durable_seqs.lock().unwrap().iter_mut().for_each(|s| *s = seq);
            }
            seq
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(durable_seqs.lock().unwrap()[0] > 0, "writes were made before the kill");
    // Server 0 is the one the engine is connected to, and it leads some of the streams.
    nats.kill9(0);
    let killed_at = durable_seqs.lock().unwrap()[0];
    let deadline = Instant::now() + Duration::from_secs(25);
    while durable_seqs.lock().unwrap()[0] < killed_at + 5 {
        assert!(Instant::now() < deadline, "writes did not resume after the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked = durable_seqs.lock().unwrap().clone();
    let fresh = engine(settings(&nats, &prefix, 3)).await;
    tokio::task::block_in_place(|| {
        for (log, seq) in acked.iter().enumerate() {
            let entries = fresh.read(1000 + log as u64, 0).unwrap();
            assert!(entries.len() as u64 >= *seq, "log {log}: {} entries, {seq} were durable", entries.len());
            let seqs: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
            assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>(), "log {log} is gapless");
            let stored = fresh.get(Tree::Customers, &[Part::Id(log as u64)]).unwrap().unwrap().0;
            assert!(
                u64::from_be_bytes(stored.try_into().unwrap()) >= *seq,
                "record {log} is at least as new as acked"
            );
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_mib_attachment_round_trips() {
    let nats = Nats::start(3).await;
    let prefix = fresh_prefix();
    let a = engine(settings(&nats, &prefix, 3)).await;
    let file: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    a.put(Tree::AttachmentBytes, &[Part::Id(3)], &file, Expect::Any).unwrap();
    assert_eq!(a.get(Tree::AttachmentBytes, &[Part::Id(3)]).unwrap().map(|(v, _)| v.len()), Some(file.len()));
    durable(&a).await.expect("the file is stored");
    let b = engine(settings(&nats, &prefix, 3)).await;
    let read = tokio::task::block_in_place(|| b.get(Tree::AttachmentBytes, &[Part::Id(3)]).unwrap());
    assert!(read.is_some_and(|(v, _)| v == file), "the file reads back whole from another engine");
    assert!(tokio::task::block_in_place(|| b.remove(Tree::AttachmentBytes, &[Part::Id(3)]).unwrap()));
    durable(&b).await.unwrap();
    assert_eq!(tokio::task::block_in_place(|| a.get(Tree::AttachmentBytes, &[Part::Id(3)]).unwrap()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_are_unique_across_two_engines() {
    let nats = Nats::start(1).await;
    let prefix = fresh_prefix();
    let engines = [engine(settings(&nats, &prefix, 1)).await, engine(settings(&nats, &prefix, 1)).await];
    let takers: Vec<_> = engines
        .iter()
        .map(|e| {
            let e = e.clone();
            std::thread::spawn(move || (0..3000).map(|_| e.next_id().unwrap()).collect::<Vec<u64>>())
        })
        .collect();
    let mut seen = HashSet::new();
    for taker in takers {
        for id in taker.join().unwrap() {
            assert!(id != 0 && seen.insert(id), "id {id} was handed out twice");
        }
    }
    assert_eq!(seen.len(), 6000);
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = Settings::new(vec![format!("nats://127.0.0.1:{port}")], "sb");
    s.request_timeout = Duration::from_millis(500);
    let err = tokio::task::spawn_blocking(move || JetStream::connect(&s).err()).await.unwrap();
    let text = err.expect("nothing listens there").to_string();
    assert!(text.contains("connecting to NATS at nats://127.0.0.1:"), "{text}");
}

/// The server connects from inside its actix runtime; a failed connect must end in the
/// error, not in a panic while the engine's own runtime is dropped there.
#[tokio::test]
async fn a_server_that_cannot_reach_its_cluster_exits_with_the_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER_DATA_DIR", dir.path())
        .env("SWITCHBOARD_CLUSTER_NATS_URLS", format!("[\"nats://127.0.0.1:{port}\"]"))
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out).await.expect("it exits").unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("connecting to NATS at nats://127.0.0.1:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Waits until `node` serves the deployment itself: a killed core's lease lapses 5 s after
/// its last renewal.
async fn serving(node: &TestServer) {
    let until = Instant::now() + Duration::from_secs(10);
    while node.get("/healthz", ADMIN).await.1["role"] != "core" {
        assert!(Instant::now() < until, "the node did not take the deployment over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_survives_kill_9_of_the_server_on_a_three_node_cluster() {
    let mut nats = Nats::start(3).await;
    let urls = nats.urls_env();
    let prefix = fresh_prefix();
    let env =
        [("SWITCHBOARD_CLUSTER_NATS_URLS", urls.as_str()), ("SWITCHBOARD_CLUSTER_PREFIX", prefix.as_str())];
    let mut server = TestServer::start(&env).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.accepted_chat(&mut expert, "hello from the cluster").await;
    for k in 0..10 {
        customer.ack(json!({"type": "send", "conversation_id": id, "text": format!("c{k}")})).await;
        expert.ack(json!({"type": "send", "conversation_id": id, "text": format!("e{k}")})).await;
    }
    server.kill9().await;
    // Restarted, it forwards to its killed self (its name was its old port) until that
    // one's lease lapses, then serves.
    server.restart().await;
    serving(&server).await;
    let mut nodes = vec![server];
    // Stopped, a node started elsewhere with an empty data directory sees the same: the
    // state is in JetStream.
    assert!(nodes[0].terminate().await, "a clean stop");
    nodes.push(TestServer::start(&env).await);
    serving(&nodes[1]).await;
    for node in &nodes[1..] {
        let (status, c) = node.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
        assert_eq!(status, 200, "{c}");
        let texts: Vec<&str> =
            c["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
        for k in 0..10 {
            assert!(
                texts.contains(&format!("c{k}").as_str()) && texts.contains(&format!("e{k}").as_str()),
                "{texts:?}"
            );
        }
        let seqs = seqs(&c["messages"]);
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seqs are gapless");
        let (status, _) = node.get("/healthz", ADMIN).await;
        assert_eq!(status, 200, "a connected node is healthy");
    }
    for i in 0..3 {
        nats.kill9(i);
    }
    let deadline = Instant::now() + WAIT;
    while nodes[1].get("/healthz", ADMIN).await.0 != 503 {
        assert!(Instant::now() < deadline, "/healthz did not answer 503 without NATS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Not a test: the numbers for the report (`cargo test --release --test jetstream_engine
/// throughput -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_on_three_replicas() {
    let nats = Nats::start(3).await;
    let e = engine(settings(&nats, &fresh_prefix(), 3)).await;
    let body = vec![b'x'; 200];
    // One transcript: each append waits for its ticket.
    let mut latencies = Vec::new();
    for seq in 1..=500u64 {
        let started = Instant::now();
        tokio::task::block_in_place(|| e.append(1, seq, &body)).unwrap();
        durable(&e).await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!("one transcript: p50 {:?}, p99 {:?}", latencies[250], latencies[495]);
    // 64 transcripts, one append in flight on each, as 64 chats would.
    let started = Instant::now();
    let rounds = 150u64;
    let mut writers = Vec::new();
    for log in 0..64u64 {
        let (e, body) = (e.clone(), body.clone());
        writers.push(tokio::spawn(async move {
            for seq in 1..=rounds {
                tokio::task::block_in_place(|| e.append(100 + log, seq, &body)).unwrap();
                durable(&e).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let n = 64 * rounds;
    println!(
        "64 transcripts: {n} durable appends in {:?}: {:.0}/s",
        started.elapsed(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}
