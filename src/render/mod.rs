//! The renderers: one module per output format, each a [`Renderer`], and
//! [`render`], where every format is registered.
//!
//! A renderer is a [`Sink`] (it receives the connections in report order,
//! encoded by the shards as its encoder says) that also writes what comes
//! after them once the analysis is over ([`Renderer::finish`]). A new format is
//! a module here, a variant of [`Format`] and its line in [`render`].

pub mod check;
pub mod html;
pub mod json;
pub mod text;
pub mod zeek;

use std::io::{self, Write};

use crate::pipeline::{Analysis, Options, analyze_into};
use crate::report::sink::Sink;

/// An output format of `teardown analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A short summary for terminals.
    Text,
    /// The full report (schema in docs/json.md).
    Json,
    /// One JSON connection object per line.
    Ndjson,
    /// Zeek's conn.log (TSV): Zeek's conn_state and history (docs/zeek.md).
    Zeek,
    /// One self-contained page: summary, diagnoses, charts, problem table, ladders.
    Html,
}

/// A [`Sink`] that writes a whole report.
pub trait Renderer: Sink {
    /// Writes what follows the connections, once the analysis is over (its
    /// report has no connections; the totals are complete).
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()>;
}

/// An analysis and how writing its report went.
pub struct Rendered {
    pub analysis: Analysis,
    /// The first error writing the report (the analysis' messages stand
    /// whatever it says).
    pub output: io::Result<()>,
}

/// Runs the analysis `options` describe, writing its report in `format` to
/// `out` while the capture is read.
pub fn render(format: Format, options: &Options, out: &mut (dyn Write + Send)) -> Rendered {
    match format {
        Format::Text => run(text::Text::new(out), options),
        Format::Json => run(json::Json::document(out, options), options),
        Format::Ndjson => run(json::Json::ndjson(out), options),
        Format::Zeek => run(zeek::Zeek::new(out), options),
        Format::Html => run(html::Html::new(out, options), options),
    }
}

fn run<R: Renderer>(mut renderer: R, options: &Options) -> Rendered {
    let mut analysis = analyze_into(options, &mut renderer);
    let output = match analysis.output_error.take() {
        Some(e) => Err(e),
        None => renderer.finish(&analysis),
    };
    Rendered { analysis, output }
}
