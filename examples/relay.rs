//! Baseline for the load generator: a bare websocket relay with tokio-tungstenite, small
//! buffers and no storage. It speaks just enough of Switchboard's wire contract for
//! `examples/load.rs` to drive it with the same client code:
//!
//! - `/ws/customer`: `hello` → `welcome`; `start` → ack `{conversation_id, message}` and an
//!   `offer` to the next connected expert (round robin); `send` → `message` to that expert
//!   and ack `{message}` to the customer.
//! - `/ws/expert`: `hello` → `welcome` (any token); `accept` → ack, and `assigned` to the
//!   customer.
//!
//! Nothing is stored, nothing is authenticated, nothing is flushed: what is left is the cost
//! of holding sockets, parsing JSON and forwarding text, the floor any chat server pays.
//!
//! `cargo run --release --example relay -- [--bind 127.0.0.1:0]` prints
//! `listening on http://HOST:PORT` like the server does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The server's allocator, so memory is compared on the same footing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Frames queued for one connection before it counts as a slow reader and is dropped,
/// as the server does with `limits.outgoing_queue`.
const OUTGOING_QUEUE: usize = 256;

type Tx = mpsc::Sender<String>;

#[derive(Default)]
struct Shared {
    experts: Vec<(u64, Tx)>,
    next_expert: usize,
    /// Conversation id → (customer, expert) outgoing queues.
    conversations: HashMap<u64, (Tx, Option<Tx>)>,
}

struct Relay {
    shared: Mutex<Shared>,
    ids: AtomicU64,
}

#[allow(clippy::field_reassign_with_default)] // deprecated fields forbid a struct literal
fn ws_config() -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    // Small buffers: write each frame through, cap what may pile up, refuse big frames.
    c.write_buffer_size = 0;
    c.max_write_buffer_size = 256 * 1024;
    c.max_message_size = Some(64 * 1024);
    c.max_frame_size = Some(64 * 1024);
    c
}

fn main() -> std::io::Result<()> {
    let mut bind: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().and_then(|v| v.parse().ok()).expect("--bind HOST:PORT"),
            other => panic!("unknown flag {other}; usage: relay [--bind HOST:PORT]"),
        }
    }
    // The same thread budget the server gets: one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(serve(bind))
}

async fn serve(bind: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let relay = Arc::new(Relay { shared: Mutex::new(Shared::default()), ids: AtomicU64::new(0) });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        let relay = relay.clone();
                        tokio::spawn(async move {
                            let _ = connection(relay, stream).await;
                        });
                    }
                    // Out of descriptors or similar: back off briefly rather than spin.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                }
            }
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[allow(clippy::result_large_err)] // the handshake callback's error type is tungstenite's
async fn connection(relay: Arc<Relay>, stream: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |req: &Request, resp: Response| {
            path = req.uri().path().to_owned();
            Ok(resp)
        },
        Some(ws_config()),
    )
    .await?;
    let expert = match path.as_str() {
        "/ws/customer" => false,
        "/ws/expert" => true,
        _ => return Ok(()),
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
    let me = relay.ids.fetch_add(1, Ordering::Relaxed) + 1;
    // For a customer: its conversation id → the expert's queue, cached after `start`.
    let mut mine: HashMap<u64, Option<Tx>> = HashMap::new();
    let mut said_hello = false;
    let result = loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(out) = out else { break Ok(()) };
                if let Err(e) = sink.send(Message::text(out)).await {
                    break Err(e.into());
                }
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(p))) => {
                        let _ = sink.send(Message::Pong(p)).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => break Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Err(e.into()),
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    let _ = tx.try_send(json!({"type":"error","code":"bad_request","message":"bad json"}).to_string());
                    continue;
                };
                let reference = frame.get("ref").cloned().unwrap_or(Value::Null);
                let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
                let reply = |v: Value| { let _ = tx.try_send(v.to_string()); };
                match (expert, kind) {
                    (_, "hello") => {
                        said_hello = true;
                        if expert {
                            relay.shared.lock().expect("lock").experts.push((me, tx.clone()));
                        }
                        reply(json!({"type":"welcome","ref":reference,"id":me,
                            "conversations":[],"claimable":[]}));
                    }
                    _ if !said_hello => break Ok(()),
                    (false, "start") => {
                        let id = relay.ids.fetch_add(1, Ordering::Relaxed) + 1;
                        let text = frame.get("text").cloned().unwrap_or(Value::Null);
                        let to = {
                            let mut s = relay.shared.lock().expect("lock");
                            let to = if s.experts.is_empty() {
                                None
                            } else {
                                let i = s.next_expert % s.experts.len();
                                s.next_expert = s.next_expert.wrapping_add(1);
                                Some(s.experts[i].1.clone())
                            };
                            s.conversations.insert(id, (tx.clone(), to.clone()));
                            to
                        };
                        reply(json!({"type":"ack","ref":reference,"conversation_id":format!("c_{id}"),
                            "message":{"conversation_id":format!("c_{id}"),"seq":1,"text":text}}));
                        if let Some(to) = &to {
                            let _ = to.try_send(json!({"type":"offer",
                                "conversation":{"id":format!("c_{id}"),"status":"offered"}}).to_string());
                        }
                        mine.insert(id, to);
                    }
                    (false, "send") => {
                        let id = conversation(&frame);
                        match mine.get(&id) {
                            Some(to) => {
                                let text = frame.get("text").cloned().unwrap_or(Value::Null);
                                let message = json!({"conversation_id":format!("c_{id}"),"text":text});
                                if let Some(to) = to {
                                    let _ = to.try_send(json!({"type":"message","message":&message}).to_string());
                                }
                                reply(json!({"type":"ack","ref":reference,"message":message}));
                            }
                            None => reply(json!({"type":"error","ref":reference,"code":"not_found","message":"no such conversation"})),
                        }
                    }
                    (true, "accept") => {
                        let id = conversation(&frame);
                        let customer = relay.shared.lock().expect("lock").conversations.get(&id).map(|c| c.0.clone());
                        match customer {
                            Some(c) => {
                                let _ = c.try_send(json!({"type":"assigned","conversation_id":format!("c_{id}"),
                                    "expert":{"id":format!("e_{me}"),"name":"relay"}}).to_string());
                                reply(json!({"type":"ack","ref":reference,"conversation":{"id":format!("c_{id}")}}));
                            }
                            None => reply(json!({"type":"error","ref":reference,"code":"conflict","message":"no such offer"})),
                        }
                    }
                    _ => {
                        if !reference.is_null() {
                            reply(json!({"type":"ack","ref":reference}));
                        }
                    }
                }
            }
        }
    };
    let mut s = relay.shared.lock().expect("lock");
    if expert {
        s.experts.retain(|(id, _)| *id != me);
    }
    for id in mine.keys() {
        s.conversations.remove(id);
    }
    result
}

fn conversation(frame: &Value) -> u64 {
    frame
        .get("conversation_id")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("c_"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
