//! The websocket wire itself: how the server closes on frames it cannot read, and that a
//! client which stops reading cannot hold its connection open.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// Whether the server process still holds its end of the TCP connection to `client`: per
/// /proc/net/tcp (both ends live in this network namespace), the end is listed and owned by
/// a file descriptor (an orphaned end, inode 0, is the kernel's alone, closing or closed).
fn server_holds(server: SocketAddr, client: SocketAddr) -> bool {
    fn hex(addr: SocketAddr) -> String {
        let SocketAddr::V4(a) = addr else { panic!("test servers listen on IPv4") };
        // The kernel prints the address's network-order bytes as one native integer.
        format!("{:08X}:{:04X}", u32::from_ne_bytes(a.ip().octets()), a.port())
    }
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields[1] == local && fields[2] == remote && fields[9] != "0"
    })
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_within_the_client_timeout() {
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
    let server = TestServer::start(&[
        ("SWITCHBOARD_SERVER_CLIENT_TIMEOUT", "2s"),
        ("SWITCHBOARD_LIMITS_OUTGOING_QUEUE", "64"),
        ("SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES", "32768"),
    ])
    .await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut widget, id, _) = server.accepted_chat(&mut expert, "hello").await;
    let server_addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let client_addr = widget.local_addr();
    assert!(server_holds(server_addr, client_addr), "the widget's connection is listed");

    // From here the widget reads nothing, while the expert writes to it. Paced in small
    // batches so that the widget's session keeps up: the frames pile up in the socket
    // buffers until the server's writes stall, and only then in the session's mailbox until
    // it overflows (the hub then sends a `Disconnect` into that stalled mailbox). A watcher
    // notes when the server lets go of the connection.
    let stopped_reading = Instant::now();
    let watcher = tokio::spawn(async move {
        let give_up = stopped_reading + WAIT * 3;
        while server_holds(server_addr, client_addr) && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (!server_holds(server_addr, client_addr)).then(|| stopped_reading.elapsed())
    });
    // 32 kB each: 400 of them are twice what the socket buffers and the mailbox hold.
    let filler = "x".repeat(32_000);
    for batch in 0..50 {
        if watcher.is_finished() {
            break;
        }
        for n in batch * 8..batch * 8 + 8 {
            let text = format!("{n} {filler}");
            expert.send(json!({"type": "send", "conversation_id": id, "text": text, "ref": n})).await;
        }
        let last = batch * 8 + 7;
        let ack = expert.expect("the batch's last ack", move |f| f["ref"] == last).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }

    // The server lets go of the connection within the client timeout (plus the moment the
    // buffers took to fill and the kernel's probe granularity), not never.
    let released = watcher.await.unwrap();
    let bound = CLIENT_TIMEOUT + Duration::from_secs(2);
    assert!(
        released.is_some_and(|after| after < bound),
        "the server let go of a widget that stopped reading after {released:?} (None: not at all); bound {bound:?}"
    );
    // And the session it held is gone: the kernel's error wakes the server,
    // whose next write fails.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
        let widgets = sample(&metrics, "switchboard_connected_widgets");
        if widgets == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{widgets} widget sessions still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // When the widget reads at last, it finds what its own buffer held, then the end of the
    // connection: an aborted connection carries no close frame.
    while widget.closed_or_frame().await.is_some() {}
    assert_eq!(widget.closed().await, None);
    // The expert is still served. Its console, silent (not answering pings) while the test
    // read the widget's megabytes, may itself have passed the 2 s client timeout meanwhile,
    // so it comes back on a new connection, as a console does.
    drop(expert);
    let mut expert = server.expert_ws(&token).await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "still here"})).await;
}
