//! TLS in the binary (`server.tls_cert`, `server.tls_key`): a chat over HTTPS and WSS on the
//! one port with a certificate made in the test; a renewed certificate served after SIGHUP and
//! after a plain file change, a broken one never; a wrong path refused at start; and without
//! TLS a SIGHUP (a `systemctl reload`) does not stop the server.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const ADMIN: &str = "admin-token-for-tls-tests";
const WAIT: Duration = Duration::from_secs(10);

/// A self-signed certificate for localhost: (certificate PEM, key PEM, certificate DER).
fn certificate() -> (String, String, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem(), made.cert.der().to_vec())
}

struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

/// Starts the binary with `cert`/`key` written to files in its directory.
async fn start(dir: tempfile::TempDir, cert: &str, key: &str) -> Server {
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    stamp(dir.path());
    let mut child = command(dir.path()).stdout(Stdio::piped()).spawn().expect("start switchboard");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line =
        tokio::time::timeout(WAIT, lines.next_line()).await.expect("it starts").unwrap().expect("a line");
    let addr = line.strip_prefix("listening on https://").unwrap_or_else(|| panic!("{line}")).to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, addr, _dir: dir }
}

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("serve")
        .current_dir(dir)
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER_DATA_DIR", dir.join("data"))
        .env("SWITCHBOARD_SERVER_ADMIN_TOKEN", ADMIN)
        .env("SWITCHBOARD_SERVER_TLS_CERT", dir.join("cert.pem"))
        .env("SWITCHBOARD_SERVER_TLS_KEY", dir.join("key.pem"))
        .env("SWITCHBOARD_LOG", "warn")
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// A TLS connection to `addr` as `localhost`, trusting only `trusted`; with the certificate
/// the server presented.
async fn connect(addr: &str, trusted: &[&[u8]]) -> (TlsStream<TcpStream>, Vec<u8>) {
    let mut roots = RootCertStore::empty();
    for der in trusted {
        roots.add(CertificateDer::from(der.to_vec())).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake with a trusted certificate");
    let presented = tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec();
    (tls, presented)
}

/// One HTTPS request; (status, JSON body or null).
async fn https(
    addr: &str,
    trusted: &[u8],
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let (mut tls, _) = connect(addr, &[trusted]).await;
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // A TLS peer may end without close_notify after `Connection: close`: what was read counts.
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut response)).await.expect("an answer");
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{text}"));
    let json =
        text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

async fn wss(addr: &str, trusted: &[u8], path: &str) -> Wss {
    let (tls, _) = connect(addr, &[trusted]).await;
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://localhost/{path}"), tls)
        .await
        .expect("the websocket upgrades over TLS");
    ws
}

async fn send(ws: &mut Wss, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next frame matching `pred`, within `WAIT`.
async fn next(ws: &mut Wss, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(&text).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn a_chat_runs_over_https_and_wss_on_one_port() {
    let (cert, key, der) = certificate();
    let server = start(tempfile::tempdir().unwrap(), &cert, &key).await;
    let addr = &server.addr;
    let (status, health) = https(addr, &der, "GET", "/healthz", None, Value::Null).await;
    assert_eq!(status, 200, "{health}");
    let expert =
        json!({"username": "ada", "password": "password-1", "name": "Ada", "categories": ["general"]});
    let (status, created) = https(addr, &der, "POST", "/api/v1/experts", Some(ADMIN), expert).await;
    assert_eq!(status, 201, "{created}");
    let login = json!({"username": "ada", "password": "password-1"});
    let (status, login) = https(addr, &der, "POST", "/api/v1/login", None, login).await;
    assert_eq!(status, 200, "{login}");

    let mut ada = wss(addr, &der, "ws/expert").await;
    send(&mut ada, json!({"type": "hello", "token": login["token"], "ref": 1})).await;
    assert_eq!(next(&mut ada, "the expert's welcome", |f| f["ref"] == 1).await["type"], "welcome");
    let mut customer = wss(addr, &der, "ws/customer").await;
    send(&mut customer, json!({"type": "hello", "ref": 1})).await;
    assert_eq!(next(&mut customer, "the welcome", |f| f["ref"] == 1).await["type"], "welcome");
    send(&mut customer, json!({"type": "start", "text": "hello over TLS", "ref": 2})).await;
    let started = next(&mut customer, "the start's ack", |f| f["ref"] == 2).await;
    let id = started["conversation_id"].as_str().expect("a conversation").to_owned();
    next(&mut ada, "the offer", |f| f["type"] == "offer").await;
    send(&mut ada, json!({"type": "accept", "conversation_id": id, "ref": 2})).await;
    assert_eq!(next(&mut ada, "the accept's ack", |f| f["ref"] == 2).await["type"], "ack");
    send(&mut customer, json!({"type": "send", "conversation_id": id, "text": "secret", "ref": 3})).await;
    assert_eq!(next(&mut customer, "the send's ack", |f| f["ref"] == 3).await["type"], "ack");
    next(&mut ada, "the message", |f| f["type"] == "message" && f["message"]["text"] == "secret").await;
    drop(server);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_sighup_and_after_a_file_change() {
    let (cert_a, key_a, der_a) = certificate();
    let (cert_b, key_b, der_b) = certificate();
    let (cert_c, key_c, der_c) = certificate();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let server = start(dir, &padded(&cert_a, CERT_LEN), &padded(&key_a, KEY_LEN)).await;
    let all: [&[u8]; 3] = [&der_a, &der_b, &der_c];
    let presented = || async { connect(&server.addr, &all).await.1 };
    assert_eq!(presented().await, der_a);

    // Renewed and signalled: new handshakes get B. The files keep A's length and times, so
    // only the signal can have told the server.
    std::fs::write(path.join("cert.pem"), padded(&cert_b, CERT_LEN)).unwrap();
    std::fs::write(path.join("key.pem"), padded(&key_b, KEY_LEN)).unwrap();
    stamp(&path);
    let pid = server.child.id().unwrap() as i32;
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    await_presented(&presented, &der_b, "B after SIGHUP").await;

    // A broken certificate (half copied) is not taken: B stays.
    std::fs::write(path.join("cert.pem"), &cert_c[..cert_c.len() / 2]).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert_eq!(presented().await, der_b, "a broken file does not replace the served certificate");

    // Renewed without a signal: picked up from the file change.
    std::fs::write(path.join("cert.pem"), &cert_c).unwrap();
    std::fs::write(path.join("key.pem"), &key_c).unwrap();
    await_presented(&presented, &der_c, "C after the files changed").await;
    assert!(server.child.id().is_some(), "the server kept running");
}

/// PEM files padded to one length with blank lines (outside the PEM block, ignored).
const CERT_LEN: usize = 2048;
const KEY_LEN: usize = 1024;

fn padded(pem: &str, len: usize) -> String {
    assert!(pem.len() <= len, "a PEM longer than {len}");
    format!("{pem}{}", "\n".repeat(len - pem.len()))
}

/// Gives both files one fixed modification time.
fn stamp(dir: &Path) {
    for file in ["cert.pem", "key.pem"] {
        let f = std::fs::File::options().write(true).open(dir.join(file)).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000)).unwrap();
    }
}

/// Waits until new handshakes present `want`.
async fn await_presented<F: std::future::Future<Output = Vec<u8>>>(
    presented: &impl Fn() -> F,
    want: &[u8],
    what: &str,
) {
    let deadline = Instant::now() + WAIT;
    while presented().await != want {
        assert!(Instant::now() < deadline, "the server never presented {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_certificate_that_does_not_load_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _, _) = certificate();
    let (_, other_key, _) = certificate();
    std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), &other_key).unwrap();
    let out = command(dir.path()).output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a key that does not match its certificate: {err}");
    assert!(err.contains("does not match server.tls_cert"), "{err}");

    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    let out = command(dir.path()).output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("server.tls_cert"), "a missing file: {err}");
    assert!(!dir.path().join("data").exists(), "nothing was opened before the certificate loaded");
}

#[tokio::test]
async fn a_hangup_without_tls_leaves_the_server_serving() {
    let server = common::TestServer::start(&[]).await;
    for _ in 0..2 {
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(server.pid() as i32, libc::SIGHUP) }, 0);
        let (status, health) = server.get("/healthz", "").await;
        assert_eq!(status, 200, "still serving after SIGHUP: {health}");
    }
}

/// `switchboard export --server https://...`: an online backup of a server that speaks only
/// TLS, trusting the certificate given with `--ca-file`; without it the self-signed
/// certificate is refused and no file is left.
#[tokio::test]
async fn a_backup_is_fetched_over_https_trusting_the_given_certificate() {
    let (cert, key, der) = certificate();
    let server = start(tempfile::tempdir().unwrap(), &cert, &key).await;
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let mut customer = wss(&server.addr, &der, "ws/customer").await;
    send(&mut customer, json!({"type": "hello", "ref": 1})).await;
    next(&mut customer, "the welcome", |f| f["ref"] == 1).await;
    send(&mut customer, json!({"type": "start", "text": "back me up", "ref": 2})).await;
    assert_eq!(next(&mut customer, "the start's ack", |f| f["ref"] == 2).await["type"], "ack");

    let work = tempfile::tempdir().unwrap();
    let (ca, output) = (work.path().join("ca.pem"), work.path().join("backup.jsonl"));
    std::fs::write(&ca, &cert).unwrap();
    let url = format!("https://localhost:{port}");
    let export = |extra: &[&Path]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(["export", "--server", &url, "--output"]).arg(&output);
        if let [ca] = extra {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd.current_dir(work.path()).env("SWITCHBOARD_ADMIN_TOKEN", ADMIN).kill_on_drop(true).output()
    };

    let refused = tokio::time::timeout(WAIT, export(&[])).await.expect("it exits").unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an untrusted certificate is not accepted");
    assert!(stderr.contains("could not reach the server") && stderr.contains("certificate"), "{stderr}");
    assert!(!output.exists());

    let done = tokio::time::timeout(WAIT, export(&[&ca])).await.expect("it exits").unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.contains("back me up"), "{text}");
    assert!(text.lines().last().unwrap().contains("\"end\""), "a whole export");
}
