//! Connection tracking: 4-tuples to connections, several connections per 4-tuple
//! over time, TIME_WAIT reuse.

use std::collections::HashMap;

use super::connection::{Connection, EndpointAddr, Reuse, Side};
use super::state::State;
use crate::decode::{Control, Segment};
use crate::time::Timestamp;

/// A 4-tuple independent of direction: the lower endpoint first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub a: EndpointAddr,
    pub b: EndpointAddr,
}

impl FlowKey {
    pub fn of(seg: &Segment) -> FlowKey {
        let s = seg.src_endpoint();
        let d = seg.dst_endpoint();
        if s <= d {
            FlowKey { a: s, b: d }
        } else {
            FlowKey { a: d, b: s }
        }
    }
}

/// Thresholds, all in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Maximum segment lifetime; TIME_WAIT lasts twice this.
    pub msl_ns: i64,
    /// How long an unacknowledged FIN may wait before it counts as lost.
    pub fin_grace_ns: i64,
    /// Most connections this tracker keeps state for at once (see [`Tracker`]).
    pub max_tracked: usize,
}

impl TrackerConfig {
    /// The default cap on tracked connections, over all shards: about 1.5 KB of
    /// state each, so some 150 MB at worst.
    pub const DEFAULT_MAX_TRACKED: usize = 100_000;
}

/// Tracks every connection of one shard of the traffic.
///
/// Memory is bounded by `max_tracked`: when a new connection would exceed it, the
/// eighth of the tracked connections that were idle longest (by their last
/// packet) are evicted — finished there and then, their observation ending at the
/// packet that forced the eviction, flagged `evicted` — and counted. A SYN flood
/// or a scan is the usual cause; a later packet of an evicted connection starts a
/// new, mid-stream one.
pub struct Tracker {
    cfg: TrackerConfig,
    // Boxed: a `Connection` is about 1.4 KB, and replacing or moving it by
    // value on every new connection showed up as memmove time in profiles.
    table: HashMap<FlowKey, Box<Connection>, ahash::RandomState>,
    // Boxed too: moving a finished connection out of the table is a pointer copy.
    #[allow(clippy::vec_box)]
    done: Vec<Box<Connection>>,
    evicted: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Tracker {
        Tracker {
            cfg,
            table: HashMap::default(),
            done: Vec::new(),
            evicted: 0,
        }
    }

    /// Connections currently tracked (not yet ended by a newer one on the same
    /// 4-tuple).
    pub fn active(&self) -> usize {
        self.table.len()
    }

    /// Feeds one segment, in processing order. A segment's `order` becomes the
    /// serial of the connection it opens.
    pub fn push(&mut self, seg: &Segment) {
        let key = FlowKey::of(seg);
        if self.table.len() >= self.cfg.max_tracked.max(1) && !self.table.contains_key(&key) {
            self.evict(seg);
        }
        match self.table.get_mut(&key) {
            None => {
                let mut conn = Box::new(Connection::new(seg, seg.order));
                conn.on_segment(seg);
                self.table.insert(key, conn);
            }
            Some(current) => {
                if starts_new_connection(current, seg) {
                    let mut conn = Box::new(Connection::new(seg, seg.order));
                    conn.reuse = time_wait_reuse(current, seg, self.cfg.msl_ns);
                    conn.on_segment(seg);
                    let mut previous = std::mem::replace(current, conn);
                    // Nothing after this SYN belongs to the previous connection: its
                    // observation ends here.
                    previous.finish(seg.ts, self.cfg.msl_ns, self.cfg.fin_grace_ns);
                    previous.end_order = seg.order;
                    self.done.push(previous);
                } else {
                    current.on_segment(seg);
                }
            }
        }
    }

    /// Connections evicted so far because the cap was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Finishes the least recently active eighth of the tracked connections, in
    /// the order of their first packets.
    fn evict(&mut self, seg: &Segment) {
        let n = (self.table.len() / 8).max(1);
        let mut idle: Vec<(Timestamp, u64, FlowKey)> = self
            .table
            .iter()
            .map(|(k, c)| (c.last.ts, c.serial, *k))
            .collect();
        idle.select_nth_unstable_by_key(n - 1, |&(ts, serial, _)| (ts, serial));
        idle.truncate(n);
        idle.sort_unstable_by_key(|&(_, serial, _)| serial);
        for (_, _, key) in idle {
            if let Some(mut c) = self.table.remove(&key) {
                c.evicted = true;
                c.end_order = seg.order;
                c.finish(seg.ts, self.cfg.msl_ns, self.cfg.fin_grace_ns);
                self.done.push(c);
                self.evicted += 1;
            }
        }
    }

    /// Connections already ended by a newer one on their 4-tuple or by eviction
    /// (finished), in the order they ended, so the caller can turn them into
    /// compact report records as it goes.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Box<Connection>> {
        self.done.drain(..)
    }

    /// Ends tracking at the end of the capture: the connections not yet drained,
    /// every one finished (those still current with `capture_end`, in the order of
    /// their first packets), in the order they ended.
    pub fn finish(&mut self, capture_end: Timestamp) -> Vec<Box<Connection>> {
        let mut all = std::mem::take(&mut self.done);
        let (msl, grace) = (self.cfg.msl_ns, self.cfg.fin_grace_ns);
        let mut current: Vec<Box<Connection>> = self.table.drain().map(|(_, c)| c).collect();
        current.sort_unstable_by_key(|c| c.serial);
        all.extend(current.into_iter().map(|mut c| {
            c.finish(capture_end, msl, grace);
            c
        }));
        all
    }
}

/// A pure SYN starts a new connection on a used 4-tuple when it is not a
/// retransmission of the current connection's SYN: a different ISN from the
/// current client, or any SYN from a side that has already closed, reset, or
/// was only seen mid-stream. A SYN from the server side during the current
/// handshake is a simultaneous open, not a new connection.
fn starts_new_connection(current: &Connection, seg: &Segment) -> bool {
    if seg.control != Control::Syn || seg.ack.is_some() {
        return false;
    }
    let side = current.side_of(seg);
    let me = current.endpoint(side);
    match me.isn {
        Some(isn) if isn == seg.seq && me.syn_count > 0 => false,
        Some(_) if !me.sent_syn_ack => true,
        // Server side sending a SYN: simultaneous open while the handshake is
        // still going on, a new connection with reversed roles afterwards.
        _ if side == Side::Server => current.established || current.is_closed(),
        // Mid-stream connection, or one whose client never sent a SYN.
        _ => true,
    }
}

/// Describes the reuse when `current` holds TIME_WAIT on either side at the time
/// of the new SYN `seg`.
fn time_wait_reuse(current: &Connection, seg: &Segment, msl_ns: i64) -> Option<Reuse> {
    let syn_sender = current.side_of(seg);
    for side in [Side::Client, Side::Server] {
        let ep = current.endpoint(side);
        if ep.state != State::TimeWait {
            continue;
        }
        let Some(entered) = ep.time_wait_since else {
            continue;
        };
        let gap = seg.ts.0.saturating_sub(entered.ts.0);
        if gap >= msl_ns.saturating_mul(2) {
            continue;
        }
        // What the TIME_WAIT holder checks (tcp_timewait_state_process): the SYN's
        // sequence number after its RCV.NXT, or a newer timestamp. The SYN comes
        // from the other end of the old connection, whose last sequence number
        // and TSval we know.
        let sender_prev = current.endpoint(syn_sender);
        let isn_advanced = sender_prev.next_seq.is_none_or(|n| seg.seq > n);
        let ts_advanced = match (seg.options.timestamp, sender_prev.last_tsval) {
            (Some((new, _)), Some(old)) => Some((new.wrapping_sub(old) as i32) > 0),
            _ => None,
        };
        // The holder's side in the new connection: the new SYN sender is the new
        // client, so the holder is the client when it is the SYN sender itself.
        let holder_addr = ep.addr;
        let time_wait_side = if holder_addr.ip == seg.src && holder_addr.port == seg.src_port {
            Side::Client
        } else {
            Side::Server
        };
        let kernel_accepts = if time_wait_side == Side::Client {
            // Outgoing reuse (tcp_tw_reuse) needs timestamps and a newer TSval.
            ts_advanced == Some(true)
        } else {
            ts_advanced.unwrap_or(isn_advanced)
        };
        return Some(Reuse {
            previous: current.serial,
            gap: gap as f64 / 1e9,
            time_wait_side,
            isn_advanced,
            ts_advanced,
            kernel_accepts,
        });
    }
    None
}
