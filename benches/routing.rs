//! Routing decisions over plain `RouterState`, without actix.
//!
//! `cargo bench --bench routing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use switchboard::clock::Timestamp;
use switchboard::domain::Status;
use switchboard::ids::{ConversationId, ExpertId};
use switchboard::router::{Decision, RouterState, Snapshot};

const T0: Timestamp = Timestamp(1_000);
const EXPERTS: u64 = 1_000;
const CHATS: u64 = 10_000;
const SLOTS: u32 = 3;

fn snap(id: u64, status: Status, owner: Option<u64>) -> Snapshot {
    Snapshot {
        id: ConversationId(id),
        category: "general".into(),
        status,
        owner: owner.map(ExpertId),
        offered_to: None,
        declined: vec![],
        queued_at: Timestamp(id as i64),
        left: false,
        offline: false,
        rev: 1,
        for_bot: false,
    }
}

fn offers(d: &[Decision]) -> usize {
    d.iter().filter(|d| matches!(d, Decision::Offer { .. })).count()
}

fn with_queue(chats: u64) -> RouterState {
    let mut r = RouterState::new(2);
    for id in 0..chats {
        r.track(snap(id, Status::Queued, None), None, T0);
    }
    r
}

fn with_experts(experts: u64) -> RouterState {
    let mut r = RouterState::new(2);
    for e in 0..experts {
        r.expert_online(ExpertId(e), vec!["general".into()], vec![], SLOTS);
    }
    r
}

fn routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("routing");
    g.sample_size(10);
    // 10,000 chats wait; 1,000 experts come online one after another: 3,000 offers.
    g.bench_function("10k queued chats, 1k experts come online (3000 offers)", |b| {
        b.iter_batched(
            || with_queue(CHATS),
            |mut r| {
                let mut made = 0;
                for e in 0..EXPERTS {
                    made += offers(&r.expert_online(ExpertId(e), vec!["general".into()], vec![], SLOTS));
                }
                assert_eq!(made, (EXPERTS as usize) * SLOTS as usize);
                r
            },
            BatchSize::LargeInput,
        )
    });
    // 1,000 experts wait; 10,000 chats arrive one after another (3,000 get offers).
    g.bench_function("1k experts online, 10k chats tracked (3000 offers)", |b| {
        b.iter_batched(
            || with_experts(EXPERTS),
            |mut r| {
                let mut made = 0;
                for id in 0..CHATS {
                    made += offers(&r.track(snap(id, Status::Queued, None), None, T0));
                }
                assert_eq!(made, (EXPERTS as usize) * SLOTS as usize);
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("routing_track");
    // One new chat against 1,000 experts who already carry 2,000 open chats.
    g.bench_function("track 1 new chat, 1k experts, 2k open chats", |b| {
        b.iter_batched(
            || {
                let mut r = with_experts(EXPERTS);
                for id in 0..2 * EXPERTS {
                    r.track(snap(id, Status::Open, Some(id % EXPERTS)), None, T0);
                }
                r
            },
            |mut r| {
                let d = r.track(black_box(snap(CHATS + 1, Status::Queued, None)), None, T0);
                assert_eq!(offers(&d), 1);
                (r, d)
            },
            BatchSize::LargeInput,
        )
    });
    // Everyone is full and 10,000 chats already wait: a new chat only joins the queue.
    g.bench_function("track 1 new chat, 1k full experts, 10k queued", |b| {
        b.iter_batched(
            || {
                let mut r = with_experts(EXPERTS);
                for id in 0..CHATS {
                    r.track(snap(id, Status::Queued, None), None, T0);
                }
                r
            },
            |mut r| {
                let d = r.track(black_box(snap(CHATS + 1, Status::Queued, None)), None, T0);
                assert_eq!(offers(&d), 0);
                (r, d)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = routing
}
criterion_main!(benches);
