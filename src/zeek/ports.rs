//! Zeek's `likely_server_ports` for TCP, as its default scripts
//! (`zeek` without `-b`, i.e. base/init-default.zeek) leave it.
//!
//! Each protocol script adds its well-known ports with
//! `redef likely_server_ports += { ports };` (scripts/base/protocols/*/main.zeek).
//! Zeek uses the set only for a connection whose first packet is not a plain SYN:
//! a likely server port at the source flips the roles (`TCPAnalyzer::WantConnection`).
//! With `zeek -b` only the protocols a script loads contribute, so bare-mode
//! baselines can flip less (docs/zeek.md).

/// TCP ports, sorted, with the script that adds each.
const LIKELY_SERVER_PORTS: &[u16] = &[
    21,    // ftp
    22,    // ssh
    25,    // smtp
    53,    // dns
    79,    // finger
    80,    // http
    81,    // http
    88,    // krb
    135,   // dce-rpc
    139,   // smb
    143,   // imap
    389,   // ldap
    443,   // ssl
    445,   // smb
    465,   // ssl
    502,   // modbus
    563,   // ssl
    585,   // ssl
    587,   // smtp
    614,   // ssl
    631,   // http
    636,   // ssl
    750,   // krb
    989,   // ssl
    990,   // ssl
    992,   // ssl
    993,   // ssl
    995,   // ssl
    1080,  // http, socks
    1434,  // mysql
    1883,  // mqtt
    2811,  // ftp (GridFTP)
    3128,  // http
    3268,  // ldap
    3306,  // mysql
    3389,  // rdp
    5222,  // xmpp
    5223,  // ssl
    5269,  // xmpp
    5432,  // postgresql
    6379,  // redis
    6666,  // irc
    6667,  // irc
    6668,  // irc
    6669,  // irc
    8000,  // http
    8080,  // http
    8888,  // http
    20000, // dnp3
];

/// Whether Zeek's default scripts list `port/tcp` in `likely_server_ports`.
pub fn is_likely_server_port(port: u16) -> bool {
    LIKELY_SERVER_PORTS.binary_search(&port).is_ok()
}

/// The ports for which base/protocols/conn/inactivity.zeek raises the
/// inactivity timeout to one hour once a connection is established
/// (`Conn::port_inactivity_timeouts`: ftp, ssh, telnet, rlogin).
pub fn has_long_inactivity_timeout(port: u16) -> bool {
    matches!(port, 21 | 22 | 23 | 513)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_for_binary_search() {
        assert!(LIKELY_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn well_known_ports_are_likely_servers() {
        for p in [22, 80, 443, 6669] {
            assert!(is_likely_server_port(p), "{p}");
        }
        for p in [0, 1024, 6705, 56730, 65535] {
            assert!(!is_likely_server_port(p), "{p}");
        }
    }
}
