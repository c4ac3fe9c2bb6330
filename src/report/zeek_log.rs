//! `--format zeek`: Zeek's conn.log in its TSV form (the ASCII writer's
//! header lines, tab-separated fields, `-` for unset), so zeek-cut and other
//! Zeek tooling read it.
//!
//! One line per Zeek row (`zeek` and `zeek.continued` of each connection in
//! the JSON report), in report order: the order connections ended (Zeek too
//! logs a connection when it removes its state, though its timers remove some
//! sooner), so the log is written while the capture is read ([`ZeekSink`]).
//! The columns are conn.log's default
//! ones: `service` is unset (there is no protocol detection), `local_orig`,
//! `local_resp` are unset (as Zeek leaves them with `Site::local_nets` empty),
//! `tunnel_parents` is unset, and `#open`/`#close` carry the capture's first
//! and last packet times rather than the wall clock, so the file depends only on
//! the capture (`#open`: the earliest time among the first packets of the
//! inputs, read before any row is written). docs/zeek.md says how the values
//! are computed.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use super::Report;
use crate::merge::{ConnectionSink, Finished};
use crate::time::Timestamp;
use crate::zeek::ZeekRow;

const FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents";
const TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]";

/// The whole report as a conn.log.
pub fn write_conn_log(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<&ZeekRow> = report
        .connections
        .iter()
        .flat_map(|c| c.zeek.rows())
        .collect();
    write_rows(&rows, report.summary.first_ts, report.summary.last_ts, out)
}

/// Header, rows and footer.
pub fn write_rows(
    rows: &[&ZeekRow],
    open: Option<Timestamp>,
    close: Option<Timestamp>,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_header(open, out)?;
    for r in rows {
        write_row(r, out)?;
    }
    write_footer(close, out)
}

/// Writes the conn.log while the analysis runs: the header when the capture's
/// first packet time is known, each connection's rows as it finishes, the
/// footer from [`ZeekSink::finish`].
pub struct ZeekSink<W> {
    out: W,
}

impl<W: Write + Send> ZeekSink<W> {
    pub fn new(out: W) -> ZeekSink<W> {
        ZeekSink { out }
    }

    /// Writes `#close` (the capture's last packet time) and hands the writer back.
    pub fn finish(mut self, close: Option<Timestamp>) -> io::Result<W> {
        write_footer(close, &mut self.out)?;
        Ok(self.out)
    }
}

impl<W: Write + Send> ConnectionSink for ZeekSink<W> {
    fn begin(&mut self, first_packet: Option<Timestamp>) -> io::Result<()> {
        write_header(first_packet, &mut self.out)
    }

    fn connection(&mut self, c: Finished) -> io::Result<()> {
        let Finished::Record(c) = c else {
            return Err(io::Error::other("a conn.log got serialized records"));
        };
        for r in c.zeek.rows() {
            write_row(r, &mut self.out)?;
        }
        Ok(())
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

fn write_row(r: &ZeekRow, out: &mut dyn Write) -> io::Result<()> {
    let unset = || "-".to_string();
    let count = |v: Option<u64>| v.map_or_else(unset, |v| v.to_string());
    let history = if r.history.is_empty() {
        unset()
    } else {
        r.history.clone()
    };
    writeln!(
        out,
        "{ts}\t{uid}\t{oh}\t{op}\t{rh}\t{rp}\ttcp\t-\t{dur}\t{ob}\t{rb}\t{cs}\t-\t-\t{missed}\t{history}\t{opk}\t{oip}\t{rpk}\t{rip}\t-",
        ts = secs(r.ts),
        uid = crate::zeek::uid(r.orig, r.resp, r.ts),
        oh = r.orig.ip,
        op = r.orig.port,
        rh = r.resp.ip,
        rp = r.resp.port,
        dur = r.duration.map_or_else(unset, |d| format!("{d:.6}")),
        ob = count(r.orig_bytes),
        rb = count(r.resp_bytes),
        cs = r.conn_state,
        missed = r.missed_bytes,
        opk = r.orig_pkts,
        oip = r.orig_ip_bytes,
        rpk = r.resp_pkts,
        rip = r.resp_ip_bytes,
    )
}

/// Seconds with six decimals, rounded to the microsecond like Zeek's `%.6f`.
fn secs(t: Timestamp) -> String {
    let micros = (t.0 + 500).div_euclid(1000);
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
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
    use crate::flow::EndpointAddr;

    fn row(history: &str, duration: Option<f64>) -> ZeekRow {
        let a = |ip: &str, port| EndpointAddr {
            ip: ip.parse().unwrap(),
            port,
        };
        ZeekRow {
            conn_state: "SF",
            history: history.to_string(),
            ts: Timestamp(1_362_692_526_869_344_499),
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
        let b = row("", None);
        let mut out = Vec::new();
        write_rows(&[&a, &b], Some(a.ts), Some(a.ts), &mut out).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r"
        #separator \x09
        #set_separator	,
        #empty_field	(empty)
        #unset_field	-
        #path	conn
        #open	2013-03-07-21-42-06
        #fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	service	duration	orig_bytes	resp_bytes	conn_state	local_orig	local_resp	missed_bytes	history	orig_pkts	orig_ip_bytes	resp_pkts	resp_ip_bytes	tunnel_parents
        #types	time	string	addr	port	addr	port	enum	string	interval	count	count	string	bool	bool	count	string	count	count	count	count	set[string]
        1362692526.869344	C11iwwodUjSwmg1hXQ	141.142.228.5	59856	2001:db8::1	80	tcp	-	0.212346	136	5007	SF	-	-	0	ShADadFf	6	458	7	5379	-
        1362692526.869344	C11iwwodUjSwmg1hXQ	141.142.228.5	59856	2001:db8::1	80	tcp	-	-	-	-	SF	-	-	0	-	6	458	7	5379	-
        #close	2013-03-07-21-42-06
        ");
    }

    #[test]
    fn timestamps_round_to_the_microsecond() {
        assert_eq!(secs(Timestamp(1_000_000_999_999_500)), "1000001.000000");
        assert_eq!(secs(Timestamp(1_000_000_999_999_499)), "1000000.999999");
        assert_eq!(secs(Timestamp(1_500)), "0.000002");
        assert_eq!(secs(Timestamp(0)), "0.000000");
    }
}
