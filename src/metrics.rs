//! Prometheus metrics: counters and histograms recorded where things happen, gauges read
//! from the router and the hub when `/metrics` is scraped.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls reuse it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Only fails if a recorder is already set, in which case that one keeps counting.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn message(author: &'static str) {
    counter!("switchboard_messages_total", "author" => author).increment(1);
}

pub fn offer_made() {
    counter!("switchboard_offers_total").increment(1);
}

/// An offer that ended without an accept, labelled with the same name the wire uses.
pub fn offer_ended(reason: crate::domain::OfferEnd) {
    counter!("switchboard_offers_ended_total", "reason" => reason.as_str()).increment(1);
}

pub fn claim() {
    counter!("switchboard_claims_total").increment(1);
}

pub fn release() {
    counter!("switchboard_releases_total").increment(1);
}

pub fn abandoned() {
    counter!("switchboard_abandoned_total").increment(1);
}

/// A response target passed unanswered.
pub fn sla_breach(category: &str, kind: crate::domain::SlaKind) {
    counter!("switchboard_sla_breaches_total", "category" => category.to_owned(), "kind" => kind.as_str())
        .increment(1);
}

/// A response target met: the office time the reply took, to read against the target.
pub fn sla_response(category: &str, kind: crate::domain::SlaKind, d: Duration) {
    histogram!("switchboard_sla_response_seconds", "category" => category.to_owned(), "kind" => kind.as_str())
        .record(d.as_secs_f64());
}

/// Time from queueing to an expert taking the chat.
pub fn wait(d: Duration) {
    histogram!("switchboard_wait_seconds").record(d.as_secs_f64());
}

pub fn first_response(d: Duration) {
    histogram!("switchboard_first_response_seconds").record(d.as_secs_f64());
}

pub fn handle_time(d: Duration) {
    histogram!("switchboard_handle_seconds").record(d.as_secs_f64());
}

/// One group commit: a write into the write-ahead log, plus its fdatasync when power-safe.
pub fn flush(d: Duration) {
    histogram!("switchboard_store_flush_seconds").record(d.as_secs_f64());
}

/// One checkpoint: sled's flush and sync, after which full log segments are deleted.
pub fn checkpoint(d: Duration) {
    histogram!("switchboard_store_checkpoint_seconds").record(d.as_secs_f64());
}

/// What acknowledged writes survive, as configured: `switchboard_durability{mode="..."} 1`.
pub fn durability(mode: crate::config::Durability) {
    gauge!("switchboard_durability", "mode" => mode.name()).set(1.0);
}

/// The live counts, set just before a scrape renders them.
pub struct Live {
    pub queued_by_category: Vec<(String, usize)>,
    pub open_chats: usize,
    pub experts_by_presence: [(&'static str, usize); 3],
    pub widgets: usize,
    pub consoles: usize,
}

pub fn render(live: Live) -> String {
    let handle = install();
    for (category, n) in live.queued_by_category {
        gauge!("switchboard_queued_chats", "category" => category).set(n as f64);
    }
    gauge!("switchboard_open_chats").set(live.open_chats as f64);
    for (presence, n) in live.experts_by_presence {
        gauge!("switchboard_experts", "presence" => presence).set(n as f64);
    }
    gauge!("switchboard_connected_widgets").set(live.widgets as f64);
    gauge!("switchboard_connected_consoles").set(live.consoles as f64);
    handle.render()
}
