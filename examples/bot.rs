//! A tiny Switchboard bot (PRODUCT.md v1.1, "Bots"): it answers questions about the opening
//! hours itself and hands everything else to the human experts, with a note.
//!
//! Create the bot as an admin, then run it with its token:
//!
//! ```text
//! curl -X POST http://localhost:8080/api/v1/bots -H "Authorization: Bearer $ADMIN_TOKEN" \
//!      -H 'Content-Type: application/json' -d '{"name":"Concierge","categories":["general"]}'
//! cargo run --release --example bot -- http://localhost:8080 BOT_TOKEN \
//!      [--hours "We are open Monday to Friday, 9:00 to 17:00."]
//! ```
//!
//! The URL and token may come from `SWITCHBOARD_URL` and `SWITCHBOARD_BOT_TOKEN` instead, and
//! the hours text from `SWITCHBOARD_BOT_HOURS`. It prints `bot connected` once welcomed, and
//! one line per answer or handoff.

use std::collections::HashSet;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const DEFAULT_HOURS: &str = "We are open Monday to Friday, 9:00 to 17:00.";

struct Settings {
    url: String,
    token: String,
    hours: String,
}

fn settings() -> Result<Settings, String> {
    let mut positional = Vec::new();
    let mut hours = std::env::var("SWITCHBOARD_BOT_HOURS").ok();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--hours" => hours = Some(args.next().ok_or("--hours needs a text")?),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let url = positional.next().or_else(|| std::env::var("SWITCHBOARD_URL").ok());
    let token = positional.next().or_else(|| std::env::var("SWITCHBOARD_BOT_TOKEN").ok());
    match (url, token) {
        (Some(url), Some(token)) => {
            Ok(Settings { url, token, hours: hours.unwrap_or_else(|| DEFAULT_HOURS.to_owned()) })
        }
        _ => Err("usage: bot SERVER_URL BOT_TOKEN [--hours TEXT]".into()),
    }
}

/// What the bot does with a customer's words.
enum Reply {
    Answer(String),
    Handoff(String),
}

fn reply_to(text: &str, hours: &str) -> Reply {
    if text.to_lowercase().contains("opening hours") {
        Reply::Answer(hours.to_owned())
    } else {
        Reply::Handoff(format!("The customer asked: {text}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let s = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&s).await {
        eprintln!("bot stopped: {e}");
        std::process::exit(1);
    }
}

async fn run(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let base = s.url.trim_end_matches('/').replacen("http", "ws", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{base}/ws/expert")).await?;
    ws.send(Message::text(json!({"type": "hello", "token": s.token}).to_string())).await?;
    // The chats this bot holds: it answers in those only, and forgets one it handed off.
    let mut held: HashSet<String> = HashSet::new();
    while let Some(frame) = ws.next().await {
        let text = match frame? {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        let v: Value = serde_json::from_str(&text)?;
        let customer_said = match v["type"].as_str() {
            Some("welcome") => {
                for c in v["conversations"].as_array().into_iter().flatten() {
                    held.extend(c["id"].as_str().map(str::to_owned));
                }
                println!("bot connected");
                None
            }
            // A new chat: answer the customer's latest words in it.
            Some("chat") => {
                let c = &v["conversation"];
                let id = c["id"].as_str().unwrap_or_default().to_owned();
                held.insert(id.clone());
                let last = c["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .rfind(|m| m["author"]["kind"] == "customer");
                last.and_then(|m| m["text"].as_str()).map(|t| (id, t.to_owned()))
            }
            Some("message") if v["message"]["author"]["kind"] == "customer" => {
                let m = &v["message"];
                let id = m["conversation_id"].as_str().unwrap_or_default().to_owned();
                let text = m["text"].as_str().unwrap_or_default().to_owned();
                held.contains(&id).then_some((id, text))
            }
            Some("error") => {
                eprintln!("refused: {}", v["message"]);
                None
            }
            _ => None,
        };
        let Some((id, said)) = customer_said else { continue };
        let frame = match reply_to(&said, &s.hours) {
            Reply::Answer(text) => {
                println!("answered {id}");
                json!({"type": "send", "conversation_id": id, "text": text})
            }
            Reply::Handoff(note) => {
                held.remove(&id);
                println!("handed off {id}");
                json!({"type": "handoff", "conversation_id": id, "note": note})
            }
        };
        ws.send(Message::text(frame.to_string())).await?;
    }
    Ok(())
}
