//! Two reports of one analysis: [`Tee`] hands every connection to both
//! renderers (`teardown batch`'s per-set report and its part of the
//! combined file).

use std::io;

use super::Renderer;
use crate::pipeline::Analysis;
use crate::report::ConnectionReport;
use crate::report::sink::{Encode, Item, Sink};
use crate::time::Timestamp;

/// A [`Sink`] feeding `first` and `second` the same connections, each
/// encoded by its own encoder on the shards.
pub struct Tee<'s, A, B> {
    pub first: A,
    pub second: &'s mut B,
}

/// Both encoders: the record is cloned once for the second.
#[derive(Default)]
pub struct TeeEncoder<E, F>(E, F);

impl<E: Encode, F: Encode> Encode for TeeEncoder<E, F> {
    type Item = (E::Item, F::Item);
    fn encode(&mut self, record: ConnectionReport) -> Self::Item {
        let second = self.1.encode(record.clone());
        (self.0.encode(record), second)
    }
}

impl<A: Sink, B: Sink> Sink for Tee<'_, A, B> {
    type Encoder = TeeEncoder<A::Encoder, B::Encoder>;

    fn inputs(&mut self, paths: &[&str]) {
        self.first.inputs(paths);
        self.second.inputs(paths);
    }

    fn begin(&mut self, first_packet: Option<Timestamp>) -> io::Result<()> {
        let a = self.first.begin(first_packet);
        let b = self.second.begin(first_packet);
        a.and(b)
    }

    fn connection(&mut self, (a, b): (Item<A>, Item<B>)) -> io::Result<()> {
        self.first.connection(a)?;
        self.second.connection(b)
    }
}

impl<A: Renderer, B: Renderer> Renderer for Tee<'_, A, B> {
    fn finish(&mut self, analysis: &Analysis) -> io::Result<()> {
        let a = self.first.finish(analysis);
        let b = self.second.finish(analysis);
        a.and(b)
    }
}
