//! JSON and NDJSON renderers: serde over the [`Report`] value, nothing re-derived.
//!
//! Output is compact (pipe it through `jq .` to read it). The command line
//! streams it: [`write_json_head`] before the analysis, each connection as its
//! shard serialized it ([`JsonSink`]) while the capture is read, then
//! [`write_json_tail`] with the inputs and the summary. The bytes are those of
//! `serde_json::to_writer(report)` for the same report ([`write_json`]), whatever
//! the number of threads.

use std::io::{self, Write};

use serde::Serialize;

pub mod compact;

use crate::classify::Thresholds;
use crate::merge::{ConnectionSink, Finished};
use crate::report::filter::Filter;
use crate::report::{InputReport, Report, Summary, Tool};

/// The report up to its connections, in the same field order as [`Report`].
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool: &'a Tool,
    settings: &'a Thresholds,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: &'a Option<Filter>,
}

/// The report after its connections.
#[derive(Serialize)]
struct Tail<'a> {
    inputs: &'a [InputReport],
    summary: &'a Summary,
}

/// Everything before the first connection: `{"schema_version":...,"connections":[`.
pub fn write_json_head(
    settings: &Thresholds,
    filter: &Option<Filter>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let head = serde_json::to_vec(&Head {
        schema_version: crate::report::SCHEMA_VERSION,
        tool: &Tool::default(),
        settings,
        filter,
    })?;
    // `head` is an object: reopen it to append the connections.
    out.write_all(&head[..head.len() - 1])?;
    out.write_all(b",\"connections\":[")
}

/// Everything after the last connection: `],"inputs":[...],"summary":{...}}` and a
/// newline.
pub fn write_json_tail(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let tail = serde_json::to_vec(&Tail {
        inputs: &report.inputs,
        summary: &report.summary,
    })?;
    out.write_all(b"],")?;
    // Drop the tail object's opening brace: its fields continue the report.
    out.write_all(&tail[1..])?;
    out.write_all(b"\n")
}

/// Writes connections as the elements of the `connections` array (JSON) or as
/// lines (NDJSON).
pub struct JsonSink<W: Write + Send> {
    out: W,
    ndjson: bool,
    first: bool,
}

impl<W: Write + Send> JsonSink<W> {
    /// For `--format json`, between [`write_json_head`] and [`write_json_tail`].
    pub fn json(out: W) -> JsonSink<W> {
        JsonSink {
            out,
            ndjson: false,
            first: true,
        }
    }

    /// For `--format ndjson`: one object per line, nothing else.
    pub fn ndjson(out: W) -> JsonSink<W> {
        JsonSink {
            out,
            ndjson: true,
            first: true,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> ConnectionSink for JsonSink<W> {
    fn connection(&mut self, c: Finished) -> io::Result<()> {
        if !self.ndjson && !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        match c {
            Finished::Json(bytes) => self.out.write_all(&bytes)?,
            Finished::Record(r) => serde_json::to_writer(&mut self.out, &r)?,
        }
        if self.ndjson {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The whole report, connections included, as one compact JSON document and a
/// newline.
pub fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_json_head(&report.settings, &report.filter, out)?;
    for (i, c) in report.connections.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, c)?;
    }
    write_json_tail(report, out)
}

/// One connection object per line (the same objects as `connections` in JSON).
pub fn write_ndjson(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for c in &report.connections {
        serde_json::to_writer(&mut *out, c)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Options, analyze};

    fn options(threads: usize) -> Options {
        Options::demo(threads)
    }

    fn demo() -> Report {
        analyze(&options(1)).report
    }

    /// What the command line does for `--format json` / `ndjson`.
    fn streamed(threads: usize, ndjson: bool) -> String {
        let opts = options(threads);
        let mut out = Vec::new();
        if !ndjson {
            write_json_head(&opts.thresholds, &None, &mut out).unwrap();
        }
        let mut sink = if ndjson {
            JsonSink::ndjson(out)
        } else {
            JsonSink::json(out)
        };
        let analysis = crate::analyze::analyze_into(&opts, crate::analyze::Emit::Json, &mut sink);
        let mut out = sink.into_inner();
        if !ndjson {
            write_json_tail(&analysis.report, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn streamed_json_is_the_collected_report_for_any_thread_count() {
        let report = demo();
        let mut want = Vec::new();
        write_json(&report, &mut want).unwrap();
        let want = String::from_utf8(want).unwrap();
        let mut want_nd = Vec::new();
        write_ndjson(&report, &mut want_nd).unwrap();
        let want_nd = String::from_utf8(want_nd).unwrap();
        assert!(report.connections.len() > 20);
        for threads in [1, 2, 3, 5] {
            assert_eq!(streamed(threads, false), want, "-j {threads}");
            assert_eq!(streamed(threads, true), want_nd, "-j {threads}");
        }
    }

    #[test]
    fn chunked_json_is_exactly_serde_output() {
        let report = demo();
        let mut ours = Vec::new();
        write_json(&report, &mut ours).unwrap();
        let mut serde = serde_json::to_vec(&report).unwrap();
        serde.push(b'\n');
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(serde).unwrap()
        );
    }

    #[test]
    fn ndjson_is_one_serde_object_per_line() {
        let report = demo();
        let mut ours = Vec::new();
        write_ndjson(&report, &mut ours).unwrap();
        let want: String = report
            .connections
            .iter()
            .map(|c| serde_json::to_string(c).unwrap() + "\n")
            .collect();
        assert_eq!(String::from_utf8(ours).unwrap(), want);
    }
}
