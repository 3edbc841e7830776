//! A webhook receiver for tests: a minimal HTTP server on a local listener that answers 200
//! to every POST and reports what it got, with whether its signature checks out.

use std::collections::HashMap;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::WAIT;

pub const HOOK_SECRET: &str = "hook-secret";

/// A delivered event: its headers and JSON body, and whether the signature checked out.
#[derive(Debug)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub signed: bool,
}

/// A minimal HTTP receiver on `listener`: answers 200 to every POST and reports it.
pub fn receive(listener: TcpListener) -> mpsc::UnboundedReceiver<Delivery> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let headers: HashMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize =
                        headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let body = buf[end + 4..end + 4 + length].to_vec();
                    buf.drain(..end + 4 + length);
                    let expected = format!("sha256={}", hmac_hex(&body));
                    let signed = headers.get("x-switchboard-signature") == Some(&expected);
                    let _ =
                        tx.send(Delivery { headers, body: serde_json::from_slice(&body).unwrap(), signed });
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
                }
            });
        }
    });
    rx
}

fn hmac_hex(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The next delivery, within the tests' deadline.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a webhook in time").expect("the receiver runs")
}
