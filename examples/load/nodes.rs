//! `--nodes N`: several Switchboard nodes serving one deployment, all on the NATS cluster of a
//! `--store jetstream` run and one prefix. The first node started takes the deployment's lease
//! and is the core (router and every live conversation); every later one is an edge that
//! forwards its clients to the core. Clients are spread over the nodes round-robin, so with 3
//! nodes two clients in three reach the core through an edge's tunnel, and each node's memory
//! and CPU is read apart from the others'.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{cpu_secs, open_fds, proc_nofile, rss_kib, NatsCluster, Opts, Server, Store, Target};

/// One node to start in cluster mode.
pub struct ClusterNode<'a> {
    pub nats: &'a NatsCluster,
    /// The deployment every node of the run serves.
    pub prefix: &'a str,
    /// Distinct per node: the lease names its holder by it.
    pub name: String,
}

/// Starts the target: one server, or in cluster mode `--nodes` of them on `prefix`. The core
/// is started first and waited for until it listens (it holds the lease by then), then each
/// edge in turn; `/healthz` must then name the first node the core and the others its edges.
pub async fn start(
    opts: &Opts,
    target: Target,
    cluster: Option<(&NatsCluster, &str)>,
) -> Result<Vec<Server>, String> {
    let Some((nats, prefix)) = cluster else {
        return Ok(vec![Server::start(opts, target, None).await?]);
    };
    let count = match target {
        Target::Switchboard(Store::JetStream) => opts.nodes,
        _ => 1,
    };
    let mut nodes = Vec::with_capacity(count);
    for i in 0..count {
        // One node keeps the name runs have always had: the prefix.
        let name = if count == 1 { prefix.to_owned() } else { format!("{prefix}_n{i}") };
        match Server::start(opts, target, Some(&ClusterNode { nats, prefix, name })).await {
            Ok(node) => nodes.push(node),
            Err(e) => {
                stop(nodes).await;
                return Err(e);
            }
        }
    }
    if let Err(e) = check_roles(&mut nodes).await {
        stop(nodes).await;
        return Err(e);
    }
    Ok(nodes)
}

/// Reads each node's role from its `/healthz`: the first must be the core, the rest edges
/// forwarding to it, or the run would measure some other topology.
async fn check_roles(nodes: &mut [Server]) -> Result<(), String> {
    let http = reqwest::Client::new();
    let core = nodes[0].name.clone();
    for (i, node) in nodes.iter_mut().enumerate() {
        let health: Value = http
            .get(format!("{}/healthz", node.base))
            .send()
            .await
            .map_err(|e| format!("{}/healthz: {e}", node.base))?
            .json()
            .await
            .map_err(|e| format!("{}/healthz: {e}", node.base))?;
        let role = health["role"].as_str().unwrap_or("?").to_owned();
        let expected = if i == 0 { "core" } else { "edge" };
        if role != expected || health["core"] != core.as_str() {
            return Err(format!(
                "node {} should be {expected} with core {core}: /healthz {health}",
                node.name
            ));
        }
        println!("node {}: {role} at {} (pid {:?})", node.name, node.base, node.pid);
        node.role = Some(role);
    }
    Ok(())
}

/// Stops the nodes, edges first: a core stopped first would hand its lease to an edge.
pub async fn stop(nodes: Vec<Server>) {
    for node in nodes.into_iter().rev() {
        node.stop().await;
    }
}

/// Where client number `index` connects (node `index % nodes`), and how many each node
/// welcomed.
pub struct Spread {
    addrs: Vec<SocketAddr>,
    welcomed: Vec<AtomicUsize>,
}

impl Spread {
    pub fn new(nodes: &[Server]) -> Arc<Spread> {
        Arc::new(Spread {
            addrs: nodes.iter().map(|n| n.addr).collect(),
            welcomed: nodes.iter().map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// The node client `index` goes to, and its address.
    pub fn node(&self, index: usize) -> (usize, SocketAddr) {
        let node = index % self.addrs.len();
        (node, self.addrs[node])
    }

    pub fn welcome(&self, node: usize) {
        self.welcomed[node].fetch_add(1, Ordering::Relaxed);
    }

    fn welcomed(&self, node: usize) -> usize {
        self.welcomed[node].load(Ordering::Relaxed)
    }
}

/// What `/proc` says about each node at one moment.
#[derive(Clone)]
pub struct Sample {
    rss_kib: Vec<Option<u64>>,
    cpu_secs: Vec<Option<f64>>,
    fds: Vec<Option<usize>>,
}

impl Sample {
    pub fn take(nodes: &[Server]) -> Sample {
        Sample {
            rss_kib: nodes.iter().map(|n| n.pid.and_then(rss_kib)).collect(),
            cpu_secs: nodes.iter().map(|n| n.pid.and_then(cpu_secs)).collect(),
            fds: nodes.iter().map(|n| n.pid.and_then(open_fds)).collect(),
        }
    }

    /// The nodes' RSS summed: what the deployment holds (None if any is unknown).
    pub fn rss_kib(&self) -> Option<u64> {
        self.rss_kib.iter().copied().sum()
    }

    pub fn cpu_secs(&self) -> Option<f64> {
        self.cpu_secs.iter().copied().sum()
    }

    pub fn fds(&self) -> Option<usize> {
        self.fds.iter().copied().sum()
    }
}

/// The figures of one scenario's nodes: memory before the widgets, with every connection held
/// and at the end; CPU over the message window.
pub struct Samples<'a> {
    pub before: &'a Sample,
    pub held: &'a Sample,
    /// The message window's CPU: its first and last sample, its length in seconds.
    pub window: Option<(&'a Sample, &'a Sample, f64)>,
    /// Durable msgs/s in the window (the whole deployment's; every message passes the core).
    pub msgs_per_s: f64,
    /// Client connections held at the end of the hold.
    pub held_connections: usize,
}

/// One entry per node, printed and for the RESULT: a core serves every client (directly or
/// through an edge's tunnel), an edge those it welcomed, so memory per connection divides by
/// that; CPU is also given per 1,000 durable msgs/s of the whole deployment.
pub fn report(nodes: &[Server], spread: &Spread, s: &Samples<'_>) -> Value {
    let entries: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let welcomed = spread.welcomed(i);
            let served = if node.role.as_deref() == Some("core") { s.held_connections } else { welcomed };
            let per = |kib: Option<u64>| kib.filter(|_| served > 0).map(|k| k as f64 / served as f64);
            let growth = match (s.held.rss_kib[i], s.before.rss_kib[i]) {
                (Some(h), Some(b)) if served > 0 => Some(h.saturating_sub(b) as f64 / served as f64),
                _ => None,
            };
            let cores = s.window.and_then(|(a, b, secs)| Some((b.cpu_secs[i]? - a.cpu_secs[i]?) / secs));
            let per_thousand = cores.filter(|_| s.msgs_per_s > 0.0).map(|c| c / (s.msgs_per_s / 1000.0));
            let end = s.window.and_then(|(_, b, _)| b.rss_kib[i]);
            println!(
                "  node {} ({}): {welcomed} clients here, {served} served; RSS {} KiB held ({} before the widgets, {} at the end), {} KiB per connection served ({} growth); {} fds; CPU {} cores in the window, {} per 1,000 msgs/s",
                node.name,
                node.role.as_deref().unwrap_or("single"),
                s.held.rss_kib[i].unwrap_or(0),
                s.before.rss_kib[i].unwrap_or(0),
                end.unwrap_or(0),
                per(s.held.rss_kib[i]).map_or("?".into(), |v| format!("{v:.1}")),
                growth.map_or("?".into(), |v| format!("{v:.1}")),
                s.held.fds[i].map_or("?".into(), |f| f.to_string()),
                cores.map_or("?".into(), |c| format!("{c:.2}")),
                per_thousand.map_or("?".into(), |c| format!("{c:.3}")),
            );
            json!({
                "name": node.name,
                "role": node.role,
                "pid": node.pid,
                "clients": welcomed,
                "connections_served": served,
                "rss_before_kib": s.before.rss_kib[i],
                "rss_kib": s.held.rss_kib[i],
                "rss_end_kib": end,
                "rss_per_conn_kib": per(s.held.rss_kib[i]),
                "rss_delta_per_conn_kib": growth,
                "open_fds": s.held.fds[i],
                "cpu_cores": cores,
                "cpu_cores_per_1000_msgs_per_s": per_thousand,
                "nofile": node.pid.and_then(proc_nofile),
            })
        })
        .collect();
    Value::Array(entries)
}
