//! A connection as the JSON report writes it (schema 4): these structs are the
//! schema of `connections[]`, a doc comment on every field (docs/json.md says
//! the same in prose, and a test holds the two together).
//!
//! Each fact is said once. Where a value equals one the record already gives
//! it is absent, by a rule stated on its field: Zeek's row leaves out its
//! start, originator, responder, bytes and packets when they are the record's
//! own; a packet reference is `[packet, seconds after first_ts]` (`, input`
//! from the second input on); the common values of a FIN's evidence (sent
//! once, no data, acknowledged) and of the handshake (one SYN each way) are
//! absent. [`ConnectionRecord::of`] borrows everything from the in-memory
//! [`ConnectionReport`], so writing a record allocates nothing.

use serde::Serialize;

use super::{ConnectionReport, EndpointAddr, Evidence, PerSide, ResetReport, Rule, Timings};
use crate::classify::{Class, ClosedBy, FlagSet};
use crate::flow::{PacketRef, Side, State};
use crate::time::Timestamp;
use crate::zeek::{Uid, ZeekInfo, ZeekRow};

/// One connection and its verdict.
#[derive(Serialize)]
pub struct ConnectionRecord<'a> {
    /// The connection's first packet: its frame number for a single input (as
    /// Wireshark numbers frames), its 1-based position among the records of all
    /// inputs merged in time order for several. Unique in the report, and the
    /// same whatever the filter or thread count.
    pub id: u64,
    /// A Zeek-style uid, `C` and up to 17 base62 digits, from `id` and
    /// `first_ts`: the `uid` of the connection's first row in `--format zeek`
    /// (each `zeek.continued` row has its own). The same capture always gives
    /// the same uids.
    pub uid: Uid,
    /// The endpoint that sent the opening SYN (or, without one, see
    /// `roles_guessed`), as `address:port` (`[address]:port` for IPv6).
    pub client: &'a EndpointAddr,
    pub server: &'a EndpointAddr,
    /// Client and server were guessed from the ports (no SYN or SYN-ACK seen);
    /// present, `true`, only then.
    #[serde(skip_serializing_if = "is_false")]
    pub roles_guessed: bool,
    /// Time of the first and last packet of this connection.
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Packets sent by each side (duplicates seen twice by the capture included).
    pub packets: &'a PerSide<u64>,
    /// TCP payload bytes sent by each side (lengths from the IP header).
    pub bytes: &'a PerSide<u64>,
    /// How it ended: `clean`, `half_closed_hang`, `lost_fin`, `reset`, `refused`,
    /// `unanswered`, `open` or `incomplete`.
    pub class: Class,
    /// What the class does not say (see docs/teardown.md).
    pub flags: &'a FlagSet,
    /// RFC 9293 state each side was inferred to be in when the capture ended.
    pub end_state: &'a PerSide<State>,
    /// Who began the close: `client`, `server`, `both` (simultaneous) or `none`.
    pub closed_by: ClosedBy,
    /// For `reset`: who sent the RST and whether a FIN came before it (absent
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<&'a ResetReport>,
    /// The timings users ask about, in seconds (each absent when not applicable).
    pub timings: &'a Timings,
    /// Present when this connection reused a 4-tuple still in TIME_WAIT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseRecord>,
    /// What Zeek would log for the same packets (docs/zeek.md explains where
    /// Zeek's view and ours differ).
    pub zeek: ZeekRecord<'a>,
    /// The packets behind the verdict, to check it in Wireshark.
    pub evidence: EvidenceRecord<'a>,
}

/// How a connection reused the 4-tuple of the previous one while it was in
/// TIME_WAIT. Whether Linux would accept the SYN follows from the fields:
/// with the TIME_WAIT on the client (an outgoing reuse, `tcp_tw_reuse`) only
/// when `ts_advanced` is `true`; on the server when `ts_advanced` is `true`,
/// or, without timestamps, when `isn_advanced` is.
#[derive(Serialize)]
pub struct ReuseRecord {
    /// Report id of the previous connection on this 4-tuple.
    pub previous: u64,
    /// Seconds from the previous connection entering TIME_WAIT to this SYN.
    pub gap: f64,
    /// Which endpoint of *this* connection held the 4-tuple in TIME_WAIT.
    pub time_wait_side: Side,
    /// The new ISN is above the previous connection's last sequence number from
    /// the same sender (what Linux checks when timestamps are off).
    pub isn_advanced: bool,
    /// The new SYN's TSval is above the last one of the previous connection
    /// (RFC 6191 / PAWS); absent when timestamps were not in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_advanced: Option<bool>,
}

/// Zeek's row for the connection's first packet. A field marked *record's*
/// is absent when it equals what the record says (Zeek's originator and
/// responder being our client and server): a reader takes the record's value.
#[derive(Serialize)]
pub struct ZeekRecord<'a> {
    /// Zeek's `conn_state` (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH).
    pub conn_state: &'static str,
    /// Zeek's `history` letters (upper case: originator; `^`: roles flipped).
    pub history: &'a str,
    /// Time of the row's first packet; *record's* `first_ts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// Zeek's originator and responder, present (both) only when they are not
    /// our client and server (Zeek flipped the roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig: Option<&'a EndpointAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp: Option<&'a EndpointAddr>,
    /// Seconds from the first to the last packet Zeek counts (not the trailing
    /// packets after both sides closed); `null` when zero, as in Zeek.
    pub duration: Option<f64>,
    /// Payload bytes from sequence numbers (`Size()`), `null` when `duration`
    /// is; *record's* `bytes` of the originator's and responder's side.
    #[serde(skip_serializing_if = "Same::is_same")]
    pub orig_bytes: Same<Option<u64>>,
    #[serde(skip_serializing_if = "Same::is_same")]
    pub resp_bytes: Same<Option<u64>>,
    /// Bytes acknowledged but never seen (content gaps); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub missed_bytes: u64,
    /// Packets per side; *record's* `packets`.
    #[serde(skip_serializing_if = "Same::is_same")]
    pub orig_pkts: Same<u64>,
    /// IP bytes (IP total length) per side.
    pub orig_ip_bytes: u64,
    #[serde(skip_serializing_if = "Same::is_same")]
    pub resp_pkts: Same<u64>,
    pub resp_ip_bytes: u64,
    /// Zeek's endpoint states at the end (`TCP_ESTABLISHED` ...).
    pub orig_state: &'static str,
    pub resp_state: &'static str,
    /// Rows Zeek would log for later packets of this connection, each whole
    /// (every field, `orig` and `resp` included): Zeek ends a connection on its
    /// timers (an unanswered SYN after 5 s, 5 s after a close, after
    /// inactivity) and on a SYN that reuses the 4-tuple, and the next packet
    /// starts a new row. Absent when there are none.
    #[serde(skip_serializing_if = "<[ZeekRow]>::is_empty")]
    pub continued: &'a [ZeekRow],
    /// Rows between the first and the last ones in `continued`, not kept (a
    /// connection keeps its first 4 and its last 4 Zeek rows); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub continued_omitted: u64,
}

/// A value a reader finds elsewhere in the record when it is absent.
pub enum Same<T> {
    /// Equal to the record's: not written.
    AsRecord,
    Value(T),
}

impl<T> Same<T> {
    fn is_same(&self) -> bool {
        matches!(self, Same::AsRecord)
    }

    fn of(value: T, record: T, roles_as_ours: bool) -> Same<T>
    where
        T: PartialEq,
    {
        if roles_as_ours && value == record {
            Same::AsRecord
        } else {
            Same::Value(value)
        }
    }
}

impl<T: Serialize> Serialize for Same<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Same::Value(v) => v.serialize(s),
            // Skipped by the field's `skip_serializing_if`.
            Same::AsRecord => s.serialize_unit(),
        }
    }
}

/// The packets behind the verdict.
#[derive(Serialize)]
pub struct EvidenceRecord<'a> {
    /// The opening SYN (the one answered), the first SYN-ACK, and the ACK of the
    /// SYN-ACK; each absent when not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn_ack: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_ack: Option<Ref>,
    /// SYNs (or SYN-ACKs) sent by each side; absent when each sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn_transmissions: Option<&'a PerSide<u32>>,
    /// Each side's FIN, if it sent one, in order of first transmission (absent
    /// when neither did).
    #[serde(skip_serializing_if = "arrayvec::ArrayVec::is_empty")]
    pub fins: arrayvec::ArrayVec<FinRecord, 2>,
    /// The RSTs kept as evidence: each side's first acceptable one and the first
    /// few judged invalid (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rsts: Vec<RstRecord>,
    /// The sides a kernel timer closed without a packet, with the rule and
    /// when (absent when none; docs/teardown.md, "Timers").
    #[serde(skip_serializing_if = "arrayvec::ArrayVec::is_empty")]
    pub expired: arrayvec::ArrayVec<ExpiryRecord, 2>,
}

/// A side closed by a kernel timer.
#[derive(Serialize)]
pub struct ExpiryRecord {
    pub side: Side,
    /// The state it was in.
    pub state: State,
    /// `time_wait`, `tcp_fin_timeout`, `tcp_syn_retries`,
    /// `tcp_synack_retries`, `tcp_retries2` or `tcp_orphan_retries`.
    pub rule: Rule,
    /// Seconds after the connection's first packet.
    pub at: f64,
}

/// A FIN and what became of it.
#[derive(Serialize)]
pub struct FinRecord {
    /// Who sent it.
    pub side: Side,
    /// Its sequence number relative to the sender's ISN (`null` without a SYN).
    pub relative_seq: Option<u32>,
    /// First and last transmission (`last` absent when it was sent once).
    pub first: Ref,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<Ref>,
    /// Times it was sent; absent when once.
    #[serde(skip_serializing_if = "is_one")]
    pub transmissions: u32,
    /// It rode on a data segment; present, `true`, only then.
    #[serde(skip_serializing_if = "is_false")]
    pub with_data: bool,
    /// The ACK that covered it (the first one; see `acks_lost`), absent when
    /// none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ref>,
    /// It was sent again this many times after an ACK for it had been seen: those
    /// ACKs never reached its sender. Absent when none.
    #[serde(skip_serializing_if = "is_zero32")]
    pub acks_lost: u32,
    /// Whether the acknowledgment stands at the end of the capture: absent
    /// when that follows from `ack` (a FIN with an `ack` is acknowledged, one
    /// without is not); present, `false`, when it was sent again after its ACK
    /// and no later ACK covered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<bool>,
}

/// A RST kept as evidence.
#[derive(Serialize)]
pub struct RstRecord {
    /// Who sent it.
    pub side: Side,
    pub at: Ref,
    /// Its receiver took it: the connection was reset (else it was far
    /// outside the receiver's window, or challenged).
    pub valid: bool,
    /// Not taken although inside the receiver's window, as it was not at the
    /// receiver's RCV.NXT: challenged (absent when not).
    #[serde(skip_serializing_if = "is_false")]
    pub challenged: bool,
    /// The segment had FIN set too.
    pub with_fin: bool,
    /// Both FINs had been acknowledged before it.
    pub after_close: bool,
}

/// A packet of the capture: `[packet, seconds after first_ts]`, and the input
/// index third for inputs after the first (`[packet, after, input]`). The
/// seconds are whole microseconds: the record's `first_ts` plus them is the
/// packet's time as the report writes times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ref {
    pub packet: u64,
    /// Microseconds after the connection's first packet.
    pub after_us: i64,
    pub input: u16,
}

impl Ref {
    fn of(p: &PacketRef, first: Timestamp) -> Ref {
        Ref {
            packet: p.packet(),
            after_us: p.ts.micros() - first.micros(),
            input: p.input(),
        }
    }

    /// The seconds after `first_ts`, as written.
    pub fn after_secs(&self) -> f64 {
        self.after_us as f64 / 1e6
    }
}

impl Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(if self.input == 0 { 2 } else { 3 })?;
        t.serialize_element(&self.packet)?;
        t.serialize_element(&self.after_secs())?;
        if self.input != 0 {
            t.serialize_element(&self.input)?;
        }
        t.end()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero32(v: &u32) -> bool {
    *v == 0
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

impl<'a> ConnectionRecord<'a> {
    /// The record of `r`, borrowing from it.
    pub fn of(r: &'a ConnectionReport) -> ConnectionRecord<'a> {
        ConnectionRecord {
            id: r.id,
            uid: r.zeek.row.uid,
            client: &r.client,
            server: &r.server,
            roles_guessed: r.roles_guessed,
            first_ts: r.first_ts,
            last_ts: r.last_ts,
            packets: &r.packets,
            bytes: &r.bytes,
            class: r.class,
            flags: &r.flags,
            end_state: &r.end_state,
            closed_by: r.closed_by,
            reset: r.reset.as_ref(),
            timings: &r.timings,
            reuse: r.reuse.as_ref().map(|u| ReuseRecord {
                previous: u.previous,
                gap: u.gap,
                time_wait_side: u.time_wait_side,
                isn_advanced: u.isn_advanced,
                ts_advanced: u.ts_advanced,
            }),
            zeek: ZeekRecord::of(&r.zeek, r),
            evidence: EvidenceRecord::of(&r.evidence, r.first_ts),
        }
    }
}

impl<'a> ZeekRecord<'a> {
    fn of(z: &'a ZeekInfo, r: &ConnectionReport) -> ZeekRecord<'a> {
        let row = &z.row;
        let ours = row.orig == r.client && row.resp == r.server;
        ZeekRecord {
            conn_state: row.conn_state,
            history: &row.history,
            ts: (!ours || row.ts != r.first_ts).then_some(row.ts),
            orig: (!ours).then_some(&row.orig),
            resp: (!ours).then_some(&row.resp),
            duration: row.duration,
            orig_bytes: Same::of(row.orig_bytes, Some(r.bytes.client), ours),
            resp_bytes: Same::of(row.resp_bytes, Some(r.bytes.server), ours),
            missed_bytes: row.missed_bytes,
            orig_pkts: Same::of(row.orig_pkts, r.packets.client, ours),
            orig_ip_bytes: row.orig_ip_bytes,
            resp_pkts: Same::of(row.resp_pkts, r.packets.server, ours),
            resp_ip_bytes: row.resp_ip_bytes,
            orig_state: row.orig_state,
            resp_state: row.resp_state,
            continued: &z.continued,
            continued_omitted: z.continued_omitted,
        }
    }
}

impl<'a> EvidenceRecord<'a> {
    fn of(e: &'a Evidence, first: Timestamp) -> EvidenceRecord<'a> {
        let one_each = e.syn_transmissions.client == 1 && e.syn_transmissions.server == 1;
        EvidenceRecord {
            syn: e.syn.as_ref().map(|p| Ref::of(p, first)),
            syn_ack: e.syn_ack.as_ref().map(|p| Ref::of(p, first)),
            handshake_ack: e.handshake_ack.as_ref().map(|p| Ref::of(p, first)),
            syn_transmissions: (!one_each).then_some(&e.syn_transmissions),
            fins: e
                .fins
                .iter()
                .map(|f| FinRecord {
                    side: f.side,
                    relative_seq: f.relative_seq,
                    first: Ref::of(&f.first, first),
                    last: f.last.as_ref().map(|p| Ref::of(p, first)),
                    transmissions: f.transmissions,
                    with_data: f.with_data,
                    ack: f.ack.as_ref().map(|p| Ref::of(p, first)),
                    acks_lost: f.acks_lost,
                    acknowledged: (f.acknowledged != f.ack.is_some()).then_some(f.acknowledged),
                })
                .collect(),
            rsts: e
                .rsts
                .iter()
                .map(|x| RstRecord {
                    side: x.side,
                    at: Ref::of(&x.at, first),
                    valid: x.valid,
                    challenged: x.challenged,
                    with_fin: x.with_fin,
                    after_close: x.after_close,
                })
                .collect(),
            expired: e
                .expired
                .iter()
                .map(|(side, x)| ExpiryRecord {
                    side: *side,
                    state: x.state,
                    rule: x.rule,
                    at: x.at.secs_since(first),
                })
                .collect(),
        }
    }
}

impl Serialize for ConnectionReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ConnectionRecord::of(self).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    //! Schema 4 says each fact once and loses none: every field schema 3 wrote
    //! is rebuilt from the schema-4 record by the rules docs/json.md states,
    //! for every connection of every fixture.

    use serde_json::{Map, Value, json};

    use crate::decode::EndpointAddr;
    use crate::flow::PacketRef;
    use crate::pipeline::{Options, analyze};
    use crate::report::ConnectionReport;
    use crate::zeek::ZeekRow;

    fn endpoint3(e: &EndpointAddr) -> Value {
        json!({ "ip": e.ip.to_string(), "port": e.port })
    }

    fn ref3(p: &PacketRef) -> Value {
        let mut m = Map::new();
        if p.input() != 0 {
            m.insert("input".into(), json!(p.input()));
        }
        m.insert("packet".into(), json!(p.packet()));
        m.insert("ts".into(), json!(p.ts.as_secs_f64()));
        Value::Object(m)
    }

    fn row3(r: &ZeekRow) -> Map<String, Value> {
        let Value::Object(mut m) = serde_json::to_value(r).unwrap() else {
            unreachable!()
        };
        // New in schema 4.
        m.remove("uid");
        m.insert("orig".into(), endpoint3(&r.orig));
        m.insert("resp".into(), endpoint3(&r.resp));
        m
    }

    /// What schema 3 wrote for `c` (its serde derives, field for field).
    fn schema3(c: &ConnectionReport) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(c.id));
        m.insert("client".into(), endpoint3(&c.client));
        m.insert("server".into(), endpoint3(&c.server));
        m.insert("roles_guessed".into(), json!(c.roles_guessed));
        m.insert("first_ts".into(), json!(c.first_ts));
        m.insert("last_ts".into(), json!(c.last_ts));
        m.insert("packets".into(), json!(c.packets));
        m.insert("bytes".into(), json!(c.bytes));
        m.insert("class".into(), json!(c.class));
        m.insert("flags".into(), json!(c.flags));
        m.insert("end_state".into(), json!(c.end_state));
        m.insert("closed_by".into(), json!(c.closed_by));
        if let Some(r) = &c.reset {
            m.insert("reset".into(), json!(r));
        }
        // Through text, as a reader sees them: timings are `f32`.
        let timings = serde_json::to_string(&c.timings).unwrap();
        m.insert("timings".into(), serde_json::from_str(&timings).unwrap());
        if let Some(u) = &c.reuse {
            m.insert(
                "reuse".into(),
                json!({
                    "previous": u.previous, "gap": u.gap, "time_wait_side": u.time_wait_side,
                    "isn_advanced": u.isn_advanced, "ts_advanced": u.ts_advanced,
                    "kernel_accepts": u.kernel_accepts,
                }),
            );
        }
        let mut z = row3(&c.zeek.row);
        if !c.zeek.continued.is_empty() {
            let rows: Vec<Value> = c
                .zeek
                .continued
                .iter()
                .map(|r| Value::Object(row3(r)))
                .collect();
            z.insert("continued".into(), Value::Array(rows));
        }
        m.insert("zeek".into(), Value::Object(z));
        let e = &c.evidence;
        let mut ev = Map::new();
        for (k, p) in [
            ("syn", e.syn),
            ("syn_ack", e.syn_ack),
            ("handshake_ack", e.handshake_ack),
        ] {
            if let Some(p) = p {
                ev.insert(k.into(), ref3(&p));
            }
        }
        ev.insert("syn_transmissions".into(), json!(e.syn_transmissions));
        if !e.fins.is_empty() {
            let fins: Vec<Value> = e
                .fins
                .iter()
                .map(|f| {
                    let mut m = Map::new();
                    m.insert("side".into(), json!(f.side));
                    m.insert("relative_seq".into(), json!(f.relative_seq));
                    m.insert("first".into(), ref3(&f.first));
                    if let Some(l) = &f.last {
                        m.insert("last".into(), ref3(l));
                    }
                    m.insert("transmissions".into(), json!(f.transmissions));
                    m.insert("with_data".into(), json!(f.with_data));
                    if let Some(a) = &f.ack {
                        m.insert("ack".into(), ref3(a));
                    }
                    m.insert("acks_lost".into(), json!(f.acks_lost));
                    m.insert("acknowledged".into(), json!(f.acknowledged));
                    Value::Object(m)
                })
                .collect();
            ev.insert("fins".into(), Value::Array(fins));
        }
        if !e.rsts.is_empty() {
            let rsts: Vec<Value> = e
                .rsts
                .iter()
                .map(|r| {
                    json!({ "side": r.side, "at": ref3(&r.at), "valid": r.valid,
                            "with_fin": r.with_fin, "after_close": r.after_close })
                })
                .collect();
            ev.insert("rsts".into(), Value::Array(rsts));
        }
        m.insert("evidence".into(), Value::Object(ev));
        Value::Object(m)
    }

    /// `"10.0.0.1:443"` / `"[2001:db8::1]:443"` as schema 3's object.
    fn endpoint_of(text: &Value) -> Value {
        let text = text.as_str().unwrap();
        let (ip, port) = text.rsplit_once(':').unwrap();
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        json!({ "ip": ip, "port": port.parse::<u16>().unwrap() })
    }

    fn micros(secs: &Value) -> i64 {
        (secs.as_f64().unwrap() * 1e6).round() as i64
    }

    /// A schema-4 packet reference, `first_ts` given, as schema 3's object.
    fn ref_of(r: &Value, first_us: i64) -> Value {
        let a = r.as_array().unwrap();
        let mut m = Map::new();
        if let Some(input) = a.get(2) {
            m.insert("input".into(), input.clone());
        }
        m.insert("packet".into(), a[0].clone());
        let us = first_us + micros(&a[1]);
        m.insert("ts".into(), json!(us as f64 / 1e6));
        Value::Object(m)
    }

    /// Schema 3 from a schema-4 record, by docs/json.md's rules alone.
    fn rebuild(v4: &Value) -> Value {
        let mut m = v4.as_object().unwrap().clone();
        // New in schema 4, with no schema-3 field to rebuild.
        m.remove("uid");
        let first_us = micros(&m["first_ts"]);
        let (client, server) = (m["client"].clone(), m["server"].clone());
        m.insert("client".into(), endpoint_of(&client));
        m.insert("server".into(), endpoint_of(&server));
        m.entry("roles_guessed").or_insert(json!(false));
        if let Some(Value::Object(u)) = m.get_mut("reuse") {
            let ts = u.get("ts_advanced").and_then(Value::as_bool);
            let isn = u["isn_advanced"].as_bool().unwrap();
            let accepts = if u["time_wait_side"] == "client" {
                ts == Some(true)
            } else {
                ts.unwrap_or(isn)
            };
            u.entry("ts_advanced").or_insert(Value::Null);
            u.insert("kernel_accepts".into(), json!(accepts));
        }
        let mut z = m["zeek"].as_object().unwrap().clone();
        z.entry("ts").or_insert(m["first_ts"].clone());
        let orig = z.get("orig").cloned().unwrap_or(client);
        let resp = z.get("resp").cloned().unwrap_or(server);
        z.insert("orig".into(), endpoint_of(&orig));
        z.insert("resp".into(), endpoint_of(&resp));
        z.entry("orig_bytes")
            .or_insert(m["bytes"]["client"].clone());
        z.entry("resp_bytes")
            .or_insert(m["bytes"]["server"].clone());
        z.entry("missed_bytes").or_insert(json!(0));
        z.entry("orig_pkts")
            .or_insert(m["packets"]["client"].clone());
        z.entry("resp_pkts")
            .or_insert(m["packets"]["server"].clone());
        if let Some(Value::Array(rows)) = z.get_mut("continued") {
            for row in rows {
                let r = row.as_object_mut().unwrap();
                r.remove("uid");
                let (o, p) = (endpoint_of(&r["orig"]), endpoint_of(&r["resp"]));
                r.insert("orig".into(), o);
                r.insert("resp".into(), p);
            }
        }
        m.insert("zeek".into(), Value::Object(z));
        let mut e = m["evidence"].as_object().unwrap().clone();
        // New in schema 6.
        e.remove("expired");
        for k in ["syn", "syn_ack", "handshake_ack"] {
            if let Some(r) = e.get(k) {
                let r = ref_of(r, first_us);
                e.insert(k.into(), r);
            }
        }
        e.entry("syn_transmissions")
            .or_insert(json!({ "client": 1, "server": 1 }));
        if let Some(Value::Array(fins)) = e.get_mut("fins") {
            for f in fins {
                let f = f.as_object_mut().unwrap();
                for k in ["first", "last", "ack"] {
                    if let Some(r) = f.get(k) {
                        let r = ref_of(r, first_us);
                        f.insert(k.into(), r);
                    }
                }
                f.entry("transmissions").or_insert(json!(1));
                f.entry("with_data").or_insert(json!(false));
                f.entry("acks_lost").or_insert(json!(0));
                let acked = f.contains_key("ack");
                f.entry("acknowledged").or_insert(json!(acked));
            }
        }
        if let Some(Value::Array(rsts)) = e.get_mut("rsts") {
            for r in rsts {
                let at = ref_of(&r["at"], first_us);
                let r = r.as_object_mut().unwrap();
                r.insert("at".into(), at);
                // New in schema 4, not in schema 3.
                r.remove("challenged");
            }
        }
        m.insert("evidence".into(), Value::Object(e));
        Value::Object(m)
    }

    #[test]
    fn every_schema_3_field_is_rebuilt_from_the_schema_4_record() {
        let (mut records, mut bytes3, mut bytes4) = (0usize, 0usize, 0usize);
        let mut several = Options::demo(1);
        let formats = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats");
        several.inputs = vec![
            formats.join("one_tcp_stream.pcap"),
            formats.join("one_http_stream_fin.pcap"),
        ];
        let files = crate::fixtures::files().into_iter().filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        });
        let runs = files
            .map(|path| {
                let mut opts = Options::demo(1);
                opts.inputs = vec![path];
                opts
            })
            .chain(std::iter::once(several));
        for opts in runs {
            for c in &analyze(&opts).report.connections {
                let text = serde_json::to_string(c).unwrap();
                let v4: Value = serde_json::from_str(&text).unwrap();
                let v3 = schema3(c);
                assert_eq!(rebuild(&v4), v3, "{:?} connection {}", opts.inputs, c.id);
                records += 1;
                bytes3 += v3.to_string().len();
                bytes4 += text.len();
            }
        }
        assert!(records > 500, "{records}");
        // Smaller on the fixtures too (the benchmark's are measured in
        // docs/json.md).
        assert!(bytes4 * 10 < bytes3 * 8, "{bytes4} vs {bytes3}");
    }

    /// The schema-3 layout this test rebuilds is the one the previous
    /// schema's serde derives wrote: one record, as the last schema-3 build
    /// wrote it for the demo capture.
    #[test]
    fn the_schema_3_layout_is_what_schema_3_wrote() {
        let report = analyze(&Options::demo(1)).report;
        let c = report.connections.iter().find(|c| c.id == 300).unwrap();
        let want: Value = serde_json::from_str(SCHEMA3_CONNECTION_300).unwrap();
        assert_eq!(schema3(c), want);
    }

    /// `teardown analyze fixtures/kernel/client.pcap -f ndjson`, schema 3,
    /// connection 300 (a lost FIN, a FIN sent seven times).
    const SCHEMA3_CONNECTION_300: &str = include_str!("record_schema3_300.json");
}
