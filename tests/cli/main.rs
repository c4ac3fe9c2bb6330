//! Integration tests: the real `teardown` binary on real captures.
//! One test binary, one module per topic (ripgrep's layout).

mod bad_input;
mod batch;
mod check;
mod common;
mod diff;
mod explain;
mod findings;
mod floods;
mod formats;
mod html;
mod inject;
mod kernel;
mod mutation;
mod parallel;
mod parquet_file;
mod suricata;
mod timeline;
mod trust;
mod usage;
mod zeek;
