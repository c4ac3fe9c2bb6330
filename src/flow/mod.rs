//! Connection tracking: segments in, connections with per-endpoint evidence out.
//!
//! * [`state`]: RFC 9293 states and the single transition function.
//! * [`connection`]: one use of a 4-tuple and what each endpoint did.
//! * [`timers`]: the kernel timers packets do not show, and each side's life.
//! * [`tracker`]: 4-tuples to connections, splitting reused 4-tuples.

pub mod connection;
pub mod state;
pub mod timers;
pub mod tracker;

pub use connection::{Connection, Endpoint, PacketRef, Side, Signals};
pub use state::State;
pub use timers::{Expiry, Life, Rule, Timers};
pub use tracker::{FlowKey, Tracker, TrackerConfig};
