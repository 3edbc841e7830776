//! Configuration: one serde struct with defaults, read from TOML, then overridden by
//! `SWITCHBOARD_<SECTION>_<KEY>` environment variables. Every key is documented in the
//! shipped `config.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::Style;
use crate::lang::LangTag;
pub use crate::office_hours::OfficeHoursConfig;

/// Sections that may be overridden from the environment. Longest names first, so that
/// `OFFICE_HOURS_ENABLED` is not read as section `office`.
const SECTIONS: &[&str] = &[
    "office_hours",
    "conversation",
    "retention",
    "webhooks",
    "routing",
    "limits",
    "server",
    "cluster",
    "bots",
];
const ENV_PREFIX: &str = "SWITCHBOARD_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Bytes of sled's page cache unless configured otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub routing: RoutingConfig,
    pub conversation: ConversationConfig,
    pub limits: LimitsConfig,
    pub office_hours: OfficeHoursConfig,
    pub categories: Vec<Category>,
    pub webhooks: WebhooksConfig,
    pub cluster: ClusterConfig,
    pub retention: RetentionConfig,
    pub bots: BotsConfig,
}

/// Bots (PRODUCT.md v1.1, "Bots").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotsConfig {
    /// How long a bot whose last session closed keeps its chats, so a bot restarting for a
    /// deploy takes them back instead of handing every one to humans. 0: at once.
    #[serde(with = "humantime_serde")]
    pub reconnect_grace: Duration,
}

impl Default for BotsConfig {
    fn default() -> Self {
        BotsConfig { reconnect_grace: Duration::from_secs(5) }
    }
}

/// How long what customers leave behind is kept (data rights).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Closed conversations older than this (since they closed) are erased like a customer's
    /// erasure erases them; 0 keeps them forever.
    #[serde(with = "humantime_serde")]
    pub closed_conversations: Duration,
    /// How often the sweep runs; it also runs at every start.
    #[serde(with = "humantime_serde")]
    pub sweep_every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            closed_conversations: Duration::from_secs(365 * 24 * 3600),
            sweep_every: Duration::from_secs(24 * 3600),
        }
    }
}

/// Cluster mode: the durable state in NATS JetStream instead of the embedded store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// NATS servers to connect to; empty (the default): run alone on the embedded store.
    pub nats_urls: Vec<String>,
    /// This node's name in logs and on the NATS connection; default: host name and port.
    pub node_name: String,
    /// JetStream replicas of every stream and bucket: an acknowledgement waits for a majority.
    pub replicas: usize,
    /// Prefix of every stream, bucket and subject, so deployments can share a NATS system.
    pub prefix: String,
    /// Where the other nodes reach this one when it is the core (`http://host:port`, no
    /// path); default: the address it listens on, with the host name when that is 0.0.0.0.
    pub advertise_url: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_urls: Vec::new(),
            node_name: String::new(),
            replicas: 3,
            prefix: "sb".into(),
            advertise_url: String::new(),
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.nats_urls.is_empty()
    }

    /// Where the other nodes reach this one, listening on `bound`, when it is the core.
    pub fn advertised(&self, bound: std::net::SocketAddr) -> String {
        match (self.advertise_url.is_empty(), bound.ip().is_unspecified()) {
            (false, _) => self.advertise_url.trim_end_matches('/').to_owned(),
            (true, true) => format!("http://{}:{}", crate::net::host_name(), bound.port()),
            (true, false) => format!("http://{bound}"),
        }
    }
}

/// Where lifecycle events are posted, signed, from a durable outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    pub endpoints: Vec<WebhookEndpoint>,
    /// Endpoints in private, loopback and link-local ranges are refused unless this is set.
    pub allow_private: bool,
    /// Delivery attempts per event and endpoint before it is given up (and logged).
    pub max_attempts: u32,
    /// The first retry waits this long; each next one twice as long, up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            endpoints: Vec::new(),
            allow_private: false,
            max_attempts: 15,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: String,
    /// Key of the `X-Switchboard-Signature` HMAC-SHA256 over the body.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// Bytes of the database's page cache.
    pub cache_bytes: u64,
    /// What an acknowledgement survives: see [`Durability`].
    pub durability: Durability,
    /// Bearer token with every right; empty disables admin access.
    pub admin_token: String,
    /// Key for HMAC-signed customer identities and tool links.
    pub identity_secret: String,
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A websocket peer silent for this long is considered dead and dropped.
    #[serde(with = "humantime_serde")]
    pub client_timeout: Duration,
    /// A websocket that has not said `hello` within this is closed.
    #[serde(with = "humantime_serde")]
    pub hello_timeout: Duration,
    /// Origins (scheme://host[:port]) whose pages may open websockets, besides the server's
    /// own; "*" allows any. Clients that send no Origin (non-browser programs) are allowed.
    pub allowed_origins: Vec<String>,
    /// Proxies whose X-Forwarded-For is believed; everyone else is known by the peer address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// On SIGTERM: how long open sockets get to receive their close (1001).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub log_level: String,
    /// When set, `/metrics` needs `Authorization: Bearer <this>`; empty: open to anyone.
    pub metrics_token: String,
    /// PEM certificate chain (leaf first) and private key: with both set the server speaks
    /// only HTTPS and WSS on `bind` (see `tls`); empty: plain HTTP, e.g. behind a proxy.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl ServerConfig {
    /// Whether the server terminates TLS itself.
    pub fn tls(&self) -> bool {
        !self.tls_cert.as_os_str().is_empty()
    }
}

/// What must have happened to a write before it is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Each group commit ends with fdatasync/fsync of the database files (and of the
    /// directories when files appear): an acknowledged write survives a power cut or a kernel
    /// crash, as far as the disk honours a cache flush.
    #[default]
    PowerLoss,
    /// The database's own flush only (data handed to the kernel and pushed towards the disk,
    /// the disk's cache and the file's size left unflushed): survives the process dying
    /// (`kill -9`, a panic), not the machine losing power.
    ProcessCrash,
}

impl Durability {
    /// The configuration's name for it, as in `config.toml`, logs and `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::PowerLoss => "power_loss",
            Durability::ProcessCrash => "process_crash",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    #[serde(with = "humantime_serde")]
    pub accept_window: Duration,
    pub max_concurrent: u32,
    pub missed_offers_before_away: u32,
    /// Queue position updates are coalesced over this window so that one accept does not
    /// fan out thousands of events per chat behind it.
    #[serde(with = "humantime_serde")]
    pub position_update_interval: Duration,
}

/// Read from the configuration and told to the widget under the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerMayEnd {
    Restricted,
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConversationConfig {
    pub style: Style,
    pub greeting: String,
    /// The greeting in other languages, by language tag (`de`, `pt-BR`): a visitor whose
    /// language matches one is greeted in it, everyone else with `greeting`.
    pub greetings: BTreeMap<String, String>,
    #[serde(with = "humantime_serde")]
    pub first_response_window: Duration,
    #[serde(with = "humantime_serde")]
    pub abandon_after: Duration,
    #[serde(with = "humantime_serde")]
    pub inactivity_end: Duration,
    #[serde(with = "humantime_serde")]
    pub returning_close_after: Duration,
    #[serde(with = "humantime_serde")]
    pub messaging_close_after: Duration,
    #[serde(with = "humantime_serde")]
    pub left_site_after: Duration,
    #[serde(with = "humantime_serde")]
    pub nudge_after: Duration,
    pub customer_may_end: CustomerMayEnd,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Bytes of text in one chat message.
    pub max_message_bytes: usize,
    /// Bytes of one websocket message, continuations included.
    pub max_frame_bytes: usize,
    /// Bytes of one attached file.
    pub max_attachment_bytes: usize,
    pub messages_per_second: u32,
    /// Frames of any kind per second per connection (typing, read receipts...).
    pub frames_per_second: u32,
    /// Rate-limited frames in a row before the socket is closed with 1008.
    pub flood_strikes: u32,
    pub new_chats_per_minute: u32,
    /// Websocket connection attempts per minute per address.
    pub connections_per_minute: u32,
    /// Login attempts per minute, per username and per address.
    pub logins_per_minute: u32,
    /// Open websocket connections in all, and per address.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Conversations a customer may have open at once.
    pub max_open_chats_per_customer: usize,
    /// Events queued for one connection before it is dropped as a slow reader.
    pub outgoing_queue: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub mode: RoutingMode,
    #[serde(default)]
    pub certification: Option<String>,
    #[serde(default)]
    pub style: Option<Style>,
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// SLA: an expert's first reply is due within this much office time of the chat's start;
    /// absent or zero sets no target.
    #[serde(default, with = "humantime_serde")]
    pub first_response_target: Option<Duration>,
    /// SLA: once answered, a customer's next message is due a reply within this much office
    /// time; absent or zero sets no target.
    #[serde(default, with = "humantime_serde")]
    pub next_response_target: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    #[default]
    Offer,
    Claim,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub url: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            routing: RoutingConfig::default(),
            conversation: ConversationConfig::default(),
            limits: LimitsConfig::default(),
            office_hours: OfficeHoursConfig::default(),
            webhooks: WebhooksConfig::default(),
            cluster: ClusterConfig::default(),
            retention: RetentionConfig::default(),
            bots: BotsConfig::default(),
            categories: vec![Category {
                id: "general".into(),
                name: "General questions".into(),
                mode: RoutingMode::Offer,
                certification: None,
                style: None,
                tools: Vec::new(),
                first_response_target: None,
                next_response_target: None,
            }],
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            cache_bytes: DEFAULT_CACHE_BYTES,
            durability: Durability::PowerLoss,
            admin_token: String::new(),
            identity_secret: String::new(),
            token_ttl: Duration::from_secs(12 * 3600),
            heartbeat_interval: Duration::from_secs(10),
            client_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(5),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(2),
            log_level: "info".into(),
            metrics_token: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            accept_window: Duration::from_secs(30),
            max_concurrent: 3,
            missed_offers_before_away: 2,
            position_update_interval: Duration::from_millis(50),
        }
    }
}

impl Default for ConversationConfig {
    fn default() -> Self {
        ConversationConfig {
            style: Style::Returning,
            greeting: "Thanks for reaching out! An expert will be with you shortly.".into(),
            greetings: BTreeMap::new(),
            first_response_window: Duration::from_secs(120),
            abandon_after: Duration::from_secs(60),
            inactivity_end: Duration::from_secs(3600),
            returning_close_after: Duration::from_secs(30 * 60),
            messaging_close_after: Duration::from_secs(4 * 24 * 3600),
            left_site_after: Duration::from_secs(10 * 60),
            nudge_after: Duration::from_secs(60),
            customer_may_end: CustomerMayEnd::Restricted,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: 4096,
            max_frame_bytes: 64 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            messages_per_second: 5,
            frames_per_second: 30,
            flood_strikes: 20,
            new_chats_per_minute: 10,
            connections_per_minute: 120,
            logins_per_minute: 10,
            max_connections: 50_000,
            max_connections_per_address: 200,
            max_open_chats_per_customer: 3,
            outgoing_queue: 256,
        }
    }
}

impl Config {
    /// Reads `path` if given (or `config.toml` if it exists), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: p.to_owned(), source })?,
            ),
            None => std::fs::read_to_string("config.toml").ok(),
        };
        Config::from_sources(text.as_deref().unwrap_or(""), std::env::vars())
    }

    /// Builds the configuration from TOML text and environment pairs; the seam tests use.
    pub fn from_sources(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut root: toml::Table =
            toml::from_str(toml_text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = SECTIONS.iter().find_map(|s| {
                rest.strip_prefix(s).and_then(|r| r.strip_prefix('_')).map(|key| (*s, key.to_owned()))
            }) else {
                continue;
            };
            let table = root
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| ConfigError::Invalid(format!("[{section}] must be a table")))?;
            table.insert(key, env_value(&value));
        }
        let config: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.categories.is_empty() {
            return invalid("at least one [[categories]] entry is required".into());
        }
        for (i, c) in self.categories.iter().enumerate() {
            if self.categories[..i].iter().any(|o| o.id == c.id) {
                return invalid(format!("category id {:?} appears twice", c.id));
            }
            if c.mode == RoutingMode::Claim && c.certification.is_none() {
                return invalid(format!("claim category {:?} needs a certification", c.id));
            }
        }
        for tag in self.conversation.greetings.keys() {
            if let Err(e) = LangTag::parse(tag) {
                return invalid(format!("[conversation.greetings]: {e}"));
            }
        }
        const MAX_MESSAGING: Duration = Duration::from_secs(28 * 24 * 3600);
        if self.conversation.messaging_close_after > MAX_MESSAGING {
            return invalid("conversation.messaging_close_after is at most 28 days".into());
        }
        if let Err(e) = crate::office_hours::Schedule::from_config(&self.office_hours) {
            return invalid(e);
        }
        for e in &self.webhooks.endpoints {
            crate::net::check_endpoint(&e.url, self.webhooks.allow_private).map_err(ConfigError::Invalid)?;
        }
        if self.retention.sweep_every.is_zero() {
            return invalid("retention.sweep_every must be more than 0".into());
        }
        if self.routing.max_concurrent == 0 {
            return invalid("routing.max_concurrent must be at least 1".into());
        }
        if self.server.tls_cert.as_os_str().is_empty() != self.server.tls_key.as_os_str().is_empty() {
            return invalid("server.tls_cert and server.tls_key go together: set both or neither".into());
        }
        let cluster = &self.cluster;
        if !(1..=5).contains(&cluster.replicas) {
            return invalid("cluster.replicas is between 1 and 5 (JetStream's limit)".into());
        }
        let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if cluster.prefix.is_empty() || !cluster.prefix.chars().all(name_char) {
            return invalid("cluster.prefix is letters, digits, '_' and '-' (it starts NATS names)".into());
        }
        if let Some(url) =
            cluster.nats_urls.iter().find(|u| !u.starts_with("nats://") && !u.starts_with("tls://"))
        {
            return invalid(format!("cluster.nats_urls: {url:?} is not a nats:// or tls:// address"));
        }
        let advertised = cluster.advertise_url.strip_prefix("http://").unwrap_or("/");
        if !cluster.advertise_url.is_empty() && (advertised.is_empty() || advertised.contains('/')) {
            return invalid(format!(
                "cluster.advertise_url: {:?} is not an http://host:port address (nodes forward to \
                 each other over plain HTTP)",
                cluster.advertise_url
            ));
        }
        if cluster.enabled() && self.server.tls() {
            return invalid(
                "server.tls_cert in cluster mode: nodes forward to each other over plain HTTP, which \
                 is not built over TLS yet; terminate TLS at the load balancer (docs/CLUSTER.md)"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// The certification a claim-mode (1-to-1) category requires; `None` for offer mode.
    pub fn claim_certification(&self, category: &str) -> Option<&str> {
        let c = self.category(category)?;
        (c.mode == RoutingMode::Claim).then_some(c.certification.as_deref()?)
    }

    /// Every language the server has texts for: the widget's, and the configured greetings'.
    pub fn languages(&self) -> Vec<LangTag> {
        let mut all = crate::lang::widget_languages();
        // Keys were checked at load (`validate`).
        all.extend(self.conversation.greetings.keys().filter_map(|k| LangTag::parse(k).ok()));
        all.sort();
        all.dedup();
        all
    }

    /// The language answered to a visitor who asked for `wanted` (none: the fallback).
    pub fn answer_language(&self, wanted: Option<&LangTag>) -> String {
        crate::lang::best_match(wanted, &self.languages())
    }

    /// The bot's greeting in `lang` (an answered language): its own text from
    /// `[conversation.greetings]`, else `conversation.greeting`.
    pub fn greeting_in(&self, lang: &str) -> &str {
        let configured = self
            .conversation
            .greetings
            .iter()
            .find(|(tag, _)| LangTag::parse(tag).is_ok_and(|t| t.as_str() == lang));
        configured.map_or(self.conversation.greeting.as_str(), |(_, text)| text.as_str())
    }

    /// The conversational style of a category: its own, else the global one.
    pub fn style_of(&self, category: &str) -> Style {
        self.category(category).and_then(|c| c.style).unwrap_or(self.conversation.style)
    }
}

/// An environment value is read as a TOML value when it parses as one (numbers, booleans),
/// and as a plain string otherwise ("127.0.0.1:0", "30s").
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let c = Config::from_sources("", env(&[])).unwrap();
        assert_eq!(c.routing.accept_window, Duration::from_secs(30));
        assert_eq!(c.routing.max_concurrent, 3);
        assert_eq!(c.conversation.style, Style::Returning);
        assert_eq!(c.categories[0].id, "general");
    }

    #[test]
    fn cluster_mode_is_off_by_default_and_read_from_the_environment() {
        let alone = Config::from_sources("", env(&[])).unwrap();
        assert!(!alone.cluster.enabled());
        assert_eq!((alone.cluster.replicas, alone.cluster.prefix.as_str()), (3, "sb"));
        let urls = r#"["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]"#;
        let c = Config::from_sources("", env(&[("SWITCHBOARD_CLUSTER_NATS_URLS", urls)])).unwrap();
        assert!(c.cluster.enabled());
        assert_eq!(c.cluster.nats_urls.len(), 2);
        let bad = |k: &str, v: &str| Config::from_sources("", env(&[(k, v)])).is_err();
        assert!(bad("SWITCHBOARD_CLUSTER_REPLICAS", "0"));
        assert!(bad("SWITCHBOARD_CLUSTER_PREFIX", "a.b"));
        assert!(bad("SWITCHBOARD_CLUSTER_NATS_URLS", r#"["http://x"]"#));
    }

    #[test]
    fn environment_overrides_file_and_reads_durations() {
        let toml = "[server]\nbind = \"0.0.0.0:9000\"\n[routing]\naccept_window = \"10s\"\n";
        let c = Config::from_sources(
            toml,
            env(&[
                ("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0"),
                ("SWITCHBOARD_ROUTING_MAX_CONCURRENT", "5"),
                ("SWITCHBOARD_OFFICE_HOURS_ENABLED", "true"),
                ("SWITCHBOARD_CONVERSATION_NUDGE_AFTER", "250ms"),
                ("OTHER_VAR", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.bind.port(), 0);
        assert_eq!(c.routing.accept_window, Duration::from_secs(10));
        assert_eq!(c.routing.max_concurrent, 5);
        assert!(c.office_hours.enabled);
        assert_eq!(c.conversation.nudge_after, Duration::from_millis(250));
    }

    #[test]
    fn categories_and_styles_parse() {
        let toml = r#"
            [[categories]]
            id = "billing"
            name = "Billing"
            style = "messaging"
            [[categories]]
            id = "reset"
            name = "Password reset"
            mode = "claim"
            certification = "identity"
            [[categories.tools]]
            name = "Reset tool"
            url = "https://tools.example/reset?user={customer_id}"
        "#;
        let c = Config::from_sources(toml, env(&[])).unwrap();
        assert_eq!(c.style_of("billing"), Style::Messaging);
        assert_eq!(c.style_of("reset"), Style::Returning);
        assert_eq!(c.category("reset").unwrap().tools.len(), 1);
    }

    #[test]
    fn greetings_are_chosen_by_the_answered_language_and_their_tags_checked() {
        let toml = r#"
            [conversation]
            greeting = "Hello!"
            [conversation.greetings]
            de = "Hallo!"
            "pt-br" = "Olá!"
            nl = "Hoi!"
        "#;
        let c = Config::from_sources(toml, env(&[])).unwrap();
        let answer = |t: &str| c.answer_language(Some(&LangTag::parse(t).unwrap()));
        assert_eq!(answer("de-CH"), "de");
        assert_eq!(answer("pt-BR"), "pt-BR");
        assert_eq!(answer("pt-PT"), "pt");
        assert_eq!(answer("nl-BE"), "nl", "a configured greeting adds its language");
        assert_eq!(answer("sv"), "en");
        assert_eq!(c.answer_language(None), "en");
        assert_eq!(c.greeting_in("de"), "Hallo!");
        assert_eq!(c.greeting_in("pt-BR"), "Olá!");
        assert_eq!(c.greeting_in("pt"), "Hello!", "no Portuguese greeting but Brazil's");
        assert_eq!(c.greeting_in("en"), "Hello!");
        let bad = Config::from_sources("[conversation.greetings]\n\"not a tag\" = \"x\"", env(&[]));
        assert!(format!("{}", bad.unwrap_err()).contains("not a tag"));
    }

    #[test]
    fn the_shipped_config_toml_states_the_defaults() {
        let shipped = include_str!("../config.toml");
        let c = Config::from_sources(shipped, env(&[])).unwrap();
        let d = Config::default();
        assert_eq!(format!("{:?}", c.server), format!("{:?}", d.server));
        assert_eq!(format!("{:?}", c.routing), format!("{:?}", d.routing));
        assert_eq!(format!("{:?}", c.conversation), format!("{:?}", d.conversation));
        assert_eq!(format!("{:?}", c.limits), format!("{:?}", d.limits));
        assert_eq!(format!("{:?}", c.office_hours), format!("{:?}", d.office_hours));
        assert_eq!(format!("{:?}", c.webhooks), format!("{:?}", d.webhooks));
        assert_eq!(format!("{:?}", c.retention), format!("{:?}", d.retention));
        assert_eq!(c.categories, d.categories);
    }

    #[test]
    fn retention_reads_durations_and_zero_keeps_forever() {
        let c =
            Config::from_sources("", env(&[("SWITCHBOARD_RETENTION_CLOSED_CONVERSATIONS", "30d")])).unwrap();
        assert_eq!(c.retention.closed_conversations, Duration::from_secs(30 * 24 * 3600));
        let forever = Config::from_sources("[retention]\nclosed_conversations = \"0\"", env(&[])).unwrap();
        assert!(forever.retention.closed_conversations.is_zero());
        assert!(Config::from_sources("[retention]\nsweep_every = \"0s\"", env(&[])).is_err());
    }

    #[test]
    fn durability_is_power_loss_unless_set_and_only_takes_its_two_names() {
        assert_eq!(Config::from_sources("", env(&[])).unwrap().server.durability, Durability::PowerLoss);
        let weaker = Config::from_sources("[server]\ndurability = \"process_crash\"", env(&[])).unwrap();
        assert_eq!(weaker.server.durability, Durability::ProcessCrash);
        let from_env =
            Config::from_sources("", env(&[("SWITCHBOARD_SERVER_DURABILITY", "process_crash")])).unwrap();
        assert_eq!(from_env.server.durability, Durability::ProcessCrash);
        for name in ["power_loss", "process_crash"] {
            let c = Config::from_sources(&format!("[server]\ndurability = {name:?}"), env(&[])).unwrap();
            assert_eq!(c.server.durability.name(), name, "name() is the configuration's own name");
        }
        for bad in ["fsync", "PowerLoss", ""] {
            let err = Config::from_sources(&format!("[server]\ndurability = {bad:?}"), env(&[])).unwrap_err();
            let err = err.to_string();
            assert!(
                err.contains("`power_loss` or `process_crash`"),
                "{bad:?} is refused naming the choices: {err}"
            );
        }
        assert!(Config::from_sources("[server]\ndurability = true", env(&[])).is_err());
    }

    #[test]
    fn bad_values_are_reported_not_ignored() {
        assert!(Config::from_sources("[routing]\naccept_window = \"soon\"", env(&[])).is_err());
        assert!(Config::from_sources("[server]\nbogus = 1", env(&[])).is_err());
        let long = "[conversation]\nmessaging_close_after = \"29d\"";
        assert!(Config::from_sources(long, env(&[])).is_err());
    }

    #[test]
    fn categories_read_sla_targets_and_zero_or_absent_sets_none() {
        let toml = "[[categories]]\nid = \"a\"\nname = \"A\"\nfirst_response_target = \"2m\"\n\
                    next_response_target = \"0s\"\n[[categories]]\nid = \"b\"\nname = \"B\"\n";
        let c = Config::from_sources(toml, env(&[])).unwrap();
        assert_eq!(c.categories[0].first_response_target, Some(Duration::from_secs(120)));
        assert_eq!(c.categories[1].first_response_target, None);
        let p = crate::sla::SlaPolicy::from_config(&c, None);
        use crate::domain::SlaKind::*;
        assert_eq!(p.target("a", FirstResponse), Some(Duration::from_secs(120)));
        assert_eq!(p.target("a", NextResponse), None, "zero is no target");
        assert_eq!(p.target("b", FirstResponse), None);
        let bad = "[[categories]]\nid = \"a\"\nname = \"A\"\nfirst_response_target = \"soon\"\n";
        assert!(Config::from_sources(bad, env(&[])).is_err());
    }
}
