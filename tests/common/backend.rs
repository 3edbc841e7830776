//! Which store the servers of a test binary run on: sled in their data dir (the default), or
//! a NATS JetStream cluster when `SWITCHBOARD_TEST_STORE=jetstream`. One switch runs the same
//! behaviour tests against both back ends.
//!
//! On JetStream every test binary shares one 3-node cluster on loopback, started by the first
//! server that needs it and killed when the binary exits; each `TestServer` gets its own
//! `cluster.prefix`, kept across its restarts, so tests running side by side never see each
//! other's streams and buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, OnceCell};

use super::nats::Nats;

/// The environment variable that picks the back end.
pub const SWITCH: &str = "SWITCHBOARD_TEST_STORE";

/// Whether this test binary runs its servers on JetStream.
pub fn jetstream() -> bool {
    match std::env::var(SWITCH).as_deref() {
        Ok("jetstream") => true,
        Ok("sled") | Err(_) => false,
        Ok(other) => panic!("{SWITCH}={other}: use `sled` or `jetstream`"),
    }
}

/// The cluster shared by this test binary's servers. A `Mutex` so tests can kill and
/// restart its servers and `at_exit` can take it.
static CLUSTER: OnceCell<Mutex<Option<Nats>>> = OnceCell::const_new();

/// The shared cluster's client URLs, starting it on first use.
async fn cluster_urls() -> Vec<String> {
    let cell = CLUSTER
        .get_or_init(|| async {
            let nats = Nats::start(3).await;
            // Statics are never dropped: the servers are killed when the binary exits.
            extern "C" fn at_exit() {
                if let Some(cell) = CLUSTER.get() {
                    if let Ok(mut guard) = cell.try_lock() {
                        guard.take();
                    }
                }
            }
            // SAFETY: registers a plain function with no arguments, run once at process exit.
            unsafe { libc::atexit(at_exit) };
            Mutex::new(Some(nats))
        })
        .await;
    cell.lock().await.as_ref().expect("the cluster is running").urls()
}

/// Kills NATS server `i` of the shared cluster with SIGKILL (JetStream runs only).
pub async fn kill9_nats(i: usize) {
    let cell = CLUSTER.get().expect("the shared cluster was started");
    cell.lock().await.as_mut().expect("the cluster is running").kill9(i);
}

/// Starts NATS server `i` of the shared cluster again and waits until JetStream answers.
pub async fn restart_nats(i: usize) {
    let cell = CLUSTER.get().expect("the shared cluster was started");
    cell.lock().await.as_mut().expect("the cluster is running").restart(i).await;
}

/// How long a server may take to start listening. On JetStream a start can fall into a
/// leader election after a NATS server died (tests kill them): nats-server takes up to
/// about 10 s to elect new leaders for the streams the dead one led.
pub fn startup_wait() -> std::time::Duration {
    std::time::Duration::from_secs(if jetstream() { 30 } else { 10 })
}

/// Adds to a server's environment what puts it on the chosen back end, unless the test set
/// it itself. Called once per `TestServer`: the prefix stays with it across restarts.
pub async fn configure(env: &mut Vec<(String, String)>) {
    if !jetstream() || env.iter().any(|(k, _)| k == "SWITCHBOARD_CLUSTER_NATS_URLS") {
        return;
    }
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let urls = cluster_urls().await.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(",");
    env.push(("SWITCHBOARD_CLUSTER_NATS_URLS".into(), format!("[{urls}]")));
    env.push(("SWITCHBOARD_CLUSTER_PREFIX".into(), prefix.clone()));
    env.push(("SWITCHBOARD_CLUSTER_NODE_NAME".into(), prefix));
    env.push(("SWITCHBOARD_CLUSTER_REPLICAS".into(), "3".into()));
}
