//! JSON and NDJSON renderers: serde over the [`Report`] value, nothing re-derived.

use std::io::{self, Write};

use super::Report;

/// The whole report as one pretty-printed JSON document.
pub fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// One connection object per line (the same objects as `connections` in JSON).
pub fn write_ndjson(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for c in &report.connections {
        serde_json::to_writer(&mut *out, c)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
