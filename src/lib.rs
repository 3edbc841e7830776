//! # Switchboard
//!
//! A self-hosted live-chat server for customer care: one binary, an embedded database.
//!
//! # Layout
//! - [`config`]: the configuration struct, read from TOML then `SWITCHBOARD_*` variables.
//! - [`protocol`]: the wire contract: client and server frames, error codes.
//! - [`store`]: sled trees, typed keys, the persisted model and group commit.
//! - [`access`]: who may read or act on a conversation, decided once for every path.
//! - [`lifecycle`]: the conversation state machine, pure and driven by a clock value.
//! - [`router`]: the Router actor and its plain routing state (offers, queue, capacity).
//! - [`conversation`]: one actor per live conversation: transcript, timers, outbox.
//! - [`ws`]: the websocket actors, `CustomerWidget` and `ExpertSession`.
//! - [`http`]: the REST API and the routes of both websockets.
//! - [`assets`]: the widget, console and demo page, embedded from `static/`.
//! - [`stats`]: report figures computed from stored conversations.
//! - [`export`]: `switchboard export`/`import`, the whole store as JSON lines.
//! - [`hub`]: the directory of live actors and sessions.
//! - [`messages`]: every message between actors.
//! - [`app`]: what all of them share.
//! - [`limits`]: rate limits and connection counts against abuse.
//! - [`metrics`]: Prometheus counters, histograms and live gauges.
//! - [`office_hours`]: the weekly schedule in a time zone, with holidays.
//! - [`webhooks`]: signed lifecycle events from a durable outbox.
//! - [`auth`], [`ids`], [`clock`]: credentials, typed ids, time.

pub mod access;
pub mod app;
pub mod assets;
pub mod auth;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod export;
pub mod http;
pub mod hub;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod office_hours;
pub mod protocol;
pub mod router;
pub mod stats;
pub mod store;
pub mod webhooks;
pub mod ws;

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;

use actix_web::{web, HttpServer};

use crate::app::App;
use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Threads that run conversation actors, apart from the HTTP workers.
fn conversation_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How often quiet rate-limiter keys are forgotten.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully: no new
/// connections, everything written so far flushed (so pending acknowledgements go out), every
/// socket closed with 1001, and a last flush. Must run inside an actix system.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    metrics::install();
    let durability = config.server.durability;
    let store = Store::open_with(&config.server.data_dir, config.server.cache_bytes, durability)?;
    metrics::durability(durability);
    let app = App::new(config, store, conversation_threads());
    let restored = app.restore()?;
    let addr = listener.local_addr()?;
    let data = web::Data::new(app.clone());
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(http::log_request))
            .configure(http::configure)
    })
    // Chat frames are small and often one-way (deliveries to a console): with Nagle on, a
    // frame can wait for the peer's delayed ACK, tens of milliseconds.
    .tcp_nodelay(true)
    .listen(listener)?
    .shutdown_timeout(5)
    .disable_signals()
    .run();
    tracing::info!(%addr, restored, durability = durability.name(), "serving");
    println!("listening on http://{addr}");
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
    let webhooks = actix_web::rt::spawn(webhooks::run(app.clone()));
    let handle = server.handle();
    // The server runs on its own task so that it keeps serving while shutdown proceeds.
    let mut server = actix_web::rt::spawn(server);
    tokio::select! {
        result = &mut server => result.map_err(std::io::Error::other)??,
        _ = shutdown => {
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
    app.store.sync().await?;
    Ok(())
}
