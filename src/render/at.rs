//! `teardown at TIME`: the sockets each host held at one instant, rebuilt
//! from the packets with the hosts' timers (the same lives the timeline sums),
//! listed as `ss -tan` lists them, so they can be set beside the `ss` output
//! pasted into a ticket; or the same as JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use crate::pipeline::{Analysis, Options, analyze_into};
use crate::report::sink::{Records, Sink};
use crate::report::timeline::{COLUMNS, state_name};
use crate::report::{ConnectionReport, EndpointAddr, SCHEMA_VERSION, Timestamp};

/// A socket held at the instant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Socket {
    /// Its state, as the timeline names it (`unknown`: its side sent
    /// nothing, so the capture cannot show which).
    pub state: &'static str,
    pub local: EndpointAddr,
    pub peer: EndpointAddr,
    /// The connection's report id.
    pub id: u64,
}

/// The instant asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    /// Nanoseconds after the capture's first packet (`+12.5`).
    AfterStart(i64),
}

/// Keeps the sockets alive at `at`, on `hosts` when given.
struct At {
    when: When,
    at: Timestamp,
    hosts: Vec<IpAddr>,
    sockets: Vec<Socket>,
}

impl Sink for At {
    type Encoder = Records;
    fn begin(&mut self, first_packet: Option<Timestamp>) -> io::Result<()> {
        self.at = match self.when {
            When::At(t) => t,
            When::AfterStart(ns) => Timestamp(first_packet.map_or(0, |t| t.0).saturating_add(ns)),
        };
        Ok(())
    }

    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        for (i, (local, peer)) in [(c.client, c.server), (c.server, c.client)]
            .into_iter()
            .enumerate()
        {
            if !self.hosts.is_empty() && !self.hosts.contains(&local.ip) {
                continue;
            }
            let life = c.sockets.life(i);
            let state = if life.runs_on && self.at >= life.until {
                life.end_state()
            } else {
                life.state_at(self.at)
            };
            let Some(name) = state_name(state) else {
                continue;
            };
            let state = if life.unknown { "unknown" } else { name };
            self.sockets.push(Socket {
                state,
                local,
                peer,
                id: c.id,
            });
        }
        Ok(())
    }
}

/// The instant's sockets, per host.
#[derive(Debug, Serialize)]
pub struct Sockets {
    pub schema_version: u32,
    pub at: Timestamp,
    pub hosts: Vec<HostSockets>,
}

#[derive(Debug, Serialize)]
pub struct HostSockets {
    pub host: IpAddr,
    /// How many in each state.
    pub counts: BTreeMap<&'static str, u64>,
    pub sockets: Vec<Socket>,
}

/// Analyzes `options.inputs` and lists the sockets held at `at` (on `hosts`
/// when not empty).
pub fn sockets_at(options: &Options, when: When, hosts: &[IpAddr]) -> (Analysis, Sockets) {
    let mut sink = At {
        when,
        at: Timestamp(0),
        hosts: hosts.to_vec(),
        sockets: Vec::new(),
    };
    let analysis = analyze_into(options, &mut sink);
    let mut by_host: BTreeMap<IpAddr, Vec<Socket>> = BTreeMap::new();
    for s in sink.sockets {
        by_host.entry(s.local.ip).or_default().push(s);
    }
    let hosts = by_host
        .into_iter()
        .map(|(host, mut sockets)| {
            sockets.sort_by_key(|s| {
                let rank = COLUMNS.iter().position(|c| *c == s.state);
                (rank, s.local, s.peer, s.id)
            });
            let mut counts = BTreeMap::new();
            for s in &sockets {
                *counts.entry(s.state).or_default() += 1;
            }
            HostSockets {
                host,
                counts,
                sockets,
            }
        })
        .collect();
    (
        analysis,
        Sockets {
            schema_version: SCHEMA_VERSION,
            at: sink.at,
            hosts,
        },
    )
}

/// `ss`'s name for a state.
fn ss_name(state: &str) -> &'static str {
    match state {
        "SYN_SENT" => "SYN-SENT",
        "SYN_RECEIVED" => "SYN-RECV",
        "ESTABLISHED" => "ESTAB",
        "FIN_WAIT_1" => "FIN-WAIT-1",
        "FIN_WAIT_2" => "FIN-WAIT-2",
        "CLOSE_WAIT" => "CLOSE-WAIT",
        "CLOSING" => "CLOSING",
        "LAST_ACK" => "LAST-ACK",
        "TIME_WAIT" => "TIME-WAIT",
        _ => "UNKNOWN",
    }
}

/// Per host a header, then `ss -tan`'s columns (the queues are not in a
/// capture: `-`).
pub fn write_text(s: &Sockets, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "sockets at {} (as `ss -tan` on each host)",
        s.at.rfc3339()
    )?;
    if s.hosts.is_empty() {
        writeln!(out, "no host held a socket then")?;
    }
    for h in &s.hosts {
        let counts: Vec<String> = h
            .counts
            .iter()
            .map(|(state, n)| format!("{} {n}", ss_name(state)))
            .collect();
        writeln!(
            out,
            "\n# {}: {} ({})",
            h.host,
            h.sockets.len(),
            counts.join(", ")
        )?;
        let rows: Vec<(String, String)> = h
            .sockets
            .iter()
            .map(|k| (k.local.to_string(), k.peer.to_string()))
            .collect();
        let w = rows
            .iter()
            .map(|(l, _)| l.len())
            .max()
            .unwrap_or(0)
            .max("Local Address:Port".len());
        writeln!(
            out,
            "{:<11} {:>6} {:>6} {:<w$} Peer Address:Port",
            "State", "Recv-Q", "Send-Q", "Local Address:Port"
        )?;
        for (k, (local, peer)) in h.sockets.iter().zip(&rows) {
            writeln!(
                out,
                "{:<11} {:>6} {:>6} {local:<w$} {peer}",
                ss_name(k.state),
                "-",
                "-"
            )?;
        }
    }
    if s.hosts.iter().any(|h| h.counts.contains_key("unknown")) {
        writeln!(
            out,
            "\nUNKNOWN: nothing was seen from that side while its peer went past the handshake, so its state cannot be told"
        )?;
    }
    Ok(())
}

pub fn write_json(s: &Sockets, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s)?;
    writeln!(out)
}
