//! Webhooks: each event reaches a local receiver once, signed; when the receiver is down,
//! events are retried and still arrive after a restart of the server.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::hooks::{next, receive, HOOK_SECRET};
use common::*;
use serde_json::json;
use tokio::net::TcpListener;

fn config(port: u16) -> String {
    format!(
        r#"
[conversation]
style = "live_chat"
[webhooks]
allow_private = true
retry_base = "100ms"
retry_max = "400ms"
[[webhooks.endpoints]]
url = "http://127.0.0.1:{port}/hook"
secret = "{HOOK_SECRET}"
"#
    )
}

/// Runs a whole chat: started, assigned, ended, closed, rated, and a callback request.
async fn a_whole_chat(server: &TestServer) -> String {
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.new_chat("hello").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hi!"})).await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    customer.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    customer.ack(json!({"type": "rate", "conversation_id": id, "score": 5})).await;
    customer.ack(json!({"type": "callback", "phone": "+1 555 0100"})).await;
    id
}

const KINDS: [&str; 6] = [
    "conversation.started",
    "conversation.assigned",
    "conversation.ended",
    "conversation.closed",
    "conversation.rated",
    "callback.requested",
];

#[tokio::test]
async fn each_event_arrives_once_and_signed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rx = receive(listener);
    let server = TestServer::start_with_config(&config(port), &[]).await;
    let id = a_whole_chat(&server).await;

    let mut seen = HashMap::new();
    while seen.len() < KINDS.len() {
        let d = next(&mut rx).await;
        assert!(d.signed, "a valid signature: {d:?}");
        let kind = d.body["type"].as_str().unwrap().to_owned();
        assert_eq!(d.headers["x-switchboard-event"], kind);
        assert_eq!(d.headers["x-switchboard-event-id"], d.body["id"].as_str().unwrap());
        assert!(seen.insert(kind.clone(), d.body).is_none(), "{kind} arrived twice");
    }
    for kind in KINDS {
        assert!(seen.contains_key(kind), "{kind} arrived");
    }
    let ended = &seen["conversation.ended"]["data"]["conversation"];
    assert_eq!(ended["id"], id.as_str());
    let texts: Vec<&str> =
        ended["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&"hello") && texts.contains(&"Hi!"), "the chat log: {texts:?}");
    // Nothing more comes: each event once.
    assert!(tokio::time::timeout(Duration::from_millis(600), rx.recv()).await.is_err());
}

#[tokio::test]
async fn events_wait_for_a_receiver_that_is_down_even_across_a_restart() {
    // Reserve a port, then close it: the receiver is down while the chat happens.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let mut server = TestServer::start_with_config(&config(port), &[]).await;
    a_whole_chat(&server).await;
    server.crash_and_restart().await;
    let mut rx = receive(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    let mut kinds = Vec::new();
    while kinds.len() < KINDS.len() {
        let d = next(&mut rx).await;
        assert!(d.signed);
        kinds.push(d.body["type"].as_str().unwrap().to_owned());
    }
    kinds.sort();
    let mut expected: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(kinds, expected);
}

#[tokio::test]
async fn a_private_endpoint_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config(9).replace("allow_private = true", "allow_private = false"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(dir.path())
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private range"));
}
