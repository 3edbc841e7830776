//! End-to-end load generator for Switchboard, with baselines measured in the same run.
//!
//! ```text
//! cargo build --release --bins --examples
//! cargo run --release --example load -- --mode idle --connections 19000
//! cargo run --release --example load -- --mode chat --connections 10000 --chats 1000 \
//!     --experts 100 --rate 5000 --duration 20 --baseline relay
//! cargo run --release --example load -- --mode chat --connections 1100 --chats 1000 \
//!     --experts 100 --rate 0 --inflight 4 --duration 15 --baseline all
//! cargo run --release --example load -- --mode chat --connections 1100 --chats 1000 \
//!     --experts 100 --rate 0 --inflight 4 --duration 8 --store both --baseline relay
//! cargo run --release --example load -- --mode chat --connections 1100 --chats 1000 \
//!     --experts 100 --rate 0 --inflight 4 --duration 8 --store jetstream --nodes 3
//! cargo run --release --example load -- --mode sled --duration 10
//! ```
//!
//! It starts the release server itself (`target/release/switchboard serve` on 127.0.0.1:0
//! with a fresh data directory), or targets `--server URL` (give `--server-pid` for RSS).
//! `--store jetstream` runs that server in cluster mode on a 3-node NATS JetStream cluster
//! that it starts on loopback (`nats_cluster`), with 3 replicas and a fresh prefix;
//! `--store both` runs the same scenario on sled, then on JetStream, and compares them.
//! `--store jetstream --nodes N` starts N server nodes on that cluster and prefix (the core
//! first; the others are edges that forward to it) and spreads the experts and widgets over
//! them round-robin, so most clients go through an edge; it reports each node's RSS and CPU.
//! `--target relay` drives `target/release/examples/relay`, the bare websocket relay, with
//! the same client code; `--baseline relay|sled|all` runs those baselines after the main run
//! and prints ratios.
//!
//! Modes:
//! - `idle`: open `--connections` customer widgets (hello → welcome) and hold them.
//! - `chat`: `--experts` experts log in and accept offers; `--chats` customers start chats at
//!   `--start-rate`, then send at `--rate` messages/s in total (open loop, the intended send
//!   time embedded in the text, so a stalled server cannot hide latency), or with `--rate 0`
//!   keep `--inflight` sends outstanding per chat (closed loop, for peak throughput); the
//!   remaining `--connections` are idle widgets.
//! - `sled`: only the raw sled baseline: batched inserts from many tasks, one flush a batch.
//!
//! Every phase has a deadline and every run is bounded (`--duration` at most 60 s).
//! Client sockets are spread over `--sources` addresses 127.0.0.2.. and opened at
//! `--connect-rate` per second with retries.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[path = "load/nats_cluster.rs"]
mod nats_cluster;
use nats_cluster::NatsCluster;
#[path = "load/nodes.rs"]
mod nodes;
use nodes::{ClusterNode, Sample, Samples, Spread};

/// The server's allocator, so the raw sled baseline runs on the same footing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ws = WebSocketStream<TcpStream>;
type Sink = SplitSink<Ws, Message>;
type Source = SplitStream<Ws>;

const ADMIN: &str = "load-admin-token";
const PASSWORD: &str = "load-password-1";
/// How long any single step (connect, handshake, a reply) may take before it counts as failed.
const STEP: Duration = Duration::from_secs(10);

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the program started: the clock embedded in messages.
fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle,
    Chat,
    Sled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The server, on one store (`--target switchboard` runs it on each of `--store`).
    Switchboard(Store),
    Relay,
}

/// Where the spawned server keeps its durable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    /// The embedded database in its data directory (the default).
    Sled,
    /// Cluster mode on a 3-node JetStream cluster started for the scenario, 3 replicas.
    JetStream,
}

/// Nodes of the JetStream cluster, and replicas of every stream and bucket on it.
const NATS_NODES: usize = 3;
/// At most this many Switchboard nodes (`--nodes`): every one runs on the same cores.
const MAX_NODES: usize = 5;

#[derive(Clone, Debug)]
struct Opts {
    mode: Mode,
    target: Target,
    /// The stores to run the scenario on, one after the other.
    stores: Vec<Store>,
    server: Option<String>,
    server_pid: Option<u32>,
    connections: usize,
    chats: usize,
    experts: usize,
    max_concurrent: Option<u32>,
    start_rate: f64,
    rate: f64,
    inflight: usize,
    duration: Duration,
    hold: Duration,
    connect_rate: f64,
    connect_parallel: usize,
    sources: u8,
    msg_bytes: usize,
    client_threads: usize,
    data_dir: Option<PathBuf>,
    baseline: Vec<&'static str>,
    sled_tasks: usize,
    /// Extra environment for the spawned server, e.g. `MALLOC_ARENA_MAX=2`.
    server_env: Vec<(String, String)>,
    /// Seconds to wait for other processes to leave the cores idle before each scenario.
    quiet_wait: Duration,
    /// Switchboard nodes serving the deployment (cluster mode only): the first is the core,
    /// the others edges forwarding to it; clients are spread over them round-robin.
    nodes: usize,
    /// What times the open loop's sends: tokio's timer or a thread of its own.
    pacer: Pacer,
}

/// tokio's timer runs on a 1 ms wheel, so chats due 200 µs apart (1,000 chats at 5,000
/// msgs/s) go out together, five at a time, once per millisecond. `--pacer thread` times
/// every send on a thread that sleeps until each one is due, so they arrive as scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pacer {
    Timer,
    Thread,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            mode: Mode::Chat,
            target: Target::Switchboard(Store::Sled),
            stores: vec![Store::Sled],
            server: None,
            server_pid: None,
            connections: 1_000,
            chats: 100,
            experts: 10,
            max_concurrent: None,
            start_rate: 500.0,
            rate: 1_000.0,
            inflight: 4,
            duration: Duration::from_secs(10),
            hold: Duration::from_secs(3),
            connect_rate: 4_000.0,
            connect_parallel: 256,
            sources: 8,
            msg_bytes: 100,
            client_threads: 1,
            data_dir: None,
            baseline: Vec::new(),
            sled_tasks: 1_000,
            server_env: Vec::new(),
            quiet_wait: Duration::from_secs(120),
            nodes: 1,
            pacer: Pacer::Timer,
        }
    }
}

const USAGE: &str = "usage: load [--mode idle|chat|sled] [--target switchboard|relay]
  [--store sled|jetstream|both] [--nodes N (with --store jetstream)]
  [--server URL --server-pid PID] [--connections N] [--chats C] [--experts M]
  [--max-concurrent K] [--start-rate CHATS/S] [--rate MSGS/S (0 = closed loop)]
  [--inflight W] [--duration SECS] [--hold SECS] [--connect-rate CONN/S]
  [--connect-parallel P] [--sources K] [--msg-bytes B] [--client-threads T]
  [--data-dir DIR] [--baseline relay|sled|all] [--sled-tasks T]
  [--server-env KEY=VALUE]... [--quiet-wait SECS] [--pacer timer|thread]";

fn parse_args() -> Opts {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    fn val<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{flag} needs a valid value\n{USAGE}"))
    }
    while let Some(flag) = args.next() {
        let f = flag.as_str();
        match f {
            "--mode" => {
                o.mode = match val::<String>(f, args.next()).as_str() {
                    "idle" => Mode::Idle,
                    "chat" => Mode::Chat,
                    "sled" => Mode::Sled,
                    m => panic!("unknown mode {m}\n{USAGE}"),
                }
            }
            "--target" => {
                o.target = match val::<String>(f, args.next()).as_str() {
                    "switchboard" => Target::Switchboard(Store::Sled),
                    "relay" => Target::Relay,
                    t => panic!("unknown target {t}\n{USAGE}"),
                }
            }
            "--store" => {
                o.stores = match val::<String>(f, args.next()).as_str() {
                    "sled" => vec![Store::Sled],
                    "jetstream" => vec![Store::JetStream],
                    "both" => vec![Store::Sled, Store::JetStream],
                    s => panic!("unknown store {s}\n{USAGE}"),
                }
            }
            "--server" => o.server = Some(val(f, args.next())),
            "--server-pid" => o.server_pid = Some(val(f, args.next())),
            "--connections" => o.connections = val(f, args.next()),
            "--chats" => o.chats = val(f, args.next()),
            "--experts" => o.experts = val(f, args.next()),
            "--max-concurrent" => o.max_concurrent = Some(val(f, args.next())),
            "--start-rate" => o.start_rate = val(f, args.next()),
            "--rate" => o.rate = val(f, args.next()),
            "--inflight" => o.inflight = val(f, args.next()),
            "--duration" => o.duration = Duration::from_secs_f64(val(f, args.next())),
            "--hold" => o.hold = Duration::from_secs_f64(val(f, args.next())),
            "--connect-rate" => o.connect_rate = val(f, args.next()),
            "--connect-parallel" => o.connect_parallel = val(f, args.next()),
            "--sources" => o.sources = val(f, args.next()),
            "--msg-bytes" => o.msg_bytes = val(f, args.next()),
            "--client-threads" => o.client_threads = val(f, args.next()),
            "--data-dir" => o.data_dir = Some(val(f, args.next())),
            "--sled-tasks" => o.sled_tasks = val(f, args.next()),
            "--quiet-wait" => o.quiet_wait = Duration::from_secs_f64(val(f, args.next())),
            "--nodes" => o.nodes = val(f, args.next()),
            "--pacer" => {
                o.pacer = match val::<String>(f, args.next()).as_str() {
                    "timer" => Pacer::Timer,
                    "thread" => Pacer::Thread,
                    p => panic!("unknown pacer {p}\n{USAGE}"),
                }
            }
            "--server-env" => {
                let kv: String = val(f, args.next());
                let (k, v) = kv.split_once('=').expect("--server-env KEY=VALUE");
                o.server_env.push((k.to_owned(), v.to_owned()));
            }
            "--baseline" => {
                o.baseline = match val::<String>(f, args.next()).as_str() {
                    "relay" => vec!["relay"],
                    "sled" => vec!["sled"],
                    "all" => vec!["relay", "sled"],
                    "none" => vec![],
                    b => panic!("unknown baseline {b}\n{USAGE}"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => panic!("unknown flag {f}\n{USAGE}"),
        }
    }
    // Bounded runs, whatever the flags say.
    o.duration = o.duration.min(Duration::from_secs(60));
    o.hold = o.hold.min(Duration::from_secs(30));
    o.sources = o.sources.clamp(1, 250);
    o.chats = o.chats.min(o.connections);
    o.connect_rate = o.connect_rate.max(1.0);
    o.start_rate = o.start_rate.max(1.0);
    o.client_threads = o.client_threads.max(1);
    if o.server.is_some() && o.stores.contains(&Store::JetStream) {
        panic!("--store jetstream starts its own server and cluster; it cannot target --server\n{USAGE}");
    }
    o.nodes = o.nodes.clamp(1, MAX_NODES);
    if o.nodes > 1 && (o.stores != [Store::JetStream] || o.target == Target::Relay) {
        panic!(
            "--nodes N > 1 needs --store jetstream: only nodes sharing NATS serve one deployment\n{USAGE}"
        );
    }
    o
}

fn main() {
    let _ = now_us();
    let opts = parse_args();
    let nofile = raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(run(opts, nofile));
    // Do not wait for lingering connection tasks; the servers are already stopped.
    rt.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

async fn run(opts: Opts, nofile: (u64, u64)) -> i32 {
    println!(
        "client: RLIMIT_NOFILE soft={} hard={}, {} tokio worker thread(s), {} cores",
        nofile.0,
        nofile.1,
        opts.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if opts.mode == Mode::Sled {
        let r = sled_baseline(&opts).await;
        println!("RESULT {}", json!({"sled": r}));
        return 0;
    }
    // The main runs: the server on each chosen store in turn, or the relay alone.
    let mains: Vec<Target> = match opts.target {
        Target::Relay => vec![Target::Relay],
        Target::Switchboard(_) => opts.stores.iter().map(|&s| Target::Switchboard(s)).collect(),
    };
    let mut result = serde_json::Map::new();
    for (i, &target) in mains.iter().enumerate() {
        if i > 0 {
            println!("\n=== same scenario: {} ===", target_name(target));
        }
        match scenario(&opts, target).await {
            Ok(r) => {
                result.insert(target_name(target).into(), r);
            }
            Err(e) => {
                eprintln!("load: {}: {e}", target_name(target));
                return 1;
            }
        }
    }
    let (sled, js) = (Target::Switchboard(Store::Sled), Target::Switchboard(Store::JetStream));
    if let (Some(sled), Some(js)) = (result.get(target_name(sled)), result.get(target_name(js))) {
        ratios("jetstream", js, "sled", sled);
    }
    for b in &opts.baseline {
        match *b {
            "relay" if opts.target != Target::Relay => {
                println!("\n=== baseline: bare relay, same scenario ===");
                match scenario(&opts, Target::Relay).await {
                    Ok(r) => {
                        for &target in &mains {
                            ratios(target_name(target), &result[target_name(target)], "relay", &r);
                        }
                        result.insert("relay".into(), r);
                    }
                    Err(e) => eprintln!("relay baseline failed: {e}"),
                }
            }
            "sled" => {
                println!("\n=== baseline: raw sled batched append + flush ===");
                let r = sled_baseline(&opts).await;
                for &target in &mains {
                    let ours = result[target_name(target)]["durable_msgs_per_s"].as_f64();
                    if let (Some(ours), Some(raw)) = (ours, r["inserts_per_s"].as_f64()) {
                        println!(
                            "ratio: {} durable msgs/s / raw sled inserts/s = {:.3}",
                            target_name(target),
                            ours / raw
                        );
                    }
                }
                result.insert("sled".into(), r);
            }
            _ => {}
        }
    }
    println!("RESULT {}", Value::Object(result));
    0
}

/// The run's key in the RESULT json: `switchboard` on sled (as before JetStream existed),
/// `switchboard_jetstream` in cluster mode, `relay`.
fn target_name(t: Target) -> &'static str {
    match t {
        Target::Switchboard(Store::Sled) => "switchboard",
        Target::Switchboard(Store::JetStream) => "switchboard_jetstream",
        Target::Relay => "relay",
    }
}

/// Prints `ours / theirs` for each throughput, memory and latency figure both runs report.
fn ratios(ours_name: &str, ours: &Value, theirs_name: &str, theirs: &Value) {
    let pairs = [
        ("durable_msgs_per_s", "durable msgs/s"),
        ("server_rss_kib", "server RSS"),
        ("rss_per_conn_kib", "RSS per connection"),
        ("rss_delta_per_conn_kib", "RSS growth per connection"),
        ("expert_latency_us.p50", "customer->expert p50"),
        ("expert_latency_us.p99", "customer->expert p99"),
        ("expert_latency_us.p999", "customer->expert p99.9"),
        ("ack_latency_us.p50", "send->ack p50"),
        ("ack_latency_us.p99", "send->ack p99"),
    ];
    println!("ratios {ours_name} / {theirs_name}:");
    for (path, name) in pairs {
        let get = |v: &Value| path.split('.').try_fold(v, |v, k| v.get(k)).and_then(Value::as_f64);
        if let (Some(a), Some(b)) = (get(ours), get(theirs)) {
            if b > 0.0 {
                println!("  {name:<28} {a:>10.1} / {b:>10.1} = {:.2}x", a / b);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Process and system helpers

/// Raises the soft open-files limit to the hard limit; returns (soft, hard) afterwards.
fn raise_nofile() -> (u64, u64) {
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return (0, 0);
        }
        if l.rlim_cur < l.rlim_max {
            let raised = libc::rlimit { rlim_cur: l.rlim_max, rlim_max: l.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l = raised;
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
        (l.rlim_cur as u64, l.rlim_max as u64)
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

/// The process's "Max open files" soft and hard limits, as the kernel reports them.
fn proc_nofile(pid: u32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    let v: Vec<&str> = l.split_whitespace().collect();
    Some(format!("soft={} hard={}", v.get(3)?, v.get(4)?))
}

fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(|d| d.count())
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz.max(1.0))
}

/// Jiffies of the whole machine since boot, from the first line of /proc/stat, by what ran.
#[derive(Clone, Copy)]
struct MachineJiffies {
    /// Processes and kernel threads (user, nice, system).
    processes: u64,
    /// Interrupts and softirqs: loopback networking and disk completions, mostly the run's own.
    interrupts: u64,
    /// Stolen: the hypervisor ran something else while this machine wanted its cores. Not
    /// another process here (a build in another session shows as `processes`); it grows with
    /// this machine's own disk flushes, and takes cores from everything measured.
    steal: u64,
    total: u64,
}

fn machine_jiffies() -> MachineJiffies {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    MachineJiffies {
        processes: at(0) + at(1) + at(2),
        interrupts: at(5) + at(6),
        steal: at(7),
        total: v.iter().take(8).sum(),
    }
}

/// Cores used between two `machine_jiffies` samples.
#[derive(Clone, Copy)]
struct MachineCores {
    processes: f64,
    interrupts: f64,
    steal: f64,
}

fn busy_cores(a: MachineJiffies, b: MachineJiffies) -> MachineCores {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total = b.total.saturating_sub(a.total).max(1) as f64;
    let share = |x: u64, y: u64| y.saturating_sub(x) as f64 / total * cores;
    MachineCores {
        processes: share(a.processes, b.processes),
        interrupts: share(a.interrupts, b.interrupts),
        steal: share(a.steal, b.steal),
    }
}

/// CPU ticks of every process on the machine: (kernel thread?, ticks). A process's ticks
/// include those of its children that have exited, so a build's short-lived compilers count
/// (a child reaped during the window counts whole: this errs towards calling a run busy).
fn process_ticks() -> std::collections::HashMap<u32, (bool, u64)> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Default::default() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
            let flags: u64 = f.get(6)?.parse().ok()?;
            let ticks = (11..=14).map(|i| f.get(i)?.parse::<u64>().ok()).sum::<Option<u64>>()?;
            Some((pid, (flags & PF_KTHREAD != 0, ticks)))
        })
        .collect()
}

/// CPU seconds between two `process_ticks` samples: (kernel threads, other processes), where
/// other processes are all but `ours`: what a concurrent build in another session would use.
/// Kernel threads (kworkers, jbd2: the disk flushes this run causes) are kept apart.
fn cpu_between(
    a: &std::collections::HashMap<u32, (bool, u64)>,
    b: &std::collections::HashMap<u32, (bool, u64)>,
    ours: &[u32],
) -> (f64, f64) {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (mut kernel, mut others) = (0u64, 0u64);
    for (pid, &(kthread, ticks)) in b.iter().filter(|(pid, _)| !ours.contains(pid)) {
        let spent = ticks.saturating_sub(a.get(pid).map_or(0, |&(_, t)| t));
        *(if kthread { &mut kernel } else { &mut others }) += spent;
    }
    (kernel as f64 / hz.max(1.0), others as f64 / hz.max(1.0))
}

/// Waits (at most `limit`) until other processes leave the machine nearly idle, so that
/// a concurrent build does not end up in the numbers. Returns the busy cores last seen.
async fn wait_for_quiet(limit: Duration) -> f64 {
    let t = Instant::now();
    loop {
        let a = machine_jiffies();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = busy_cores(a, machine_jiffies()).processes;
        if busy < 0.25 || t.elapsed() >= limit {
            return busy;
        }
        println!("machine busy ({busy:.2} cores used by others); waiting for it to quiet down");
    }
}

fn own_cpu_secs() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

struct Server {
    /// The node's name in cluster mode, else what runs (`switchboard`, `relay`).
    name: String,
    /// `core` or `edge` in cluster mode, from the node's `/healthz`.
    role: Option<String>,
    child: Option<Child>,
    pid: Option<u32>,
    addr: SocketAddr,
    base: String,
    _dir: Option<tempfile::TempDir>,
    log: Option<PathBuf>,
}

impl Server {
    /// Starts the target (in cluster mode as `node`), or finds `--server`.
    async fn start(opts: &Opts, target: Target, node: Option<&ClusterNode<'_>>) -> Result<Server, String> {
        if let (Some(url), Target::Switchboard(_)) = (&opts.server, target) {
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .map_err(|e| format!("--server {url}: {e}"))?;
            return Ok(Server {
                name: "switchboard".into(),
                role: None,
                child: None,
                pid: opts.server_pid,
                addr,
                base: format!("http://{addr}"),
                _dir: None,
                log: None,
            });
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let examples = exe.parent().ok_or("no exe dir")?;
        let dir = match &opts.data_dir {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .map_err(|e| e.to_string())?;
        let log = dir.path().join("server.log");
        let logfile = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = match target {
            Target::Switchboard(_) => {
                let bin = examples.parent().ok_or("no target dir")?.join("switchboard");
                if !bin.exists() {
                    return Err(format!(
                        "{} is missing: run `cargo build --release --bins --examples` first",
                        bin.display()
                    ));
                }
                let max = opts.max_concurrent.unwrap_or_else(|| default_max_concurrent(opts));
                let mut c = Command::new(bin);
                c.arg("serve")
                    .current_dir(dir.path())
                    .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
                    .env("SWITCHBOARD_SERVER_DATA_DIR", dir.path().join("data"))
                    .env("SWITCHBOARD_SERVER_ADMIN_TOKEN", ADMIN)
                    .env("SWITCHBOARD_LIMITS_MESSAGES_PER_SECOND", "1000000")
                    .env("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "1000000")
                    // A load test is one heavy client: lift the per-address abuse limits.
                    .env("SWITCHBOARD_LIMITS_FRAMES_PER_SECOND", "1000000")
                    .env("SWITCHBOARD_LIMITS_CONNECTIONS_PER_MINUTE", "1000000")
                    .env("SWITCHBOARD_LIMITS_LOGINS_PER_MINUTE", "1000000")
                    .env("SWITCHBOARD_LIMITS_MAX_CONNECTIONS", "1000000")
                    .env("SWITCHBOARD_LIMITS_MAX_CONNECTIONS_PER_ADDRESS", "1000000")
                    .env("SWITCHBOARD_ROUTING_MAX_CONCURRENT", max.to_string())
                    .env(
                        "SWITCHBOARD_LOG",
                        std::env::var("SWITCHBOARD_LOG").unwrap_or_else(|_| "warn".into()),
                    );
                if let Some(node) = node {
                    c.env("SWITCHBOARD_CLUSTER_NATS_URLS", node.nats.urls_env())
                        .env("SWITCHBOARD_CLUSTER_PREFIX", node.prefix)
                        .env("SWITCHBOARD_CLUSTER_NODE_NAME", &node.name)
                        .env("SWITCHBOARD_CLUSTER_REPLICAS", NATS_NODES.to_string());
                }
                c
            }
            Target::Relay => {
                let bin = examples.join("relay");
                if !bin.exists() {
                    return Err(format!(
                        "{} is missing: run `cargo build --release --examples` first",
                        bin.display()
                    ));
                }
                let mut c = Command::new(bin);
                c.args(["--bind", "127.0.0.1:0"]);
                c
            }
        };
        cmd.envs(opts.server_env.iter().map(|(k, v)| (k, v)));
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(logfile)).stdin(Stdio::null()).kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("starting the server: {e}"))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // In cluster mode the server creates its streams and buckets (R3) before it listens.
        let startup = if node.is_some() { STEP * 3 } else { STEP };
        let line = tokio::time::timeout(startup, lines.next_line())
            .await
            .map_err(|_| "the server did not print its listening line in time".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "the server exited before listening: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })?;
        let addr: SocketAddr = line
            .strip_prefix("listening on http://")
            .ok_or_else(|| format!("unexpected first line: {line}"))?
            .parse()
            .map_err(|e| format!("{line}: {e}"))?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let name = match (node, target) {
            (Some(node), _) => node.name.clone(),
            (None, target) => target_name(target).into(),
        };
        Ok(Server {
            name,
            role: None,
            child: Some(child),
            pid,
            addr,
            base: format!("http://{addr}"),
            _dir: Some(dir),
            log: Some(log),
        })
    }

    /// SIGTERM, then a kill if it has not exited within 10 s.
    async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        if let Some(log) = &self.log {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                println!("{} log: {} line(s); last ones:", self.name, lines.len());
                for l in lines.iter().rev().take(5).rev() {
                    println!("  {}", l.chars().take(300).collect::<String>());
                }
            }
        }
    }
}

fn default_max_concurrent(opts: &Opts) -> u32 {
    let experts = opts.experts.max(1);
    (opts.chats.div_ceil(experts) as u32).max(3)
}

// ---------------------------------------------------------------------------------------
// Client connections

#[allow(clippy::field_reassign_with_default)] // deprecated fields forbid a struct literal
fn ws_config() -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    c.write_buffer_size = 0;
    c.max_write_buffer_size = 1 << 20;
    c
}

#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    failed: AtomicUsize,
    retries: AtomicUsize,
    alive: AtomicUsize,
    offers: AtomicU64,
    first_offer_us: AtomicU64,
    last_offer_us: AtomicU64,
    accept_acks: AtomicU64,
    started: AtomicUsize,
    assigned: AtomicUsize,
    sent: AtomicU64,
    acked: AtomicU64,
    acked_in_window: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    send_until_us: AtomicU64,
    start_base_us: AtomicU64,
    expert_latency: Mutex<Vec<u32>>,
    ack_latency: Mutex<Vec<u32>>,
    send_lag: Mutex<Vec<u32>>,
    start_ack: Mutex<Vec<u32>>,
    start_assigned: Mutex<Vec<u32>>,
    error_samples: Mutex<Vec<String>>,
    /// With `--pacer thread`: each chat's index and where the pacer tells it to send.
    paced: Mutex<Vec<(usize, mpsc::UnboundedSender<u64>)>>,
}

impl Stats {
    fn error(&self, text: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = self.error_samples.lock().expect("lock");
        if s.len() < 5 {
            s.push(text.chars().take(200).collect());
        }
    }
}

/// Signals every connection task watches.
#[derive(Clone)]
struct Phases {
    start: watch::Receiver<bool>,
    send: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
}

async fn connect(addr: SocketAddr, src: Ipv4Addr, path: &str) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    sock.bind(SocketAddr::new(src.into(), 0)).map_err(|e| format!("bind {src}: {e}"))?;
    let stream = tokio::time::timeout(STEP, sock.connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio::time::timeout(
        STEP,
        tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())),
    )
    .await
    .map_err(|_| "websocket handshake timed out".to_string())?
    .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// The next text frame; pings are answered by tungstenite while reading.
async fn next_text(stream: &mut Source) -> Option<String> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Connects, says hello and waits for welcome, retrying with backoff.
async fn open_session(
    addr: SocketAddr,
    src: Ipv4Addr,
    path: &str,
    hello: &str,
    stats: &Stats,
) -> Option<(Sink, Source)> {
    let mut backoff = Duration::from_millis(100);
    for attempt in 0..5 {
        if attempt > 0 {
            stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        let Ok(ws) = connect(addr, src, path).await else {
            continue;
        };
        let (mut sink, mut stream) = ws.split();
        if sink.send(Message::text(hello)).await.is_err() {
            continue;
        }
        match tokio::time::timeout(STEP, next_text(&mut stream)).await {
            Ok(Some(t)) if t.contains("\"type\":\"welcome\"") => {
                stats.connected.fetch_add(1, Ordering::Relaxed);
                return Some((sink, stream));
            }
            Ok(Some(t)) => stats.error(&t),
            _ => {}
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
    None
}

/// Resolves once the phase flag is set (or its sender is gone).
async fn phase(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Digits right after `key` in `text`.
fn num_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn push_all(into: &Mutex<Vec<u32>>, from: Vec<u32>) {
    into.lock().expect("lock").extend(from);
}

async fn idle_widget(sink: Sink, mut stream: Source, stats: Arc<Stats>, phases: Phases) {
    stats.alive.fetch_add(1, Ordering::Relaxed);
    let mut stop = phases.stop;
    loop {
        tokio::select! {
            m = stream.next() => match m {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = phase(&mut stop) => break,
        }
    }
    stats.alive.fetch_sub(1, Ordering::Relaxed);
    drop(sink);
}

async fn expert_session(mut sink: Sink, mut stream: Source, stats: Arc<Stats>, phases: Phases) {
    stats.alive.fetch_add(1, Ordering::Relaxed);
    let mut stop = phases.stop;
    let mut latencies = Vec::new();
    loop {
        let text = tokio::select! {
            t = next_text(&mut stream) => match t { Some(t) => t, None => break },
            _ = phase(&mut stop) => break,
        };
        if text.contains("\"type\":\"message\"") {
            if let Some(sent) = num_after(&text, "\"text\":\"ts:") {
                latencies.push(now_us().saturating_sub(sent).min(u32::MAX as u64) as u32);
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
        } else if text.contains("\"type\":\"offer\"") {
            let t = now_us();
            stats.offers.fetch_add(1, Ordering::Relaxed);
            stats.first_offer_us.fetch_min(t, Ordering::Relaxed);
            stats.last_offer_us.fetch_max(t, Ordering::Relaxed);
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Some(id) = v["conversation"]["id"].as_str() {
                let accept = json!({"type":"accept","conversation_id":id,"ref":"a"});
                if sink.send(Message::text(accept.to_string())).await.is_err() {
                    break;
                }
            }
        } else if text.contains("\"type\":\"error\"") {
            stats.error(&text);
        } else if text.contains("\"type\":\"ack\"") {
            stats.accept_acks.fetch_add(1, Ordering::Relaxed);
        }
    }
    push_all(&stats.expert_latency, latencies);
    stats.alive.fetch_sub(1, Ordering::Relaxed);
}

fn send_frame(conversation: &str, at_us: u64, pad: &str) -> Message {
    Message::text(format!(
        r#"{{"type":"send","conversation_id":"{conversation}","text":"ts:{at_us}:{pad}","ref":{at_us}}}"#
    ))
}

#[allow(clippy::too_many_arguments)]
async fn chat_customer(
    index: usize,
    mut sink: Sink,
    mut stream: Source,
    stats: Arc<Stats>,
    phases: Phases,
    opts: Arc<Opts>,
) {
    stats.alive.fetch_add(1, Ordering::Relaxed);
    let Phases { mut start, mut send, mut stop } = phases;
    let done = |stats: &Stats| {
        stats.alive.fetch_sub(1, Ordering::Relaxed);
    };
    // Wait for the start phase, answering pings meanwhile.
    loop {
        tokio::select! {
            t = next_text(&mut stream) => if t.is_none() { return done(&stats) },
            _ = phase(&mut start) => break,
            _ = phase(&mut stop) => return done(&stats),
        }
    }
    let at = stats.start_base_us.load(Ordering::Relaxed) + (index as f64 * 1e6 / opts.start_rate) as u64;
    tokio::time::sleep(Duration::from_micros(at.saturating_sub(now_us()))).await;
    let t0 = now_us();
    let start_frame = json!({"type":"start","text":"Hello, I need help with my order.","ref":"s"});
    if sink.send(Message::text(start_frame.to_string())).await.is_err() {
        return done(&stats);
    }
    stats.started.fetch_add(1, Ordering::Relaxed);
    let mut conversation = None;
    let mut assigned = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while conversation.is_none() || !assigned {
        let text = tokio::select! {
            t = next_text(&mut stream) => match t { Some(t) => t, None => return done(&stats) },
            _ = tokio::time::sleep_until(deadline) => return done(&stats),
            _ = phase(&mut stop) => return done(&stats),
        };
        if text.contains("\"type\":\"ack\"") && text.contains("\"ref\":\"s\"") {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            conversation = v["conversation_id"].as_str().map(str::to_owned);
            push_all(&stats.start_ack, vec![(now_us() - t0) as u32]);
        } else if text.contains("\"type\":\"assigned\"") {
            assigned = true;
            stats.assigned.fetch_add(1, Ordering::Relaxed);
            push_all(&stats.start_assigned, vec![(now_us() - t0) as u32]);
        } else if text.contains("\"type\":\"error\"") {
            stats.error(&text);
            return done(&stats);
        }
    }
    let conversation = conversation.expect("set above");
    let open_loop = opts.rate > 0.0;
    let mut paced = None;
    if open_loop && opts.pacer == Pacer::Thread {
        let (tx, rx) = mpsc::unbounded_channel();
        stats.paced.lock().expect("lock").push((index, tx));
        paced = Some(rx);
    }
    loop {
        tokio::select! {
            t = next_text(&mut stream) => if t.is_none() { return done(&stats) },
            _ = phase(&mut send) => break,
            _ = phase(&mut stop) => return done(&stats),
        }
    }
    let pad = "x".repeat(opts.msg_bytes.saturating_sub(20));
    let until = stats.send_until_us.load(Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut lags = Vec::new();
    let period = if open_loop {
        Duration::from_secs_f64(opts.chats as f64 / opts.rate)
    } else {
        Duration::from_secs(3600)
    };
    // Spread the chats' schedules evenly over one period.
    let offset = period.mul_f64(index as f64 / opts.chats.max(1) as f64);
    let epoch = tokio::time::Instant::from_std(*EPOCH.get().expect("epoch set"));
    let mut schedule = match paced {
        Some(rx) => Schedule::Thread(rx),
        None => {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            Schedule::Timer(ticks, epoch)
        }
    };
    if !open_loop {
        for _ in 0..opts.inflight.max(1) {
            let t = now_us();
            if sink.send(send_frame(&conversation, t, &pad)).await.is_err() {
                return done(&stats);
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    loop {
        tokio::select! {
            intended = schedule.next(), if open_loop => {
                if intended >= until {
                    continue;
                }
                // Latency counts from the real send time: tokio's timer fires up to 1 ms
                // late (the pacer thread less), which is the client's doing. How far the
                // client lags its schedule is recorded apart, so an overloaded client cannot
                // hide a slow server.
                let t = now_us();
                lags.push(t.saturating_sub(intended).min(u32::MAX as u64) as u32);
                if sink.send(send_frame(&conversation, t, &pad)).await.is_err() {
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            t = next_text(&mut stream) => {
                let Some(text) = t else { break };
                if text.contains("\"type\":\"ack\"") {
                    if let Some(sent) = num_after(&text, "\"ref\":") {
                        let now = now_us();
                        latencies.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                        if now <= until {
                            stats.acked_in_window.fetch_add(1, Ordering::Relaxed);
                            if !open_loop {
                                if sink.send(send_frame(&conversation, now, &pad)).await.is_err() {
                                    break;
                                }
                                stats.sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                } else if text.contains("\"type\":\"error\"") {
                    stats.error(&text);
                }
            }
            _ = phase(&mut stop) => break,
        }
    }
    push_all(&stats.ack_latency, latencies);
    push_all(&stats.send_lag, lags);
    done(&stats)
}

/// When an open-loop chat sends next (microseconds on `now_us`'s clock).
enum Schedule {
    Timer(tokio::time::Interval, tokio::time::Instant),
    Thread(mpsc::UnboundedReceiver<u64>),
}

impl Schedule {
    async fn next(&mut self) -> u64 {
        match self {
            Schedule::Timer(ticks, epoch) => ticks.tick().await.duration_since(*epoch).as_micros() as u64,
            Schedule::Thread(rx) => match rx.recv().await {
                Some(due) => due,
                None => std::future::pending().await,
            },
        }
    }
}

/// `--pacer thread`: sends chat `index` of `chats` its turns, `period` apart from `index /
/// chats` of a period on, until `until`, each when it is due (a 1 µs timer slack, so the
/// kernel does not round the sleeps up by its default 50 µs).
fn pace(mut paced: Vec<(usize, mpsc::UnboundedSender<u64>)>, chats: usize, period: Duration, until: u64) {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0) };
    paced.sort_by_key(|(index, _)| *index);
    let period = period.as_secs_f64() * 1e6;
    let start = now_us() as f64;
    for round in 0u64.. {
        for (index, tx) in &paced {
            let due = (start + (round as f64 + *index as f64 / chats.max(1) as f64) * period) as u64;
            if due >= until {
                return;
            }
            let now = now_us();
            if due > now {
                std::thread::sleep(Duration::from_micros(due - now));
            }
            let _ = tx.send(due);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// Waits (at most 15 s) for every connection task to end and hand in its samples.
async fn settle(stats: &Stats) {
    let t = Instant::now();
    while stats.alive.load(Ordering::Relaxed) > 0 && t.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentiles(mut v: Vec<u32>) -> Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    json!({
        "count": v.len(),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": v[v.len() - 1],
    })
}

fn fmt_lat(v: &Value) -> String {
    if v.is_null() {
        return "n/a".into();
    }
    let ms = |k: &str| v[k].as_f64().unwrap_or(0.0) / 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.1} ms (n={})",
        ms("p50"),
        ms("p90"),
        ms("p99"),
        ms("p999"),
        ms("max"),
        v["count"]
    )
}

/// Creates `n` expert accounts and logs each in, expert `i` through `bases[i % len]` (on
/// several nodes most of it is forwarded by an edge).
async fn create_experts(bases: &[&str], n: usize, max: u32) -> Result<Vec<String>, String> {
    let http = reqwest::Client::new();
    let run = now_us();
    let jobs = futures_util::stream::iter(0..n).map(|i| {
        let http = http.clone();
        let base = bases[i % bases.len()];
        async move {
            let username = format!("load{run}_{i}");
            let r = http
                .post(format!("{base}/api/v1/experts"))
                .bearer_auth(ADMIN)
                .json(&json!({"username": username, "password": PASSWORD,
                    "name": format!("Expert {i}"), "categories": ["general"],
                    "certifications": [], "max_concurrent": max}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("creating an expert: {}", r.status()));
            }
            let r = http
                .post(format!("{base}/api/v1/login"))
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            v["token"].as_str().map(str::to_owned).ok_or_else(|| format!("login answered {v}"))
        }
    });
    // Password hashing is deliberately slow; two at a time keeps both cores busy.
    let tokens: Vec<Result<String, String>> = jobs.buffer_unordered(2).collect().await;
    tokens.into_iter().collect()
}

/// Opens `count` sessions at the configured rate, session `first_index + i` on the node
/// `spread` gives it; each is handed to `run` once welcomed.
async fn open_many<F, Fut>(
    opts: &Opts,
    spread: &Arc<Spread>,
    path: &'static str,
    hellos: Vec<String>,
    stats: &Arc<Stats>,
    first_index: usize,
    run: F,
) where
    F: Fn(usize, Sink, Source) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(opts.connect_parallel.max(1)));
    let t0 = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(hellos.len());
    for (i, hello) in hellos.into_iter().enumerate() {
        let due = t0 + Duration::from_secs_f64(i as f64 / opts.connect_rate);
        tokio::time::sleep_until(due).await;
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let index = first_index + i;
        let src = Ipv4Addr::new(127, 0, 0, 2 + (index % opts.sources as usize) as u8);
        let (node, addr) = spread.node(index);
        let (stats, spread) = (stats.clone(), spread.clone());
        let run = run.clone();
        handles.push(tokio::spawn(async move {
            let session = open_session(addr, src, path, &hello, &stats).await;
            drop(permit);
            if let Some((sink, stream)) = session {
                spread.welcome(node);
                tokio::spawn(run(index, sink, stream));
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

/// One scenario on one target, from an idle machine to its report.
async fn scenario(opts: &Opts, target: Target) -> Result<Value, String> {
    let busy = wait_for_quiet(opts.quiet_wait).await;
    println!("machine: {busy:.2} cores busy before the run");
    let cluster = match target {
        Target::Switchboard(Store::JetStream) => {
            let t = Instant::now();
            let c = NatsCluster::start(NATS_NODES, opts.data_dir.as_deref()).await?;
            println!(
                "nats: {NATS_NODES}-node JetStream cluster ready in {:.2} s (pids {:?}), replicas {NATS_NODES}, sync_interval always",
                t.elapsed().as_secs_f64(),
                c.pids()
            );
            Some(c)
        }
        _ => None,
    };
    // A fresh prefix per run, so no run ever reads what another left in a cluster.
    let prefix = format!("load{}_{}", std::process::id(), now_us());
    let result = match nodes::start(opts, target, cluster.as_ref().map(|c| (c, prefix.as_str()))).await {
        Ok(servers) => {
            let result = drive(opts, target, &servers, cluster.as_ref()).await;
            nodes::stop(servers).await;
            result
        }
        Err(e) => Err(e),
    };
    let Some(cluster) = cluster else { return result.map(Value::Object) };
    // What JetStream holds after the run: the transcripts' stream, with its replicas.
    let stream = cluster.api(&format!("STREAM.INFO.{prefix}_messages")).await;
    cluster.stop().await;
    let mut report = result?;
    let stream = stream?;
    // The leader, and the followers that have caught up with it.
    let peers = stream["cluster"]["replicas"].as_array().cloned().unwrap_or_default();
    let current = 1 + peers.iter().filter(|p| p["current"] == true).count();
    println!(
        "jetstream: stream {prefix}_messages holds {} messages, {} replicas configured, {current} servers current",
        stream["state"]["messages"], stream["config"]["num_replicas"],
    );
    report.insert("cluster_prefix".into(), json!(prefix));
    report.insert("stream_messages".into(), stream["state"]["messages"].clone());
    report.insert("stream_replicas".into(), stream["config"]["num_replicas"].clone());
    report.insert("stream_servers_current".into(), json!(current));
    Ok(Value::Object(report))
}

/// Runs the scenario against `servers` (one, or a deployment's core and its edges, each
/// client going to the next one round-robin); the server figures are summed over them.
async fn drive(
    opts: &Opts,
    target: Target,
    servers: &[Server],
    cluster: Option<&NatsCluster>,
) -> Result<serde_json::Map<String, Value>, String> {
    for server in servers {
        println!(
            "{} {} at {} (pid {:?}), open-files limit {}",
            target_name(target),
            server.name,
            server.base,
            server.pid,
            server.pid.and_then(proc_nofile).unwrap_or_else(|| "unknown".into())
        );
    }
    let spread = Spread::new(servers);
    let stats = Arc::new(Stats { first_offer_us: AtomicU64::new(u64::MAX), ..Default::default() });
    let (start_tx, start_rx) = watch::channel(false);
    let (send_tx, send_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let phases = Phases { start: start_rx, send: send_rx, stop: stop_rx };
    let opts_arc = Arc::new(opts.clone());
    let mut report = serde_json::Map::new();
    match target {
        Target::Switchboard(Store::Sled) => report.insert("store".into(), json!("sled")),
        Target::Switchboard(Store::JetStream) => report.insert("store".into(), json!("jetstream")),
        Target::Relay => None,
    };
    // nats-server runs on the same cores: its CPU is reported apart, never as "others".
    let nats_cpu = || cluster.map(|c| c.pids().into_iter().filter_map(cpu_secs).sum::<f64>());

    // Experts: accounts over REST (skipped for the relay), then their sockets.
    let experts = if opts.mode == Mode::Chat { opts.experts } else { 0 };
    if experts > 0 {
        let t = Instant::now();
        let tokens = match target {
            Target::Switchboard(_) => {
                let max = opts.max_concurrent.unwrap_or_else(|| default_max_concurrent(opts));
                let bases: Vec<&str> = servers.iter().map(|s| s.base.as_str()).collect();
                create_experts(&bases, experts, max).await?
            }
            Target::Relay => vec!["relay".to_string(); experts],
        };
        let hellos = tokens.iter().map(|t| json!({"type":"hello","token":t}).to_string()).collect();
        let (s, p) = (stats.clone(), phases.clone());
        open_many(opts, &spread, "/ws/expert", hellos, &stats, 0, move |_, k, r| {
            expert_session(k, r, s.clone(), p.clone())
        })
        .await;
        println!(
            "experts: {} connected in {:.1} s (accounts + login + websocket)",
            stats.connected.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64()
        );
    }
    let before = Sample::take(servers);
    let rss_before = before.rss_kib();

    // Customer widgets: the idle ones, then those that will chat.
    let chats = if opts.mode == Mode::Chat { opts.chats } else { 0 };
    let idle = opts.connections - chats;
    let t = Instant::now();
    let hello = json!({"type":"hello"}).to_string();
    {
        let (s, p) = (stats.clone(), phases.clone());
        open_many(
            opts,
            &spread,
            "/ws/customer",
            vec![hello.clone(); idle],
            &stats,
            experts,
            move |_, k, r| idle_widget(k, r, s.clone(), p.clone()),
        )
        .await;
    }
    {
        let (s, p, o) = (stats.clone(), phases.clone(), opts_arc.clone());
        open_many(
            opts,
            &spread,
            "/ws/customer",
            vec![hello; chats],
            &stats,
            experts + idle,
            move |i, k, r| chat_customer(i - experts - idle, k, r, s.clone(), p.clone(), o.clone()),
        )
        .await;
    }
    let open_secs = t.elapsed().as_secs_f64();
    let connected = stats.connected.load(Ordering::Relaxed);
    println!(
        "customers: {} widget connections opened in {:.1} s ({:.0}/s), {} failed, {} retries",
        connected - experts.min(connected),
        open_secs,
        (connected - experts.min(connected)) as f64 / open_secs.max(1e-9),
        stats.failed.load(Ordering::Relaxed),
        stats.retries.load(Ordering::Relaxed)
    );

    if opts.mode == Mode::Chat && chats > 0 {
        stats.start_base_us.store(now_us() + 100_000, Ordering::Relaxed);
        let t = Instant::now();
        let _ = start_tx.send(true);
        let deadline = Instant::now() + Duration::from_secs_f64(chats as f64 / opts.start_rate + 30.0);
        while stats.assigned.load(Ordering::Relaxed) < chats && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let assigned = stats.assigned.load(Ordering::Relaxed);
        let offers = stats.offers.load(Ordering::Relaxed);
        let first = stats.first_offer_us.load(Ordering::Relaxed);
        let last = stats.last_offer_us.load(Ordering::Relaxed);
        let offer_span = last.saturating_sub(first) as f64 / 1e6;
        let start_ack = percentiles(std::mem::take(&mut *stats.start_ack.lock().expect("lock")));
        let start_assigned = percentiles(std::mem::take(&mut *stats.start_assigned.lock().expect("lock")));
        println!(
            "chats: {} started, {assigned} accepted in {:.1} s; {offers} offers over {:.2} s = {:.0} offers/s",
            stats.started.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64(),
            offer_span,
            offers as f64 / offer_span.max(1e-3),
        );
        println!("  start -> ack:            {}", fmt_lat(&start_ack));
        println!("  start -> assigned:       {}", fmt_lat(&start_assigned));
        report.insert("chats_assigned".into(), json!(assigned));
        report.insert("offers".into(), json!(offers));
        report.insert("offers_per_s".into(), json!(offers as f64 / offer_span.max(1e-3)));
        report.insert("start_ack_us".into(), start_ack);
        report.insert("start_to_accept_us".into(), start_assigned);
    }

    // Hold the connections a moment, then measure memory with everything open.
    tokio::time::sleep(opts.hold).await;
    let held = stats.alive.load(Ordering::Relaxed);
    let held_sample = Sample::take(servers);
    let rss_held = held_sample.rss_kib();
    let fds = held_sample.fds();
    report.insert("connections_held".into(), json!(held));
    report.insert("connections_failed".into(), json!(stats.failed.load(Ordering::Relaxed)));
    report.insert("server_rss_kib".into(), json!(rss_held));
    report.insert("server_open_fds".into(), json!(fds));
    if let (Some(r), true) = (rss_held, held > 0) {
        report.insert("rss_per_conn_kib".into(), json!(r as f64 / held as f64));
        if let Some(b) = rss_before {
            report.insert("rss_delta_per_conn_kib".into(), json!(r.saturating_sub(b) as f64 / held as f64));
        }
    }
    println!(
        "held: {held} connections; server RSS {} KiB{} ({} KiB before the widgets), {:.1} KiB per connection ({:.1} KiB growth per connection); server fds {:?}",
        rss_held.unwrap_or(0),
        if servers.len() > 1 { format!(" over {} nodes", servers.len()) } else { String::new() },
        rss_before.unwrap_or(0),
        report.get("rss_per_conn_kib").and_then(Value::as_f64).unwrap_or(0.0),
        report.get("rss_delta_per_conn_kib").and_then(Value::as_f64).unwrap_or(0.0),
        fds
    );

    // The message window's first and last sample of every node, and its length in seconds.
    let mut window_samples = None;
    let mut msgs_per_s = 0.0;
    if opts.mode == Mode::Chat && chats > 0 {
        let first = Sample::take(servers);
        let sampled = Instant::now();
        let cpu0 = first.cpu_secs();
        let nats0 = nats_cpu();
        let own0 = own_cpu_secs();
        let machine0 = machine_jiffies();
        let processes0 = process_ticks();
        let until = now_us() + 50_000 + opts.duration.as_micros() as u64;
        stats.send_until_us.store(until, Ordering::Relaxed);
        let t = Instant::now();
        let _ = send_tx.send(true);
        let paced = std::mem::take(&mut *stats.paced.lock().expect("lock"));
        if !paced.is_empty() {
            let period = Duration::from_secs_f64(opts.chats as f64 / opts.rate);
            let chats = opts.chats;
            std::thread::spawn(move || pace(paced, chats, period, until));
        }
        tokio::time::sleep(opts.duration + Duration::from_millis(50)).await;
        let window = t.elapsed().as_secs_f64() - 0.05;
        let in_window = stats.acked_in_window.load(Ordering::Relaxed);
        // Let what is in flight land, within bounds.
        let drain = Instant::now();
        while stats.acked.load(Ordering::Relaxed) < stats.sent.load(Ordering::Relaxed)
            && drain.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let last = Sample::take(servers);
        // Every CPU figure divides by the time between its two samples.
        let elapsed = sampled.elapsed().as_secs_f64();
        let cpu1 = last.cpu_secs();
        let nats1 = nats_cpu();
        let own1 = own_cpu_secs();
        let machine = busy_cores(machine0, machine_jiffies());
        let ours: Vec<u32> = [std::process::id()]
            .into_iter()
            .chain(servers.iter().filter_map(|s| s.pid))
            .chain(cluster.map(NatsCluster::pids).unwrap_or_default())
            .collect();
        let (kernel_threads, other_processes) = cpu_between(&processes0, &process_ticks(), &ours);
        let rss_end = last.rss_kib();
        window_samples = Some((first, last, elapsed));
        if let Some(c) = cluster {
            let kib: u64 = c.pids().into_iter().filter_map(rss_kib).sum();
            println!("  nats-server RSS: {} MiB over {} servers", kib / 1024, c.pids().len());
            report.insert("nats_rss_kib".into(), json!(kib));
        }
        let _ = stop_tx.send(true);
        settle(&stats).await;
        let sent = stats.sent.load(Ordering::Relaxed);
        let acked = stats.acked.load(Ordering::Relaxed);
        let delivered = stats.delivered.load(Ordering::Relaxed);
        let expert_lat = percentiles(std::mem::take(&mut *stats.expert_latency.lock().expect("lock")));
        let ack_lat = percentiles(std::mem::take(&mut *stats.ack_latency.lock().expect("lock")));
        let lag = percentiles(std::mem::take(&mut *stats.send_lag.lock().expect("lock")));
        let rate = in_window as f64 / window;
        msgs_per_s = rate;
        println!(
            "messages: offered {} msgs/s for {:.1} s: {sent} sent, {acked} acked (durable), {delivered} delivered to experts, {} errors",
            if opts.rate > 0.0 { format!("{:.0}", opts.rate) } else { format!("closed loop x{}", opts.inflight) },
            window,
            stats.errors.load(Ordering::Relaxed)
        );
        println!("  durable acks within the window: {rate:.0} msgs/s");
        println!("  customer send -> expert receive: {}", fmt_lat(&expert_lat));
        println!("  customer send -> ack:            {}", fmt_lat(&ack_lat));
        if !lag.is_null() {
            println!("  client lag behind its schedule:  {}", fmt_lat(&lag));
        }
        let nats_cores = match (nats0, nats1) {
            (Some(a), Some(b)) => (b - a) / elapsed,
            _ => 0.0,
        };
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            println!(
                "  CPU: server {:.2} cores{}, {}load client {:.2} cores (of {})",
                (b - a) / elapsed,
                if servers.len() > 1 { format!(" over {} nodes", servers.len()) } else { String::new() },
                if cluster.is_some() {
                    format!("nats-server {nats_cores:.2} cores, ")
                } else {
                    String::new()
                },
                (own1 - own0) / elapsed,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
            report.insert("server_cpu_cores".into(), json!((b - a) / elapsed));
            if cluster.is_some() {
                report.insert("nats_cpu_cores".into(), json!(nats_cores));
            }
            let kernel = kernel_threads / elapsed;
            let others = other_processes / elapsed;
            println!(
                "  machine: {:.2} cores in processes, {others:.2} of them other processes; kernel threads {kernel:.2}, interrupts {:.2}, stolen {:.2} cores",
                machine.processes, machine.interrupts, machine.steal
            );
            report.insert("other_processes_cores".into(), json!(others));
            report.insert("kernel_threads_cores".into(), json!(kernel));
            report.insert("interrupt_cores".into(), json!(machine.interrupts));
            report.insert("steal_cores".into(), json!(machine.steal));
        }
        report.insert("client_cpu_cores".into(), json!((own1 - own0) / elapsed));
        report.insert("offered_rate".into(), json!(opts.rate));
        report.insert("pacer".into(), json!(if opts.pacer == Pacer::Thread { "thread" } else { "timer" }));
        report.insert("sent".into(), json!(sent));
        report.insert("acked".into(), json!(acked));
        report.insert("delivered".into(), json!(delivered));
        report.insert("durable_msgs_per_s".into(), json!(rate));
        report.insert("expert_latency_us".into(), expert_lat);
        report.insert("ack_latency_us".into(), ack_lat);
        report.insert("client_schedule_lag_us".into(), lag);
        report.insert("server_rss_end_kib".into(), json!(rss_end));
    } else {
        let _ = stop_tx.send(true);
        settle(&stats).await;
    }
    let samples = Samples {
        before: &before,
        held: &held_sample,
        window: window_samples.as_ref().map(|(a, b, secs)| (a, b, *secs)),
        msgs_per_s,
        held_connections: held,
    };
    report.insert("nodes".into(), nodes::report(servers, &spread, &samples));
    let errors = stats.errors.load(Ordering::Relaxed);
    report.insert("errors".into(), json!(errors));
    let samples = stats.error_samples.lock().expect("lock").clone();
    if !samples.is_empty() {
        println!("error samples: {samples:?}");
    }
    report.insert("client_nofile".into(), json!(proc_nofile(std::process::id())));
    report.insert("server_nofile".into(), json!(servers[0].pid.and_then(proc_nofile)));
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Raw sled baseline

/// What sled alone does on this disk: `--sled-tasks` tasks each insert one ~100-byte message
/// into a tree, then one `flush` covers the whole batch; repeated for `--duration`.
async fn sled_baseline(opts: &Opts) -> Value {
    let dir = match &opts.data_dir {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let db = sled::open(dir.path()).expect("open sled");
    let tree = db.open_tree("messages").expect("tree");
    let tasks = opts.sled_tasks.max(1);
    let value = vec![7u8; 100];
    let duration = opts.duration.min(Duration::from_secs(20));
    let t = Instant::now();
    let mut inserted = 0u64;
    let mut flushes = 0u64;
    let mut flush_time = Duration::ZERO;
    let mut seq = 0u64;
    // sled's inserts are synchronous, so the "tasks" run on blocking threads two at a time,
    // the way two cores would run them.
    while t.elapsed() < duration {
        seq += 1;
        let workers = 2usize;
        let mut joins = Vec::new();
        for w in 0..workers {
            let tree = tree.clone();
            let value = value.clone();
            joins.push(tokio::task::spawn_blocking(move || {
                let mut n = 0u64;
                for conv in (w..tasks).step_by(workers) {
                    let mut key = [0u8; 16];
                    key[..8].copy_from_slice(&(conv as u64).to_be_bytes());
                    key[8..].copy_from_slice(&seq.to_be_bytes());
                    tree.insert(key, value.as_slice()).expect("insert");
                    n += 1;
                }
                n
            }));
        }
        for j in joins {
            inserted += j.await.expect("insert task");
        }
        let f = Instant::now();
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || db2.flush().expect("flush")).await.expect("flush task");
        flush_time += f.elapsed();
        flushes += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = inserted as f64 / secs;
    println!(
        "raw sled: {inserted} inserts in {flushes} batches of {tasks} over {secs:.1} s = {rate:.0} inserts/s; mean flush {:.2} ms",
        flush_time.as_secs_f64() * 1e3 / flushes.max(1) as f64
    );
    json!({
        "inserts_per_s": rate,
        "batch": tasks,
        "flushes": flushes,
        "mean_flush_ms": flush_time.as_secs_f64() * 1e3 / flushes.max(1) as f64,
        "data_dir_parent": dir.path().parent().map(Path::display).map(|d| d.to_string()),
    })
}
