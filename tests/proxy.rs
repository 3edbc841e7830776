//! Behind nginx: the site config shipped in deploy/nginx/switchboard.conf, run by Debian's
//! nginx on loopback in front of a test server. A whole chat goes through it (websockets
//! upgrade, REST answers), each visitor's own address reaches the rate limiter through the
//! trusted proxy, and an X-Forwarded-For a visitor made up does not.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::*;
use serde_json::json;

/// The repo's site config, with its upstream pointed at `upstream` and listening on `port`.
fn site(upstream: &str, port: u16) -> String {
    let shipped = include_str!("../deploy/nginx/switchboard.conf");
    let pointed = shipped.replace("server 127.0.0.1:8080;", &format!("server {upstream};"));
    let listening = pointed.replace("listen 80;\n    listen [::]:80;", &format!("listen 127.0.0.1:{port};"));
    assert!(
        listening != pointed && pointed != shipped,
        "the shipped site config changed its upstream or listen lines"
    );
    listening
}

/// nginx in the foreground, one process, everything it writes in `dir`; killed when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    async fn start(dir: &Path, upstream: &str) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{}\n}}\n",
            site(upstream, port)
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        // Debian puts it in /usr/sbin, which a non-root PATH may lack.
        let binary = if Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" };
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx is not installed: apt-get install nginx (.ci/run does)");
        let mut nginx = Nginx { child, port };
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen within {WAIT:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A customer connecting to `base` from `source` (an address on 127.0.0.0/8), optionally
/// sending its own X-Forwarded-For, starts a chat; the answer to `start`.
async fn start_from(base: &str, source: &str, forwarded: Option<&str>) -> serde_json::Value {
    let headers: Vec<(&str, &str)> = forwarded.map(|f| ("x-forwarded-for", f)).into_iter().collect();
    let mut ws = Ws::try_connect(&format!("{base}/ws/customer"), &headers, Some(source))
        .await
        .expect("the websocket upgrades through nginx");
    assert_eq!(ws.request(json!({"type": "hello"})).await["type"], "welcome");
    ws.request(json!({"type": "start", "text": format!("hello from {source}")})).await
}

#[tokio::test]
async fn a_chat_and_the_visitors_addresses_go_through_nginx() {
    let mut server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "1"),
        ("SWITCHBOARD_SERVER_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = server.base.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start(dir.path(), &upstream).await;
    // From here on every request of the test's helpers goes through nginx.
    server.base = format!("http://127.0.0.1:{}", nginx.port);
    server.ws_base = format!("ws://127.0.0.1:{}", nginx.port);

    // A whole chat: the expert's login (REST), both websockets, messages both ways.
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.accepted_chat(&mut expert, "hello through the proxy").await;
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "can you hear me?"})).await;
    expert
        .expect("the customer's message", |f| {
            f["type"] == "message" && f["message"]["text"] == "can you hear me?"
        })
        .await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "loud and clear"})).await;
    customer
        .expect("the expert's answer", |f| f["type"] == "message" && f["message"]["text"] == "loud and clear")
        .await;
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!(status, 200, "{c}");

    // One new chat a minute per visitor address: the limiter sees each visitor's own address
    // (127.0.0.2, 127.0.0.3), not nginx's (127.0.0.1), which would put them in one bucket.
    let base = server.ws_base.clone();
    assert_eq!(start_from(&base, "127.0.0.2", None).await["type"], "ack", "the first chat of 127.0.0.2");
    assert_eq!(start_from(&base, "127.0.0.3", None).await["type"], "ack", "another visitor is not limited");
    let again = start_from(&base, "127.0.0.2", None).await;
    assert_eq!(again["code"], "rate_limited", "the second chat of 127.0.0.2 within the minute: {again}");
    // A made-up X-Forwarded-For does not buy a fresh bucket: nginx appends the real peer,
    // and the server takes the nearest address that is not a trusted proxy.
    let spoofed = start_from(&base, "127.0.0.2", Some("198.51.100.9")).await;
    assert_eq!(spoofed["code"], "rate_limited", "a spoofed header from 127.0.0.2: {spoofed}");
}
