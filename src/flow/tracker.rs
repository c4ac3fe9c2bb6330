//! Connection tracking: 4-tuples to connections, several connections per 4-tuple
//! over time, TIME_WAIT reuse.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use super::connection::{Connection, Reuse, Side};
use super::state::State;
use crate::decode::EndpointAddr;
use crate::decode::{Control, Segment};
use crate::time::Timestamp;

/// A 4-tuple independent of direction: the lower endpoint first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub a: EndpointAddr,
    pub b: EndpointAddr,
}

/// Fixed seeds: the reader routes segments to shards by this hash, so it must
/// be the same in every thread (and every run, for reproducible shard loads).
const FLOW_HASHER: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);

impl FlowKey {
    #[inline]
    pub fn of(seg: &Segment) -> FlowKey {
        FlowKey::of_endpoints(seg.src_endpoint(), seg.dst_endpoint())
    }

    /// The key of the segments from `s` to `d`, and from `d` to `s`.
    #[inline]
    pub fn of_endpoints(s: EndpointAddr, d: EndpointAddr) -> FlowKey {
        // The derived order of `EndpointAddr` (IPv4 before IPv6, then the
        // address bytes, then the port), the common IPv4 case as integers.
        let src_first = match (&s.ip, &d.ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (a.to_bits(), s.port) <= (b.to_bits(), d.port),
            (a, b) => (a, s.port) <= (b, d.port),
        };
        if src_first {
            FlowKey { a: s, b: d }
        } else {
            FlowKey { a: d, b: s }
        }
    }

    /// The key's hash, computed once per segment: the reader routes by it and
    /// the shard's table finds the connection by it.
    pub fn hash(&self) -> u64 {
        let mut h = FLOW_HASHER.build_hasher();
        match (self.a.ip, self.b.ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.write_u64((u64::from(u32::from(a)) << 32) | u64::from(u32::from(b)));
            }
            (a, b) => {
                let bits = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
                    IpAddr::V6(v6) => v6.to_bits(),
                };
                h.write_u128(bits(a));
                h.write_u128(bits(b));
            }
        }
        h.write_u32((u32::from(self.a.port) << 16) | u32::from(self.b.port));
        h.finish()
    }
}

/// A table key: the 4-tuple with its precomputed hash, which is all the table's
/// hasher sees.
#[derive(Clone, Copy, Debug)]
struct Hashed {
    hash: u64,
    key: FlowKey,
}

impl PartialEq for Hashed {
    fn eq(&self, other: &Hashed) -> bool {
        self.key == other.key
    }
}

impl Eq for Hashed {}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Hands the precomputed hash of a [`Hashed`] through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Hashed`; a plain fold keeps it a hash all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Thresholds, all in nanoseconds, and the cap on tracked connections.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Maximum segment lifetime; TIME_WAIT lasts twice this.
    pub msl_ns: i64,
    /// How long an unacknowledged FIN may wait before it counts as lost.
    pub fin_grace_ns: i64,
    /// Most connections kept at once over all partitions (see [`Tracker`]).
    pub max_tracked: usize,
    /// Keep every state change of every connection (`Connection::trace`),
    /// for `teardown explain`.
    pub trace: bool,
}

impl TrackerConfig {
    /// The default cap on tracked connections, over all shards: about 1.5 KB of
    /// state each, so some 150 MB at worst.
    pub const DEFAULT_MAX_TRACKED: usize = 100_000;
    /// The 4-tuples are split into this many partitions (fewer when the cap is
    /// small), whatever the number of threads.
    pub const MAX_PARTITIONS: usize = 256;
    /// A partition's share of the cap is at least this (when the cap is), so
    /// that the uneven spread of a few connections over many partitions does
    /// not evict long before the cap is reached.
    const MIN_PARTITION_CAP: usize = 64;

    /// How many partitions the 4-tuples are split into: a number set by the cap
    /// alone, so that what a partition does (its evictions above all) depends
    /// on its own segments only, never on how partitions are spread over
    /// threads.
    pub fn partitions(&self) -> usize {
        (self.max_tracked / Self::MIN_PARTITION_CAP).clamp(1, Self::MAX_PARTITIONS)
    }

    /// How often, in capture time, a partition looks for settled connections
    /// to retire: every half MSL, at least every second.
    fn sweep_every_ns(&self) -> i64 {
        (self.msl_ns / 2).max(1_000_000_000)
    }

    /// Most connections one partition keeps at once.
    fn partition_cap(&self) -> usize {
        self.max_tracked.max(1).div_ceil(self.partitions())
    }

    /// The partition of a 4-tuple with this [`FlowKey::hash`]. It is taken from
    /// bits 24..56 of the hash: the table indexes buckets by the low bits and
    /// tags them with the top seven, which must stay spread within a partition.
    pub fn partition_of(&self, hash: u64) -> usize {
        ((((hash >> 24) & 0xffff_ffff) * self.partitions() as u64) >> 32) as usize
    }
}

type Table = HashMap<Hashed, Tracked, BuildHasherDefault<PassThrough>>;

/// What the table holds for a 4-tuple's current connection.
///
/// A connection that has sent one SYN (or SYN-ACK) and nothing else is kept as
/// that segment (136 bytes, boxed) instead of a [`Connection`] with Zeek's view of it
/// (~1.4 KB): in a SYN flood or a scan nearly every tracked connection is one,
/// so the cap on tracked connections costs about an eighth of the memory there. Its
/// `Connection` is built from the segment, exactly as it would have been on
/// arrival, when a second segment comes or its observation ends: a
/// connection is a function of its segments, so nothing else can tell.
enum Tracked {
    Syn(Box<FirstSyn>),
    Full(Box<Connection>),
}

/// The only segment of a connection so far (a SYN or SYN-ACK), and the
/// TIME_WAIT reuse its arrival found.
struct FirstSyn {
    seg: Segment,
    reuse: Option<Reuse>,
    trace: bool,
}

impl Tracked {
    /// The connection `seg` opens (`reuse` found by its arrival).
    fn open(seg: &Segment, reuse: Option<Reuse>, trace: bool) -> Tracked {
        if seg.control == Control::Syn {
            Tracked::Syn(Box::new(FirstSyn {
                seg: seg.clone(),
                reuse,
                trace,
            }))
        } else {
            Tracked::Full(build(seg, reuse, trace))
        }
    }

    /// Its last packet's time and its serial: what eviction orders by.
    fn idle_key(&self) -> (Timestamp, u64) {
        match self {
            Tracked::Syn(first) => (first.seg.ts, first.seg.order),
            Tracked::Full(c) => (c.last.ts, c.serial),
        }
    }

    /// [`Connection::serial`]: the processing order of its first segment.
    fn serial(&self) -> u64 {
        self.idle_key().1
    }

    /// `Connection::settled_at`. A connection of one SYN has neither end
    /// closed, so it is never settled.
    fn settled_at(&self, msl_ns: i64, grace_ns: i64) -> Option<Timestamp> {
        match self {
            Tracked::Syn(_) => None,
            Tracked::Full(c) => c.settled_at(msl_ns, grace_ns),
        }
    }

    /// The connection, built from its first segment if it has not been yet.
    fn connection(&mut self) -> &mut Box<Connection> {
        if let Tracked::Syn(first) = self {
            *self = Tracked::Full(build(&first.seg, first.reuse.take(), first.trace));
        }
        match self {
            Tracked::Full(c) => c,
            Tracked::Syn(_) => unreachable!("built above"),
        }
    }

    fn into_connection(self) -> Box<Connection> {
        match self {
            Tracked::Syn(first) => build(&first.seg, first.reuse, first.trace),
            Tracked::Full(c) => c,
        }
    }
}

/// A connection from its first segment.
fn build(seg: &Segment, reuse: Option<Reuse>, trace: bool) -> Box<Connection> {
    let mut conn = Box::new(Connection::new(seg, seg.order));
    conn.reuse = reuse;
    if trace {
        conn.trace = Some(Box::default());
    }
    feed(&mut conn, seg);
    conn
}

/// Feeds one segment to its connection and, beside it, to Zeek's view of it.
#[inline]
fn feed(conn: &mut Connection, seg: &Segment) {
    conn.zeek.on_segment(seg);
    conn.on_segment(seg);
}

/// One partition of the 4-tuples.
struct Partition {
    // Boxed: a `Connection` is about 1.4 KB, and replacing or moving it by
    // value on every new connection showed up as memmove time in profiles.
    table: Table,
    /// The next of this partition's segments at or after this time (ns) looks
    /// for settled connections to retire.
    next_sweep: i64,
}

impl Partition {
    fn new() -> Partition {
        Partition {
            table: Table::default(),
            // The first segment looks (at nothing), whatever its time.
            next_sweep: i64::MIN,
        }
    }
}

/// Tracks every connection of a range of partitions of the 4-tuples.
///
/// Memory is bounded by `max_tracked`, shared evenly between the partitions:
/// when a new connection would exceed its partition's share, the eighth of that
/// partition's connections that were idle longest (by their last packet) are
/// evicted — finished there and then, their observation ending at the packet
/// that forced the eviction, flagged `evicted` — and counted. A SYN flood or a
/// scan is the usual cause; a later packet of an evicted connection starts a
/// new, mid-stream one.
///
/// Before that, connections that are over for good leave on their own: every
/// half MSL of capture time (at least every second), a partition's next
/// segment retires the connections that `Connection::settled_at` says are
/// settled by then — both ends closed, TIME_WAIT outlived — so a long capture
/// of many 4-tuples keeps only what is live, and its closed connections are
/// not flagged `evicted`. Their observation ends at that segment; a later
/// segment on the 4-tuple starts a new connection, as it would on the hosts.
///
/// A partition sees the same segments in the same order however the partitions
/// are spread over threads, so do its retirements and evictions.
pub struct Tracker {
    cfg: TrackerConfig,
    /// The first partition this tracker owns; `parts[i]` is partition `first + i`.
    first: usize,
    parts: Vec<Partition>,
    // Boxed too: moving a finished connection out of the table is a pointer copy.
    #[allow(clippy::vec_box)]
    done: Vec<Box<Connection>>,
    evicted: u64,
    opened: u64,
}

impl Tracker {
    /// A tracker of every partition.
    pub fn new(cfg: TrackerConfig) -> Tracker {
        Tracker::of_partitions(cfg, 0..cfg.partitions())
    }

    /// A tracker of the partitions in `range` (of [`TrackerConfig::partitions`]):
    /// it must be fed every segment of those partitions, and only those.
    pub fn of_partitions(cfg: TrackerConfig, range: std::ops::Range<usize>) -> Tracker {
        Tracker {
            cfg,
            first: range.start,
            parts: range.map(|_| Partition::new()).collect(),
            done: Vec::new(),
            evicted: 0,
            opened: 0,
        }
    }

    /// Connections currently tracked (not yet ended by a newer one on the same
    /// 4-tuple).
    pub fn active(&self) -> usize {
        self.parts.iter().map(|p| p.table.len()).sum()
    }

    /// Feeds one segment, in processing order. A segment's `order` becomes the
    /// serial of the connection it opens.
    pub fn push(&mut self, seg: &Segment) {
        let key = FlowKey::of(seg);
        self.push_keyed(
            seg,
            Hashed {
                hash: key.hash(),
                key,
            },
        );
    }

    /// [`Tracker::push`] with the segment's [`FlowKey::hash`] already computed
    /// (by the reader, which routed the segment by it).
    pub fn push_hashed(&mut self, seg: &Segment, hash: u64) {
        let key = FlowKey::of(seg);
        debug_assert_eq!(hash, key.hash());
        self.push_keyed(seg, Hashed { hash, key });
    }

    fn push_keyed(&mut self, seg: &Segment, key: Hashed) {
        let index = self.cfg.partition_of(key.hash);
        debug_assert!(
            (self.first..self.first + self.parts.len()).contains(&index),
            "segment routed to a tracker that does not own its partition"
        );
        let part = &mut self.parts[index - self.first];
        // Connections this segment ends come out in id order (the report's).
        let ended_before = self.done.len();
        if seg.ts.0 >= part.next_sweep {
            part.next_sweep = seg.ts.0.saturating_add(self.cfg.sweep_every_ns());
            retire_settled(&mut part.table, seg, &self.cfg, &mut self.done);
        }
        let table = &mut part.table;
        if table.len() >= self.cfg.partition_cap() && !table.contains_key(&key) {
            self.evicted += evict(table, seg, &self.cfg, &mut self.done);
        }
        match table.get_mut(&key) {
            None => {
                self.opened += 1;
                table.insert(key, Tracked::open(seg, None, self.cfg.trace));
            }
            Some(slot) => {
                let current = slot.connection();
                match route(current, seg, self.cfg.fin_grace_ns) {
                    Route::Feed => feed(current, seg),
                    Route::Hold => current.hold_syn(seg),
                    route @ (Route::Open | Route::OpenHeld) => {
                        self.opened += 1;
                        let held = if route == Route::OpenHeld {
                            current.held_syns.take()
                        } else {
                            None
                        };
                        let next = match held {
                            None => {
                                let reuse = time_wait_reuse(current, seg, self.cfg.msl_ns);
                                Tracked::open(seg, reuse, self.cfg.trace)
                            }
                            // The held SYNs open it, then this segment.
                            Some(held) => {
                                let mut segs = held.segs.iter();
                                let first = segs.next().expect("a held SYN");
                                let reuse = time_wait_reuse(current, first, self.cfg.msl_ns);
                                let mut conn = build(first, reuse, self.cfg.trace);
                                for s in segs {
                                    feed(&mut conn, s);
                                }
                                feed(&mut conn, seg);
                                Tracked::Full(conn)
                            }
                        };
                        let mut previous = std::mem::replace(slot, next).into_connection();
                        // Nothing after this segment belongs to the previous
                        // connection: its observation ends here.
                        previous.finish(seg.ts, self.cfg.msl_ns, self.cfg.fin_grace_ns);
                        previous.end_order = seg.order;
                        self.done.push(previous);
                    }
                }
            }
        }
        if self.done.len() - ended_before > 1 {
            self.done[ended_before..].sort_unstable_by_key(|c| c.serial);
        }
    }

    /// Connections opened so far, ended or not.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Connections evicted so far because the cap was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Connections already ended by a newer one on their 4-tuple or by eviction
    /// (finished), in the order they ended, so the caller can turn them into
    /// compact report records as it goes.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Box<Connection>> {
        self.done.drain(..)
    }

    /// How many finished connections wait for [`Tracker::drain_finished`].
    #[inline]
    pub fn finished_len(&self) -> usize {
        self.done.len()
    }

    /// Ends tracking at the end of the capture: the connections not yet drained,
    /// every one finished (those still current with `capture_end`, in the order of
    /// their first packets), in the order they ended. The current ones are built
    /// (from a first SYN, see [`Tracked`]) and finished one at a time as the
    /// iterator is consumed, so the caller can drop each before the next.
    pub fn finish(
        &mut self,
        capture_end: Timestamp,
    ) -> impl Iterator<Item = Box<Connection>> + use<> {
        let done = std::mem::take(&mut self.done);
        let (msl, grace) = (self.cfg.msl_ns, self.cfg.fin_grace_ns);
        let mut current: Vec<Tracked> = self
            .parts
            .iter_mut()
            .flat_map(|p| p.table.drain().map(|(_, c)| c))
            .collect();
        current.sort_unstable_by_key(Tracked::serial);
        done.into_iter().chain(current.into_iter().map(move |c| {
            let mut c = c.into_connection();
            c.finish(capture_end, msl, grace);
            c
        }))
    }
}

/// Finishes the partition's connections that are settled by `seg`'s time
/// (`Connection::settled_at`), their observation ending at `seg`.
#[allow(clippy::vec_box)]
fn retire_settled(
    table: &mut Table,
    seg: &Segment,
    cfg: &TrackerConfig,
    done: &mut Vec<Box<Connection>>,
) {
    let settled = table.extract_if(|_, c| {
        c.settled_at(cfg.msl_ns, cfg.fin_grace_ns)
            .is_some_and(|at| at <= seg.ts)
    });
    for (_, c) in settled {
        let mut c = c.into_connection();
        c.end_order = seg.order;
        c.finish(seg.ts, cfg.msl_ns, cfg.fin_grace_ns);
        done.push(c);
    }
}

/// Finishes the least recently active eighth of a partition's connections, in
/// the order of their first packets, at `seg`, the packet that needed the room;
/// returns how many.
#[allow(clippy::vec_box)]
fn evict(
    table: &mut Table,
    seg: &Segment,
    cfg: &TrackerConfig,
    done: &mut Vec<Box<Connection>>,
) -> u64 {
    let n = (table.len() / 8).max(1);
    let mut idle: Vec<(Timestamp, u64, Hashed)> = table
        .iter()
        .map(|(k, c)| {
            let (ts, serial) = c.idle_key();
            (ts, serial, *k)
        })
        .collect();
    idle.select_nth_unstable_by_key(n - 1, |&(ts, serial, _)| (ts, serial));
    idle.truncate(n);
    idle.sort_unstable_by_key(|&(_, serial, _)| serial);
    let mut evicted = 0;
    for (_, _, key) in idle {
        if let Some(c) = table.remove(&key) {
            let mut c = c.into_connection();
            c.evicted = true;
            c.end_order = seg.order;
            c.finish(seg.ts, cfg.msl_ns, cfg.fin_grace_ns);
            done.push(c);
            evicted += 1;
        }
    }
    evicted
}

/// What a segment on a tracked 4-tuple does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// It belongs to the current connection.
    Feed,
    /// A SYN with a new ISN that the current connection's synchronized
    /// receiver challenges: held until it is known to open the next connection
    /// (`Connection::hold_syn`).
    Hold,
    /// It opens the next connection.
    Open,
    /// The held SYNs open the next connection, and it is the next one's too.
    OpenHeld,
}

/// Attributes a segment to the connection whose sequence space it belongs to.
/// A SYN with a new ISN to a receiver that would challenge it is held: the
/// challenge ACK and the answer to it (a RST at the old RCV.NXT) are the
/// current connection's. The held SYNs open the next one when the receiver
/// acknowledges the new ISN (SYN-ACK, or RST refusing it), when the sender uses
/// the new sequence space, or when the SYN comes again and the receiver is no
/// longer synchronized or has sent nothing since the first.
fn route(current: &Connection, seg: &Segment, grace_ns: i64) -> Route {
    let side = current.side_of(seg);
    // The receiver's state as far as the capture has proved it by now (an ACK
    // of a FIN already resent once may have been lost again).
    let receiver_state = |side: Side| current.state_at(side, seg.ts, grace_ns);
    if let Some(held) = current.held_syns.as_deref() {
        let isn = held.segs[0].seq;
        if side != held.side {
            if seg.ack == Some(isn + 1) {
                return Route::OpenHeld;
            }
        } else if seg.control == Control::Syn && seg.ack.is_none() && seg.seq == isn {
            let receiver = current.endpoint(side.other());
            return if !receiver_state(side.other()).challenges_syn()
                || receiver.packets == held.receiver_packets
            {
                Route::OpenHeld
            } else {
                Route::Hold
            };
        } else if seg.seq == isn + 1 && seg.control != Control::Syn {
            return Route::OpenHeld;
        }
    }
    if !starts_new_connection(current, seg) {
        return Route::Feed;
    }
    if receiver_state(side.other()).challenges_syn() {
        Route::Hold
    } else {
        Route::Open
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

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::decode::SeqNumber;
    use crate::decode::{TcpFlags, TcpOptions};

    fn segment((src, src_port): (IpAddr, u16), (dst, dst_port): (IpAddr, u16)) -> Segment {
        Segment {
            ts: Timestamp(0),
            input: 0,
            number: 0,
            order: 0,
            src,
            dst,
            src_port,
            dst_port,
            seq: SeqNumber(1),
            ack: None,
            control: Control::None,
            window: 0,
            payload_len: 0,
            options: TcpOptions::default(),
            truncated: false,
            flags: TcpFlags::default(),
            ip_len: 40,
            header_cut: false,
            ttl: 64,
            ip_id: 0,
        }
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            // Few distinct values, so equal addresses (decided by the port) occur.
            (0u32..4).prop_map(|v| IpAddr::V4(Ipv4Addr::from_bits(v << 30 | 7))),
            any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from_bits(v))),
            any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from_bits(v))),
            any::<u32>().prop_map(|v| IpAddr::V6(Ipv4Addr::from_bits(v).to_ipv6_mapped())),
        ]
    }

    proptest! {
        #[test]
        fn flow_key_orders_endpoints_as_their_derived_order_and_hashes_both_directions_alike(
            a in (ip(), 0u16..3),
            b in (ip(), 0u16..3),
        ) {
            let forth = FlowKey::of(&segment(a, b));
            let back = FlowKey::of(&segment(b, a));
            prop_assert_eq!(forth, back);
            prop_assert_eq!(forth.hash(), back.hash());
            let ea = EndpointAddr { ip: a.0, port: a.1 };
            let eb = EndpointAddr { ip: b.0, port: b.1 };
            prop_assert_eq!((forth.a, forth.b), (ea.min(eb), ea.max(eb)));
        }
    }

    fn cfg(max_tracked: usize) -> TrackerConfig {
        TrackerConfig {
            msl_ns: 30_000_000_000,
            fin_grace_ns: 3_000_000_000,
            max_tracked,
            trace: false,
        }
    }

    /// A SYN from a new client port every millisecond, numbered from 1.
    fn syns(n: u64) -> impl Iterator<Item = Segment> {
        let server = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
        (0..n).map(move |i| Segment {
            number: i + 1,
            order: i + 1,
            ts: Timestamp(i as i64 * 1_000_000),
            control: Control::Syn,
            ..segment(
                (
                    IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 16) as u8, 1)),
                    i as u16,
                ),
                server,
            )
        })
    }

    /// What the report needs to come out the same: which connection, where its
    /// observation ended, and whether it was evicted.
    fn ends(done: &[Box<Connection>]) -> Vec<(u64, u64, bool)> {
        let mut v: Vec<_> = done
            .iter()
            .map(|c| (c.end_order, c.serial, c.evicted))
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn partitions_are_set_by_the_cap_alone_with_at_least_64_connections_each() {
        assert_eq!(cfg(TrackerConfig::DEFAULT_MAX_TRACKED).partitions(), 256);
        assert_eq!(cfg(2000).partitions(), 31);
        assert_eq!(cfg(100).partitions(), 1);
        assert_eq!(cfg(1).partitions(), 1);
        assert_eq!(cfg(0).partitions(), 1);
        assert_eq!(cfg(2000).partition_cap(), 65);
    }

    #[test]
    fn partition_of_covers_every_partition_and_stays_in_range() {
        let c = cfg(TrackerConfig::DEFAULT_MAX_TRACKED);
        let mut seen = vec![0u32; c.partitions()];
        for seg in syns(20_000) {
            seen[c.partition_of(FlowKey::of(&seg).hash())] += 1;
        }
        // 20 000 4-tuples over 256 partitions: about 78 each, none empty.
        assert!(seen.iter().all(|&n| (30..160).contains(&n)), "{seen:?}");
        assert_eq!(c.partition_of(u64::MAX), c.partitions() - 1);
        assert_eq!(c.partition_of(0), 0);
    }

    #[test]
    fn evictions_are_the_same_whether_one_tracker_owns_every_partition_or_several_share_them() {
        let c = cfg(640); // 10 partitions of 64
        let mut whole = Tracker::new(c);
        let mut split = [
            Tracker::of_partitions(c, 0..3),
            Tracker::of_partitions(c, 3..10),
        ];
        for seg in syns(5_000) {
            let hash = FlowKey::of(&seg).hash();
            whole.push_hashed(&seg, hash);
            split[usize::from(c.partition_of(hash) >= 3)].push_hashed(&seg, hash);
        }
        assert!(whole.evicted() > 4_000, "evicted {}", whole.evicted());
        assert!(whole.active() <= 640);
        assert_eq!(
            whole.evicted(),
            split.iter().map(Tracker::evicted).sum::<u64>()
        );
        let whole_done: Vec<_> = whole.drain_finished().collect();
        let mut split_done: Vec<_> = split.iter_mut().flat_map(|t| t.drain_finished()).collect();
        assert_eq!(ends(&whole_done), ends(&split_done));
        let end = Timestamp(10_000_000_000);
        let rest: Vec<_> = whole.finish(end).collect();
        split_done = split.iter_mut().flat_map(|t| t.finish(end)).collect();
        assert_eq!(ends(&rest), ends(&split_done));
        // Every connection opened is counted once, evicted or not.
        assert_eq!(whole.opened(), 5_000);
        assert_eq!(split.iter().map(Tracker::opened).sum::<u64>(), 5_000);
    }

    #[test]
    fn a_new_syn_on_a_used_4_tuple_counts_as_a_connection_opened() {
        let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
        let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
        let mut t = Tracker::new(cfg(100));
        let syn = |order: u64, secs: i64, isn: u32| Segment {
            order,
            ts: Timestamp(secs * 1_000_000_000),
            control: Control::Syn,
            seq: SeqNumber(isn),
            ..segment(c, s)
        };
        t.push(&syn(1, 0, 1000));
        t.push(&syn(2, 0, 1000)); // a retransmission: the same connection
        assert_eq!(t.opened(), 1);
        t.push(&syn(3, 100, 900_000)); // a new connection on the 4-tuple
        assert_eq!(t.opened(), 2);
        assert_eq!(t.finish(Timestamp(200_000_000_000)).count(), 2);
    }

    #[test]
    fn segments_routed_with_their_hash_land_on_the_same_connection_as_plain_pushes() {
        let cfg = TrackerConfig {
            msl_ns: 30_000_000_000,
            fin_grace_ns: 3_000_000_000,
            max_tracked: 100,
            trace: false,
        };
        let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
        let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
        let mut t = Tracker::new(cfg);
        let first = segment(c, s);
        t.push(&first);
        let reply = Segment {
            order: 1,
            ..segment(s, c)
        };
        t.push_hashed(&reply, FlowKey::of(&reply).hash());
        assert_eq!(t.active(), 1);
        let other = Segment {
            order: 2,
            ..segment(c, (s.0, 81))
        };
        t.push_hashed(&other, FlowKey::of(&other).hash());
        assert_eq!(t.active(), 2);
        let all: Vec<_> = t.finish(Timestamp(1)).collect();
        let packets: Vec<u64> = all
            .iter()
            .map(|c| c.client.packets + c.server.packets)
            .collect();
        assert_eq!(packets, [2, 1]);
    }

    /// The SYNs a connection can start with: pure, SYN-ACK, with the FIN bit
    /// (the tracker reads it as a SYN), with data, with timestamps.
    fn first_syns() -> Vec<Segment> {
        let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
        let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
        let syn = Segment {
            number: 1,
            order: 1,
            ts: Timestamp(5_000_000_000),
            control: Control::Syn,
            seq: SeqNumber(1000),
            flags: TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            ..segment(c, s)
        };
        vec![
            syn.clone(),
            Segment {
                ack: Some(SeqNumber(77)),
                flags: TcpFlags {
                    syn: true,
                    ack: true,
                    ..TcpFlags::default()
                },
                ..segment(s, c)
            },
            Segment {
                flags: TcpFlags {
                    syn: true,
                    fin: true,
                    ..TcpFlags::default()
                },
                ..syn.clone()
            },
            Segment {
                payload_len: 100,
                ip_len: 140,
                ..syn.clone()
            },
            Segment {
                options: TcpOptions {
                    timestamp: Some((123, 0)),
                    ..TcpOptions::default()
                },
                ..syn
            },
        ]
    }

    #[test]
    fn a_connection_of_one_syn_is_kept_as_its_segment_until_a_second_one_comes() {
        let [syn, syn_ack, ..] = &first_syns()[..] else {
            unreachable!()
        };
        let tracked = |t: &Tracker| -> Vec<bool> {
            t.parts
                .iter()
                .flat_map(|p| p.table.values())
                .map(|c| matches!(c, Tracked::Syn(_)))
                .collect()
        };
        let mut t = Tracker::new(cfg(100));
        t.push(syn);
        assert_eq!(tracked(&t), [true]);
        t.push(&Segment {
            order: 2,
            ..syn_ack.clone()
        });
        assert_eq!(tracked(&t), [false]);
        // Any other first segment makes a whole connection at once.
        let mut t = Tracker::new(cfg(100));
        t.push(&Segment {
            control: Control::None,
            ..syn.clone()
        });
        assert_eq!(tracked(&t), [false]);
    }

    /// What `Tracked` relies on to skip the connections of one SYN when it
    /// retires the settled ones.
    #[test]
    fn a_connection_of_one_syn_is_never_settled() {
        for seg in first_syns() {
            let c = build(&seg, None, false);
            assert_eq!(c.settled_at(0, 0), None, "{seg:?}");
            assert_eq!(c.settled_at(i64::MAX, i64::MAX), None, "{seg:?}");
        }
    }

    /// A connection kept as its first SYN ends as the one built on arrival
    /// would have: at the end of the capture, when evicted, and when a newer
    /// connection takes its 4-tuple.
    #[test]
    fn a_connection_kept_as_its_first_syn_is_the_one_built_on_arrival() {
        let (msl, grace) = (30_000_000_000, 3_000_000_000);
        let end = Timestamp(60_000_000_000);
        for seg in first_syns() {
            let mut want = build(&seg, None, false);
            want.finish(end, msl, grace);
            let mut t = Tracker::new(cfg(100));
            t.push(&seg);
            let got: Vec<_> = t.finish(end).collect();
            assert_eq!(got.len(), 1);
            assert_eq!(format!("{:?}", got[0]), format!("{want:?}"));
        }
        // Evicted: a cap of one, and a SYN on another 4-tuple.
        for seg in first_syns() {
            let mut t = Tracker::new(cfg(1));
            t.push(&seg);
            let other = Segment {
                order: 9,
                src_port: 40001,
                dst_port: 80,
                ..first_syns()[0].clone()
            };
            t.push(&other);
            let evicted: Vec<_> = t.drain_finished().collect();
            assert_eq!(evicted.len(), 1, "{seg:?}");
            let mut want = build(&seg, None, false);
            want.evicted = true;
            want.end_order = 9;
            want.finish(other.ts, msl, grace);
            assert_eq!(format!("{:?}", evicted[0]), format!("{want:?}"));
        }
        // Taken over by a SYN with another ISN, 100 s later.
        let syn = first_syns()[0].clone();
        let mut t = Tracker::new(cfg(100));
        t.push(&syn);
        let newer = Segment {
            order: 5,
            ts: Timestamp(105_000_000_000),
            seq: SeqNumber(900_000),
            ..syn.clone()
        };
        t.push(&newer);
        let previous: Vec<_> = t.drain_finished().collect();
        let mut want = build(&syn, None, false);
        want.end_order = 5;
        want.finish(newer.ts, msl, grace);
        assert_eq!(format!("{:?}", previous[0]), format!("{want:?}"));
    }
}
