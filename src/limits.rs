//! Abuse limits: token buckets (governor) per connection, per address and per username, and
//! counts of open connections. Limiter keys that have gone quiet are pruned regularly.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsConfig;
use crate::domain::{ErrorCode, Refusal};

fn per_second(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("at least one");
    Quota::per_second(n).allow_burst(n.saturating_mul(NonZeroU32::new(2).expect("two")))
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("at least one");
    Quota::per_minute(n).allow_burst(n)
}

fn limited(what: &str) -> Refusal {
    Refusal::new(ErrorCode::RateLimited, format!("too many {what}; slow down"))
}

/// The server-wide limiters, keyed by address or username.
pub struct Limiters {
    new_chats: DefaultKeyedRateLimiter<IpAddr>,
    connects: DefaultKeyedRateLimiter<IpAddr>,
    logins_by_name: DefaultKeyedRateLimiter<String>,
    logins_by_address: DefaultKeyedRateLimiter<IpAddr>,
    connections: Arc<Connections>,
}

impl Limiters {
    pub fn new(c: &LimitsConfig) -> Limiters {
        Limiters {
            new_chats: RateLimiter::keyed(per_minute(c.new_chats_per_minute)),
            connects: RateLimiter::keyed(per_minute(c.connections_per_minute)),
            logins_by_name: RateLimiter::keyed(per_minute(c.logins_per_minute)),
            logins_by_address: RateLimiter::keyed(per_minute(c.logins_per_minute)),
            connections: Arc::new(Connections {
                total: AtomicUsize::new(0),
                by_address: DashMap::new(),
                max_total: c.max_connections,
                max_per_address: c.max_connections_per_address,
            }),
        }
    }

    pub fn new_chat(&self, from: IpAddr) -> Result<(), Refusal> {
        self.new_chats.check_key(&from).map_err(|_| limited("new chats"))
    }

    pub fn login(&self, username: &str, from: IpAddr) -> Result<(), Refusal> {
        let by_address = self.logins_by_address.check_key(&from);
        let by_name = self.logins_by_name.check_key(&username.to_lowercase());
        by_address.and(by_name).map_err(|_| limited("login attempts"))
    }

    /// Admits a websocket connection, holding its slot until the returned guard drops.
    pub fn connect(&self, from: IpAddr) -> Result<ConnectionSlot, Refusal> {
        self.connects.check_key(&from).map_err(|_| limited("connection attempts"))?;
        self.connections.admit(from)
    }

    pub fn open_connections(&self) -> usize {
        self.connections.total.load(Ordering::Relaxed)
    }

    /// Forgets keys whose buckets have refilled, so memory follows current traffic only.
    pub fn prune(&self) {
        fn prune<K: Hash + Eq + Clone>(l: &DefaultKeyedRateLimiter<K>) {
            l.retain_recent();
            l.shrink_to_fit();
        }
        prune(&self.new_chats);
        prune(&self.connects);
        prune(&self.logins_by_name);
        prune(&self.logins_by_address);
    }
}

struct Connections {
    total: AtomicUsize,
    by_address: DashMap<IpAddr, usize>,
    max_total: usize,
    max_per_address: usize,
}

impl Connections {
    fn admit(self: &Arc<Self>, from: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let full = || Refusal::new(ErrorCode::RateLimited, "too many connections; try again later");
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(full());
        }
        let mut here = self.by_address.entry(from).or_insert(0);
        if *here >= self.max_per_address {
            drop(here);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(full());
        }
        *here += 1;
        Ok(ConnectionSlot { connections: self.clone(), from })
    }
}

/// One open connection, counted until dropped.
pub struct ConnectionSlot {
    connections: Arc<Connections>,
    from: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        if let dashmap::mapref::entry::Entry::Occupied(mut e) = self.connections.by_address.entry(self.from) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// One connection's buckets: chat messages, and frames of any kind.
pub struct FrameLimits {
    messages: DefaultDirectRateLimiter,
    frames: DefaultDirectRateLimiter,
    /// Limited frames in a row; a persistent flood closes the socket.
    strikes: u32,
    max_strikes: u32,
}

/// What to do with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Refuse(Refusal),
    /// Refuse, and close: the client keeps flooding.
    Close,
}

impl FrameLimits {
    pub fn new(c: &LimitsConfig) -> FrameLimits {
        FrameLimits {
            messages: RateLimiter::direct(per_second(c.messages_per_second)),
            frames: RateLimiter::direct(per_second(c.frames_per_second)),
            strikes: 0,
            max_strikes: c.flood_strikes.max(1),
        }
    }

    pub fn check(&mut self, is_message: bool) -> Verdict {
        let ok = self.frames.check().is_ok() && (!is_message || self.messages.check().is_ok());
        if ok {
            self.strikes = 0;
            return Verdict::Pass;
        }
        self.strikes += 1;
        if self.strikes >= self.max_strikes {
            Verdict::Close
        } else {
            Verdict::Refuse(limited(if is_message { "messages" } else { "frames" }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            messages_per_second: 2,
            frames_per_second: 100,
            flood_strikes: 3,
            max_connections_per_address: 2,
            ..Default::default()
        }
    }

    #[test]
    fn a_flood_is_refused_then_closed() {
        let mut f = FrameLimits::new(&limits());
        for _ in 0..4 {
            assert_eq!(f.check(true), Verdict::Pass, "a burst of twice the rate passes");
        }
        assert!(matches!(f.check(true), Verdict::Refuse(r) if r.code == ErrorCode::RateLimited));
        assert!(matches!(f.check(true), Verdict::Refuse(_)));
        assert_eq!(f.check(true), Verdict::Close);
        assert_eq!(f.check(false), Verdict::Pass, "other frames have their own bucket");
    }

    #[test]
    fn connections_are_counted_per_address_until_dropped() {
        let l = Limiters::new(&limits());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let one = l.connect(a).unwrap();
        let _two = l.connect(a).unwrap();
        assert!(l.connect(a).is_err());
        let _other = l.connect(b).expect("other addresses are unaffected");
        drop(one);
        let _again = l.connect(a).expect("a slot freed by a closed connection");
        assert_eq!(l.open_connections(), 3);
    }
}
