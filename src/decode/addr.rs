//! An endpoint's address and port, as the wire gives them.

use std::net::IpAddr;

use serde::Serialize;

/// An address and port. Serialized as its `Display` text, `10.0.0.1:443` or
/// `[2001:db8::1]:443`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointAddr {
    pub ip: IpAddr,
    pub port: u16,
}

impl Serialize for EndpointAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.ip {
            // Without `core::fmt`: four addresses per connection record made
            // it a visible share of a JSON run's instructions.
            IpAddr::V4(v4) => {
                let mut text = arrayvec::ArrayString::<21>::new();
                text.push_str(&ipv4_text(v4));
                text.push(':');
                let mut port = itoa::Buffer::new();
                text.push_str(port.format(self.port));
                s.serialize_str(&text)
            }
            IpAddr::V6(_) => s.collect_str(self),
        }
    }
}

/// `v4`'s dotted-decimal text, as `Display` writes it, without `core::fmt`.
pub fn ipv4_text(v4: std::net::Ipv4Addr) -> arrayvec::ArrayString<15> {
    // An `ArrayString` is built from chars, so it needs no UTF-8 check.
    let mut text = arrayvec::ArrayString::<15>::new();
    let digit = |d: u8| char::from(b'0' + d);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(digit(octet / 100));
        }
        if octet >= 10 {
            text.push(digit(octet / 10 % 10));
        }
        text.push(digit(octet % 10));
    }
    text
}

impl std::fmt::Display for EndpointAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    proptest! {
        #[test]
        fn ipv4_text_is_what_display_writes(octets in any::<[u8; 4]>(), port in any::<u16>()) {
            let addr = EndpointAddr { ip: IpAddr::from(octets), port };
            let json = serde_json::to_string(&addr).unwrap();
            prop_assert_eq!(json, format!(r#""{}:{port}""#, Ipv4Addr::from(octets)));
        }
    }

    #[test]
    fn ipv6_is_bracketed() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let json = serde_json::to_string(&EndpointAddr { ip, port: 443 }).unwrap();
        assert_eq!(json, r#""[2001:db8::1]:443""#);
    }
}
