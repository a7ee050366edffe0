//! Outbound-address guard (SSRF). Customers type target URLs; unless private targets are
//! allowed, the engine must never be made to call loopback, private, link-local or other
//! internal addresses. The check runs twice: when a URL is saved (so the customer hears
//! about it at once) and at connect time, inside the HTTP client's resolver, so that the
//! address actually connected to is the one that was checked (no DNS-rebinding gap).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use crate::model::{TargetHost, TargetUrl};

/// Why a target's address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {addr}, a loopback, private or otherwise internal address")]
pub struct BlockedAddress {
    pub host: String,
    pub addr: IpAddr,
}

/// True for addresses a webhook must not reach unless private targets are allowed.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        // IPv4-mapped and -compatible forms reach IPv4 hosts: refuse them outright, as a
        // public service has no reason to be addressed that way.
        return is_forbidden_v4(v4) || segments[..5] == [0, 0, 0, 0, 0];
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
}

/// The IPv4 address inside an IPv6 form that carries one: mapped `::ffff:a.b.c.d`,
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// How long a save-time DNS check may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks a target when it is saved. A literal address is checked as written; a name is
/// resolved and every address it resolves to must be allowed. A name that does not
/// resolve (yet) is accepted: delivery checks it again at connect time.
pub async fn check_target(url: &TargetUrl, allow_private: bool) -> Result<(), BlockedAddress> {
    if allow_private {
        return Ok(());
    }
    let Some((host, port)) = url.host_and_port() else { return Ok(()) };
    match host {
        TargetHost::Ip(ip) => refuse_if_forbidden(&ip.to_string(), ip),
        TargetHost::Domain(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(addrs)) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    check_resolved(&name, &addrs)
                }
                _ => Ok(()),
            }
        }
    }
}

fn refuse_if_forbidden(host: &str, addr: IpAddr) -> Result<(), BlockedAddress> {
    if is_forbidden(addr) {
        Err(BlockedAddress { host: host.to_owned(), addr })
    } else {
        Ok(())
    }
}

/// Every resolved address must be allowed: a name that mixes public and internal
/// addresses is refused rather than trusted to pick the public one.
fn check_resolved(host: &str, addrs: &[SocketAddr]) -> Result<(), BlockedAddress> {
    addrs.iter().try_for_each(|a| refuse_if_forbidden(host, a.ip()))
}

/// The delivery client's resolver: resolves like the system does, then refuses forbidden
/// addresses, so the connection can only go to an address that passed the check.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            check_resolved(host, &addrs)?;
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(forbidden(ip), "{ip} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::8.8.8.8"] {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    #[actix_rt::test]
    async fn save_time_check_covers_literals_and_names() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://[::1]:9/",
            "http://[::ffff:7f00:1]/",
            "http://localhost:8080/x",
        ] {
            let url = TargetUrl::parse(url).unwrap();
            assert!(check_target(&url, false).await.is_err(), "{url:?}");
            assert!(check_target(&url, true).await.is_ok());
        }
        let public = TargetUrl::parse("http://93.184.216.34/hook").unwrap();
        assert!(check_target(&public, false).await.is_ok());
    }

    #[actix_rt::test]
    async fn connect_time_resolver_refuses_a_name_for_loopback() {
        use actix_tls::connect::Resolve;
        let err = GuardedResolver.lookup("localhost", 80).await.unwrap_err();
        assert!(err.downcast_ref::<BlockedAddress>().is_some(), "{err}");
    }
}
