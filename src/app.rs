//! What every actor and request handler shares: configuration, store, directory, router.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use crate::access::{self, Viewer};
use crate::config::Config;
use crate::conversation::ConversationActor;
use crate::hub::Hub;
use crate::ids::ConversationId;
use crate::lifecycle::Policy;
use crate::limits::Limiters;
use crate::office_hours::Schedule;
use crate::router::Router;
use crate::store::model::Conversation;
use crate::store::{Store, StoreError};
use crate::webhooks::Outbox;

pub type AppState = Arc<App>;

pub struct App {
    pub config: Config,
    pub policy: Policy,
    pub store: Store,
    pub hub: Arc<Hub>,
    pub router: Addr<Router>,
    /// Office hours, when enabled; the same schedule `policy.sla` counts SLA clocks in.
    pub schedule: Option<Arc<Schedule>>,
    pub limiters: Limiters,
    /// Lifecycle events for the configured webhooks, written with the changes they report.
    pub webhooks: Outbox,
    /// In cluster mode, what an edge node shows with the client address it passes on.
    forwarding_key: Option<String>,
    /// Conversation actors loaded from the store are spread over these threads, apart from
    /// the HTTP workers (a new one runs on the thread of the session that opened it).
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
}

impl App {
    pub fn new(config: Config, store: Store, threads: usize, forwarding_key: Option<String>) -> AppState {
        let hub = Arc::new(Hub::default());
        let bots = match store.experts() {
            Ok(experts) => experts.iter().filter(|e| e.bot).map(|e| e.id).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the bot accounts");
                Vec::new()
            }
        };
        let router = Router::new(hub.clone(), &config, bots);
        let router = Router::start_in_arbiter(&Arbiter::new().handle(), move |_| router);
        let schedule = Schedule::enabled(&config.office_hours);
        Arc::new(App {
            forwarding_key,
            policy: Policy::from_config(&config, schedule.clone()),
            schedule,
            limiters: Limiters::new(&config.limits),
            webhooks: Outbox::new(store.clone(), config.webhooks.clone()),
            config,
            store,
            hub,
            router,
            arbiters: (0..threads.max(1)).map(|_| Arbiter::new().handle()).collect(),
            next_arbiter: AtomicUsize::new(0),
        })
    }

    /// Where a request came from: the address an edge node passed on, else the peer or
    /// what trusted proxies say.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> std::net::IpAddr {
        self.forwarding_key
            .as_deref()
            .and_then(|key| crate::net::forwarded_client(req, key))
            .unwrap_or_else(|| crate::net::client_ip(req, &self.config.server.trusted_proxies))
    }

    pub fn office_hours_open(&self) -> bool {
        self.schedule.as_ref().is_none_or(|s| s.is_open(crate::clock::Timestamp::now()))
    }

    /// The one access rule (`access::may_read`) with the facts it needs from the
    /// configuration and the store.
    pub fn may_read(&self, c: &Conversation, viewer: Viewer) -> Result<bool, StoreError> {
        let private = self.config.claim_certification(&c.category).is_some();
        let mut failure = None;
        let allowed = access::may_read(c, viewer, private, || {
            let Viewer::Expert(expert) = viewer else { return false };
            match self.store.conversations_of_customer(c.customer) {
                Ok(all) => access::serves(expert, &all),
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        });
        failure.map_or(Ok(allowed), Err)
    }

    pub fn conversation_arbiter(&self) -> ArbiterHandle {
        let i = self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        self.arbiters[i].clone()
    }

    /// The live actor of a conversation, loaded from the store if it is not running.
    /// `None` for a conversation that does not exist or is closed.
    pub fn conversation(
        self: &Arc<Self>,
        id: ConversationId,
    ) -> Result<Option<Addr<ConversationActor>>, StoreError> {
        let mut failure = None;
        let addr = self.hub.conversation_or_start(id, || match ConversationActor::load(self.clone(), id) {
            Ok(addr) => addr,
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(addr),
        }
    }

    /// Brings every live conversation back after a start: actors, timers and queue order.
    pub fn restore(self: &Arc<Self>) -> Result<usize, StoreError> {
        let live = self.store.live_conversations()?;
        for c in &live {
            self.conversation(c.id)?;
        }
        Ok(live.len())
    }
}
