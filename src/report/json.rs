//! JSON and NDJSON renderers: serde over the [`Report`] value, nothing re-derived.
//!
//! Output is compact (pipe it through `jq .` to read it). Connections are
//! serialized in parallel chunks and written in order, so the bytes are the same
//! as `serde_json::to_writer(report)` whatever the number of threads.

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;

use super::{ConnectionReport, InputReport, Report, Summary, Tool};
use crate::classify::Thresholds;
use crate::filter::Filter;

/// Connections serialized by one task.
const CHUNK: usize = 2048;
/// Connections held serialized in memory at once (bounds the buffers).
const WAVE: usize = 4 * CHUNK;

/// The report without its connections, in the same field order as [`Report`].
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool: &'a Tool,
    settings: &'a Thresholds,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: &'a Option<Filter>,
    inputs: &'a [InputReport],
    summary: &'a Summary,
}

/// Serializes `conns` as JSON values separated by `sep`, in parallel chunks,
/// writing each chunk in order.
fn write_connections(
    conns: &[ConnectionReport],
    sep: &[u8],
    trailing: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut first = true;
    for wave in conns.chunks(WAVE) {
        let parts: Vec<serde_json::Result<Vec<u8>>> = wave
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 1024);
                for (i, c) in chunk.iter().enumerate() {
                    if i > 0 {
                        buf.extend_from_slice(sep);
                    }
                    serde_json::to_writer(&mut buf, c)?;
                }
                if trailing {
                    buf.extend_from_slice(sep);
                }
                Ok(buf)
            })
            .collect();
        for part in parts {
            if !first && !trailing {
                out.write_all(sep)?;
            }
            first = false;
            out.write_all(&part?)?;
        }
    }
    Ok(())
}

/// The whole report as one compact JSON document and a newline.
pub fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let head = serde_json::to_vec(&Head {
        schema_version: report.schema_version,
        tool: &report.tool,
        settings: &report.settings,
        filter: &report.filter,
        inputs: &report.inputs,
        summary: &report.summary,
    })?;
    // `head` is an object: reopen it to append the connections.
    out.write_all(&head[..head.len() - 1])?;
    out.write_all(b",\"connections\":[")?;
    write_connections(&report.connections, b",", false, out)?;
    out.write_all(b"]}\n")
}

/// One connection object per line (the same objects as `connections` in JSON).
pub fn write_ndjson(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_connections(&report.connections, b"\n", true, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Options, analyze};

    fn demo() -> Report {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        analyze(&Options {
            inputs: vec![root.join("fixtures/kernel/client.pcap")],
            thresholds: Thresholds::default(),
            filter: Filter::default(),
            threads: 1,
            progress: false,
            max_connections: 100_000,
        })
        .report
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
