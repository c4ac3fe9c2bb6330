//! Connection tracking: segments in, connections with per-endpoint evidence out.
//!
//! * [`state`]: RFC 9293 states and the single transition function.
//! * [`connection`]: one use of a 4-tuple and what each endpoint did.
//! * [`tracker`]: 4-tuples to connections, splitting reused 4-tuples.

pub mod connection;
pub mod state;
pub mod tracker;

pub use connection::{Connection, Endpoint, PacketRef, Side, Signals};
pub use state::State;
pub use tracker::{FlowKey, Tracker, TrackerConfig};
