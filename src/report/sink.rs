//! Where finished connections go: the trait every output implements.
//!
//! The pipeline hands each finished connection, in report order, to a
//! [`Sink`]. What travels from the shard that finished it to the sink is the
//! sink's choice: its [`Encode`] runs on the shard's own thread (so a JSON
//! report is serialized on every core), and the sink receives the encoded
//! items on the writer thread. The pipeline knows no format.

use std::io;

use super::ConnectionReport;
use crate::time::Timestamp;

/// What a shard makes of each finished connection, on the shard's thread.
/// Each shard has its own encoder (`Default`), so it may keep scratch space.
pub trait Encode: Default + Send {
    /// What the sink receives.
    type Item: Send;
    fn encode(&mut self, record: ConnectionReport) -> Self::Item;
}

/// Hands on the record itself, boxed (a pointer move through the channels).
#[derive(Clone, Copy, Debug, Default)]
pub struct Records;

impl Encode for Records {
    type Item = Box<ConnectionReport>;
    fn encode(&mut self, record: ConnectionReport) -> Box<ConnectionReport> {
        Box::new(record)
    }
}

/// What a sink's encoder makes of a connection.
pub type Item<S> = <<S as Sink>::Encoder as Encode>::Item;

/// Receives the finished connections in report order.
pub trait Sink: Send {
    /// What the shards make of each connection before it is handed on.
    type Encoder: Encode;

    /// Called once, before any connection, with the time the capture starts:
    /// the earliest of the inputs' first packets (`None` without packets).
    fn begin(&mut self, _first_packet: Option<Timestamp>) -> io::Result<()> {
        Ok(())
    }

    /// Called once, before [`Sink::begin`], with the inputs' paths as the
    /// report's `inputs` will give them (directories expanded): a packet
    /// reference's input index is a position in this list.
    fn inputs(&mut self, _paths: &[&str]) {}

    fn connection(&mut self, item: Item<Self>) -> io::Result<()>;
}

/// Keeps every record in memory, for library callers that want them all.
///
/// The records stay in the boxes they came in until [`Collect::into_records`]
/// moves them into one vector of the exact size: growing a `Vec` of ~700-byte
/// records by doubling left up to three times their size allocated at once,
/// which on a SYN flood was most of the peak memory.
#[derive(Default)]
#[allow(
    clippy::vec_box,
    reason = "the boxes arrive from the shards; see above"
)]
pub struct Collect(Vec<Box<ConnectionReport>>);

impl Collect {
    /// The records, in the order they were handed on.
    pub fn into_records(self) -> Vec<ConnectionReport> {
        // An exact-size iterator: one allocation of the final size.
        self.0.into_iter().map(|r| *r).collect()
    }
}

impl Sink for Collect {
    type Encoder = Records;
    fn connection(&mut self, record: Box<ConnectionReport>) -> io::Result<()> {
        self.0.push(record);
        Ok(())
    }
}
