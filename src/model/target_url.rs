//! A webhook's endpoint URL, checked once when it comes in: absolute `http`/`https`, a
//! host, no credentials (those belong in the webhook's auth), at most 2048 characters, and
//! acceptable to the HTTP client that will deliver to it. Whether its address is allowed
//! is a separate, network-dependent question answered by `delivery::guard`.

use std::net::IpAddr;

/// The longest target URL accepted.
pub const MAX_TARGET_URL_LEN: usize = 2048;

/// A validated endpoint URL, kept exactly as the customer wrote it. Only the text is
/// kept (one is held in memory per enabled webhook); its host and port are worked out
/// when they are needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    raw: Box<str>,
}

/// The host part of a target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// A literal address, in any of the forms a URL parser accepts (decimal, hex, brackets).
    Ip(IpAddr),
    /// A name that must be resolved.
    Domain(String),
}

/// Why a string is not a usable target URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetUrlError {
    #[error("targetUrl must be at most {MAX_TARGET_URL_LEN} characters")]
    TooLong,
    #[error("targetUrl is not an absolute URL: {0}")]
    Invalid(String),
    #[error("targetUrl must use http or https")]
    Scheme,
    #[error("targetUrl must not contain a username or password; use basic auth instead")]
    Credentials,
    #[error("targetUrl must be plain ASCII (write international domain names in punycode)")]
    NotAscii,
}

impl TargetUrl {
    /// Validates a URL given by a customer.
    pub fn parse(input: &str) -> Result<Self, TargetUrlError> {
        if input.chars().count() > MAX_TARGET_URL_LEN {
            return Err(TargetUrlError::TooLong);
        }
        let url = url::Url::parse(input).map_err(|e| TargetUrlError::Invalid(e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(TargetUrlError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetUrlError::Credentials);
        }
        if !input.is_ascii() || input.parse::<http_uri::Uri>().is_err() {
            return Err(TargetUrlError::NotAscii);
        }
        if url.host().is_none() {
            return Err(TargetUrlError::Invalid("missing host".into()));
        }
        Ok(TargetUrl { raw: input.into() })
    }

    /// A URL read back from storage, where it was validated on the way in.
    pub fn from_stored(raw: String) -> Self {
        TargetUrl { raw: raw.into_boxed_str() }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host, in the form the URL parser understood it (so `2130706433` is an IPv4
    /// address), and the port, explicit or the scheme's default.
    pub fn host_and_port(&self) -> Option<(TargetHost, u16)> {
        let url = url::Url::parse(&self.raw).ok()?;
        let host = match url.host()? {
            url::Host::Ipv4(ip) => TargetHost::Ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => TargetHost::Ip(IpAddr::V6(ip)),
            url::Host::Domain(name) => TargetHost::Domain(name.to_owned()),
        };
        Some((host, url.port_or_known_default().unwrap_or(80)))
    }
}

/// The `http` crate's URI type, which the delivery client uses.
mod http_uri {
    pub use actix_web::http::Uri;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_and_keeps_the_text() {
        let url = TargetUrl::parse("https://example.com/hooks/mail?x=1").unwrap();
        assert_eq!(url.as_str(), "https://example.com/hooks/mail?x=1");
        assert_eq!(url.host_and_port(), Some((TargetHost::Domain("example.com".into()), 443)));
    }

    #[test]
    fn refuses_other_schemes_relative_urls_credentials_and_long_urls() {
        assert_eq!(TargetUrl::parse("ftp://example.com/"), Err(TargetUrlError::Scheme));
        assert!(matches!(TargetUrl::parse("/hooks"), Err(TargetUrlError::Invalid(_))));
        assert_eq!(TargetUrl::parse("https://u:p@example.com/"), Err(TargetUrlError::Credentials));
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(TargetUrl::parse(&long), Err(TargetUrlError::TooLong));
    }

    #[test]
    fn literal_addresses_in_every_form_are_recognised() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        for form in ["http://127.0.0.1/", "http://2130706433/", "http://0x7f000001/", "http://127.1/"] {
            assert_eq!(TargetUrl::parse(form).unwrap().host_and_port(), Some((TargetHost::Ip(loopback), 80)), "{form}");
        }
        let v6 = TargetUrl::parse("http://[::ffff:127.0.0.1]:8080/").unwrap();
        assert!(matches!(v6.host_and_port(), Some((TargetHost::Ip(IpAddr::V6(_)), 8080))));
    }
}
