//! `tcp-teardown`: how every TCP connection in a capture ended.
//!
//! The modules follow the data flow:
//! [`capture`] (pcap/pcapng files, pipes, compression) →
//! [`decode`] (link layer to TCP segment) →
//! [`flow`] (connections, per-endpoint evidence and RFC 9293 states) →
//! [`classify`] (the verdict, a pure function) →
//! [`report`] (the serde report and its renderers).
//! [`analyze`] wires them together; the `teardown` binary is a thin layer over it.

pub mod analyze;
pub mod capture;
pub mod classify;
pub mod decode;
#[cfg(test)]
mod fixtures;
pub mod flow;
pub mod ladder;
pub mod merge;
pub mod policy;
pub mod render;
pub mod report;
pub mod time;
pub mod zeek;
