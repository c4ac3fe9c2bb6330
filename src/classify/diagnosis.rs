//! Diagnoses: what a class (or the `time_wait_reuse` or `challenged_rst` flag) means, what usually
//! causes it, and what to check, in words correct for current Linux kernels.
//! Carried in the report's summary so every renderer shows the same words.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Class, Flag, Thresholds};

#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// The class or flag this is about.
    pub topic: &'static str,
    /// Connections concerned.
    pub count: u64,
    /// One-line headline.
    pub title: &'static str,
    /// The socket states operators see in `ss`/`netstat` for it (active closer /
    /// peer), empty where none applies.
    pub states: &'static str,
    /// What the evidence means.
    pub meaning: String,
    /// Usual causes, most likely first.
    pub causes: Vec<&'static str>,
    /// What to check next, with the commands and settings that matter.
    pub checks: Vec<&'static str>,
}

/// What a diagnosis is about: a class, or a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topic {
    Class(Class),
    Flag(Flag),
}

impl Topic {
    fn name(self) -> &'static str {
        match self {
            Topic::Class(c) => c.name(),
            Topic::Flag(f) => f.name(),
        }
    }
}

struct Text {
    topic: Topic,
    title: &'static str,
    states: &'static str,
    causes: &'static [&'static str],
    checks: &'static [&'static str],
}

const TEXTS: &[Text] = &[
    Text {
        topic: Topic::Class(Class::HalfClosedHang),
        title: "Half-closed and stuck: FIN acknowledged, the peer never closed",
        states: "FIN_WAIT_2 / CLOSE_WAIT",
        causes: &[
            "The application on the CLOSE_WAIT side never calls close(): it does not act on end-of-file (read() returning 0), leaks the socket on an error path, or a thread that owns it is blocked.",
            "A connection pool keeps idle connections without checking them, so a peer's close goes unnoticed until the next use.",
        ],
        checks: &[
            "On the passive host: `ss -tanp state close-wait` shows which process holds the sockets; a count that only grows is a descriptor leak.",
            "The kernel has no timer for CLOSE_WAIT: the socket stays until the application calls close(), unless a RST arrives, SO_KEEPALIVE probes go unanswered, or data it sends goes unacknowledged past `net.ipv4.tcp_retries2`. Fix the code path that handles end-of-file.",
            "`net.ipv4.tcp_fin_timeout` (default 60 s) only limits FIN_WAIT_2 for orphaned sockets (already close()d). A closer that used shutdown(SHUT_WR) and still holds the descriptor stays in FIN_WAIT_2 indefinitely.",
        ],
    },
    Text {
        topic: Topic::Class(Class::LostFin),
        title: "A FIN or its final ACK was lost",
        states: "FIN_WAIT_1 / ESTABLISHED, or TIME_WAIT / LAST_ACK",
        causes: &[
            "A stateful firewall, NAT or load balancer dropped the FIN or the last ACK, typically because its connection-tracking entry had already expired after an idle period longer than its timeout.",
            "Asymmetric routing through a stateful device that only sees one direction.",
            "An overloaded or unreachable peer.",
        ],
        checks: &[
            "Compare `timings.idle_before_close` with the idle timeouts of firewalls, NAT gateways and load balancers on the path (Linux conntrack: `net.netfilter.nf_conntrack_tcp_timeout_established`).",
            "A FIN resent after its ACK was seen (`acks_lost` in the evidence) means the ACK vanished beyond the capture point: capture on the other side of the suspected device.",
            "An orphaned socket (already close()d) gives up on its FIN after `net.ipv4.tcp_orphan_retries` back-offs (default 0, which means 8 while the RTO is under 120 s: about 100 s from a 200 ms RTO); one still open after shutdown(SHUT_WR) gives up after `net.ipv4.tcp_retries2` (default 15: about 15 minutes). Either way it is dropped without a RST.",
        ],
    },
    Text {
        topic: Topic::Class(Class::Reset),
        title: "Aborted with RST instead of a FIN handshake",
        states: "CLOSED / CLOSED",
        causes: &[
            "SO_LINGER with a zero timeout: close() aborts with a RST instead of a FIN (counted as TCPAbortOnData), used by some proxies and clients to avoid TIME_WAIT.",
            "close() with unread data in the receive buffer makes Linux send RST instead of FIN (TCPAbortOnClose; RFC 9293 §3.6.1, RFC 2525 §2.17). A process that exits or crashes is closed the same way: FIN, or RST if data was unread.",
            "Data arrived after the receiving application had closed its socket (a server writing after the client closed): the closed side answers with RST, usually counted as TCPAbortOnData there. See `reset.after_fin` and the `data_after_fin` flag.",
            "A middlebox or idle timeout killed the connection, or the peer no longer knows it (host rebooted, socket long gone): Linux answers a segment for a connection it has no socket for with a RST.",
        ],
        checks: &[
            "Who sent it (`reset.by`) and whether a FIN came first (`reset.after_fin`).",
            "On the host that sent it: `nstat -az | grep TCPAbortOn` counts aborts by cause: TCPAbortOnClose (close() with unread data), TCPAbortOnData (data arriving after close(), or close() with SO_LINGER 0), TCPAbortOnLinger (close() in FIN_WAIT_2 with TCP_LINGER2 < 0), TCPAbortOnTimeout (retransmissions or probes ran out; only keepalive sends a RST), TCPAbortOnMemory (too many orphans, or out of TCP memory).",
            "Application use of SO_LINGER and request bodies left unread before close().",
        ],
    },
    Text {
        topic: Topic::Class(Class::Refused),
        title: "Connection refused: SYN answered by RST",
        states: "CLOSED / CLOSED",
        causes: &[
            "Nothing listened on that address and port (service down, restarting, or bound to another address).",
            "A firewall rule rejecting with a TCP reset.",
        ],
        checks: &[
            "`ss -ltn` on the server: is the service listening on this exact address and port?",
            "Service restarts or crashes at the times of the refused SYNs.",
            "A full accept queue never makes Linux answer a SYN with a RST: it drops the SYN (see unanswered). With `net.ipv4.tcp_abort_on_overflow=1` (default 0) it resets the handshake's final ACK instead, after its SYN-ACK: that shows as reset, not refused.",
        ],
    },
    Text {
        topic: Topic::Class(Class::Unanswered),
        title: "SYNs with no reply",
        states: "SYN_SENT / (nothing)",
        causes: &[
            "The SYN is dropped: a firewall, a routing problem, or a host that is down.",
            "The server's listen queue is full: Linux drops the SYN when the accept queue is full (TcpExtListenOverflows), or when the SYN queue is full and `net.ipv4.tcp_syncookies` is 0 (default 1: it answers with a SYN cookie instead). A final ACK that finds the accept queue full is dropped too, and the server resends its SYN-ACK.",
            "A SYN flood with spoofed sources: the SYN-ACKs (or SYN cookies) go to hosts that never answer.",
            "The capture saw only one direction of the traffic.",
        ],
        checks: &[
            "On the server: `nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop`; `ss -ltn` shows the accept queue (Recv-Q) against the backlog (Send-Q), which listen() caps at `net.core.somaxconn` (default 4096 since Linux 5.4, 128 before).",
            "Firewall rules that DROP rather than REJECT.",
            "Whether the capture point sees both directions (asymmetric routing, one-sided mirror port).",
        ],
    },
    Text {
        topic: Topic::Class(Class::Incomplete),
        title: "The capture ended before the close could be judged",
        states: "",
        causes: &[
            "A FIN younger than the grace period, a half-close shorter than the hang threshold, or a peer still sending when the capture stopped.",
        ],
        checks: &[
            "Capture for longer, or lower `--hang-after` / `--fin-grace` if the application's normal close is known to be faster.",
        ],
    },
    Text {
        topic: Topic::Class(Class::Open),
        title: "Still open when the capture ended",
        states: "ESTABLISHED / ESTABLISHED",
        causes: &[
            "Long-lived or idle connections (pools, keep-alive, streaming); not a problem by itself.",
        ],
        checks: &[
            "Large numbers of idle open connections can exhaust server descriptors or middlebox state: compare with pool sizes and idle timeouts.",
        ],
    },
    Text {
        topic: Topic::Class(Class::Clean),
        title: "Clean close: both FINs acknowledged",
        states: "TIME_WAIT / CLOSED",
        causes: &["Both applications closed and every FIN was acknowledged."],
        checks: &[
            "Nothing to fix. The side that closed first holds TIME_WAIT for 60 s on Linux (TCP_TIMEWAIT_LEN, fixed at build time: no sysctl in mainline kernels).",
        ],
    },
    Text {
        topic: Topic::Flag(Flag::TimeWaitReuse),
        title: "4-tuple reused while still in TIME_WAIT: port exhaustion under churn",
        states: "TIME_WAIT (previous connection) / SYN_SENT (new)",
        causes: &[
            "Many short connections from one client address to the same server address and port: the client cycles through its ephemeral ports faster than TIME_WAIT (2×MSL, 60 s on Linux) expires.",
            "No connection reuse (HTTP keep-alive off, `Connection: close`, no pooling), or a narrow `net.ipv4.ip_local_port_range`.",
        ],
        checks: &[
            "Reuse connections (keep-alive, pools) and widen `net.ipv4.ip_local_port_range` on the client.",
            "When the server holds TIME_WAIT (it closed first), Linux accepts the new SYN only if its timestamp or sequence number is higher than the old connection's (`reuse.ts_advanced`, or `reuse.isn_advanced` without timestamps); otherwise it answers with an ACK and the client retries.",
            "`net.ipv4.tcp_tw_reuse` only affects outgoing connections (the client's own TIME_WAIT), needs TCP timestamps on the old connection and waits about 1 s (`net.ipv4.tcp_tw_reuse_delay` on recent kernels); its default, 2, enables it for loopback only. A client that bind()s its port (with SO_REUSEADDR) before connect() reuses its TIME_WAIT whenever the old connection used timestamps, whatever the setting. It does nothing for a server.",
            "`net.ipv4.tcp_tw_recycle` no longer exists: it was removed in Linux 4.12, and broke clients behind NAT before that.",
        ],
    },
    Text {
        topic: Topic::Flag(Flag::ChallengedRst),
        title: "RST in the window but not at the expected sequence number: challenged, ignored",
        states: "",
        causes: &[
            "A RST forged or injected on the path (a firewall, IPS or censor resetting connections, or an off-path attack guessing the sequence number): its IP TTL or IP id often differs from the other packets of its claimed sender.",
            "A stack or middlebox that resets at a stale or guessed sequence number (after losing track of the data it sent).",
        ],
        checks: &[
            "Compare the RST's IP TTL and IP id with the other packets of its claimed sender (Wireshark: `ip.ttl`, `ip.id`).",
            "On the receiver, `nstat -az TcpExtTCPChallengeACK TcpExtTCPACKSkippedChallenge` counts the challenge ACKs sent and skipped (at most one per `net.ipv4.tcp_invalid_ratelimit`, 500 ms, per socket).",
        ],
    },
];

/// Diagnoses for every class and for `time_wait_reuse` and `challenged_rst` with a non-zero count,
/// problems first.
pub fn for_counts(
    classes: &BTreeMap<&'static str, u64>,
    flags: &BTreeMap<&'static str, u64>,
    t: &Thresholds,
) -> Vec<Diagnosis> {
    TEXTS
        .iter()
        .filter_map(|text| {
            let count = match text.topic {
                Topic::Class(c) => classes.get(c.name()),
                Topic::Flag(f) => flags.get(f.name()),
            }
            .copied()
            .unwrap_or(0);
            (count > 0).then(|| Diagnosis {
                topic: text.topic.name(),
                count,
                title: text.title,
                states: text.states,
                meaning: meaning(text.topic, t),
                causes: text.causes.to_vec(),
                checks: text.checks.to_vec(),
            })
        })
        .collect()
}

fn meaning(topic: Topic, t: &Thresholds) -> String {
    let hang = t.hang_after.as_secs_f64();
    let grace = t.fin_grace.as_secs_f64();
    let tw = 2.0 * t.msl.as_secs_f64();
    match topic {
        Topic::Class(Class::HalfClosedHang) => format!(
            "One side closed and its FIN was acknowledged; the other side sent neither FIN nor RST and stayed silent for at least {hang} s until the capture ended. The closer waits in FIN_WAIT_2, the peer's socket sits in CLOSE_WAIT."
        ),
        Topic::Class(Class::LostFin) => format!(
            "A FIN was never durably acknowledged: it was retransmitted, resent after its ACK was seen (the ACK was lost: the passive closer stays in LAST_ACK while the active closer is in TIME_WAIT), or it went unanswered for more than {grace} s while the capture went on (FIN_WAIT_1)."
        ),
        Topic::Class(Class::Reset) => "The connection was established (or picked up mid-stream) and ended by an acceptable RST before a clean close completed.".into(),
        Topic::Class(Class::Refused) => "The SYN was answered by a RST and never by a SYN-ACK.".into(),
        Topic::Class(Class::Unanswered) => "The handshake got no answer in the capture: SYNs (or SYN-ACKs) that nobody completed.".into(),
        Topic::Class(Class::Incomplete) => format!(
            "A close began, but the capture ended within {grace} s of an unanswered FIN, within {hang} s of a half-close, or while the peer was still sending."
        ),
        Topic::Class(Class::Open) => "No FIN and no RST by the end of the capture.".into(),
        Topic::Class(Class::Clean) => "Both sides sent a FIN and each FIN was acknowledged (four-way, three-way with FIN+ACK, or simultaneous close).".into(),
        Topic::Flag(Flag::TimeWaitReuse) => format!(
            "A new connection's SYN reused the 4-tuple less than {tw} s (2×MSL) after the previous connection on it entered TIME_WAIT."
        ),
        Topic::Flag(Flag::ChallengedRst) => "A RST arrived inside the receiver's window but not at its next expected sequence number (RCV.NXT). Linux (RFC 5961 §3.2) answers such a RST with a challenge ACK and keeps the connection, so the RST decides nothing: the connection's class comes from what followed.".into(),
        // Every class has its words: a new one does not compile until it does.
        Topic::Flag(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new class (or the one flag with a diagnosis) cannot be left without
    /// its words: every class has exactly one text, and it has a meaning.
    #[test]
    fn every_class_has_its_words() {
        for class in Class::ALL {
            let texts: Vec<&Text> = TEXTS
                .iter()
                .filter(|t| t.topic == Topic::Class(class))
                .collect();
            assert_eq!(texts.len(), 1, "{}", class.name());
            assert!(!meaning(texts[0].topic, &Thresholds::default()).is_empty());
        }
        for flag in [Flag::TimeWaitReuse, Flag::ChallengedRst] {
            assert!(TEXTS.iter().any(|t| t.topic == Topic::Flag(flag)));
            assert!(!meaning(Topic::Flag(flag), &Thresholds::default()).is_empty());
        }
    }

    /// Every sentence a diagnosis can show.
    fn all_words() -> Vec<String> {
        let t = Thresholds::default();
        TEXTS
            .iter()
            .flat_map(|text| {
                let mut w: Vec<String> = vec![text.title.into(), text.states.into()];
                w.extend(text.causes.iter().map(|s| s.to_string()));
                w.extend(text.checks.iter().map(|s| s.to_string()));
                w.push(meaning(text.topic, &t));
                w
            })
            .collect()
    }

    /// The abort counters are named for what they count. close() with unread
    /// data counts TCPAbortOnClose (net/ipv4/tcp.c `__tcp_close`);
    /// TCPAbortOnData counts data arriving after close()
    /// (net/ipv4/tcp_input.c `tcp_rcv_state_process`) and close() with
    /// SO_LINGER 0. The diagnoses once said "TCPAbortOnData: unread data at
    /// close".
    #[test]
    fn abort_counters_are_named_for_what_they_count() {
        let words = all_words();
        for w in &words {
            for (at, _) in w.match_indices("TCPAbortOnData") {
                let clause = &w[at..];
                let end = clause.find([';', ')', '.']).unwrap_or(clause.len());
                assert!(
                    !clause[..end].contains("unread"),
                    "TCPAbortOnData is not about unread data: {w}"
                );
            }
            if w.contains("unread data") && w.contains("TCPAbortOn") {
                assert!(w.contains("TCPAbortOnClose"), "{w}");
            }
        }
        let check = words
            .iter()
            .find(|w| w.contains("grep TCPAbortOn"))
            .expect("the abort counters' check");
        assert!(
            check.contains("TCPAbortOnClose (close() with unread data)"),
            "{check}"
        );
        assert!(
            check.contains("TCPAbortOnData (data arriving after close()"),
            "{check}"
        );
    }

    /// Every counter and sysctl the diagnoses name is in the table of
    /// docs/teardown.md that gives its source and default.
    #[test]
    fn every_counter_and_setting_named_is_in_the_docs_table() {
        let docs = include_str!("../../docs/teardown.md");
        let table = docs
            .split_once("## Counters and settings named in the diagnoses")
            .expect("the table's section in docs/teardown.md")
            .1;
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        let mut names = Vec::new();
        for w in all_words() {
            for prefix in [
                "net.ipv4.",
                "net.core.",
                "net.netfilter.",
                "TcpExt",
                "TCPAbortOn",
            ] {
                for (at, _) in w.match_indices(prefix) {
                    let name: String = w[at..].chars().take_while(|&c| is_name(c)).collect();
                    let name = name.trim_end_matches('.');
                    names.push(name.trim_start_matches("TcpExt").to_string());
                }
            }
        }
        assert!(names.len() > 10, "{names:?}");
        for name in names {
            assert!(table.contains(&name), "{name} is not in the docs table");
        }
    }
}
