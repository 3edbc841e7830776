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
