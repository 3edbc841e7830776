//! `GET /api/v1/stats`: a scripted day of chats over real sockets, then the report's exact
//! counts, plausible times, the three groupings, and access for admins only.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::{json, Value};

const CATEGORIES: &str = r#"
[[categories]]
id = "billing"
name = "Billing"

[[categories]]
id = "howto"
name = "How-to"
"#;

/// A customer starts a chat in `category`; the expert serving it accepts the offer.
async fn accepted(server: &TestServer, expert: &mut Ws, category: &str, text: &str) -> (Ws, String) {
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": text, "category": category})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    let wanted = id.clone();
    expert
        .expect("the offer", move |f| f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str())
        .await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    (customer, id)
}

async fn say(expert: &mut Ws, id: &str, text: &str) {
    expert.ack(json!({"type": "send", "conversation_id": id, "text": text})).await;
}

fn group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {report}"))
}

/// Median and p90 are present, ordered, and no longer than the test has run.
fn plausible(spread: &Value, elapsed: Duration) {
    let (median, p90) = (spread["median"].as_u64().unwrap(), spread["p90"].as_u64().unwrap());
    assert!(median <= p90 && p90 <= elapsed.as_millis() as u64, "{spread} within {elapsed:?}");
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[tokio::test]
async fn a_day_of_chats_is_reported_in_total_and_by_expert_category_and_day() {
    let started = Instant::now();
    let mut server = TestServer::start_with_config(
        CATEGORIES,
        &[
            ("SWITCHBOARD_CONVERSATION_ABANDON_AFTER", "300ms"),
            ("SWITCHBOARD_CONVERSATION_STYLE", "live_chat"),
        ],
    )
    .await;
    let (ada_id, ada_token) = server.expert("ada", &["billing"], None).await;
    let (bob_id, bob_token) = server.expert("bob", &["howto"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let mut bob = server.expert_ws(&bob_token).await;

    // 1. Billing: answered, ended by Ada, rated 5.
    let (mut first, id1) = accepted(&server, &mut ada, "billing", "I was charged twice").await;
    say(&mut ada, &id1, "Refunded.").await;
    ada.ack(json!({"type": "end", "conversation_id": id1})).await;
    first.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    first.ack(json!({"type": "rate", "conversation_id": id1, "score": 5})).await;
    // 2. How-to: answered by Bob, still open.
    let (_second, id2) = accepted(&server, &mut bob, "howto", "How do I export?").await;
    say(&mut bob, &id2, "From the menu.").await;
    // 3. Billing: answered by Ada, then transferred to Bob, who owns it now.
    let (_third, id3) = accepted(&server, &mut ada, "billing", "Invoice address").await;
    say(&mut ada, &id3, "One moment.").await;
    ada.ack(json!({"type": "transfer", "conversation_id": id3, "to_expert": bob_id})).await;
    bob.event("transferred").await;
    // 4. How-to while Bob is away: nobody answers, the customer gives up once allowed to.
    bob.ack(json!({"type": "presence", "status": "away"})).await;
    let (mut fourth, _) = server.customer_ws(json!({})).await;
    let ack = fourth.ack(json!({"type": "start", "text": "hello?", "category": "howto"})).await;
    let id4 = ack["conversation_id"].as_str().unwrap().to_owned();
    loop {
        let answer = fourth.request(json!({"type": "end", "conversation_id": id4})).await;
        if answer["type"] == "ack" {
            break;
        }
        assert_eq!(answer["code"], "not_allowed", "{answer}");
        assert!(started.elapsed() < WAIT * 3, "ending never became allowed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fourth.expect("abandoned", |f| f["type"] == "status" && f["status"] == "abandoned").await;
    let elapsed = started.elapsed();

    let (status, report) = server.get("/api/v1/stats", ADMIN).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["group_by"], Value::Null);
    assert_eq!(report["groups"], json!([]));
    let total = &report["total"];
    assert_eq!(total["conversations"], 4, "{report}");
    assert_eq!(total["answered"], 3);
    assert_eq!(total["abandoned"], 1);
    assert_eq!(total["abandonment_rate"], 0.25);
    assert_eq!(total["transfers"], 1);
    assert_eq!(total["rating"], json!({"average": 5.0, "count": 1}));
    for times in ["first_response_ms", "wait_ms", "handle_ms"] {
        plausible(&total[times], elapsed);
    }
    // The default period is the last 7 days, ending now.
    let to = humantime::parse_rfc3339(report["to"].as_str().unwrap()).unwrap();
    let from = humantime::parse_rfc3339(report["from"].as_str().unwrap()).unwrap();
    assert_eq!(to.duration_since(from).unwrap(), Duration::from_secs(7 * 24 * 3600));

    let (_, by_expert) = server.get("/api/v1/stats?group_by=expert", ADMIN).await;
    assert_eq!(by_expert["group_by"], "expert");
    assert_eq!(by_expert["total"], *total);
    assert_eq!(by_expert["groups"].as_array().unwrap().len(), 3, "{by_expert}");
    let ada_group = group(&by_expert, &ada_id);
    assert_eq!(
        (ada_group["label"].as_str(), ada_group["conversations"].as_u64()),
        (Some("Expert ada"), Some(1))
    );
    assert_eq!(ada_group["rating"]["count"], 1);
    plausible(&ada_group["handle_ms"], elapsed);
    let bob_group = group(&by_expert, &bob_id);
    assert_eq!(
        (bob_group["label"].as_str(), bob_group["conversations"].as_u64()),
        (Some("Expert bob"), Some(2))
    );
    assert_eq!((bob_group["answered"].as_u64(), bob_group["transfers"].as_u64()), (Some(2), Some(1)));
    assert_eq!(bob_group["handle_ms"], Value::Null, "neither of Bob's chats has ended");
    let nobody = group(&by_expert, "unassigned");
    assert_eq!(nobody["label"], "Unassigned");
    assert_eq!((nobody["conversations"].as_u64(), nobody["abandonment_rate"].as_f64()), (Some(1), Some(1.0)));
    assert_eq!((nobody["first_response_ms"].clone(), nobody["wait_ms"].clone()), (Value::Null, Value::Null));

    let (_, by_category) = server.get("/api/v1/stats?group_by=category", ADMIN).await;
    let keys: Vec<&str> =
        by_category["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["billing", "howto"]);
    let billing = group(&by_category, "billing");
    assert_eq!((billing["label"].as_str(), billing["conversations"].as_u64()), (Some("Billing"), Some(2)));
    assert_eq!((billing["answered"].as_u64(), billing["transfers"].as_u64()), (Some(2), Some(1)));
    let howto = group(&by_category, "howto");
    assert_eq!((howto["label"].as_str(), howto["abandoned"].as_u64()), (Some("How-to"), Some(1)));
    assert_eq!(howto["abandonment_rate"], 0.5);

    // Days are UTC dates of creation; a run across midnight makes two.
    let (_, by_day) = server.get("/api/v1/stats?group_by=day", ADMIN).await;
    let days = by_day["groups"].as_array().unwrap();
    assert!(!days.is_empty() && days.len() <= 2, "{by_day}");
    assert_eq!(days.iter().map(|d| d["conversations"].as_u64().unwrap()).sum::<u64>(), 4);
    let today = &rfc3339(SystemTime::now())[..10];
    assert_eq!(days.last().unwrap()["key"], today);
    assert_eq!(days.last().unwrap()["label"], today);

    // A chosen period: only what was created in [from, to).
    let later = SystemTime::now() + Duration::from_secs(3600);
    let path =
        format!("/api/v1/stats?from={}&to={}", rfc3339(later), rfc3339(later + Duration::from_secs(60)));
    let (status, empty) = server.get(&path, ADMIN).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["total"]["conversations"], 0);
    assert_eq!(
        (empty["total"]["abandonment_rate"].as_f64(), empty["total"]["wait_ms"].clone()),
        (Some(0.0), Value::Null)
    );
    let earlier = SystemTime::now() - Duration::from_secs(3600);
    let (_, all) = server.get(&format!("/api/v1/stats?from={}", rfc3339(earlier)), ADMIN).await;
    assert_eq!(all["total"], *total);

    // Admins only; and bad parameters are refused clearly.
    let (status, refused) = server.get("/api/v1/stats", &ada_token).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = server.get("/api/v1/stats", "no-such-token").await;
    assert_eq!(status, 401);
    for bad in ["group_by=weekday", "from=yesterday", "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z"] {
        let (status, answer) = server.get(&format!("/api/v1/stats?{bad}"), ADMIN).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}: {answer}");
    }

    // Computed from stored records: a crash changes nothing.
    server.crash_and_restart().await;
    let (_, again) = server.get("/api/v1/stats?group_by=expert", ADMIN).await;
    assert_eq!(
        (again["total"].clone(), again["groups"].clone()),
        (by_expert["total"].clone(), by_expert["groups"].clone())
    );
}

/// Milliseconds of `d`, for comparing with the report's figures.
fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[tokio::test]
async fn a_transferred_chat_reports_each_wait_and_splits_handle_time_between_its_experts() {
    let server =
        TestServer::start_with_config(CATEGORIES, &[("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")]).await;
    let (ada_id, ada_token) = server.expert("ada", &["billing"], None).await;
    let (bob_id, bob_token) = server.expert("bob", &["howto"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let mut bob = server.expert_ws(&bob_token).await;
    // Each figure is bracketed by what the test saw: at least the time between the acks that
    // surely fall inside it, at most the time between the requests around it.
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let start_sent = Instant::now();
    let ack = customer.ack(json!({"type": "start", "text": "Wrong invoice", "category": "billing"})).await;
    let started = Instant::now();
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    ada.expect("the offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str()).await;
    // The customer waits while Ada takes her time over the offer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ada_accept_sent = Instant::now();
    ada.ack(json!({"type": "accept", "conversation_id": id})).await;
    let ada_accepted = Instant::now();
    let first_wait = (ms(ada_accept_sent - started), ms(ada_accepted - start_sent));
    say(&mut ada, &id, "This is a how-to question, let me pass you on.").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let transfer_sent = Instant::now();
    ada.ack(json!({"type": "transfer", "conversation_id": id, "to_category": "howto"})).await;
    let transferred = Instant::now();
    let ada_handle = (ms(transfer_sent - ada_accepted), ms(transferred - ada_accept_sent));

    // Waiting again, in the other queue, for Bob.
    bob.expect("the offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bob_accept_sent = Instant::now();
    bob.ack(json!({"type": "accept", "conversation_id": id})).await;
    let bob_accepted = Instant::now();
    let second_wait = (ms(bob_accept_sent - transferred), ms(bob_accepted - transfer_sent));
    say(&mut bob, &id, "Here is how.").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let end_sent = Instant::now();
    bob.ack(json!({"type": "end", "conversation_id": id})).await;
    let ended = Instant::now();
    let bob_handle = (ms(end_sent - bob_accepted), ms(ended - bob_accept_sent));
    customer.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;

    // The server's times are whole milliseconds: 1 ms either way is rounding.
    let within = |what: &str, value: &Value, (low, high): (u64, u64)| {
        let v = value.as_u64().unwrap_or_else(|| panic!("{what}: {value}"));
        assert!(low <= v + 1 && v <= high + 1, "{what} = {v} ms, outside [{low}, {high}]");
    };
    let (status, report) = server.get("/api/v1/stats?group_by=expert", ADMIN).await;
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    assert_eq!((total["conversations"].as_u64(), total["transfers"].as_u64()), (Some(1), Some(1)));
    // Two waits, nearest rank: the shorter is the median, the longer the 90th percentile.
    within("the wait for Ada", &total["wait_ms"]["median"], first_wait);
    within("the wait for Bob", &total["wait_ms"]["p90"], second_wait);
    let ada_group = group(&report, &ada_id);
    within("Ada's handle time", &ada_group["handle_ms"]["median"], ada_handle);
    within("the wait Ada ended", &ada_group["wait_ms"]["median"], first_wait);
    let bob_group = group(&report, &bob_id);
    assert_eq!(bob_group["conversations"], 1, "counted once, with its owner at the end");
    within("Bob's handle time", &bob_group["handle_ms"]["median"], bob_handle);
    within("the wait Bob ended", &bob_group["wait_ms"]["median"], second_wait);
}
