//! The client's address: the TCP peer, or — when the peer is a configured trusted reverse
//! proxy — the client that proxy names in `Forwarded` (RFC 7239) or `X-Forwarded-For`.
//!
//! Proxies append the address they received a request from, so the header is read from the
//! right: hops that are trusted proxies are skipped and the first address that is not one is
//! the client. Anything to its left was written by the client itself and is not believed. A
//! request from an untrusted peer is attributed to the peer whatever its headers say. The
//! address is resolved once per request, into the [`ClientAddr`] extension that the rate
//! limiter and sign-in lockout read.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The address a request is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request that arrived from `peer`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => client = *ip,
            Some(ip) => return *ip,
            // An entry that is no address (`unknown`, an obfuscated name, garbage): stop at
            // the last hop that could be checked.
            None => return client,
        }
    }
    client
}

/// The hops a request passed, oldest first: from `Forwarded` when present, otherwise from
/// `X-Forwarded-For`; `None` for an entry that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim().trim_matches('"')))
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .flat_map(|value| value.split(','))
        .map(|entry| parse_node(entry.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|addr| addr.ip())
}

/// Middleware: puts the request's [`ClientAddr`] into its extensions.
pub(crate) async fn attribute(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<Vec<IpNet>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let client = resolve(peer, req.headers(), &trusted);
    req.extensions_mut().insert(ClientAddr(client));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()];
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        // Straight from the internet: the headers are the client's own words.
        assert_eq!(resolve(ip("198.51.100.4"), &spoofed, &trusted), ip("198.51.100.4"));
        // Through the proxy: the client it saw.
        assert_eq!(resolve(ip("10.1.2.3"), &spoofed, &trusted), ip("203.0.113.9"));
        // A client that forges a hop gets the address the proxy saw, not the forged one.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(resolve(ip("10.1.2.3"), &forged, &trusted), ip("203.0.113.9"));
        // Two proxies in a row, in separate header lines.
        let chain = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(resolve(ip("10.1.2.3"), &chain, &trusted), ip("203.0.113.9"));
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(resolve(ip("10.1.2.3"), &HeaderMap::new(), &trusted), ip("10.1.2.3"));
        // Nothing is trusted by default.
        assert_eq!(resolve(ip("10.1.2.3"), &spoofed, &[]), ip("10.1.2.3"));
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let cases = [
            ("for=192.0.2.60;proto=https;by=10.0.0.1", "192.0.2.60"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=192.0.2.43:8080, for=10.0.0.5", "192.0.2.43"),
            ("For=\"192.0.2.43\"", "192.0.2.43"),
            // An obfuscated or unknown hop cannot be checked: the proxy is the client.
            ("for=_hidden, for=10.0.0.5", "10.0.0.5"),
            ("for=unknown", "10.1.2.3"),
        ];
        for (value, expected) in cases {
            let forwarded = headers(&[("forwarded", value), ("x-forwarded-for", "198.51.100.1")]);
            assert_eq!(resolve(ip("10.1.2.3"), &forwarded, &trusted), ip(expected), "{value}");
        }
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(resolve(ip("10.1.2.3"), &garbage, &trusted), ip("10.1.2.3"));
    }
}
