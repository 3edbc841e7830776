//! Bad input on both sockets and over HTTP gets the contract's error code, and the server
//! goes on serving everyone else.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn malformed_frames_get_bad_request_and_the_socket_stays_open() {
    let server = TestServer::start(&[]).await;
    let (mut ws, id, _) = server.new_chat("hello").await;

    ws.send_text("this is not json".into()).await;
    let e = ws.expect("an error", |f| f["type"] == "error").await;
    assert_eq!(e["code"], "bad_request");

    let e = ws.refused(json!({"type": "teleport"}), "bad_request").await;
    assert!(e["ref"].is_number(), "the ref of a frame with an unknown type is echoed: {e}");
    ws.refused(json!({"type": "send", "text": "no conversation id"}), "bad_request").await;
    ws.refused(json!({"type": "send", "conversation_id": id}), "bad_request").await;
    ws.refused(json!({"type": "send", "conversation_id": id, "text": "   "}), "bad_request").await;

    // Still open and serving.
    ws.ack(json!({"type": "send", "conversation_id": id, "text": "still here"})).await;
}

#[tokio::test]
async fn over_size_text_and_frames_are_refused() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES", "100"),
        ("SWITCHBOARD_LIMITS_MAX_FRAME_BYTES", "2000"),
    ])
    .await;
    let (mut ws, id, visitor) = server.new_chat("hello").await;
    ws.refused(json!({"type": "send", "conversation_id": id, "text": "x".repeat(101)}), "too_large").await;
    ws.refused(json!({"type": "start", "text": "y".repeat(101)}), "too_large").await;
    ws.ack(json!({"type": "send", "conversation_id": id, "text": "x".repeat(100)})).await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    assert_eq!(seqs(&c["messages"]), vec![1, 2, 3], "nothing of the refused frames was stored");

    // A frame over the websocket limit cannot even be read: refused, then closed.
    ws.send(json!({"type": "send", "conversation_id": id, "text": "z".repeat(5000)})).await;
    let e = ws.expect("too_large", |f| f["type"] == "error").await;
    assert_eq!(e["code"], "too_large");
    assert_eq!(ws.closed().await, Some(1009));
}

#[tokio::test]
async fn a_message_in_continuation_frames_is_reassembled_within_the_size_limit() {
    let server = TestServer::start(&[("SWITCHBOARD_LIMITS_MAX_FRAME_BYTES", "2000")]).await;
    let (mut ws, id, _) = server.new_chat("hello").await;
    let frame =
        json!({"type": "send", "conversation_id": id, "text": "in three pieces", "ref": "frag"}).to_string();
    ws.send_fragmented(&frame, 3).await;
    let ack = ws.expect("the ack", |f| f["ref"] == "frag").await;
    assert_eq!(ack["message"]["text"], "in three pieces");
    // Small frames adding up past the limit are refused like one big frame.
    let big = json!({"type": "send", "conversation_id": id, "text": "y".repeat(3000)}).to_string();
    ws.send_fragmented(&big, 4).await;
    let e = ws.expect("too_large", |f| f["type"] == "error").await;
    assert_eq!(e["code"], "too_large");
    assert_eq!(ws.closed().await, Some(1009));
}

#[tokio::test]
async fn frames_before_hello_and_bad_credentials_are_unauthorized_and_closed() {
    let server = TestServer::start(&[]).await;
    for path in ["/ws/customer", "/ws/expert"] {
        let mut ws = Ws::connect(&format!("{}{path}", server.ws_base)).await;
        ws.refused(json!({"type": "send", "conversation_id": "c_1", "text": "hi"}), "unauthorized").await;
        assert!(ws.closed().await.is_some(), "{path} closes after a frame before hello");
    }

    let mut ws = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    ws.refused(json!({"type": "hello", "token": "not-a-token"}), "unauthorized").await;
    ws.closed().await;

    let mut ws = Ws::connect(&format!("{}/ws/customer", server.ws_base)).await;
    let forged = json!({"type": "hello", "user": {"id": "user-1", "hash": sign("user-2")}});
    ws.refused(forged, "unauthorized").await;
    ws.closed().await;

    // A correctly signed identity is the same customer on every connection.
    let user = json!({"id": "user-1", "hash": sign("user-1"), "name": "Grace", "email": "g@example.com"});
    let (_, a) = server.customer_ws(json!({ "user": user })).await;
    let (_, b) = server.customer_ws(json!({ "user": user })).await;
    assert_eq!(a["customer_id"], b["customer_id"]);
}

#[tokio::test]
async fn unknown_and_foreign_conversations_are_refused() {
    let server = TestServer::start(&[]).await;
    let (_, t1) = server.expert("ada", &["general"], None).await;
    let (_, t2) = server.expert("bob", &["general"], None).await;
    let mut ada = server.expert_ws(&t1).await;
    let (mut owner, id, visitor) = server.new_chat("mine").await;
    ada.event("offer").await;
    ada.ack(json!({"type": "accept", "conversation_id": id})).await;

    let (mut stranger, _, _) = server.new_chat("someone else").await;
    for bogus in ["c_999999", "nonsense"] {
        stranger.refused(json!({"type": "send", "conversation_id": bogus, "text": "hi"}), "not_found").await;
    }
    // Another customer's conversation is simply unknown to them.
    stranger.refused(json!({"type": "send", "conversation_id": id, "text": "hi"}), "not_found").await;
    stranger.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;

    let mut bob = server.expert_ws(&t2).await;
    // Another expert's chat is unknown to them too (PROTOCOL.md v1.1: existence never leaks).
    bob.refused(json!({"type": "send", "conversation_id": id, "text": "hi"}), "not_found").await;
    bob.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;
    bob.refused(json!({"type": "end", "conversation_id": id}), "not_found").await;
    bob.refused(json!({"type": "accept", "conversation_id": id}), "conflict").await;
    bob.refused(json!({"type": "accept", "conversation_id": "c_424242"}), "not_found").await;
    let (status, body) = server.get(&format!("/api/v1/conversations/{id}"), &t2).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    // Everyone else was served throughout.
    owner.ack(json!({"type": "send", "conversation_id": id, "text": "all good"})).await;
    assert_eq!(ada.message(3).await["message"]["text"], "all good");
    let (status, _) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_http_api_answers_errors_with_the_contract_body() {
    let server = TestServer::start(&[]).await;
    let body = json!({"username": "ada", "password": "password-1", "name": "Ada", "categories": ["general"], "certifications": []});
    let (status, e) = server.post("/api/v1/experts", None, body.clone()).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = server.post("/api/v1/experts", Some(ADMIN), body.clone()).await;
    assert_eq!(status, 201);
    let (status, e) = server.post("/api/v1/experts", Some(ADMIN), body).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("conflict")));
    let (status, e) = server.post("/api/v1/experts", Some(ADMIN), json!({"username": "x"})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("bad_request")));

    let (status, e) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "wrong-one"})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, login) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "password-1"})).await;
    assert_eq!(status, 200);
    assert_eq!(login["expert"]["name"], "Ada");
    assert!(login["expert"].get("password_hash").is_none());

    let (status, list) = server.get("/api/v1/experts", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["username"], "ada");
    assert_eq!(list[0]["presence"], "offline");
    // Experts see their colleagues for transfers, without account details.
    let (status, colleagues) = server.get("/api/v1/experts", login["token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(colleagues[0]["name"], "Ada");
    assert!(colleagues[0].get("username").is_none());
    let (status, e) = server.get("/api/v1/conversations/c_77", ADMIN).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = server.get("/healthz", "").await;
    assert_eq!(status, 200);
}
