//! Two analyses compared: `teardown diff` and `check --baseline`.
//!
//! Each side is a [`Side`]: what a capture set's analysis
//! ([`side::Collector`], a [`crate::report::sink::Sink`]) or a JSON report
//! ([`Side::read_json`]) says of its connections, in bounded memory.
//! [`Diff::between`] compares two sides with the tests of [`stats`]; the
//! renderers in `render/diff/` only format its result, and `policy` reads a
//! baseline side for `--max-increase`.

pub mod diff;
pub mod side;
pub mod stats;

pub use diff::{Diff, Method};
pub use side::{Collector, Origin, Side};
