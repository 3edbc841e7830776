//! A real server for tests: the `switchboard` binary on port 0 with a temporary data dir
//! and millisecond-scale windows, driven by real websocket and HTTP clients.

#![allow(dead_code)]

pub mod backend;
pub mod hooks;
pub mod nats;
pub mod seed;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub const ADMIN: &str = "admin-token-for-tests";
pub const SECRET: &str = "identity-secret-for-tests";
/// A config with the offer-mode category `general` and the claim-mode (1-to-1) category
/// `reset`, which needs the certification `identity`.
pub const GENERAL_AND_RESET: &str = r#"
[[categories]]
id = "general"
name = "General"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
"#;

/// Office hours at no time of any day: every moment is outside them.
pub const CLOSED_HOURS: &str = r#"
[office_hours]
enabled = true
timezone = "Europe/Paris"
monday = []
tuesday = []
wednesday = []
thursday = []
friday = []
saturday = []
sunday = []
"#;

/// How long a test waits for an event before failing with a clear message.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server's own environment: the test's `SWITCHBOARD_*` pairs and the chosen back end's.
async fn server_env(env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    backend::configure(&mut env).await;
    env
}

pub struct TestServer {
    child: Child,
    pub base: String,
    pub ws_base: String,
    dir: PathBuf,
    /// Keeps the temporary directory alive for the server's lifetime.
    _temp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    http: reqwest::Client,
    /// The server's standard output after its listening line, line by line; closed when it
    /// exits.
    output: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl TestServer {
    /// Starts a server with test defaults, overridden by `env` (`SWITCHBOARD_*` pairs).
    pub async fn start(env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_owned();
        let env = server_env(env).await;
        let mut s = Self::spawn(dir, env).await;
        s._temp = Some(temp);
        s
    }

    /// Starts a server that reads `config_toml` as its config.toml, then `env`.
    pub async fn start_with_config(config_toml: &str, env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        std::fs::write(temp.path().join("config.toml"), config_toml).expect("write config.toml");
        Self::start_in(temp, env).await
    }

    /// Starts a server whose working directory (and data dir, `data/` inside it) is `temp`.
    pub async fn start_in(temp: tempfile::TempDir, env: &[(&str, &str)]) -> TestServer {
        let env = server_env(env).await;
        let mut s = Self::spawn(temp.path().to_owned(), env).await;
        s._temp = Some(temp);
        s
    }

    /// Starts a server whose working directory is `dir` and data dir `dir/data`, both left in
    /// place when it stops (e.g. a mount the test controls).
    pub async fn start_at(dir: PathBuf, env: &[(&str, &str)]) -> TestServer {
        let env = server_env(env).await;
        Self::spawn(dir, env).await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The store this server keeps its data in, opened as the server opens it (its data dir,
    /// or its JetStream prefix): for tests that look past the API. On sled, only while the
    /// server is stopped (one process per data dir).
    pub fn store(&self) -> switchboard::store::Store {
        let mut vars = self.env.clone();
        vars.push(("SWITCHBOARD_SERVER_DATA_DIR".into(), self.data_dir().display().to_string()));
        let text = std::fs::read_to_string(self.dir.join("config.toml")).unwrap_or_default();
        let config = switchboard::config::Config::from_sources(&text, vars).expect("the server's config");
        switchboard::store::Store::configured(&config).expect("open the server's store")
    }

    async fn spawn(dir: PathBuf, env: Vec<(String, String)>) -> TestServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("serve")
            .current_dir(&dir)
            .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
            .env("SWITCHBOARD_SERVER_DATA_DIR", dir.join("data"))
            .env("SWITCHBOARD_SERVER_ADMIN_TOKEN", ADMIN)
            .env("SWITCHBOARD_SERVER_IDENTITY_SECRET", SECRET)
            .env("SWITCHBOARD_SERVER_HEARTBEAT_INTERVAL", "200ms")
            .env("SWITCHBOARD_ROUTING_POSITION_UPDATE_INTERVAL", "10ms")
            // Every test client shares 127.0.0.1: abuse limits are lifted here and tested
            // on their own in tests/guard_rails.rs.
            .env("SWITCHBOARD_LIMITS_MESSAGES_PER_SECOND", "10000")
            .env("SWITCHBOARD_LIMITS_FRAMES_PER_SECOND", "10000")
            .env("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "10000")
            .env("SWITCHBOARD_LIMITS_CONNECTIONS_PER_MINUTE", "10000")
            .env("SWITCHBOARD_LIMITS_LOGINS_PER_MINUTE", "10000")
            .env("SWITCHBOARD_LOG", std::env::var("SWITCHBOARD_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start the switchboard binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(backend::startup_wait(), lines.next_line())
            .await
            .expect("server did not print its listening line in time")
            .expect("reading server stdout")
            .expect("server exited before listening");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        // Keep draining stdout so the server never blocks on a full pipe; the lines are kept
        // for tests that read what the server printed.
        let (sender, output) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = sender.send(line);
            }
        });
        TestServer {
            child,
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
            dir,
            _temp: None,
            env,
            output,
            // The server drops a keep-alive connection idle for 5 s; a client that reuses one
            // at that moment gets it closed under its request. Browsers retry; we retire first.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The next line the server prints to standard output that `pred` accepts (earlier lines
    /// are passed over); panics if none comes within the deadline or the server exits first.
    pub async fn output_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.output.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        });
        match found.await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the server exited without printing {what}"),
            Err(_) => panic!("the server did not print {what} within {WAIT:?}"),
        }
    }

    /// Every line the server printed and no test has read yet, up to its exit: call after
    /// it stopped (`terminate`, `kill9`).
    pub async fn remaining_output(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let drained = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.output.recv().await {
                lines.push(line);
            }
        });
        drained.await.expect("the server's output did not end: is it still running?");
        lines
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// The server's resident memory, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Sends SIGTERM and waits for the server to exit; returns whether it exited cleanly.
    pub async fn terminate(&mut self) -> bool {
        // SAFETY: kill only sends a signal to our own child process.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the server did not stop")
            .expect("wait");
        status.success()
    }

    /// Starts the server again on the same data dir, after it has stopped.
    pub async fn restart(&mut self) {
        self.crash_and_restart().await;
    }

    /// `kill -9`: no shutdown, no flush.
    pub async fn kill9(&mut self) {
        // Already dead (killed earlier) is fine.
        let _ = self.child.start_kill();
        self.child.wait().await.expect("reap the server");
    }

    /// Kills the server with SIGKILL and starts a new one on the same data dir.
    pub async fn crash_and_restart(&mut self) {
        self.kill9().await;
        let temp = self._temp.take();
        let mut next = Self::spawn(self.dir.clone(), self.env.clone()).await;
        next._temp = temp;
        *self = next;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.try_get(path, token).await.expect("GET")
    }

    /// A `GET` that may fail in transport: a node switching roles drops the connections it
    /// held, a request on one of them included.
    pub async fn try_get(&self, path: &str, token: &str) -> Result<(u16, Value), reqwest::Error> {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Uploads raw bytes; returns the status and the JSON answer.
    pub async fn upload(&self, path: &str, token: &str, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Fetches raw bytes: status, headers and body.
    pub async fn fetch(&self, path: &str, token: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("GET");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str, token: &str) -> u16 {
        let r = self.http.delete(self.url(path)).bearer_auth(token).send().await.expect("DELETE");
        r.status().as_u16()
    }

    /// Creates an expert serving `categories` and logs them in; returns (id, token).
    pub async fn expert(
        &self,
        username: &str,
        categories: &[&str],
        max_concurrent: Option<u32>,
    ) -> (String, String) {
        self.certified_expert(username, categories, &[], max_concurrent).await
    }

    pub async fn certified_expert(
        &self,
        username: &str,
        categories: &[&str],
        certifications: &[&str],
        max_concurrent: Option<u32>,
    ) -> (String, String) {
        let mut body = json!({
            "username": username, "password": "password-1", "name": format!("Expert {username}"),
            "categories": categories, "certifications": certifications,
        });
        if let Some(m) = max_concurrent {
            body["max_concurrent"] = json!(m);
        }
        let (status, created) = self.post("/api/v1/experts", Some(ADMIN), body).await;
        assert_eq!(status, 201, "creating expert {username}: {created}");
        let (status, login) =
            self.post("/api/v1/login", None, json!({"username": username, "password": "password-1"})).await;
        assert_eq!(status, 200, "login of {username}: {login}");
        (created["id"].as_str().unwrap().to_owned(), login["token"].as_str().unwrap().to_owned())
    }

    /// An expert console connection that has said hello.
    pub async fn expert_ws(&self, token: &str) -> Ws {
        let mut ws = Ws::connect(&format!("{}/ws/expert", self.ws_base)).await;
        let welcome = ws.request(json!({"type": "hello", "token": token})).await;
        assert_eq!(welcome["type"], "welcome", "expert hello: {welcome}");
        ws
    }

    /// A customer widget that has said hello; returns it with its welcome.
    pub async fn customer_ws(&self, hello: Value) -> (Ws, Value) {
        let mut ws = Ws::connect(&format!("{}/ws/customer", self.ws_base)).await;
        let mut hello = hello;
        hello["type"] = json!("hello");
        let welcome = ws.request(hello).await;
        assert_eq!(welcome["type"], "welcome", "customer hello: {welcome}");
        (ws, welcome)
    }

    /// A chat started by a new customer, offered to and accepted by `expert`; returns
    /// (widget, conversation id, visitor token).
    pub async fn accepted_chat(&self, expert: &mut Ws, text: &str) -> (Ws, String, String) {
        let (customer, id, visitor) = self.new_chat(text).await;
        let wanted = id.clone();
        expert
            .expect("the offer", move |f| f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str())
            .await;
        expert.ack(json!({"type": "accept", "conversation_id": id})).await;
        (customer, id, visitor)
    }

    /// A message (`leave_message` with `frame`'s fields) left by a new anonymous customer once
    /// their widget is told no expert is available: the router counts a presence change a
    /// moment after acknowledging it. Returns (widget, conversation id, visitor token).
    pub async fn left_message(&self, mut frame: Value) -> (Ws, String, String) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (mut ws, welcome) = self.customer_ws(json!({})).await;
            if welcome["available"] == false || welcome["office_hours_open"] == false {
                frame["type"] = json!("leave_message");
                let ack = ws.ack(frame).await;
                let id = ack["conversation_id"].as_str().expect("conversation_id").to_owned();
                return (ws, id, welcome["visitor_token"].as_str().unwrap().to_owned());
            }
            assert!(tokio::time::Instant::now() < deadline, "an expert stays available: {welcome}");
            ws.close().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a chat from a new anonymous customer; returns (widget, conversation id, visitor token).
    pub async fn new_chat(&self, text: &str) -> (Ws, String, String) {
        let (mut ws, welcome) = self.customer_ws(json!({})).await;
        let ack = ws.ack(json!({"type": "start", "text": text})).await;
        let id = ack["conversation_id"].as_str().expect("conversation_id").to_owned();
        (ws, id, welcome["visitor_token"].as_str().unwrap().to_owned())
    }
}

static NEXT_REF: AtomicU64 = AtomicU64::new(1);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A websocket client that keeps every frame it has read until a test asks for it.
pub struct Ws {
    socket: Socket,
    inbox: VecDeque<Value>,
    closed: Option<Option<u16>>,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("websocket connect timed out")
            .expect("websocket connect");
        Ws { socket, inbox: VecDeque::new(), closed: None }
    }

    /// Connects, or `None` on any failure (refused, reset, an error answer): for clients
    /// retrying while a server (or a cluster's core) comes back.
    pub async fn try_open(url: &str) -> Option<Ws> {
        let opened = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await;
        let (socket, _) = opened.ok()?.ok()?;
        Some(Ws { socket, inbox: VecDeque::new(), closed: None })
    }

    /// Connects with extra request headers (e.g. Origin) from `source` (an address in
    /// 127.0.0.0/8); the HTTP status if the upgrade is refused.
    pub async fn try_connect(url: &str, headers: &[(&str, &str)], source: Option<&str>) -> Result<Ws, u16> {
        use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
        let mut request = url.into_client_request().expect("a websocket URL");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let host = request.uri().authority().expect("host:port").as_str().to_owned();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(ip) = source {
            socket.bind(format!("{ip}:0").parse().unwrap()).expect("bind the source address");
        }
        let stream = tokio::time::timeout(WAIT, socket.connect(host.parse().unwrap()))
            .await
            .expect("connect timed out")
            .expect("TCP connect");
        match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await {
            Ok((socket, _)) => Ok(Ws { socket, inbox: VecDeque::new(), closed: None }),
            Err(Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket handshake failed: {e}"),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends, reporting failure instead of panicking (for servers that may be killed).
    pub async fn offer(&mut self, frame: Value) -> bool {
        self.socket.send(Message::Text(frame.to_string())).await.is_ok()
    }

    /// Sends `text` as one message split over several frames (a first frame and
    /// continuations), as a client may.
    pub async fn send_fragmented(&mut self, text: &str, pieces: usize) {
        self.send_text_bytes(text.as_bytes(), pieces).await;
    }

    /// Sends several frames in one write, so the server reads them together: what they ask
    /// is then decided with no answer in between.
    pub async fn send_together(&mut self, frames: &[Value]) {
        for f in frames {
            self.socket.feed(Message::Text(f.to_string())).await.expect("websocket send");
        }
        self.socket.flush().await.expect("websocket flush");
    }

    /// Sends `bytes` as a text message, valid UTF-8 or not, in `pieces` frames (one frame
    /// when `pieces` is 1): what a broken or hostile client may put on the wire.
    pub async fn send_text_bytes(&mut self, bytes: &[u8], pieces: usize) {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        let size = bytes.len().div_ceil(pieces);
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            let frame = Frame::message(chunk.to_vec(), opcode, i + 1 == chunks.len());
            self.socket.send(Message::Frame(frame)).await.expect("websocket send");
        }
    }

    /// The client's end of the TCP connection, to find the server's end of it.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        match self.socket.get_ref() {
            MaybeTlsStream::Plain(s) => s.local_addr().expect("local address"),
            _ => panic!("test sockets are plain TCP"),
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Message::Text(text)).await.expect("websocket send");
    }

    /// Reads one more frame into the inbox; false once the socket is closed or `limit` passes.
    async fn pull(&mut self, limit: Duration) -> bool {
        if self.closed.is_some() {
            return false;
        }
        match tokio::time::timeout(limit, self.socket.next()).await {
            Err(_) => false,
            Ok(None) | Ok(Some(Err(_))) => {
                self.closed = Some(None);
                false
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                self.inbox.push_back(serde_json::from_str(&t).expect("server frames are JSON"));
                true
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                self.closed = Some(frame.map(|f| u16::from(f.code)));
                false
            }
            Ok(Some(Ok(_))) => true,
        }
    }

    /// The first frame (read now or earlier) matching `pred`, waiting up to `WAIT`.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(what, WAIT, pred).await
    }

    pub async fn expect_within(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(i) = self.inbox.iter().position(&pred) {
                return self.inbox.remove(i).unwrap();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || (!self.pull(left).await && self.closed.is_some()) {
                if let Some(i) = self.inbox.iter().position(&pred) {
                    return self.inbox.remove(i).unwrap();
                }
                panic!(
                    "timed out waiting for {what}; got instead: {:?}; closed: {:?}",
                    self.inbox, self.closed
                );
            }
        }
    }

    /// The next event of `kind` (frames without a ref).
    pub async fn event(&mut self, kind: &str) -> Value {
        let k = kind.to_owned();
        self.expect(&format!("a {kind} event"), move |f| f["type"] == k.as_str()).await
    }

    /// The next `message` event with this seq.
    pub async fn message(&mut self, seq: u64) -> Value {
        self.expect(&format!("message seq {seq}"), move |f| {
            f["type"] == "message" && f["message"]["seq"] == seq
        })
        .await
    }

    /// A frame already read that matches `pred`, without waiting for more.
    pub fn take_ready(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let i = self.inbox.iter().position(pred)?;
        self.inbox.remove(i)
    }

    /// Sends a frame with a fresh ref and returns the one frame that answers it.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let r = NEXT_REF.fetch_add(1, Ordering::Relaxed);
        frame["ref"] = json!(r);
        self.send(frame.clone()).await;
        self.expect(&format!("the answer to {frame}"), move |f| f["ref"] == r).await
    }

    /// A request that must be acknowledged.
    pub async fn ack(&mut self, frame: Value) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(answer["type"], "ack", "{frame} was not acknowledged: {answer}");
        answer
    }

    /// A request that must be refused with `code`.
    pub async fn refused(&mut self, frame: Value, code: &str) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(answer["type"], "error", "{frame} should be refused: {answer}");
        assert_eq!(answer["code"], code, "{frame} refused with the wrong code: {answer}");
        answer
    }

    /// Asserts no frame matching `pred` arrives within `window` (for things that must not happen).
    pub async fn expect_none(&mut self, what: &str, window: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            if let Some(f) = self.inbox.iter().find(|f| pred(f)) {
                panic!("{what} arrived but must not: {f}");
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pull(left).await && self.closed.is_some() {
                return;
            }
        }
    }

    /// The next frame, or `None` once the server has closed the connection.
    pub async fn closed_or_frame(&mut self) -> Option<Value> {
        if let Some(f) = self.inbox.pop_front() {
            return Some(f);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "neither a frame nor a close arrived");
            if self.pull(left).await {
                if let Some(f) = self.inbox.pop_front() {
                    return Some(f);
                }
            }
        }
        None
    }

    /// Waits for the server to close the connection; returns the close code if any.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "the server did not close the connection");
            self.pull(left).await;
        }
        self.closed.unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Closes from this side and waits for the server's close in reply: by then the server
    /// has ended the session, so whatever it sets off (a customer's last widget gone) is
    /// under way before anything this test sends next.
    pub async fn hang_up(&mut self) {
        self.socket.close(None).await.expect("websocket close");
        self.closed().await;
    }
}

/// The lowercase hex HMAC-SHA256 of `data` with the test identity secret.
pub fn sign(data: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Seqs of a transcript, as numbers.
pub fn seqs(messages: &Value) -> Vec<u64> {
    messages.as_array().expect("messages array").iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

/// An expert console that accepts every offer and answers every customer message until the
/// server goes away (for traffic under crashes and power cuts); `on_ack` sees each
/// acknowledgement of its own messages.
pub async fn answering_expert(url: String, token: String, mut on_ack: impl FnMut(&Value)) {
    let Ok(mut ws) = Ws::try_connect(&url, &[], None).await else { return };
    if !ws.offer(json!({"type": "hello", "token": token})).await {
        return;
    }
    let mut k = 0;
    while let Some(f) = ws.closed_or_frame().await {
        match f["type"].as_str() {
            Some("offer") => {
                ws.offer(json!({"type": "accept", "conversation_id": f["conversation"]["id"]})).await;
            }
            Some("message") if f["message"]["author"]["kind"] == "customer" => {
                k += 1;
                let text = format!("re {}", f["message"]["text"].as_str().unwrap());
                let id = f["message"]["conversation_id"].clone();
                ws.offer(
                    json!({"type": "send", "conversation_id": id, "text": text, "ref": format!("e{k}")}),
                )
                .await;
            }
            Some("ack") if f["message"].is_object() => on_ack(&f),
            _ => {}
        }
    }
}

/// The answer to the frame sent with `reference`, or `None` once the server is gone (for
/// traffic under crashes and power cuts).
pub async fn next_answer(ws: &mut Ws, reference: &str) -> Option<Value> {
    while let Some(f) = ws.closed_or_frame().await {
        if f["ref"] == reference {
            return Some(f);
        }
    }
    None
}

/// A customer sends in `conversation_id`, one message at a time, each named `{label}-{k}` as
/// text, client id and ref, until the server goes away; `on_ack` sees each acknowledgement.
pub async fn send_until_gone(
    ws: &mut Ws,
    conversation_id: &str,
    label: &str,
    mut on_ack: impl FnMut(&Value),
) {
    for k in 0.. {
        let r = format!("{label}-{k}");
        let frame = json!({"type": "send", "conversation_id": conversation_id, "text": r, "client_msg_id": r, "ref": r});
        if !ws.offer(frame).await {
            return;
        }
        match next_answer(ws, &r).await {
            Some(ack) if ack["type"] == "ack" => on_ack(&ack),
            Some(other) => panic!("a send was refused: {other}"),
            None => return,
        }
    }
}

/// Every acknowledged message (`(conversation, seq)` → text) is stored under the seq it was
/// acknowledged with, exactly once, and each transcript's seqs are gapless. Returns each
/// conversation's record, for what a test checks besides.
pub async fn assert_acknowledged_kept(
    server: &TestServer,
    acked: &HashMap<(String, u64), String>,
) -> Vec<Value> {
    let conversations: HashSet<&String> = acked.keys().map(|(c, _)| c).collect();
    let mut records = Vec::new();
    for id in conversations {
        let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
        assert_eq!(status, 200, "acknowledged conversation {id}: {c}");
        let messages = c["messages"].as_array().unwrap();
        let seqs: Vec<u64> = messages.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seqs of {id} are gapless");
        let stored: HashMap<u64, &str> =
            messages.iter().map(|m| (m["seq"].as_u64().unwrap(), m["text"].as_str().unwrap())).collect();
        let mut copies: HashMap<&str, usize> = HashMap::new();
        for text in stored.values() {
            *copies.entry(text).or_default() += 1;
        }
        for ((conv, seq), text) in acked.iter().filter(|((c, _), _)| c == id) {
            assert_eq!(
                stored.get(seq).copied(),
                Some(text.as_str()),
                "acknowledged {conv}#{seq} is stored as acknowledged"
            );
            assert_eq!(copies[text.as_str()], 1, "{text} is stored exactly once");
        }
        records.push(c);
    }
    records
}

/// The value of the sample named exactly `series` (name with labels) in Prometheus text.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}
