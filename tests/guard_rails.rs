//! Abuse limits and hostile clients: each limit answers with its error, other users are
//! unaffected, and nothing half-done is stored.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const LOCAL: &str = "127.0.0.1";
const OTHER: &str = "127.0.0.2";

async fn customer_from(server: &TestServer, source: &str) -> (Ws, String) {
    let mut ws = Ws::try_connect(&format!("{}/ws/customer", server.ws_base), &[], Some(source))
        .await
        .expect("connect");
    let welcome = ws.request(json!({"type": "hello"})).await;
    assert_eq!(welcome["type"], "welcome");
    (ws, welcome["visitor_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn messages_per_second_are_limited_per_connection_and_a_flood_is_closed() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_MESSAGES_PER_SECOND", "2"),
        ("SWITCHBOARD_LIMITS_FLOOD_STRIKES", "8"),
    ])
    .await;
    let (mut flooder, id, visitor) = server.new_chat("hi").await;
    let (mut calm, calm_id, _) = server.new_chat("hello").await;
    for n in 0..10 {
        flooder
            .send(json!({"type": "send", "conversation_id": id, "text": format!("spam {n}"), "ref": n}))
            .await;
    }
    let mut acked = 0;
    let mut limited = 0;
    for n in 0..10 {
        let answer = flooder.expect("an answer", |f| f["ref"] == n).await;
        match answer["type"].as_str() {
            Some("ack") => acked += 1,
            _ => {
                assert_eq!(answer["code"], "rate_limited", "{answer}");
                limited += 1;
            }
        }
    }
    assert!(acked >= 1 && limited >= 1, "{acked} acked, {limited} limited");
    // Nothing half-stored: exactly the acknowledged messages are in the transcript.
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    let spam = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"].as_str().unwrap().starts_with("spam"))
        .count();
    assert_eq!(spam, acked);
    // Someone else's connection has its own bucket.
    calm.ack(json!({"type": "send", "conversation_id": calm_id, "text": "all fine here"})).await;
    // Flooding on regardless closes the socket with 1008.
    for n in 0..30 {
        flooder.send(json!({"type": "send", "conversation_id": id, "text": format!("more {n}")})).await;
    }
    assert_eq!(flooder.closed().await, Some(1008));
}

#[tokio::test]
async fn new_chats_and_connections_are_limited_per_address() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "2"),
        ("SWITCHBOARD_LIMITS_CONNECTIONS_PER_MINUTE", "3"),
    ])
    .await;
    let (mut a, _) = customer_from(&server, LOCAL).await;
    let (mut b, _) = customer_from(&server, LOCAL).await;
    a.ack(json!({"type": "start", "text": "one"})).await;
    b.ack(json!({"type": "start", "text": "two"})).await;
    let (mut c, _) = customer_from(&server, LOCAL).await;
    c.refused(json!({"type": "start", "text": "three"}), "rate_limited").await;
    // A fourth connection attempt from the same address is refused with 429...
    let refused = Ws::try_connect(&format!("{}/ws/customer", server.ws_base), &[], Some(LOCAL)).await;
    assert_eq!(refused.err(), Some(429));
    // ...while another address connects and starts chats as usual.
    let (mut d, _) = customer_from(&server, OTHER).await;
    d.ack(json!({"type": "start", "text": "from elsewhere"})).await;
}

#[tokio::test]
async fn open_connections_and_open_chats_are_capped() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_MAX_CONNECTIONS_PER_ADDRESS", "2"),
        ("SWITCHBOARD_LIMITS_MAX_OPEN_CHATS_PER_CUSTOMER", "1"),
    ])
    .await;
    let (mut first, _) = customer_from(&server, LOCAL).await;
    let (second, _) = customer_from(&server, LOCAL).await;
    let third = Ws::try_connect(&format!("{}/ws/customer", server.ws_base), &[], Some(LOCAL)).await;
    assert_eq!(third.err(), Some(429));
    second.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let _again = loop {
        match Ws::try_connect(&format!("{}/ws/customer", server.ws_base), &[], Some(LOCAL)).await {
            Ok(ws) => break ws,
            Err(429) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(status) => panic!("a freed slot was not reusable: {status}"),
        }
    };
    first.ack(json!({"type": "start", "text": "my one chat"})).await;
    first.refused(json!({"type": "start", "text": "a second chat"}), "not_allowed").await;
}

#[tokio::test]
async fn logins_are_limited_per_username_and_address() {
    let server = TestServer::start(&[("SWITCHBOARD_LIMITS_LOGINS_PER_MINUTE", "3")]).await;
    server.expert("ada", &["general"], None).await;
    let wrong = json!({"username": "ada", "password": "not-the-password"});
    for _ in 0..2 {
        let (status, _) = server.post("/api/v1/login", None, wrong.clone()).await;
        assert_eq!(status, 401);
    }
    let (status, e) = server.post("/api/v1/login", None, wrong).await;
    assert_eq!((status, e["error"]["code"].as_str()), (429, Some("rate_limited")));
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_trusted_proxies() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "1"),
        ("SWITCHBOARD_SERVER_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
    ])
    .await;
    for client in ["203.0.113.7", "203.0.113.8"] {
        let mut ws = Ws::try_connect(
            &format!("{}/ws/customer", server.ws_base),
            &[("x-forwarded-for", client)],
            Some(LOCAL),
        )
        .await
        .unwrap();
        ws.request(json!({"type": "hello"})).await;
        ws.ack(json!({"type": "start", "text": "hello"})).await;
    }
    // From an untrusted peer the header is ignored: both land in 127.0.0.2's bucket.
    let mut last = None;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let mut ws = Ws::try_connect(
            &format!("{}/ws/customer", server.ws_base),
            &[("x-forwarded-for", client)],
            Some(OTHER),
        )
        .await
        .unwrap();
        ws.request(json!({"type": "hello"})).await;
        last = Some(ws.request(json!({"type": "start", "text": "hello"})).await);
    }
    assert_eq!(last.unwrap()["code"], "rate_limited");
}

#[tokio::test]
async fn a_foreign_origin_and_a_missing_hello_are_refused() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_SERVER_ALLOWED_ORIGINS", "[\"https://shop.example\"]"),
        ("SWITCHBOARD_SERVER_HELLO_TIMEOUT", "300ms"),
    ])
    .await;
    let url = format!("{}/ws/customer", server.ws_base);
    let foreign = Ws::try_connect(&url, &[("origin", "https://evil.example")], None).await;
    assert_eq!(foreign.err(), Some(403));
    let mut listed =
        Ws::try_connect(&url, &[("origin", "https://shop.example")], None).await.expect("an allowed site");
    assert_eq!(listed.request(json!({"type": "hello"})).await["type"], "welcome");
    let own = server.base.clone();
    Ws::try_connect(&format!("{}/ws/expert", server.ws_base), &[("origin", own.as_str())], None)
        .await
        .expect("the console's own origin");

    let mut silent = Ws::connect(&url).await;
    let e = silent.expect("the hello deadline", |f| f["type"] == "error").await;
    assert_eq!(e["code"], "unauthorized");
    assert_eq!(silent.closed().await, Some(1008));
}

#[tokio::test]
async fn a_revoked_or_removed_expert_is_disconnected() {
    let server = TestServer::start(&[]).await;
    let (id, token) = server.expert("ada", &["general"], None).await;
    let mut console = server.expert_ws(&token).await;
    let (status, _) = server.post("/api/v1/logout", Some(&token), json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(console.closed().await, Some(1008));
    let (status, _) = server.get("/api/v1/conversations", &token).await;
    assert_eq!(status, 401, "the token is gone");

    // A password change ends every session.
    let (_, login) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "password-1"})).await;
    let token = login["token"].as_str().unwrap().to_owned();
    let mut console = server.expert_ws(&token).await;
    let http = reqwest::Client::new();
    let patched = http
        .patch(server.url(&format!("/api/v1/experts/{id}")))
        .bearer_auth(ADMIN)
        .json(&json!({"password": "a-new-password", "max_concurrent": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(console.closed().await, Some(1008));

    // Removal too, and the expert cannot log back in.
    let (_, login) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "a-new-password"})).await;
    let mut console = server.expert_ws(login["token"].as_str().unwrap()).await;
    let removed =
        http.delete(server.url(&format!("/api/v1/experts/{id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(console.closed().await, Some(1008));
    let (status, _) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "a-new-password"})).await;
    assert_eq!(status, 401);
    let (_, list) = server.get("/api/v1/experts", ADMIN).await;
    assert_eq!(list[0]["active"], false);
}

/// Sends `count` typing indicators (delivered, never stored, so the server's memory shows
/// only what is queued for the reader), pausing for an ack every `every`.
async fn typing_storm(expert: &mut Ws, id: &str, count: u32, every: u32) {
    for n in 0..count {
        let mut frame = json!({"type": "typing", "conversation_id": id, "on": n % 2 == 0});
        if n % every == every - 1 {
            frame["ref"] = json!(format!("t{n}"));
            expert.send(frame).await;
            let r = format!("t{n}");
            let ack = expert.expect("an ack", move |f| f["ref"] == r.as_str()).await;
            assert_eq!(ack["type"], "ack", "{ack}");
        } else {
            expert.send(frame).await;
        }
    }
}

#[tokio::test]
async fn a_slow_reader_is_dropped_while_memory_stays_bounded() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_OUTGOING_QUEUE", "64"),
        ("SWITCHBOARD_LIMITS_FRAMES_PER_SECOND", "100000000"),
    ])
    .await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (reader, id, _) = server.accepted_chat(&mut expert, "hello").await;

    // First the customer's widget reads along: this sets the server's working set.
    let reading = tokio::spawn(async move {
        let mut reader = reader;
        let mut seen = 0;
        while seen < 5_000 {
            match reader.closed_or_frame().await {
                Some(f) if f["type"] == "typing" => seen += 1,
                Some(_) => {}
                None => panic!("the widget was dropped while it was reading"),
            }
        }
        reader
    });
    typing_storm(&mut expert, &id, 5_000, 20).await;
    let mut reader = reading.await.unwrap();
    let working_set = server.rss_kib();

    // Then it stops reading while 200,000 more come its way: an unbounded queue would hold
    // them all (tens of MB); a bounded one holds a mailbox's worth and drops the reader.
    typing_storm(&mut expert, &id, 200_000, 1000).await;
    let after = server.rss_kib();
    assert!(after < working_set + 16 * 1024, "server memory grew from {working_set} KiB to {after} KiB");
    // When the widget reads again it finds itself disconnected, well short of everything.
    let mut delivered = 0;
    let code = loop {
        match reader.closed_or_frame().await {
            Some(_) => delivered += 1,
            None => break reader.closed().await,
        }
    };
    assert_eq!(code, Some(1008));
    assert!(delivered < 200_000, "{delivered} frames were delivered to a reader that stopped");
}

#[tokio::test]
async fn sigterm_during_traffic_closes_with_1001_and_keeps_every_ack() {
    let mut server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, visitor) = server.new_chat("hello").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    for n in 0..200u32 {
        customer
            .send(json!({"type": "send", "conversation_id": id, "text": format!("m{n}"), "ref": n}))
            .await;
    }
    customer.expect("the first ack", |f| f["ref"] == 0).await;
    assert!(server.terminate().await, "a clean exit on SIGTERM");
    let mut acked = vec!["m0".to_owned()];
    while let Some(f) = customer.closed_or_frame().await {
        if f["type"] == "ack" {
            acked.push(f["message"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(customer.closed().await, Some(1001));
    assert_eq!(expert.closed().await, Some(1001));
    server.restart().await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    let stored: Vec<&str> =
        c["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    for text in &acked {
        assert!(stored.contains(&text.as_str()), "acknowledged {text} is on disk");
    }
    assert!(!acked.is_empty());
}

/// A SIGTERM sent the moment the server says it is listening stops it cleanly: the handler
/// is in place before the line (a supervisor may stop a server it has just started).
#[tokio::test]
async fn sigterm_right_after_the_listening_line_is_a_clean_stop() {
    for round in 0..20 {
        let mut server = TestServer::start(&[]).await;
        assert!(server.terminate().await, "round {round}: a clean exit on an early SIGTERM");
    }
}

/// A data directory on a tmpfs of a few megabytes, unmounted when dropped.
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(bytes: usize) -> TinyDisk {
        let dir = tempfile::tempdir().unwrap().keep();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount (the disk-full test needs root, as CI runs)");
        assert!(status.success(), "mounting a small tmpfs failed: the disk-full test needs root");
        TinyDisk(dir)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_internal_and_never_acknowledges() {
    let disk = TinyDisk::mount(3 * 1024 * 1024);
    let data = disk.0.join("data");
    let server = TestServer::start(&[("SWITCHBOARD_SERVER_DATA_DIR", data.to_str().unwrap())]).await;
    let (mut customer, id, _) = server.new_chat("hello").await;
    let text = "z".repeat(4000);
    let mut acked = 0;
    let mut refused = None;
    for n in 0..2_000u32 {
        let answer = customer
            .request(json!({"type": "send", "conversation_id": id, "text": format!("{n} {text}")}))
            .await;
        if answer["type"] == "ack" {
            acked += 1;
        } else {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the disk filled up");
    assert_eq!(refused["code"], "internal", "{refused}");
    assert!(acked > 0);
    // The server is still up and says so; the sender hears `internal` again, not an ack.
    let (status, _) = server.get("/healthz", "").await;
    assert_eq!(status, 200);
    let again = customer.request(json!({"type": "send", "conversation_id": id, "text": "one more"})).await;
    assert_eq!(again["type"], "error", "{again}");
}
