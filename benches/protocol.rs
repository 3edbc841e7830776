//! Wire codec micro-benchmarks: decoding a customer's `send` and encoding a `message` event.
//!
//! `cargo bench --bench protocol -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard::clock::Timestamp;
use switchboard::ids::ConversationId;
use switchboard::protocol::{decode, CustomerFrame, ServerFrame};
use switchboard::store::model::{Author, AuthorKind, StoredMessage};
use switchboard::views::MessageJson;

const SEND: &str = r#"{"type":"send","ref":1234,"conversation_id":"c_987654","text":"Hello, my order #55123 has not arrived yet. Could you check on it, please?","client_msg_id":"3f2a9c1e-7d4b-4e0a-9b1c-2d5e6f708192"}"#;

fn protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Bytes(SEND.len() as u64));
    g.bench_function("decode CustomerFrame::Send", |b| {
        b.iter(|| {
            let (r, f) = decode::<CustomerFrame>(black_box(SEND)).expect("decodes");
            black_box((r, f))
        })
    });
    let stored = StoredMessage {
        seq: 17,
        author: Author { kind: AuthorKind::Customer, id: Some(123_456), name: Some("Ada Lovelace".into()) },
        text: "Hello, my order #55123 has not arrived yet. Could you check on it, please?".into(),
        internal: false,
        at: Timestamp(1_700_000_000_123),
        attachments: Vec::new(),
        client_msg_id: None,
    };
    let conv = ConversationId(987_654);
    let sample = ServerFrame::Message { message: MessageJson::of(conv, &stored) }.encode();
    g.throughput(Throughput::Bytes(sample.len() as u64));
    g.bench_function("encode ServerFrame::Message", |b| {
        b.iter(|| {
            let frame =
                ServerFrame::Message { message: MessageJson::of(black_box(conv), black_box(&stored)) };
            black_box(frame.encode())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = protocol
}
criterion_main!(benches);
