//! `tcp-teardown`: how every TCP connection in a capture ended.
//!
//! ```no_run
//! let options = tcp_teardown::Options::new(vec!["capture.pcap".into()]);
//! let analysis = tcp_teardown::analyze(&options);
//! for c in &analysis.report.connections {
//!     println!("{} -> {}: {}", c.client, c.server, c.class.name());
//! }
//! ```
//!
//! [`analyze`] keeps every connection's record; [`analyze_into`] hands each to
//! a [`report::sink::Sink`] as it finishes, in bounded memory; [`render`]
//! writes a report in one of the [`Format`]s the command line offers;
//! [`Batches`] gathers the rows of `--format parquet` as Arrow record
//! batches ([`table_schema`]). The report's types, the JSON schema, are in
//! [`report`].
//!
//! The modules follow the data flow, each using only those before it
//! (docs/ARCHITECTURE.md): `capture` (pcap/pcapng files, pipes, compression)
//! → `decode` (link layer to TCP segment) → `zeek` (Zeek's view of a
//! connection's packets) → `flow` (connections, per-endpoint evidence and
//! RFC 9293 states) → `classify` (the verdict, a pure function) → [`report`]
//! (the model every output reads) → `policy` (`teardown check`'s rules) →
//! `pipeline` (inputs, the time-ordered merge, shards) → `render` (one module
//! per format) → [`cli`].

mod capture;
mod classify;
pub mod cli;
mod compare;
mod decode;
#[cfg(test)]
mod fixtures;
mod flow;
mod pipeline;
mod policy;
mod render;
pub mod report;
mod time;
mod zeek;

pub use pipeline::{Analysis, Options, analyze, analyze_into};
pub use render::parquet::{Batches, schema as table_schema};
pub use render::{Format, Rendered, Renderer, render};

/// Not API: the lower layers, for the project's benchmarks, fuzz targets and
/// integration tests.
#[doc(hidden)]
pub mod internals {
    pub use crate::capture::{
        CaptureError, CaptureReader, LinkType, MAX_BLOCK_LEN, MAX_RECORD_LEN, RawPacket, Source,
    };
    pub use crate::decode::{Segment, decode};
    pub use crate::flow::{Tracker, TrackerConfig};
    pub use crate::render::html;
    pub use crate::render::json;
    pub use crate::render::text;
    pub use crate::render::zeek;
    pub use crate::time::Timestamp;
}
