//! A node that is not the deployment's core: an edge. It holds its clients' connections and
//! forwards each of them to the core, the one node that runs the router and every live
//! conversation (docs/CLUSTER.md says why the work is split this way), and takes over as
//! the core when the core's lease lapses.
//!
//! Forwarding is transparent: every rule, limit and close code is the core's, applied to the
//! client's own address, which the edge passes on with the deployment's forwarding key (see
//! [`crate::net::forwarded_client`]). What an edge answers itself is only `/healthz`, and a
//! `503 unavailable` while no core can be reached (clients retry).

mod proxy;

use std::sync::RwLock;
use std::time::Duration;

use actix_web::{web, HttpResponse, HttpServer};

use crate::config::Config;
use crate::store::engine::{Claim, Holder};
use crate::store::Store;

/// How often an edge asks whether the core's lease has lapsed (it lapses 5 s after the
/// core's last renewal, so a dead core is replaced within about 5.5 s).
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long an edge's health check waits for the core's.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why [`serve`] returned.
pub enum End {
    /// The core's lease was free and this node took it: it serves as the core now.
    Promoted,
    /// The node was told to stop.
    Stopped,
}

/// What every edge worker shares.
struct Shared {
    node: String,
    /// Where this node would serve as the core (its lease names it).
    url: String,
    core: RwLock<Holder>,
    /// Proves to the core that a request's client address was set by a node.
    key: String,
    store: Store,
    trusted_proxies: Vec<std::net::IpAddr>,
}

impl Shared {
    fn core(&self) -> Holder {
        self.core.read().expect("core lock").clone()
    }
}

/// Serves `listener` as an edge forwarding to `core` until this node takes the core's lease
/// or `shutdown` resolves.
pub async fn serve(
    config: &Config,
    store: Store,
    url: String,
    key: String,
    listener: std::net::TcpListener,
    core: Holder,
    shutdown: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<End, crate::RunError> {
    let shared = web::Data::new(Shared {
        node: config.cluster.node_name.clone(),
        url,
        core: RwLock::new(core),
        key,
        store,
        trusted_proxies: config.server.trusted_proxies.clone(),
    });
    let addr = listener.local_addr()?;
    let data = shared.clone();
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(proxy::client())
            .route("/healthz", web::get().to(healthz))
            .default_service(web::to(proxy::forward))
    })
    .tcp_nodelay(true)
    .listen(listener)?
    .disable_signals()
    .run();
    let handle = server.handle();
    let mut server = actix_web::rt::spawn(server);
    tracing::info!(%addr, core = %shared.core().node, "serving as an edge: forwarding to the core");
    println!("listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let watching = watch(shared.clone());
    let end = tokio::select! {
        result = &mut server => {
            result.map_err(std::io::Error::other)??;
            End::Stopped
        }
        _ = shutdown => End::Stopped,
        () = watching => End::Promoted,
    };
    // Connections forwarded to a core that is gone are dropped with the server; their
    // clients reconnect (to this node, now the core, or any other).
    handle.stop(matches!(end, End::Stopped)).await;
    let _ = server.await;
    Ok(end)
}

/// Returns once this node holds the core's lease; meanwhile keeps `shared.core` current.
async fn watch(shared: web::Data<Shared>) {
    let mut every = actix_web::rt::time::interval(WATCH_EVERY);
    loop {
        every.tick().await;
        let s = shared.clone();
        // `claim` waits on NATS: off the server's threads.
        match web::block(move || s.store.claim(&s.node, &s.url)).await {
            Ok(Ok(Claim::Serving)) => return,
            Ok(Ok(Claim::Elsewhere(holder))) => {
                let mut core = shared.core.write().expect("core lock");
                if *core != holder {
                    tracing::info!(core = %holder.node, url = %holder.url, "the deployment's core");
                    *core = holder;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "asking NATS for the deployment's core"),
            Err(e) => tracing::warn!(error = %e, "asking NATS for the deployment's core"),
        }
    }
}

/// Healthy while this node is connected to NATS and the core answers it: a load balancer
/// keeps it in rotation then, and takes it out when it cannot reach the core (its clients
/// would get nothing but `503`s).
async fn healthz(req: actix_web::HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let core = shared.core();
    let body = |status| serde_json::json!({ "status": status, "node": shared.node, "role": "edge", "core": core.node });
    let reachable = match (shared.store.connected(), core.url.is_empty()) {
        (true, false) => {
            let client = req.app_data::<awc::Client>().expect("each worker has a client");
            let probe = client.get(format!("{}/healthz", core.url)).timeout(PROBE_TIMEOUT).send().await;
            probe.is_ok_and(|answer| answer.status().is_success())
        }
        _ => false,
    };
    match reachable {
        true => HttpResponse::Ok().json(body("ok")),
        false => HttpResponse::ServiceUnavailable().json(body("no_core")),
    }
}
