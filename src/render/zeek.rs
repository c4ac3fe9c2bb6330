//! `--format zeek`: Zeek's conn.log in its TSV form (the ASCII writer's
//! header lines, tab-separated fields, `-` for unset), so zeek-cut and other
//! Zeek tooling read it.
//!
//! One line per Zeek row (`zeek` and `zeek.continued` of each connection in
//! the JSON report), in report order: the order connections ended (Zeek too
//! logs a connection when it removes its state, though its timers remove some
//! sooner), so the log is written while the capture is read ([`Zeek`]).
//! The columns are conn.log's default
//! ones, then two of ours, `teardown_class` and `teardown_flags` (the verdict
//! of the connection the row belongs to: Zeek's log format takes extra
//! columns, named in `#fields` and typed in `#types`): `service` is unset (there is no protocol detection), `local_orig`,
//! `local_resp` are unset (as Zeek leaves them with `Site::local_nets` empty),
//! `tunnel_parents` is unset, and `#open`/`#close` carry the capture's first
//! and last packet times rather than the wall clock, so the file depends only on
//! the capture (`#open`: the earliest time among the first packets of the
//! inputs, read before any row is written). docs/zeek.md says how the values
//! are computed.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use super::Renderer;
use crate::classify::{Class, FlagSet};
use crate::pipeline::Analysis;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, Report};
use crate::time::Timestamp;
use crate::zeek::ZeekRow;

const FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tteardown_class\tteardown_flags";
const TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tset[string]";

/// The whole report as a conn.log.
pub fn write_conn_log(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_header(report.summary.first_ts, out)?;
    for c in &report.connections {
        write_connection(c, out)?;
    }
    write_footer(report.summary.last_ts, out)
}

/// The verdict a row carries in its extra columns: its connection's.
#[derive(Clone, Copy)]
struct Verdict<'a> {
    class: Class,
    flags: &'a FlagSet,
}

/// Every Zeek row of one connection.
fn write_connection(c: &ConnectionReport, out: &mut dyn Write) -> io::Result<()> {
    let v = Verdict {
        class: c.class,
        flags: &c.flags,
    };
    let mut line = Vec::with_capacity(256);
    for r in c.zeek.rows() {
        row_line(r, v, &mut line);
    }
    out.write_all(&line)
}

/// `--format zeek`, streamed: the header when the capture's first packet
/// time is known, each connection's rows as it finishes, the footer at the end.
pub struct Zeek<'o> {
    out: &'o mut (dyn Write + Send),
}

impl<'o> Zeek<'o> {
    pub fn new(out: &'o mut (dyn Write + Send)) -> Zeek<'o> {
        Zeek { out }
    }
}

impl Sink for Zeek<'_> {
    type Encoder = Records;

    fn begin(&mut self, first_packet: Option<Timestamp>) -> io::Result<()> {
        write_header(first_packet, self.out)
    }

    fn connection(&mut self, c: Box<ConnectionReport>) -> io::Result<()> {
        write_connection(&c, self.out)
    }
}

impl Renderer for Zeek<'_> {
    /// `#close`: the capture's last packet time.
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        write_footer(analysis.report.summary.last_ts, self.out)
    }
}

fn write_header(open: Option<Timestamp>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "#separator \\x09")?;
    writeln!(out, "#set_separator\t,")?;
    writeln!(out, "#empty_field\t(empty)")?;
    writeln!(out, "#unset_field\t-")?;
    writeln!(out, "#path\tconn")?;
    writeln!(out, "#open\t{}", log_time(open))?;
    writeln!(out, "#fields\t{FIELDS}")?;
    writeln!(out, "#types\t{TYPES}")
}

fn write_footer(close: Option<Timestamp>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "#close\t{}", log_time(close))
}

/// One row's line, newline included, appended to `line`: what the `format!`
/// of [`tests::reference_line`] writes, built without `core::fmt` for all but
/// IPv6 addresses and the duration (a row per connection made that formatting
/// a third of a `--format zeek` run's instructions).
fn row_line(r: &ZeekRow, verdict: Verdict<'_>, line: &mut Vec<u8>) {
    let mut num = itoa::Buffer::new();
    let mut count = |line: &mut Vec<u8>, v: u64| line.extend_from_slice(num.format(v).as_bytes());
    let tab = |line: &mut Vec<u8>| line.push(b'\t');
    let addr = |line: &mut Vec<u8>, ip: &std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => {
            line.extend_from_slice(crate::decode::ipv4_text(*v4).as_bytes());
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    };
    push_secs(r.ts, line);
    tab(line);
    line.extend_from_slice(r.uid.text().as_bytes());
    tab(line);
    addr(line, &r.orig.ip);
    tab(line);
    count(line, u64::from(r.orig.port));
    tab(line);
    addr(line, &r.resp.ip);
    tab(line);
    count(line, u64::from(r.resp.port));
    line.extend_from_slice(b"\ttcp\t-\t");
    match r.duration {
        Some(d) => {
            let _ = write!(line, "{d:.6}");
        }
        None => line.push(b'-'),
    }
    for v in [r.orig_bytes, r.resp_bytes] {
        tab(line);
        match v {
            Some(v) => count(line, v),
            None => line.push(b'-'),
        }
    }
    tab(line);
    line.extend_from_slice(r.conn_state.as_bytes());
    line.extend_from_slice(b"\t-\t-\t");
    count(line, r.missed_bytes);
    tab(line);
    if r.history.is_empty() {
        line.push(b'-');
    } else {
        line.extend_from_slice(r.history.as_bytes());
    }
    for v in [r.orig_pkts, r.orig_ip_bytes, r.resp_pkts, r.resp_ip_bytes] {
        tab(line);
        count(line, v);
    }
    line.extend_from_slice(b"\t-\t");
    line.extend_from_slice(verdict.class.name().as_bytes());
    tab(line);
    if verdict.flags.is_empty() {
        line.extend_from_slice(b"(empty)");
    }
    for (i, f) in verdict.flags.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(f.name().as_bytes());
    }
    line.push(b'\n');
}

/// [`secs`], appended to `line`.
fn push_secs(t: Timestamp, line: &mut Vec<u8>) {
    // Sign and magnitude, as `%.6f` prints a negative number (half a
    // microsecond rounds away from zero); the magnitude as a `u64` so that no
    // timestamp, `i64::MIN` included, overflows.
    if t.0 < 0 {
        line.push(b'-');
    }
    let nanos = t.0.unsigned_abs();
    let micros = nanos / 1000 + u64::from(nanos % 1000 >= 500);
    let mut num = itoa::Buffer::new();
    line.extend_from_slice(num.format(micros / 1_000_000).as_bytes());
    line.push(b'.');
    let frac = num.format(micros % 1_000_000);
    line.extend(std::iter::repeat_n(b'0', 6 - frac.len()));
    line.extend_from_slice(frac.as_bytes());
}

/// Seconds with six decimals, rounded to the microsecond like Zeek's `%.6f`.
#[cfg(test)]
fn secs(t: Timestamp) -> String {
    let mut line = Vec::new();
    push_secs(t, &mut line);
    String::from_utf8(line).unwrap()
}

/// `#open`/`#close` in Zeek's `%Y-%m-%d-%H-%M-%S` (UTC).
fn log_time(t: Option<Timestamp>) -> String {
    let secs = t.map_or(0, |t| t.0.div_euclid(Timestamp::NANOS_PER_SEC).max(0));
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .trim_end_matches('Z')
        .replace(['T', ':'], "-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Flag;
    use crate::decode::EndpointAddr;
    use crate::zeek::Uid;
    use proptest::prelude::*;

    /// Header, `rows` (each with its verdict) and footer.
    fn write_rows(
        rows: &[(&ZeekRow, Verdict<'_>)],
        open: Option<Timestamp>,
        close: Option<Timestamp>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_header(open, out)?;
        let mut line = Vec::new();
        for (r, v) in rows {
            row_line(r, *v, &mut line);
        }
        out.write_all(&line)?;
        write_footer(close, out)
    }

    fn row(history: &str, duration: Option<f64>) -> ZeekRow {
        let a = |ip: &str, port| EndpointAddr {
            ip: ip.parse().unwrap(),
            port,
        };
        ZeekRow {
            conn_state: "SF",
            history: history.to_string(),
            ts: Timestamp(1_362_692_526_869_344_499),
            uid: Uid::of(1, Timestamp(1_362_692_526_869_344_499)),
            orig: a("141.142.228.5", 59856),
            resp: a("2001:db8::1", 80),
            duration,
            orig_bytes: duration.map(|_| 136),
            resp_bytes: duration.map(|_| 5007),
            missed_bytes: 0,
            orig_pkts: 6,
            orig_ip_bytes: 458,
            resp_pkts: 7,
            resp_ip_bytes: 5379,
            orig_state: "TCP_CLOSED",
            resp_state: "TCP_CLOSED",
        }
    }

    #[test]
    fn conn_log_has_zeeks_header_and_unset_fields() {
        let a = row("ShADadFf", Some(0.2123456));
        let mut b = row("", None);
        b.uid = Uid::of(9, b.ts);
        let mut flags = FlagSet::default();
        flags.insert(Flag::ALL[0]);
        flags.insert(Flag::ALL[1]);
        let none = FlagSet::default();
        let clean = Verdict {
            class: Class::Clean,
            flags: &none,
        };
        let flagged = Verdict {
            class: Class::Reset,
            flags: &flags,
        };
        let mut out = Vec::new();
        write_rows(
            &[(&a, clean), (&b, flagged)],
            Some(a.ts),
            Some(a.ts),
            &mut out,
        )
        .unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r"
        #separator \x09
        #set_separator	,
        #empty_field	(empty)
        #unset_field	-
        #path	conn
        #open	2013-03-07-21-42-06
        #fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	service	duration	orig_bytes	resp_bytes	conn_state	local_orig	local_resp	missed_bytes	history	orig_pkts	orig_ip_bytes	resp_pkts	resp_ip_bytes	tunnel_parents	teardown_class	teardown_flags
        #types	time	string	addr	port	addr	port	enum	string	interval	count	count	string	bool	bool	count	string	count	count	count	count	set[string]	string	set[string]
        1362692526.869344	CgUFqa1MaZQDsJU9Ej	141.142.228.5	59856	2001:db8::1	80	tcp	-	0.212346	136	5007	SF	-	-	0	ShADadFf	6	458	7	5379	-	clean	(empty)
        1362692526.869344	CCYdKRXgHov3xgdz8	141.142.228.5	59856	2001:db8::1	80	tcp	-	-	-	-	SF	-	-	0	-	6	458	7	5379	-	reset	time_wait_reuse,mid_stream
        #close	2013-03-07-21-42-06
        ");
    }

    /// The row as `format!` writes it: what [`row_line`] must match.
    pub(super) fn reference_line(r: &ZeekRow, v: Verdict<'_>) -> String {
        let unset = || "-".to_string();
        let count = |v: Option<u64>| v.map_or_else(unset, |v| v.to_string());
        let sign = if r.ts.0 < 0 { "-" } else { "" };
        let micros = (i128::from(r.ts.0).abs() + 500) / 1000;
        let ts = format!("{sign}{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        format!(
            "{ts}\t{uid}\t{oh}\t{op}\t{rh}\t{rp}\ttcp\t-\t{dur}\t{ob}\t{rb}\t{cs}\t-\t-\t{missed}\t{history}\t{opk}\t{oip}\t{rpk}\t{rip}\t-\t{class}\t{flags}\n",
            uid = r.uid,
            oh = r.orig.ip,
            op = r.orig.port,
            rh = r.resp.ip,
            rp = r.resp.port,
            dur = r.duration.map_or_else(unset, |d| format!("{d:.6}")),
            ob = count(r.orig_bytes),
            rb = count(r.resp_bytes),
            cs = r.conn_state,
            missed = r.missed_bytes,
            history = if r.history.is_empty() {
                unset()
            } else {
                r.history.clone()
            },
            opk = r.orig_pkts,
            oip = r.orig_ip_bytes,
            rpk = r.resp_pkts,
            rip = r.resp_ip_bytes,
            class = v.class.name(),
            flags = if v.flags.is_empty() {
                "(empty)".to_string()
            } else {
                v.flags.iter().map(Flag::name).collect::<Vec<_>>().join(",")
            },
        )
    }

    fn any_ip() -> impl Strategy<Value = std::net::IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|v| std::net::IpAddr::V4(v.into())),
            any::<u128>().prop_map(|v| std::net::IpAddr::V6(v.into())),
            // Zero runs and embedded IPv4, which IPv6 text writes specially.
            (any::<u16>(), any::<u32>()).prop_map(|(a, b)| std::net::IpAddr::V6(
                (u128::from(a) << 112 | u128::from(b)).into()
            )),
        ]
    }

    proptest::proptest! {
        #[test]
        fn a_row_is_written_as_format_writes_it(
            (oip, rip) in (any_ip(), any_ip()),
            ports in any::<(u16, u16)>(),
            ts in prop_oneof![any::<i64>(), (i64::MAX - 999)..=i64::MAX, i64::MIN..=(i64::MIN + 999)],
            duration in proptest::option::of(any::<f64>()),
            bytes in any::<(Option<u64>, Option<u64>)>(),
            counts in any::<[u64; 5]>(),
            history in "[ShADadFfRrTtWwCcIqg^]{0,12}",
            state in proptest::sample::select(vec!["S0", "SF", "REJ", "RSTOS0", "OTH"]),
            uid in any::<(u32, u64)>(),
            class in proptest::sample::select(Class::ALL.to_vec()),
            flag_bits in any::<u16>(),
        ) {
            let mut flags = FlagSet::default();
            for (i, f) in Flag::ALL.iter().enumerate() {
                if flag_bits & (1 << i) != 0 {
                    flags.insert(*f);
                }
            }
            let verdict = Verdict { class, flags: &flags };
            let ts = ts.clamp(i64::MIN + 1000, i64::MAX - 1000);
            let r = ZeekRow {
                conn_state: state,
                history,
                ts: Timestamp(ts),
                uid: Uid { high: uid.0, low: uid.1 },
                orig: EndpointAddr { ip: oip, port: ports.0 },
                resp: EndpointAddr { ip: rip, port: ports.1 },
                duration,
                orig_bytes: bytes.0,
                resp_bytes: bytes.1,
                missed_bytes: counts[0],
                orig_pkts: counts[1],
                orig_ip_bytes: counts[2],
                resp_pkts: counts[3],
                resp_ip_bytes: counts[4],
                orig_state: "TCP_CLOSED",
                resp_state: "TCP_CLOSED",
            };
            let mut line = Vec::new();
            row_line(&r, verdict, &mut line);
            proptest::prop_assert_eq!(String::from_utf8(line).unwrap(), reference_line(&r, verdict));
        }
    }

    #[test]
    fn timestamps_round_to_the_microsecond() {
        assert_eq!(secs(Timestamp(1_000_000_999_999_500)), "1000001.000000");
        assert_eq!(secs(Timestamp(1_000_000_999_999_499)), "1000000.999999");
        assert_eq!(secs(Timestamp(1_500)), "0.000002");
        assert_eq!(secs(Timestamp(0)), "0.000000");
    }

    #[test]
    fn negative_and_extreme_timestamps_print_as_printf_does() {
        // Found by the pipeline fuzz target: `i64::MAX` overflowed the rounding.
        assert_eq!(secs(Timestamp(i64::MAX)), "9223372036.854776");
        assert_eq!(secs(Timestamp(i64::MIN)), "-9223372036.854776");
        // `%.6f` of -1.5 is "-1.500000", not the floor's "-2.500000".
        assert_eq!(secs(Timestamp(-1_500_000_000)), "-1.500000");
        assert_eq!(secs(Timestamp(-1_500)), "-0.000002");
        assert_eq!(secs(Timestamp(-1_499)), "-0.000001");
    }
}
