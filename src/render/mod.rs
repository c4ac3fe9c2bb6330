//! The renderers: one module per output format, each a [`Renderer`], and
//! [`render`], where every format is registered.
//!
//! A renderer is a [`Sink`] (it receives the connections in report order,
//! encoded by the shards as its encoder says) that also writes what comes
//! after them once the analysis is over ([`Renderer::finish`]). A new format is
//! a module here, a variant of [`Format`] (the compiler asks for its name and
//! help) and its line in [`render`]; `--format` offers every one of
//! [`Format::ALL`].

pub mod at;
pub mod check;
pub mod diff;
pub mod explain;
pub mod html;
pub mod json;
pub mod parquet;
pub mod tee;
pub mod text;
pub mod zeek;

use std::io::{self, Write};

use crate::pipeline::{Analysis, Options, analyze_into};
use crate::report::sink::Sink;

/// An output format of `teardown analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Ndjson,
    Zeek,
    Html,
    Parquet,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Ndjson,
        Format::Zeek,
        Format::Html,
        Format::Parquet,
    ];

    /// Its `--format` value.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Zeek => "zeek",
            Format::Html => "html",
            Format::Parquet => "parquet",
        }
    }

    /// The format a report file's name asks for: `.txt`, `.json`, `.ndjson`
    /// (or `.jsonl`), `.log` or `.zeek` (a conn.log), `.html` (or `.htm`),
    /// `.parquet`.
    pub fn of_extension(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" => Format::Text,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "log" | "zeek" => Format::Zeek,
            "html" | "htm" => Format::Html,
            "parquet" => Format::Parquet,
            _ => return None,
        })
    }

    /// What it is, for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            Format::Text => "A short summary for terminals",
            Format::Json => "The full report (schema in docs/json.md)",
            Format::Ndjson => "One JSON connection object per line",
            Format::Zeek => "Zeek's conn.log (TSV): Zeek's conn_state and history (docs/zeek.md)",
            Format::Html => {
                "One self-contained page: summary, diagnoses, charts, problem table, ladders"
            }
            Format::Parquet => {
                "One row per connection, typed columns, zstd (docs/parquet.md); to a file (-o) only"
            }
        }
    }
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
        Format::Text => run(text::Text::new(out, options.text_width), options),
        Format::Json => run(json::Json::document(out, options), options),
        Format::Ndjson => run(json::Json::ndjson(out), options),
        Format::Zeek => run(zeek::Zeek::new(out), options),
        Format::Html => run(html::Html::new(out, options), options),
        Format::Parquet => run(parquet::Parquet::new(out), options),
    }
}

/// [`render`], with every connection also handed to `also` (another
/// renderer of the same analysis, finished after the report): `teardown
/// batch` writes a set's report and its rows of the combined file in one
/// reading.
pub fn render_beside<C: Renderer>(
    format: Format,
    options: &Options,
    out: &mut (dyn Write + Send),
    also: &mut C,
) -> Rendered {
    use tee::Tee;
    match format {
        Format::Text => run(
            Tee {
                first: text::Text::new(out, options.text_width),
                second: also,
            },
            options,
        ),
        Format::Json => run(
            Tee {
                first: json::Json::document(out, options),
                second: also,
            },
            options,
        ),
        Format::Ndjson => run(
            Tee {
                first: json::Json::ndjson(out),
                second: also,
            },
            options,
        ),
        Format::Zeek => run(
            Tee {
                first: zeek::Zeek::new(out),
                second: also,
            },
            options,
        ),
        Format::Html => run(
            Tee {
                first: html::Html::new(out, options),
                second: also,
            },
            options,
        ),
        Format::Parquet => run(
            Tee {
                first: parquet::Parquet::new(out),
                second: also,
            },
            options,
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every format once, so `--format` offers each.
    #[test]
    fn every_format_is_listed_once() {
        for f in Format::ALL {
            // Exhaustive: a new format does not compile until it is matched here.
            let listed = match f {
                Format::Text
                | Format::Json
                | Format::Ndjson
                | Format::Zeek
                | Format::Html
                | Format::Parquet => Format::ALL.iter().filter(|g| **g == f).count(),
            };
            assert_eq!(listed, 1, "{}", f.name());
        }
    }
}
