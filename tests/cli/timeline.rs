//! The host timeline against the kernel itself: `fixtures/timeline/` is a
//! recording of seven workloads between two network namespaces, with
//! `ss -tanH` sampled in both every 150 ms on the capture's clock
//! (`fixtures/timeline/NOTES.md`). At every sample, per host and state, the
//! tool's count is compared with ss's.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;
use tcp_teardown::report::timeline::{COLUMNS, STATES};
use tcp_teardown::report::{ConnectionReport, Rule, State, Timers, Timestamp};
use tcp_teardown::{Options, analyze};

use crate::common::{TIMELINE_TIMERS as TIMER_FLAGS, fixture, run, success};

/// ss's state names, in `COLUMNS` order (the nine RFC 9293 states).
const SS: [&str; 9] = [
    "SYN-SENT",
    "SYN-RECV",
    "ESTAB",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "CLOSE-WAIT",
    "CLOSING",
    "LAST-ACK",
    "TIME-WAIT",
];

fn timers() -> Timers {
    Timers {
        fin_timeout_ns: 5_000_000_000,
        syn_retries: 2,
        retries2: 3,
        orphan_retries: 2,
        ..Timers::default()
    }
}

fn tsv(name: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(fixture(&format!("timeline/{name}"))).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            head.iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn at(secs: &str) -> Timestamp {
    let s: f64 = secs.parse().unwrap();
    Timestamp((s * 1e9).round() as i64)
}

struct Sample {
    host: IpAddr,
    from: Timestamp,
    to: Timestamp,
    /// ss's count per state, in `STATES` order.
    ss: [u32; 9],
}

/// Every ss run inside the capture, with its counts summed over workloads.
fn samples(first: Timestamp, last: Timestamp) -> Vec<Sample> {
    let mut counts: HashMap<(String, String), [u32; 9]> = HashMap::new();
    for row in tsv("counts.tsv") {
        let c = counts
            .entry((row["host"].clone(), row["t_before"].clone()))
            .or_default();
        for (i, name) in SS.iter().enumerate() {
            c[i] += row[*name].parse::<u32>().unwrap();
        }
    }
    tsv("samples.tsv")
        .into_iter()
        .map(|row| Sample {
            host: row["host"].parse().unwrap(),
            from: at(&row["t_before"]),
            to: at(&row["t_after"]),
            ss: counts
                .get(&(row["host"].clone(), row["t_before"].clone()))
                .copied()
                .unwrap_or_default(),
        })
        .filter(|s| s.from >= first && s.to <= last)
        .collect()
}

fn analysis() -> Vec<ConnectionReport> {
    let mut options = Options::new(vec![fixture("timeline/client.pcap")]);
    options.thresholds.timers = timers();
    options.threads = 1;
    analyze(&options).report.connections
}

/// Each socket the capture showed: its host, and its life.
fn sockets(conns: &[ConnectionReport]) -> Vec<(IpAddr, tcp_teardown::report::Life)> {
    conns
        .iter()
        .flat_map(|c| {
            [
                (c.client.ip, c.sockets.life(0)),
                (c.server.ip, c.sockets.life(1)),
            ]
        })
        .collect()
}

/// The tool's count in `state` during an ss run: at least the sockets in it
/// for the whole run, at most those in it at some instant of the run (ss
/// reads each socket at some instant between its start and its end).
fn range(
    socks: &[(IpAddr, tcp_teardown::report::Life)],
    host: IpAddr,
    state: State,
    from: Timestamp,
    to: Timestamp,
) -> (u32, u32) {
    let (mut lo, mut hi) = (0, 0);
    for (h, life) in socks {
        if *h != host || life.unknown {
            continue;
        }
        for (s, a, b) in life.intervals() {
            let b = if life.runs_on && b >= life.until {
                Timestamp(i64::MAX)
            } else {
                b
            };
            if s != state || b <= from || a > to {
                continue;
            }
            hi += 1;
            if a <= from && b > to {
                lo += 1;
            }
        }
    }
    (lo, hi)
}

/// How far ss's count lies outside the tool's range for the same run.
fn miss(ss: u32, lo: u32, hi: u32) -> u32 {
    if ss < lo {
        lo - ss
    } else {
        ss.saturating_sub(hi)
    }
}

/// The granularity of the Linux timer wheel (HZ 250, `kernel/time/timer.c`)
/// for a timer of `len` ns: 4 ms × 8^level, a level covering 64 of its
/// buckets. A timer fires at the first bucket boundary at or after its time.
fn wheel_slack(len: i64) -> i64 {
    let mut gran = 4_000_000i64;
    while len >= 64 * gran && gran < 1 << 50 {
        gran *= 8;
    }
    gran
}

/// How many sockets of `host` in `state` at `t` rest on what the capture
/// cannot show: FIN_WAIT_2 sockets taken as orphans and timed out (a socket
/// only shut down, or with its own `TCP_LINGER2`, lives on), and sockets
/// whose modelled timer ran out within the timer wheel's granularity of `t`
/// (the kernel's timer fires up to that much later, and the RTOs the model
/// extrapolates are the wire's, a few milliseconds off the kernel's).
fn unknowable(conns: &[ConnectionReport], host: IpAddr, state: State, t: Timestamp) -> u32 {
    let mut n = 0;
    for c in conns {
        for (side, e) in &c.evidence.expired {
            let h = match side {
                tcp_teardown::report::Side::Client => c.client.ip,
                tcp_teardown::report::Side::Server => c.server.ip,
            };
            if h != host || e.state != state {
                continue;
            }
            let len = match e.rule {
                Rule::TimeWait => 60_000_000_000,
                _ => e.at.0 - c.last_ts.0,
            };
            let near = (e.rule == Rule::FinTimeout && e.at <= t)
                || (t.0 - e.at.0).abs() <= wheel_slack(len);
            n += u32::from(near);
        }
    }
    n
}

#[test]
fn socket_counts_per_host_and_state_match_ss_in_both_namespaces() {
    let conns = analysis();
    let socks = sockets(&conns);
    let first = conns.iter().map(|c| c.first_ts).min().unwrap();
    let last = conns.iter().map(|c| c.last_ts).max().unwrap();
    let samples = samples(first, last);
    assert!(
        samples.len() > 1800,
        "{} ss runs inside the capture",
        samples.len()
    );
    let (mut rows, mut exact, mut busy, mut busy_exact, mut abs_err) =
        (0u32, 0u32, 0u32, 0u32, 0u64);
    let mut per_state = [(0u32, 0u32); 9];
    for s in &samples {
        for (i, &state) in STATES.iter().enumerate() {
            let (lo, hi) = range(&socks, s.host, state, s.from, s.to);
            let ss = s.ss[i];
            let err = miss(ss, lo, hi);
            let bound = unknowable(&conns, s.host, state, s.to);
            assert!(
                err <= bound,
                "{} {} at {:.3} s: ss {ss}, the tool {lo}..{hi}, {bound} unknowable",
                s.host,
                state.name(),
                s.from.secs_since(first)
            );
            rows += 1;
            exact += u32::from(err == 0);
            abs_err += u64::from(err);
            if ss > 0 || hi > 0 {
                busy += 1;
                busy_exact += u32::from(err == 0);
            }
            per_state[i].0 += 1;
            per_state[i].1 += u32::from(err == 0);
        }
    }
    let share = f64::from(exact) / f64::from(rows);
    let busy_share = f64::from(busy_exact) / f64::from(busy);
    eprintln!(
        "{rows} (sample, host, state) rows: {:.1} % exact, mean absolute error {:.3}; \
         {busy} rows with a socket: {:.1} % exact",
        share * 100.0,
        abs_err as f64 / f64::from(rows),
        busy_share * 100.0
    );
    for (i, (n, e)) in per_state.iter().enumerate() {
        eprintln!(
            "  {:<12} {:.1} %",
            COLUMNS[i],
            f64::from(*e) * 100.0 / f64::from(*n)
        );
    }
    // 94.1 %: the misses are the FIN_WAIT_2 sockets the capture cannot
    // tell from orphans (one held for 130 s) and the TIME_WAIT drain.
    assert!(share >= 0.94, "{:.3} exact", share);
    // Every state but FIN_WAIT_2 (one silent socket shut down, not closed,
    // held for 130 s: the capture cannot tell it from an orphan) and
    // TIME_WAIT (the timer wheel's drain staircase) is exact nearly always.
    for (i, (n, e)) in per_state.iter().enumerate() {
        if !matches!(STATES[i], State::FinWait2 | State::TimeWait) {
            assert!(f64::from(*e) / f64::from(*n) >= 0.99, "{}", COLUMNS[i]);
        }
    }
}

#[test]
fn the_json_timeline_counts_each_grid_point_as_the_sockets_lives_say() {
    let mut args = vec!["analyze", "-f", "json", "--timeline-step", "50ms"];
    args.extend(TIMER_FLAGS);
    let path = fixture("timeline/client.pcap");
    args.push(path.to_str().unwrap());
    let v: Value = serde_json::from_slice(&success(run(&args, None))).unwrap();
    let t = &v["timeline"];
    assert_eq!(t["step"], 0.05);
    let start = Timestamp((t["start"].as_f64().unwrap() * 1e6).round() as i64 * 1000);
    let conns = analysis();
    let socks = sockets(&conns);
    let hosts = t["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    let points = t["points"].as_u64().unwrap() as usize;
    assert_eq!(points, 2780, "139.0 s at 50 ms, both ends");
    for h in hosts {
        let host: IpAddr = h["host"].as_str().unwrap().parse().unwrap();
        for (i, &state) in STATES.iter().enumerate() {
            let counts = &h["states"][COLUMNS[i]]["counts"];
            for p in (0..points).step_by(7) {
                let at = Timestamp(start.0 + p as i64 * 50_000_000);
                let want = socks
                    .iter()
                    .filter(|(hh, l)| {
                        *hh == host && !l.unknown && {
                            let s = l.state_at(at);
                            s == state || (l.runs_on && at >= l.until && l.end_state() == state)
                        }
                    })
                    .count() as u64;
                let got = counts.get(p).and_then(Value::as_u64).unwrap_or(0);
                assert_eq!(got, want, "{host} {} at point {p}", state.name());
            }
        }
    }
}

#[test]
fn the_text_summary_names_each_problem_states_peak_host_and_whether_it_drained() {
    let mut args = vec!["analyze"];
    args.extend(TIMER_FLAGS);
    let path = fixture("timeline/client.pcap");
    args.push(path.to_str().unwrap());
    let text = String::from_utf8(success(run(&args, None))).unwrap();
    let line = |state: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{state} on ")))
            .unwrap_or_else(|| panic!("no {state} line in\n{text}"))
            .to_string()
    };
    let cw = line("CLOSE_WAIT");
    assert!(
        cw.contains("10.91.0.2")
            && cw.contains("60 at")
            && cw.contains("down to 56 at capture end; it never drained"),
        "{cw}"
    );
    let tw = line("TIME_WAIT");
    assert!(
        tw.contains("10.91.0.1") && tw.contains("152 at") && tw.contains("drained"),
        "{tw}"
    );
    let fw1 = line("FIN_WAIT_1");
    assert!(fw1.contains("10 at") && fw1.contains("drained"), "{fw1}");
}

#[test]
fn end_states_after_the_timers_match_ss_at_the_capture_end() {
    let conns = analysis();
    let last = conns.iter().map(|c| c.last_ts).max().unwrap();
    let first = conns.iter().map(|c| c.first_ts).min().unwrap();
    let s = samples(first, last);
    for host in ["10.91.0.1", "10.91.0.2"] {
        let host: IpAddr = host.parse().unwrap();
        let sample = s.iter().rev().find(|x| x.host == host).unwrap();
        for (i, &state) in STATES.iter().enumerate() {
            let ends = conns
                .iter()
                .flat_map(|c| {
                    [
                        (c.client.ip, c.end_state.client),
                        (c.server.ip, c.end_state.server),
                    ]
                })
                .filter(|(h, e)| *h == host && *e == state)
                .count() as u32;
            let unknowable = unknowable(&conns, host, state, last);
            assert!(
                ends.abs_diff(sample.ss[i]) <= unknowable,
                "{host} {}: {ends} end states, ss {} at the end",
                state.name(),
                sample.ss[i]
            );
        }
    }
    // The timers' own instants against ss's brackets (NOTES.md).
    let expiry = |port: u16, rule: Rule| {
        conns
            .iter()
            .filter(|c| c.client.port == port)
            .flat_map(|c| c.evidence.expired.iter().map(move |(_, e)| (c, *e)))
            .find(|(_, e)| e.rule == rule)
            .map(|(c, e)| e.at.secs_since(c.first_ts))
            .unwrap_or_else(|| panic!("{port}: no {}", rule.name()))
    };
    // e: SYN_SENT lived 7.10–7.15 s after its first SYN.
    let e = expiry(46000, Rule::SynRetries);
    assert!((7.05..7.20).contains(&e), "{e}");
    // f: the client was gone 6.7–6.85 s after sending at T+63 (its first
    // packet at T+60).
    let f = expiry(47000, Rule::Retries2) - 3.0;
    assert!((6.6..6.9).contains(&f), "{f}");
}

/// `teardown at`: at ss's own instants, the sockets listed are ss's, socket
/// by socket, but for the FIN_WAIT_2 sockets the capture cannot tell from
/// orphans (workload g's 48000, shut down and held; d's 45000/1, closed 3 s
/// after their FIN; 45005 and 45007, with their own TCP_LINGER2).
#[test]
fn at_lists_the_sockets_ss_listed_at_the_same_instant() {
    let unknowable = [
        "10.91.0.1:48000",
        "10.91.0.1:45000",
        "10.91.0.1:45001",
        "10.91.0.1:45005",
        "10.91.0.1:45007",
    ];
    let intervals = tsv("intervals.tsv");
    let samples = tsv("samples.tsv");
    let ss_state = |s: &str| match s {
        "ESTAB" => "ESTABLISHED",
        "SYN-RECV" => "SYN_RECEIVED",
        other => Box::leak(other.replace('-', "_").into_boxed_str()),
    };
    let mut compared = 0;
    // Instants between the workloads' events, which fall on tenths of a
    // second: a socket opened and closed within an ss run is in one listing
    // and not in the other.
    for from in [2.0, 25.0, 40.0, 50.0, 75.0, 100.0, 120.0] {
        for host in ["10.91.0.1", "10.91.0.2"] {
            let sample = samples
                .iter()
                .find(|s| {
                    let t: f64 = s["t_rel"].parse().unwrap();
                    let ms = (t * 1000.0).round() as i64 % 100;
                    s["host"] == host && t >= from && (30..70).contains(&ms)
                })
                .unwrap_or_else(|| panic!("a sample after {from}"));
            let t = sample["t_before"].clone();
            let want: std::collections::BTreeSet<(String, String, String)> = intervals
                .iter()
                .filter(|i| {
                    i["host"] == host && i["first"] <= t && t <= i["last"] && i["state"] != "LISTEN"
                })
                .map(|i| {
                    (
                        ss_state(&i["state"]).to_string(),
                        i["local"].clone(),
                        i["peer"].clone(),
                    )
                })
                .collect();
            let path = fixture("timeline/client.pcap");
            let mut args = vec![
                "at",
                t.as_str(),
                path.to_str().unwrap(),
                "--host",
                host,
                "-f",
                "json",
            ];
            args.extend(TIMER_FLAGS);
            let v: Value = serde_json::from_slice(&success(run(&args, None))).unwrap();
            let got: std::collections::BTreeSet<(String, String, String)> = v["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|h| h["sockets"].as_array().unwrap().iter())
                .map(|s| {
                    (
                        s["state"].as_str().unwrap().to_string(),
                        s["local"].as_str().unwrap().to_string(),
                        s["peer"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let differ: Vec<_> = want.symmetric_difference(&got).collect();
            assert!(
                differ.iter().all(|(state, local, _)| state == "FIN_WAIT_2"
                    && unknowable.contains(&local.as_str())),
                "{host} at T+{}: {differ:?}",
                sample["t_rel"]
            );
            compared += want.len();
        }
    }
    assert!(compared > 300, "{compared} sockets compared");
}

/// `fixtures/ackdrop`: the server closes first and a firewall drops the
/// client's FIN, which carries the ACK of the server's FIN; the capture
/// (before the firewall) sees that ACK, then the server's FIN resent, then a
/// plain ACK the server does take. Until then the server was in FIN_WAIT_1,
/// after it in FIN_WAIT_2 until `tcp_fin_timeout` (5 s there); every socket
/// is gone inside the capture. Its `ss.tsv` has one row per ss run per host.
fn ackdrop() -> (Vec<ConnectionReport>, Vec<Sample>) {
    let mut options = Options::new(vec![fixture("ackdrop/client.pcap")]);
    options.thresholds.timers = Timers {
        fin_timeout_ns: 5_000_000_000,
        orphan_retries: 2,
        ..Timers::default()
    };
    options.threads = 1;
    let conns = analyze(&options).report.connections;
    let first = conns.iter().map(|c| c.first_ts).min().unwrap();
    let last = conns.iter().map(|c| c.last_ts).max().unwrap();
    let text = std::fs::read_to_string(fixture("ackdrop/ss.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let samples = lines
        .map(|l| {
            let row: HashMap<&str, &str> = head.iter().copied().zip(l.split('\t')).collect();
            let mut ss = [0u32; 9];
            for (i, name) in SS.iter().enumerate() {
                ss[i] = row[name].parse().unwrap();
            }
            Sample {
                host: row["host"].parse().unwrap(),
                from: at(row["t_before"]),
                to: at(row["t_after"]),
                ss,
            }
        })
        .filter(|s| s.from >= first && s.to <= last)
        .collect();
    (conns, samples)
}

#[test]
fn a_fin_whose_ack_was_lost_keeps_its_sender_in_fin_wait_1_until_an_ack_arrives() {
    let (conns, samples) = ackdrop();
    assert_eq!(conns.len(), 41);
    assert!(samples.len() > 500, "{} ss runs", samples.len());
    let socks = sockets(&conns);
    let server: IpAddr = "10.95.0.2".parse().unwrap();
    let (mut rows, mut exact) = (0u32, 0u32);
    let mut busy = [(0u32, 0u32); 9];
    for s in &samples {
        for (i, &state) in STATES.iter().enumerate() {
            let (lo, hi) = range(&socks, s.host, state, s.from, s.to);
            let ss = s.ss[i];
            let err = miss(ss, lo, hi);
            // Only timers due within the timer wheel's granularity (the
            // model's RTOs are the wire's): every socket here is an orphan.
            let late = conns
                .iter()
                .flat_map(|c| c.evidence.expired.iter().map(move |(_, e)| (c, e)))
                .filter(|(c, e)| {
                    let slack = wheel_slack((e.at.0 - c.last_ts.0).max(0));
                    e.state == state && (s.to.0 - e.at.0).abs() <= slack
                })
                .count() as u32;
            assert!(
                err <= late,
                "{} {} at {:.3} s: ss {ss}, the tool {lo}..{hi} ({late} timers due then)",
                s.host,
                state.name(),
                s.from.secs_since(samples[0].from)
            );
            rows += 1;
            exact += u32::from(err == 0);
            if ss > 0 || hi > 0 {
                busy[i].0 += 1;
                busy[i].1 += u32::from(err == 0);
            }
        }
    }
    let share = f64::from(exact) / f64::from(rows);
    eprintln!(
        "{rows} (sample, host, state) rows: {:.1} % exact",
        share * 100.0
    );
    assert!(share >= 0.97, "{share:.3}");
    // The server's FIN_WAIT_1 spells, ~0.2 s each, are seen where ss saw them.
    let fw1 = STATES.iter().position(|&s| s == State::FinWait1).unwrap();
    assert!(
        f64::from(busy[fw1].1) / f64::from(busy[fw1].0) >= 0.8,
        "FIN_WAIT_1 {:?}",
        busy[fw1]
    );
    // All 40 server sockets were in FIN_WAIT_2 at once, in ss and the tool.
    let fw2 = STATES.iter().position(|&s| s == State::FinWait2).unwrap();
    let peak =
        |f: &dyn Fn(&Sample) -> u32| samples.iter().filter(|s| s.host == server).map(f).max();
    assert_eq!(peak(&|s| s.ss[fw2]), Some(40));
    assert_eq!(
        peak(&|s| range(&socks, server, State::FinWait2, s.from, s.to).0),
        Some(40)
    );
}
