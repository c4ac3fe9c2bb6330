//! JSON and NDJSON renderers: serde over the [`Report`] value, nothing re-derived.
//!
//! Output is compact (pipe it through `jq .` to read it). The command line
//! streams it: [`write_json_head`] before the analysis, each connection as its
//! shard serialized it ([`JsonEncoder`]) while the capture is read, then
//! [`write_json_tail`] with the inputs and the summary. The bytes are those of
//! `serde_json::to_writer(report)` for the same report ([`write_json`]), whatever
//! the number of threads.

pub mod compact;

use std::io::{self, Write};

use serde::Serialize;

use super::Renderer;
use crate::classify::Thresholds;
use crate::pipeline::{Analysis, Options};
use crate::report::filter::Filter;
use crate::report::findings::Finding;
use crate::report::sink::{Encode, Sink};
use crate::report::timeline::Timeline;
use crate::report::{ConnectionReport, InputReport, Report, Summary, Tool};
use crate::time::Timestamp;

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
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: &'a Option<Timeline>,
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

/// Everything after the last connection: `],"inputs":[...],"summary":{...},"findings":[...],"timeline":{...}}` and a
/// newline.
pub fn write_json_tail(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let tail = serde_json::to_vec(&Tail {
        inputs: &report.inputs,
        summary: &report.summary,
        findings: &report.findings,
        timeline: &report.timeline,
    })?;
    out.write_all(b"],")?;
    // Drop the tail object's opening brace: its fields continue the report.
    out.write_all(&tail[1..])?;
    out.write_all(b"\n")
}

/// `--format json` and `ndjson`, streamed: the head before the first
/// connection, each connection as its shard serialized it ([`JsonEncoder`]),
/// then (JSON only) the tail with the inputs and the summary.
pub struct Json<'o> {
    out: &'o mut (dyn Write + Send),
    /// The head's settings and filter; `None` for NDJSON, which has no head
    /// or tail.
    head: Option<(Thresholds, Option<Filter>)>,
    first: bool,
    /// NDJSON of a capture set: `{"set":NAME,` replaces each object's `{`.
    set: Option<Vec<u8>>,
}

impl<'o> Json<'o> {
    /// The whole report as one JSON document.
    pub fn document(out: &'o mut (dyn Write + Send), options: &Options) -> Json<'o> {
        let filter = (!options.filter.is_empty()).then(|| options.filter.clone());
        Json {
            out,
            head: Some((options.thresholds, filter)),
            first: true,
            set: None,
        }
    }

    /// One connection object per line, nothing else.
    pub fn ndjson(out: &'o mut (dyn Write + Send)) -> Json<'o> {
        Json {
            out,
            head: None,
            first: true,
            set: None,
        }
    }

    /// NDJSON whose every object begins with `"set":NAME` (`teardown batch`'s
    /// combined file: the rows of several analyses, told apart by their set).
    pub fn ndjson_in_set(out: &'o mut (dyn Write + Send), set: &str) -> Json<'o> {
        // A string always serializes (escaped as JSON wants).
        let name = serde_json::to_string(set).unwrap_or_else(|_| "\"\"".into());
        let prefix = format!("{{\"set\":{name},").into_bytes();
        Json {
            out,
            head: None,
            first: true,
            set: Some(prefix),
        }
    }
}

/// Serializes a record on its shard's thread, with [`compact`]'s writer (the
/// bytes of `serde_json::to_writer`).
#[derive(Default)]
pub struct JsonEncoder {
    /// Where records are serialized before being copied out at their exact
    /// size (a connection ending at the end of the capture waits in the
    /// merger, so a SYN flood's tens of thousands of them are all held at once).
    scratch: Vec<u8>,
}

impl Encode for JsonEncoder {
    type Item = Vec<u8>;
    fn encode(&mut self, record: ConnectionReport) -> Vec<u8> {
        self.scratch.clear();
        compact::connection_to_vec(&mut self.scratch, &record);
        self.scratch.clone()
    }
}

impl Sink for Json<'_> {
    type Encoder = JsonEncoder;

    fn begin(&mut self, _first_packet: Option<Timestamp>) -> io::Result<()> {
        match &self.head {
            Some((thresholds, filter)) => write_json_head(thresholds, filter, self.out),
            None => Ok(()),
        }
    }

    fn connection(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let ndjson = self.head.is_none();
        if !ndjson && !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        match &self.set {
            // Each object is `{"id":...}`: its brace becomes the prefix's.
            Some(prefix) => {
                self.out.write_all(prefix)?;
                self.out.write_all(&bytes[1..])?;
            }
            None => self.out.write_all(&bytes)?,
        }
        if ndjson {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl Renderer for Json<'_> {
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        match self.head {
            Some(_) => write_json_tail(&analysis.report, self.out),
            None => Ok(()),
        }
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
    use crate::pipeline::{Options, analyze};

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
        let format = if ndjson {
            super::super::Format::Ndjson
        } else {
            super::super::Format::Json
        };
        super::super::render(format, &opts, &mut out)
            .output
            .unwrap();
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
