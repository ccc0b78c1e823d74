//! Where Ventros may connect on a tenant's say-so: outbound webhook receivers, and the WAHA and
//! Graph base URLs of a channel.
//!
//! Why: those URLs come from tenants' admins. Without a guard, a channel's `base_url` pointing at
//! the cloud metadata address, the database or another internal service makes the worker (with the
//! channel's API key in a header) a proxy into our network. The rule, applied when the URL is
//! stored and again where the connection is made: only public addresses (names are resolved to
//! public addresses only, so DNS cannot smuggle a private one), no redirects, no credentials in
//! the URL. An explicit policy lets the local stack and tests use loopback, and a deployment name
//! the private hosts it runs on purpose (WAHA on the compose network).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether an address is on the public internet. Everything else (loopback, private ranges,
/// link-local and the metadata address, carrier-grade NAT, benchmarking, reserved, unique-local
/// and link-local IPv6, and the IPv6 ranges that embed an IPv4 address: mapped, NAT64, 6to4,
/// Teredo) could be our own infrastructure.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || s[..6].iter().all(|x| *x == 0))
        }
    }
}

/// Which non-public destinations a client may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Every address (the local stack and the tests, whose simulators listen on loopback).
    pub allow_private: bool,
    /// Host names (or literal addresses) allowed even though they are private, lower case.
    pub allowed_hosts: Vec<String>,
}

impl NetPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        NetPolicy::default()
    }

    /// Any address: development and tests.
    pub fn private_allowed() -> Self {
        NetPolicy {
            allow_private: true,
            allowed_hosts: Vec::new(),
        }
    }

    /// `allow_private` plus a comma-separated list of private hosts allowed by name.
    pub fn new(allow_private: bool, hosts: &[String]) -> Self {
        NetPolicy {
            allow_private,
            allowed_hosts: hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    /// Checks a URL a tenant gave: http(s), a host, no user name or password, and (unless the
    /// policy allows it) not a private literal address or `localhost`. Names are checked again
    /// where the connection is made.
    pub fn check_url(&self, raw: &str, what: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(raw.trim())
            .map_err(|_| format!("{what} must be an http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{what} must be an http(s) URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{what} must not carry credentials"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{what} must name a host"))?
            .to_owned();
        if self.allow_private || self.host_allowed(&host) {
            return Ok(url);
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(d))
                if d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost") =>
            {
                Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
            }
            _ => None,
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(format!("{what} is not a public address"));
        }
        Ok(url)
    }

    /// An HTTP client that follows no redirects and, unless the policy allows private addresses,
    /// connects to public addresses only (or the allowed hosts).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if self.allow_private {
            builder
        } else {
            builder.dns_resolver(Arc::new(PublicOnly {
                allowed_hosts: self.allowed_hosts.clone(),
            }))
        }
    }
}

/// Resolves names to public addresses only (an allowed host resolves to whatever it is).
struct PublicOnly {
    allowed_hosts: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name.as_str()));
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allowed || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the host does not resolve to a public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_against_the_policy() {
        let public = NetPolicy::public_only();
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "http://api.localhost",
            "http://[::1]:3000",
            "http://10.0.0.5",
            "http://[::ffff:10.0.0.5]",
            "http://user:pass@waha.example.com",
            "ftp://waha.example.com",
            "file:///etc/passwd",
            "not a url",
            "http://0x7f000001",
            "http://2130706433",
        ] {
            assert!(public.check_url(bad, "base_url").is_err(), "{bad}");
        }
        assert!(
            public
                .check_url("https://waha.example.com:3000/", "base_url")
                .is_ok()
        );
        let compose = NetPolicy::new(false, &["waha".into()]);
        assert!(compose.check_url("http://waha:3000", "base_url").is_ok());
        assert!(
            compose
                .check_url("http://10.0.0.5:3000", "base_url")
                .is_err()
        );
        assert!(
            NetPolicy::private_allowed()
                .check_url("http://127.0.0.1:3000", "base_url")
                .is_ok()
        );
    }
}
