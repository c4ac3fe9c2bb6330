//! A connection record written field by field, in the bytes serde's derived
//! `Serialize` of its [`ConnectionRecord`] gives through [`Compact`] (and so
//! `serde_json::to_writer`).
//!
//! Through serde, each of a record's keys is its own call with a copy of
//! unknown length, each nested struct a `Compound` with its separator state,
//! each `Option` a branch in the derived code and another in `skip_serializing_if`.
//! Here the keys and punctuation between two values are one literal each (a
//! copy of constant length), and the leaves (numbers, timestamps, addresses)
//! are `Compact`'s own. The rare parts (`reset`, `reuse`, Zeek's `continued`
//! rows, RSTs, IPv6 addresses, `closed_by`) still go through serde. What is
//! written and what is left out is [`ConnectionRecord::of`]'s, not decided
//! again here.
//!
//! The structs in `report/record.rs` stay the schema: the tests below hold this
//! writer to `serde_json` on every connection of every fixture, and the
//! `render::json` tests and the `pipeline` fuzz target compare the streamed
//! report with serde's output of the collected one.

use std::net::IpAddr;

use serde::Serialize;
use serde::ser::Serializer;

use super::Compact;
use crate::decode::EndpointAddr;
use crate::decode::ipv4_text;
use crate::report::ConnectionReport;
use crate::report::Timings;
use crate::report::record::{ConnectionRecord, EvidenceRecord, FinRecord, Ref, Same, ZeekRecord};
use crate::time::Timestamp;

impl Compact<'_> {
    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A name of ours (a class, flag, state or side): an identifier, nothing to
    /// escape.
    #[inline(always)]
    fn name(&mut self, name: &str) {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'"');
    }

    #[inline(always)]
    fn ts(&mut self, t: Timestamp) {
        self.float(t.as_secs_f64());
    }

    #[inline(always)]
    fn float(&mut self, v: f64) {
        let _ = (&mut *self).serialize_f64(v);
    }

    /// Anything else, through serde. Like the leaves above, it cannot fail:
    /// `Compact` refuses only a map key that is not a string, and no type of
    /// the report has one.
    fn serde<T: Serialize + ?Sized>(&mut self, v: &T) {
        let _ = v.serialize(&mut *self);
    }

    /// `"10.0.0.1:443"`, as `EndpointAddr`'s `Serialize` writes it.
    fn endpoint(&mut self, e: &EndpointAddr) {
        match e.ip {
            IpAddr::V4(v4) => {
                self.out.push(b'"');
                self.out.extend_from_slice(ipv4_text(v4).as_bytes());
                self.out.push(b':');
                self.uint(u64::from(e.port));
                self.out.push(b'"');
            }
            IpAddr::V6(_) => self.serde(e),
        }
    }

    /// `[packet,after]` or `[packet,after,input]`.
    fn packet_ref(&mut self, p: &Ref) {
        self.out.push(b'[');
        self.uint(p.packet);
        self.out.push(b',');
        self.float(p.after_secs());
        if p.input != 0 {
            self.out.push(b',');
            self.uint(u64::from(p.input));
        }
        self.out.push(b']');
    }

    fn optional_uint(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.uint(v),
            None => self.raw(b"null"),
        }
    }

    /// The record of one connection.
    pub(super) fn connection(&mut self, r: &ConnectionReport) {
        let w = ConnectionRecord::of(r);
        self.raw(b"{\"id\":");
        self.uint(w.id);
        self.raw(b",\"uid\":\"");
        self.raw(w.uid.text().as_bytes());
        self.raw(b"\",\"client\":");
        self.endpoint(w.client);
        self.raw(b",\"server\":");
        self.endpoint(w.server);
        if w.roles_guessed {
            self.raw(b",\"roles_guessed\":true");
        }
        self.raw(b",\"first_ts\":");
        self.ts(w.first_ts);
        self.raw(b",\"last_ts\":");
        self.ts(w.last_ts);
        self.raw(b",\"packets\":{\"client\":");
        self.uint(w.packets.client);
        self.raw(b",\"server\":");
        self.uint(w.packets.server);
        self.raw(b"},\"bytes\":{\"client\":");
        self.uint(w.bytes.client);
        self.raw(b",\"server\":");
        self.uint(w.bytes.server);
        self.raw(b"},\"class\":");
        self.name(w.class.name());
        self.raw(b",\"flags\":[");
        for (i, f) in w.flags.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.name(f.name());
        }
        self.raw(b"],\"end_state\":{\"client\":");
        self.name(w.end_state.client.name());
        self.raw(b",\"server\":");
        self.name(w.end_state.server.name());
        self.raw(b"},\"closed_by\":");
        self.serde(&w.closed_by);
        if let Some(reset) = w.reset {
            self.raw(b",\"reset\":");
            self.serde(reset);
        }
        self.raw(b",\"timings\":");
        self.timings(w.timings);
        if let Some(reuse) = &w.reuse {
            self.raw(b",\"reuse\":");
            self.serde(reuse);
        }
        self.raw(b",\"zeek\":");
        self.zeek(&w.zeek);
        self.raw(b",\"evidence\":");
        self.evidence(&w.evidence);
        self.out.push(b'}');
    }

    fn timings(&mut self, t: &Timings) {
        self.out.push(b'{');
        let mut first = true;
        for (key, value) in [
            (&b"\"handshake_rtt\":"[..], t.handshake_rtt),
            (b"\"close_duration\":", t.close_duration),
            (b"\"close_wait\":", t.close_wait),
        ] {
            if let Some(v) = value {
                self.comma_unless_first(&mut first);
                self.raw(key);
                let _ = (&mut *self).serialize_f32(v);
            }
        }
        if t.close_wait_ongoing {
            self.comma_unless_first(&mut first);
            self.raw(b"\"close_wait_ongoing\":true");
        }
        if let Some(v) = t.idle_before_close {
            self.comma_unless_first(&mut first);
            self.raw(b"\"idle_before_close\":");
            let _ = (&mut *self).serialize_f32(v);
        }
        self.out.push(b'}');
    }

    #[inline(always)]
    fn comma_unless_first(&mut self, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
    }

    fn zeek(&mut self, z: &ZeekRecord<'_>) {
        self.raw(b"{\"conn_state\":");
        self.name(z.conn_state);
        self.raw(b",\"history\":");
        self.string(z.history);
        if let Some(ts) = z.ts {
            self.raw(b",\"ts\":");
            self.ts(ts);
        }
        if let Some(orig) = z.orig {
            self.raw(b",\"orig\":");
            self.endpoint(orig);
        }
        if let Some(resp) = z.resp {
            self.raw(b",\"resp\":");
            self.endpoint(resp);
        }
        self.raw(b",\"duration\":");
        match z.duration {
            Some(d) => self.float(d),
            None => self.raw(b"null"),
        }
        if let Same::Value(v) = z.orig_bytes {
            self.raw(b",\"orig_bytes\":");
            self.optional_uint(v);
        }
        if let Same::Value(v) = z.resp_bytes {
            self.raw(b",\"resp_bytes\":");
            self.optional_uint(v);
        }
        if z.missed_bytes != 0 {
            self.raw(b",\"missed_bytes\":");
            self.uint(z.missed_bytes);
        }
        if let Same::Value(v) = z.orig_pkts {
            self.raw(b",\"orig_pkts\":");
            self.uint(v);
        }
        self.raw(b",\"orig_ip_bytes\":");
        self.uint(z.orig_ip_bytes);
        if let Same::Value(v) = z.resp_pkts {
            self.raw(b",\"resp_pkts\":");
            self.uint(v);
        }
        self.raw(b",\"resp_ip_bytes\":");
        self.uint(z.resp_ip_bytes);
        self.raw(b",\"orig_state\":");
        self.name(z.orig_state);
        self.raw(b",\"resp_state\":");
        self.name(z.resp_state);
        if !z.continued.is_empty() {
            self.raw(b",\"continued\":");
            self.serde(z.continued);
        }
        if z.continued_omitted != 0 {
            self.raw(b",\"continued_omitted\":");
            self.uint(z.continued_omitted);
        }
        self.out.push(b'}');
    }

    fn evidence(&mut self, e: &EvidenceRecord<'_>) {
        self.out.push(b'{');
        let mut first = true;
        for (key, value) in [
            (&b"\"syn\":"[..], &e.syn),
            (b"\"syn_ack\":", &e.syn_ack),
            (b"\"handshake_ack\":", &e.handshake_ack),
        ] {
            if let Some(p) = value {
                self.comma_unless_first(&mut first);
                self.raw(key);
                self.packet_ref(p);
            }
        }
        if let Some(syns) = e.syn_transmissions {
            self.comma_unless_first(&mut first);
            self.raw(b"\"syn_transmissions\":{\"client\":");
            self.uint(u64::from(syns.client));
            self.raw(b",\"server\":");
            self.uint(u64::from(syns.server));
            self.out.push(b'}');
        }
        if !e.fins.is_empty() {
            self.comma_unless_first(&mut first);
            self.raw(b"\"fins\":[");
            for (i, f) in e.fins.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                self.fin(f);
            }
            self.out.push(b']');
        }
        if !e.rsts.is_empty() {
            self.comma_unless_first(&mut first);
            self.raw(b"\"rsts\":");
            self.serde(&e.rsts);
        }
        if !e.expired.is_empty() {
            self.comma_unless_first(&mut first);
            self.raw(b"\"expired\":");
            self.serde(&e.expired);
        }
        self.out.push(b'}');
    }

    fn fin(&mut self, f: &FinRecord) {
        self.raw(b"{\"side\":");
        self.name(f.side.name());
        self.raw(b",\"relative_seq\":");
        self.optional_uint(f.relative_seq.map(u64::from));
        self.raw(b",\"first\":");
        self.packet_ref(&f.first);
        if let Some(last) = &f.last {
            self.raw(b",\"last\":");
            self.packet_ref(last);
        }
        if f.transmissions != 1 {
            self.raw(b",\"transmissions\":");
            self.uint(u64::from(f.transmissions));
        }
        if f.with_data {
            self.raw(b",\"with_data\":true");
        }
        if let Some(ack) = &f.ack {
            self.raw(b",\"ack\":");
            self.packet_ref(ack);
        }
        if f.acks_lost != 0 {
            self.raw(b",\"acks_lost\":");
            self.uint(u64::from(f.acks_lost));
        }
        match f.acknowledged {
            Some(true) => self.raw(b",\"acknowledged\":true"),
            Some(false) => self.raw(b",\"acknowledged\":false"),
            None => {}
        }
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::connection_to_vec;
    use crate::classify::{Class, Flag};
    use crate::flow::{Side, State};
    use crate::pipeline::{Options, analyze};

    /// Every capture under `fixtures/`.
    fn fixtures() -> Vec<PathBuf> {
        crate::fixtures::files()
            .into_iter()
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("pcap" | "pcapng")
                )
            })
            .collect()
    }

    #[test]
    fn every_record_of_every_fixture_is_serde_json_output() {
        let (mut records, mut files) = (0, 0);
        let mut seen_v6 = false;
        // reset, reuse, Zeek's continued rows, RSTs, a FIN's last, a FIN
        // without an ISN, no Zeek duration, CLOSE_WAIT ongoing, no SYN, two
        // flags, Zeek's roles flipped.
        let mut seen = [false; 11];
        for path in fixtures() {
            let mut opts = Options::demo(1);
            opts.inputs = vec![path.clone()];
            let report = analyze(&opts).report;
            files += 1;
            for c in &report.connections {
                let mut ours = Vec::new();
                connection_to_vec(&mut ours, c);
                let want = serde_json::to_string(c).unwrap();
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    want,
                    "{} connection {}",
                    path.display(),
                    c.id
                );
                seen_v6 |= c.client.ip.is_ipv6();
                seen[0] |= c.reset.is_some();
                seen[1] |= c.reuse.is_some();
                seen[2] |= !c.zeek.continued.is_empty();
                seen[3] |= !c.evidence.rsts.is_empty();
                seen[4] |= c.evidence.fins.iter().any(|f| f.last.is_some());
                seen[5] |= c.evidence.fins.iter().any(|f| f.relative_seq.is_none());
                seen[6] |= c.zeek.row.duration.is_none();
                seen[7] |= c.timings.close_wait_ongoing;
                seen[8] |= c.evidence.syn.is_none();
                seen[9] |= c.flags.iter().count() > 1;
                seen[10] |= c.zeek.row.orig == c.server;
                records += 1;
            }
        }
        // The fixtures cover every optional part; make sure they were read.
        assert!(
            files > 30 && records > 500,
            "{files} files, {records} records"
        );
        assert!(seen_v6);
        assert_eq!(seen, [true; 11]);
    }

    #[test]
    fn a_zeek_row_unlike_the_connection_is_written_whole() {
        let report = analyze(&Options::demo(1)).report;
        let other = crate::decode::EndpointAddr {
            ip: "192.0.2.7".parse().unwrap(),
            port: 4242,
        };
        for c in &report.connections {
            let mut c = c.clone();
            c.zeek.row.ts = crate::time::Timestamp(c.zeek.row.ts.0 + 1_000);
            c.zeek.row.resp = other;
            let mut ours = Vec::new();
            connection_to_vec(&mut ours, &c);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
        }
    }

    #[test]
    fn several_inputs_write_the_input_index_as_serde_does() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats");
        let mut opts = Options::demo(1);
        opts.inputs = vec![
            root.join("one_tcp_stream.pcap"),
            root.join("one_http_stream_fin.pcap"),
        ];
        let report = analyze(&opts).report;
        let mut with_input = 0;
        for c in &report.connections {
            let mut ours = Vec::new();
            connection_to_vec(&mut ours, c);
            let ours = String::from_utf8(ours).unwrap();
            assert_eq!(ours, serde_json::to_string(c).unwrap());
            // A packet of the second input: `[packet, after, 1]`.
            let v: serde_json::Value = serde_json::from_str(&ours).unwrap();
            with_input += usize::from(
                v["evidence"]["syn"]
                    .as_array()
                    .is_some_and(|a| a.len() == 3),
            );
        }
        assert!(with_input > 0);
    }

    #[test]
    fn names_are_the_serde_names() {
        let quoted = |s: &str| format!("\"{s}\"");
        for c in Class::ALL {
            assert_eq!(serde_json::to_string(&c).unwrap(), quoted(c.name()));
        }
        for f in Flag::ALL {
            assert_eq!(serde_json::to_string(&f).unwrap(), quoted(f.name()));
        }
        for s in [Side::Client, Side::Server] {
            assert_eq!(serde_json::to_string(&s).unwrap(), quoted(s.name()));
        }
        for s in [
            State::Closed,
            State::SynSent,
            State::SynReceived,
            State::Established,
            State::FinWait1,
            State::FinWait2,
            State::Closing,
            State::TimeWait,
            State::CloseWait,
            State::LastAck,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), quoted(s.name()));
        }
    }
}
