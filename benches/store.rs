//! Store micro-benchmarks: one durable append, a batch sharing one group commit, and a
//! transcript read.
//!
//! `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard::clock::Timestamp;
use switchboard::ids::ConversationId;
use switchboard::store::model::{Author, AuthorKind, StoredMessage};
use switchboard::store::Store;

fn message(seq: u64) -> StoredMessage {
    StoredMessage {
        seq,
        author: Author { kind: AuthorKind::Customer, id: Some(7), name: None },
        text: "Hello, my order has not arrived yet. Could you check on it, please?".into(),
        internal: false,
        at: Timestamp(1_700_000_000_000 + seq as i64),
        attachments: Vec::new(),
        client_msg_id: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn append_durable(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let mut seq = 0u64;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_message+durable (1 msg, own fsync)", |b| {
        b.iter(|| {
            seq += 1;
            let t = store.append_message(ConversationId(1), &message(seq)).expect("append");
            rt.block_on(store.durable(t)).expect("durable");
        })
    });
    // Appends without waiting: the in-memory cost sled charges per message.
    // Each conversation's seqs run 1, 2, 3...: the store appends conditionally on the previous.
    let mut seq2 = 0u64;
    g.bench_function("append_message (no durable wait)", |b| {
        b.iter(|| {
            seq2 += 1;
            black_box(
                store
                    .append_message(
                        ConversationId(2),
                        &StoredMessage { client_msg_id: Some("client-id".into()), ..message(seq2) },
                    )
                    .expect("append"),
            )
        })
    });
    g.finish();

    // 1000 messages over 100 conversations, then one durable wait: group commit.
    let mut g = c.benchmark_group("store_batch");
    g.throughput(Throughput::Elements(1000));
    let mut round = 0u64;
    g.bench_function("1000 appends over 100 conversations + 1 durable", |b| {
        b.iter(|| {
            round += 1;
            let mut last = None;
            for i in 0..1000u64 {
                let conv = ConversationId(1_000 + i % 100);
                let seq = (round - 1) * 10 + i / 100 + 1;
                last = Some(store.append_message(conv, &message(seq)).expect("append"));
            }
            rt.block_on(store.durable(last.expect("a ticket"))).expect("durable");
        })
    });
    // The same 1000 messages from 100 concurrent tasks, each awaiting its own ticket,
    // as conversation actors do: all share the flushes the flusher thread makes.
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut round2 = 0u64;
    g.bench_function("100 tasks x 10 appends, each awaiting durable", |b| {
        b.iter(|| {
            round2 += 1;
            mt.block_on(async {
                let tasks: Vec<_> = (0..100u64)
                    .map(|t| {
                        let store = store.clone();
                        let r = round2;
                        tokio::spawn(async move {
                            for i in 0..10u64 {
                                let tk = store
                                    .append_message(ConversationId(5_000 + t), &message((r - 1) * 10 + i + 1))
                                    .expect("append");
                                store.durable(tk).await.expect("durable");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            })
        })
    });
    g.finish();
}

fn transcript(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let id = ConversationId(42);
    for seq in 1..=100 {
        store.append_message(id, &message(seq)).expect("append");
    }
    // Neighbours on both sides, so the range scan has to find its bounds.
    for seq in 1..=100 {
        store.append_message(ConversationId(41), &message(seq)).expect("append");
        store.append_message(ConversationId(43), &message(seq)).expect("append");
    }
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(100));
    g.bench_function("transcript (100 messages)", |b| {
        b.iter_batched(
            || (),
            |_| {
                let t = store.transcript(black_box(id), 0).expect("transcript");
                assert_eq!(t.len(), 100);
                t
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = append_durable, transcript
}
criterion_main!(benches);
