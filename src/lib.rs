//! # Switchboard
//!
//! A self-hosted live-chat server for customer care: one binary, an embedded database.
//!
//! # Layout
//! Layers point one way, bottom to top (`tests/layers.rs` keeps them so); only the actor
//! layer's modules address each other.
//!
//! 1. Words and facts: [`ids`], [`clock`] (time), [`domain`] (statuses, styles, presence,
//!    reasons, event kinds, the contract's refusals), [`net`] (which addresses webhooks may
//!    reach, where a request came from), [`office_hours`] (the weekly schedule), [`auth`]
//!    (hashes, signed tokens and links), [`metrics`] (Prometheus names), [`lang`] (language
//!    tags and the choice of the language answered in).
//! 2. [`config`]: the configuration, read from TOML then `SWITCHBOARD_*` variables.
//! 3. [`store`]: every record, index and transcript, the persisted model with its format
//!    version, on the storage seam ([`store::engine::Engine`]: keyed values with revisions,
//!    conditional log appends, durability tickets) kept by sled with group commit
//!    ([`store::Embedded`]); [`store::conformance`] is the suite every engine passes.
//! 4. Decisions, pure and unit-tested without actix: [`lifecycle`] (the conversation state
//!    machine), [`access`] (who may read or act on a conversation), [`accounts`] (expert
//!    accounts and login tokens), [`limits`] (rate limits and connection counts), [`stats`]
//!    (report figures), [`export`] (the whole store as JSON lines).
//! 5. The wire: [`protocol`] (client and server frames), [`views`] (records as clients see
//!    them), [`webhooks`] (signed lifecycle events from a durable outbox).
//! 6. Actors: [`router`] (assigns chats: presence, capacity, skill; its plain state beside it),
//!    [`conversation`] (one per live conversation: transcript, timers, outbox), [`hub`] (the
//!    directory of live actors and sessions), [`messages`] (every message between actors),
//!    [`app`] (what they share); [`rights`] (a customer's export and erasure, the retention
//!    sweep) drives them from outside.
//! 7. Transports: [`ws`] (the `CustomerWidget` and `ExpertSession` websocket actors),
//!    [`http`] (the REST API and the websocket routes), [`http_error`] (a refusal answered
//!    over HTTP), [`assets`] (the widget, console and demo page, embedded from `static/`),
//!    [`edge`] (in cluster mode, a node forwarding its clients to the deployment's core).

pub mod access;
pub mod accounts;
pub mod app;
pub mod assets;
pub mod auth;
pub mod clock;
pub mod config;
pub mod consults;
pub mod conversation;
pub mod domain;
pub mod edge;
pub mod export;
pub mod http;
pub mod http_error;
pub mod hub;
pub mod ids;
pub mod lang;
pub mod lifecycle;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod net;
pub mod office_hours;
pub mod protocol;
pub mod rights;
pub mod router;
pub mod sla;
pub mod stats;
pub mod store;
pub mod tls;
pub mod views;
pub mod webhooks;
pub mod ws;

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;

use actix_web::{web, HttpServer};

use crate::app::App;
use crate::config::Config;
use crate::store::engine::Claim;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tls(String),
}

/// Threads that run conversation actors, apart from the HTTP workers.
fn conversation_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How often quiet rate-limiter keys are forgotten.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Has the kernel abort a connection whose peer stops reading for `client_timeout`.
///
/// Nothing in the process can: a websocket actor lives inside its response body, and
/// actix-http polls that body only while its write buffer has room. Once the peer stops
/// reading and the socket buffers fill, the actor is never polled again, so its heartbeat,
/// its mailbox and the `Disconnect` the hub sends it all wait behind the very writes that
/// are stuck. With TCP_USER_TIMEOUT, Linux gives up on data left unacknowledged that long,
/// and (since 5.11, "tcp: fix TCP_USER_TIMEOUT with zero window") on data left unsent that
/// long because the peer keeps answering its probes with a zero window: the dispatcher's
/// next write fails, and dropping it stops the actor and frees its mailbox and connection
/// slot (tests/wire.rs). A peer that reads slowly but keeps reading keeps its connection,
/// HTTP downloads included; one that vanished is dropped after `client_timeout` rather than
/// after minutes of retransmissions. Accepted sockets inherit the option from the listener.
/// Other systems lack the option, and there such a stall stays unbounded.
#[cfg(target_os = "linux")]
fn abort_stalled_connections(
    listener: &TcpListener,
    client_timeout: std::time::Duration,
) -> std::io::Result<()> {
    socket2::SockRef::from(listener).set_tcp_user_timeout(Some(client_timeout))
}

#[cfg(not(target_os = "linux"))]
fn abort_stalled_connections(_: &TcpListener, _: std::time::Duration) -> std::io::Result<()> {
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully: no new
/// connections, everything written so far flushed (so pending acknowledgements go out), every
/// socket closed with 1001, and a last flush. Must run inside an actix system.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    metrics::install();
    let mut config = config;
    if config.cluster.enabled() && config.cluster.node_name.is_empty() {
        // The port actually bound (the configured one may be 0) names this node.
        let mut bound = config.clone();
        bound.server.bind = listener.local_addr()?;
        config.cluster.node_name = store::node_name(&bound);
    }
    // Before the store: a wrong certificate path fails at once, touching nothing.
    let certificates = match config.server.tls() {
        true => Some(
            tls::Certificates::load(&config.server.tls_cert, &config.server.tls_key)
                .map_err(RunError::Tls)?,
        ),
        false => None,
    };
    let durability = config.server.durability;
    let store = Store::configured(&config)?;
    let mut shutdown = std::pin::pin!(shutdown);
    // What an edge shows the core with a client's address, and what the core checks: derived
    // once from the secret every node reads from the shared store, for either role.
    let forwarding_key = match config.cluster.enabled() {
        true => Some(auth::forwarding_key(&store.visitor_key()?)),
        false => None,
    };
    abort_stalled_connections(&listener, config.server.client_timeout)?;
    let url = config.cluster.advertised(listener.local_addr()?);
    if let Claim::Elsewhere(core) = store.claim(&config.cluster.node_name, &url)? {
        let forwarding = listener.try_clone()?;
        let key = forwarding_key.clone().expect("only a shared store names another holder");
        match edge::serve(&config, store.clone(), url, key, forwarding, core, shutdown.as_mut()).await? {
            edge::End::Promoted => tracing::info!("the core's lease was free: serving as the core"),
            edge::End::Stopped => {
                store.leave();
                return Ok(());
            }
        }
    }
    // Printed below, once the address is known; kept before it is shown.
    let setup_code = accounts::first_run::code_at_start(&store)?;
    store.sync().await?;
    metrics::durability(durability);
    let app = App::new(config, store, conversation_threads(), forwarding_key);
    let restored = app.restore()?;
    let addr = listener.local_addr()?;
    let data = web::Data::new(app.clone());
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(http::log_request))
            .configure(|cfg| http::configure(cfg, &data.config.server.allowed_origins))
    })
    // Chat frames are small and often one-way (deliveries to a console): with Nagle on, a
    // frame can wait for the peer's delayed ACK, tens of milliseconds.
    .tcp_nodelay(true);
    let server = match &certificates {
        Some(c) => server.listen_rustls_0_23(listener, c.server_config().map_err(RunError::Tls)?)?,
        None => server.listen(listener)?,
    }
    .shutdown_timeout(5)
    .disable_signals()
    .run();
    let scheme = if certificates.is_some() { "https" } else { "http" };
    let reloading = actix_web::rt::spawn(tls::reload_on_hangup(certificates));
    tracing::info!(%addr, scheme, restored, durability = durability.name(), "serving");
    println!("listening on {scheme}://{addr}");
    if let Some(code) = setup_code {
        // Only whoever reads the server's output can make the first admin.
        println!(
            "no admin yet: open {scheme}://{addr}/console and create the first admin with setup code: {code}"
        );
    }
    let _ = std::io::stdout().flush();
    let pruning = {
        let app = app.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(PRUNE_EVERY);
            loop {
                every.tick().await;
                app.limiters.prune();
            }
        })
    };
    let webhooks = actix_web::rt::spawn(app.webhooks.clone().run());
    let retention = actix_web::rt::spawn(rights::keep_sweeping(app.clone()));
    let handle = server.handle();
    // The server runs on its own task so that it keeps serving while shutdown proceeds.
    let mut server = actix_web::rt::spawn(server);
    tokio::select! {
        result = &mut server => result.map_err(std::io::Error::other)??,
        _ = shutdown.as_mut() => {
            tracing::info!("shutting down");
            handle.pause().await;
            app.store.sync().await?;
            let grace = app.config.server.shutdown_grace;
            let open = app.hub.close_all(actix_web_actors::ws::CloseCode::Away, "server shutting down");
            let deadline = tokio::time::Instant::now() + grace;
            while open > 0 && app.hub.open_sessions() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            handle.stop(true).await;
            server.await.map_err(std::io::Error::other)??;
        }
    }
    pruning.abort();
    webhooks.abort();
    retention.abort();
    reloading.abort();
    app.store.sync().await?;
    // Not left to a drop: actors may still hold the store when the process exits.
    app.store.leave();
    Ok(())
}
