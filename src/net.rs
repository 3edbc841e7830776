//! Network addresses: which a webhook may be sent to, which address a request came from, and
//! which other sites' pages may call us.
//! Below the configuration, which checks its webhook URLs with these rules.

use std::net::IpAddr;

use actix_web::http::Uri;

/// Refuses endpoints that would let the server be pointed at itself or its network.
pub fn check_endpoint(url: &str, allow_private: bool) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("webhook url {url:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("webhook url {url:?} must be http or https"));
    }
    let host = uri.host().ok_or_else(|| format!("webhook url {url:?} has no host"))?;
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        if !allow_private && internal(ip) {
            return Err(format!(
                "webhook url {url:?} points into a private range (set webhooks.allow_private)"
            ));
        }
    }
    Ok(())
}

/// Loopback, private, link-local, shared and other non-public addresses.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// Whether a page of `origin` (scheme://host[:port]) is one `allowed` lists (`"*"`: any).
pub fn origin_listed(origin: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The client's address as an edge node passes it on to the core (cluster mode).
pub const FORWARDED_CLIENT: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-switchboard-client");
/// The deployment's forwarding key, which proves `FORWARDED_CLIENT` was set by a node.
pub const FORWARDED_KEY: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-switchboard-forwarding-key");

/// The client address an edge node passed on with a request, when the request carries the
/// deployment's forwarding `key` (nodes derive it from the secret they share in the store,
/// so a client cannot choose its own address; the edge drops these headers from clients).
pub fn forwarded_client(req: &actix_web::HttpRequest, key: &str) -> Option<IpAddr> {
    let presented = req.headers().get(FORWARDED_KEY)?.to_str().ok()?;
    if !crate::auth::same_secret(key, presented) {
        return None;
    }
    req.headers().get(FORWARDED_CLIENT)?.to_str().ok()?.parse().ok()
}

/// This machine's host name, for names and addresses nobody configured.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".into())
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// nearest untrusted address it forwarded for.
pub fn client_ip(req: &actix_web::HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if !trusted.contains(&peer) {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok())
        .and_then(|chain| {
            chain
                .rsplit(',')
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .find(|ip| !trusted.contains(ip))
        })
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_endpoints_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/h",
            "http://10.1.2.3/h",
            "http://192.168.0.9/h",
            "http://169.254.1.1/h",
            "http://[::1]/h",
            "http://100.64.0.1/h",
        ] {
            assert!(check_endpoint(url, false).is_err(), "{url}");
            assert!(check_endpoint(url, true).is_ok(), "{url}");
        }
        assert!(check_endpoint("https://crm.example.com/hooks", false).is_ok());
        assert!(check_endpoint("https://93.184.216.34/hooks", false).is_ok());
        assert!(check_endpoint("ftp://crm.example.com/", false).is_err());
    }
}
