//! The websocket wire itself: how the server closes on frames it cannot read.

mod common;

use common::*;
use serde_json::json;

/// A JSON frame whose string holds a byte that is never valid in UTF-8.
fn invalid_utf8() -> Vec<u8> {
    let mut bytes = br#"{"type":"send","text":"caf"#.to_vec();
    bytes.push(0xFF);
    bytes.extend_from_slice(br#""}"#);
    assert!(std::str::from_utf8(&bytes).is_err());
    bytes
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let server = TestServer::start(&[]).await;
    let (mut ws, _) = server.customer_ws(json!({})).await;
    ws.send_text_bytes(&invalid_utf8(), 1).await;
    assert_eq!(ws.closed().await, Some(1007));
}

#[tokio::test]
async fn a_text_message_that_is_not_utf8_across_fragments_closes_with_1007() {
    let server = TestServer::start(&[]).await;
    let (mut ws, _) = server.customer_ws(json!({})).await;
    ws.send_text_bytes(&invalid_utf8(), 3).await;
    assert_eq!(ws.closed().await, Some(1007));
}

#[tokio::test]
async fn an_expert_console_that_sends_bad_utf8_before_hello_is_closed_with_1007() {
    let server = TestServer::start(&[]).await;
    let mut ws = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    ws.send_text_bytes(&invalid_utf8(), 1).await;
    assert_eq!(ws.closed().await, Some(1007));
}
