//! The load generator (`examples/load.rs`) is how the README's performance numbers are made,
//! so it is run here at a small scale against the real server and its baselines: every figure
//! it reports must come from what actually happened on the wire.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// `cargo test` builds the examples next to the binaries of the same profile.
fn load_exe() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let exe = bin.parent().expect("target dir").join("examples").join("load");
    assert!(exe.exists(), "{} is missing: the examples are built by `cargo test`", exe.display());
    exe
}

/// Runs the load generator and returns its `RESULT` line.
async fn run_load(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut cmd = Command::new(load_exe());
    cmd.args(args).args(["--quiet-wait", "0", "--data-dir", data_dir]).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("the load generator finishes within 90 s")
        .expect("run the load generator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "load generator failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).expect("RESULT is JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

#[tokio::test]
async fn the_chat_scenario_reports_every_message_acked_and_delivered_for_server_and_relay() {
    let result = run_load(&[
        "--mode",
        "chat",
        "--connections",
        "40",
        "--chats",
        "12",
        "--experts",
        "3",
        "--rate",
        "120",
        "--duration",
        "1",
        "--start-rate",
        "100",
        "--sources",
        "3",
        "--sled-tasks",
        "50",
        "--baseline",
        "all",
    ])
    .await;
    for target in ["switchboard", "relay"] {
        let r = &result[target];
        assert_eq!(r["connections_failed"], 0, "{target}: {r}");
        let sent = assert_chat_ran(target, r, 40, 3, 12, 120.0);
        assert_eq!(num(&r["expert_latency_us"], "count"), sent, "{target}: one latency per delivery: {r}");
        let (p50, p99) = (num(&r["expert_latency_us"], "p50"), num(&r["expert_latency_us"], "p99"));
        assert!(0.0 < p50 && p50 <= p99, "{target}: ordered percentiles: {r}");
        assert!(num(r, "durable_msgs_per_s") > 0.0, "{target}: {r}");
        assert!(num(r, "server_rss_kib") > 1000.0, "{target}: the server's RSS is read from /proc: {r}");
        assert!(r["server_nofile"].as_str().is_some_and(|s| s.starts_with("soft=")), "{target}: {r}");
    }
    let sled = &result["sled"];
    assert!(num(sled, "inserts_per_s") > 0.0 && num(sled, "flushes") >= 1.0, "raw sled ran: {sled}");
    assert_eq!(sled["batch"], 50);
}

/// tokio's timer sends on 1 ms ticks, so its sends lag their schedule by up to 1 ms (about
/// that at the median); the pacer thread sleeps until each send is due.
#[tokio::test]
async fn the_pacer_thread_sends_every_message_when_it_is_due() {
    let args = "--mode chat --connections 30 --chats 10 --experts 2 --rate 200 --duration 1 \
                --start-rate 100 --sources 2 --pacer thread";
    let result = run_load(&args.split_whitespace().collect::<Vec<_>>()).await;
    let r = &result["switchboard"];
    assert_eq!(r["pacer"], "thread", "{r}");
    let sent = assert_chat_ran("switchboard", r, 30, 2, 10, 200.0);
    let lag = &r["client_schedule_lag_us"];
    assert_eq!(num(lag, "count"), sent, "one lag per send: {r}");
    assert!(num(lag, "p50") < 500.0, "sends go out when due, not on the timer's next tick: {r}");
}

#[tokio::test]
async fn the_idle_scenario_holds_every_connection_and_reports_memory_per_connection() {
    let result =
        run_load(&["--mode", "idle", "--connections", "300", "--hold", "0.2", "--sources", "4"]).await;
    let r = &result["switchboard"];
    assert_eq!(r["connections_held"], 300, "{r}");
    assert_eq!(r["connections_failed"], 0, "{r}");
    assert!(num(r, "server_open_fds") >= 300.0, "one socket per widget is open on the server: {r}");
    let per_conn = num(r, "rss_per_conn_kib");
    assert!(per_conn > 0.0 && per_conn * 300.0 <= num(r, "server_rss_kib") + 1.0, "{r}");
}

/// A small chat scenario on a JetStream cluster: 20 widgets (6 chatting) and 2 experts, 60
/// msgs/s for 1 s.
const SMALL_JETSTREAM_CHAT: &[&str] = &[
    "--store",
    "jetstream",
    "--mode",
    "chat",
    "--connections",
    "20",
    "--chats",
    "6",
    "--experts",
    "2",
    "--rate",
    "60",
    "--duration",
    "1",
    "--start-rate",
    "100",
    "--sources",
    "2",
];

#[tokio::test]
async fn the_jetstream_store_runs_the_chat_scenario_on_a_three_replica_stream() {
    let result = run_load(SMALL_JETSTREAM_CHAT).await;
    assert!(result.get("switchboard").is_none(), "only the JetStream run: {result}");
    let r = &result["switchboard_jetstream"];
    assert_eq!(r["store"], "jetstream", "{r}");
    let sent = assert_chat_ran("jetstream", r, 20, 2, 6, 60.0);
    // Read back from JetStream after the run: the acknowledged messages (and each chat's
    // opening line) are in the transcripts' stream, replicated on all three servers.
    assert!(num(r, "stream_messages") >= sent + 6.0, "every acked message is in the stream: {r}");
    assert_eq!(r["stream_replicas"], 3, "{r}");
    assert_eq!(r["stream_servers_current"], 3, "the leader and both followers hold it: {r}");
    assert!(num(r, "nats_cpu_cores") > 0.0, "nats-server's CPU is measured apart: {r}");
    assert!(num(r, "nats_rss_kib") > 1000.0, "{r}");
}

#[tokio::test]
async fn three_nodes_serve_one_deployment_with_most_clients_through_edges() {
    let result = run_load(&[SMALL_JETSTREAM_CHAT, &["--nodes", "3"]].concat()).await;
    let r = &result["switchboard_jetstream"];
    let sent = assert_chat_ran("3 nodes", r, 20, 2, 6, 60.0);
    assert!(num(r, "stream_messages") >= sent + 6.0, "every acked message is in the stream: {r}");
    let nodes = r["nodes"].as_array().unwrap_or_else(|| panic!("one entry per node: {r}"));
    let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap_or("?")).collect();
    assert_eq!(roles, ["core", "edge", "edge"], "the first node started is the core: {r}");
    // 22 clients round-robin: 8, 7 and 7, and the core serves all 22 (14 through tunnels).
    let clients: Vec<u64> = nodes.iter().map(|n| n["clients"].as_u64().unwrap_or(0)).collect();
    assert_eq!(clients, [8, 7, 7], "{r}");
    assert_eq!(nodes[0]["connections_served"], 22, "{r}");
    for node in nodes {
        assert!(num(node, "rss_kib") > 1000.0, "each node's RSS is read from /proc: {node}");
        // CPU ticks are 10 ms: an edge's share of 60 msgs/s may round to none.
        assert!(num(node, "cpu_cores") >= 0.0, "each node's CPU is read over the window: {node}");
    }
    let total: f64 = nodes.iter().map(|n| num(n, "rss_kib")).sum();
    assert_eq!(num(r, "server_rss_kib"), total, "the server's RSS is the nodes' sum: {r}");
}

/// Checks a chat scenario's report: every widget and expert held, every chat assigned, no
/// errors, at least half of `rate` messages sent in its 1 s, each acknowledged and delivered.
/// Returns how many were sent.
fn assert_chat_ran(target: &str, r: &Value, widgets: u64, experts: u64, chats: u64, rate: f64) -> f64 {
    assert_eq!(
        r["connections_held"],
        widgets + experts,
        "{target}: {widgets} widgets and {experts} experts held: {r}"
    );
    assert_eq!(r["chats_assigned"], chats, "{target}: every chat reached an expert: {r}");
    assert_eq!(r["errors"], 0, "{target}: {r}");
    let sent = num(r, "sent");
    assert!(sent >= rate / 2.0, "{target}: about {rate} msgs/s for 1 s were sent: {r}");
    assert_eq!(num(r, "acked"), sent, "{target}: every message acknowledged: {r}");
    assert_eq!(num(r, "delivered"), sent, "{target}: every message reached its expert: {r}");
    sent
}
