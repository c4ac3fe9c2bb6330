//! Zeek's per-endpoint TCP state machine (`UpdateStateMachine` and the
//! `Update*State` functions of TCPSessionAdapter.cc), and what a close, a reset
//! and an acknowledgment do to the session.

use super::*;

impl Session {
    /// `UpdateStateMachine`: returns `(do_close, gen_event)`.
    pub(super) fn update_state_machine(
        &mut self,
        e: usize,
        is_orig: bool,
        pkt: &Packet,
        delta_last: i32,
    ) -> (bool, bool) {
        match self.ep[e].state {
            Inactive => self.update_inactive_state(e, is_orig, pkt),
            SynSent | SynAckSent => self.update_syn_sent_state(e, pkt.flags),
            Established | Partial => self.update_established_state(e, pkt.flags),
            Closed => self.update_closed_state(e, pkt.flags, delta_last),
            // `UpdateResetState` only reports weirds.
            Reset => (false, false),
        }
    }

    pub(super) fn update_inactive_state(
        &mut self,
        e: usize,
        is_orig: bool,
        pkt: &Packet,
    ) -> (bool, bool) {
        let flags = pkt.flags;
        let (mut do_close, mut gen_event) = (false, false);
        if flags.syn {
            if is_orig {
                // The originator's SYN (or, oddly, SYN-ACK): an attempt, timed.
                self.set_state(e, if flags.ack { SynAckSent } else { SynSent });
                let at = pkt.t.0.saturating_add(TCP_ATTEMPT_DELAY);
                self.attempt_timer = Some(self.attempt_timer.map_or(at, |t| t.min(at)));
            } else {
                let p = 1 - e;
                if !flags.ack
                    && self.ep[p].state == SynAckSent
                    && pkt.base_seq == self.ep[e].start_seq32()
                {
                    // A SYN seen after its SYN-ACK: flip and establish.
                    self.is_partial = false;
                    self.flip_roles();
                    self.set_state(p, Established);
                    self.set_first_packet_seen(true);
                }
                if self.ep[p].state == SynSent {
                    self.set_state(p, Established);
                }
                self.set_state(e, Established);
                if self.ep[p].state != Partial {
                    self.connection_established();
                }
            }
        }
        if flags.fin {
            self.set_state(e, Closed);
            do_close = true;
            gen_event = true;
        }
        if flags.rst {
            self.set_state(e, Reset);
            let peer = self.ep[1 - e].state;
            let is_reject = if is_orig {
                // A SYN-ACK seen but not the SYN: a reverse scan.
                peer == Established
            } else {
                matches!(peer, SynSent | SynAckSent)
            };
            do_close = true;
            gen_event = !is_reject;
        }
        if self.ep[e].state == Inactive {
            // No control flag changed the state.
            let orig_state = self.orig().state;
            if !is_orig && pkt.len == 0 && orig_state == SynSent {
                // An ACK of the SYN before the SYN-ACK: not a partial connection.
            } else if flags.ack && self.ep[1 - e].state == Established {
                // The SYN was missed, the SYN-ACK and now an ACK were seen.
                self.set_state(e, Established);
                self.is_partial = false;
                self.set_first_packet_seen(is_orig);
            } else {
                self.set_state(e, Partial);
            }
        }
        (do_close, gen_event)
    }

    pub(super) fn update_syn_sent_state(&mut self, e: usize, flags: TcpFlags) -> (bool, bool) {
        let (mut do_close, mut gen_event) = (false, false);
        if flags.fin {
            self.set_state(e, Closed);
            do_close = true;
            gen_event = true;
        }
        if flags.rst {
            self.set_state(e, Reset);
            self.connection_reset();
            do_close = true;
        }
        (do_close, gen_event)
    }

    pub(super) fn update_established_state(&mut self, e: usize, flags: TcpFlags) -> (bool, bool) {
        let p = 1 - e;
        let (mut do_close, mut gen_event) = (false, false);
        if flags.syn && self.ep[e].state == Partial && self.ep[p].state == Inactive && !flags.ack {
            // SYN_after_partial
            self.set_state(e, SynSent);
        }
        if flags.fin && !flags.rst {
            self.set_state(e, Closed);
            if self.ep[p].state == Reset && self.ep[p].prev_state == Closed {
                // The peer's FIN then RST was a normal termination after all.
                self.set_state(p, Closed);
            }
            do_close = true;
            gen_event = true;
        }
        if flags.rst {
            self.set_state(e, Reset);
            do_close = true;
            if self.ep[p].state != Reset || self.ep[p].prev_state != Established {
                self.connection_reset();
            }
        }
        (do_close, gen_event)
    }

    pub(super) fn update_closed_state(
        &mut self,
        e: usize,
        flags: TcpFlags,
        _delta_last: i32,
    ) -> (bool, bool) {
        let mut do_close = false;
        // After a FIN exchange, a RST does not change the state.
        if flags.rst && self.ep[1 - e].state != Closed {
            self.set_state(e, Reset);
            if !self.ep[e].did_close {
                do_close = true;
            }
        }
        (do_close, false)
    }

    /// `ConnectionReset` / `ConnectionFinished`: the connection is no longer
    /// active for the timers.
    pub(super) fn connection_reset(&mut self) {
        self.is_active = false;
    }

    /// `ConnectionClosed`: when both sides are done (or one reset, or the other
    /// never spoke) the connection is deleted `tcp_close_delay` after its last
    /// activity; otherwise an ExpireTimer watches for the other side.
    pub(super) fn connection_closed(&mut self, e: usize, gen_event: bool) {
        let p = 1 - e;
        if self.ep[e].did_close {
            return;
        }
        self.ep[e].did_close = true;
        let close_complete =
            self.ep[e].state == Reset || self.ep[p].did_close || self.ep[p].state == Inactive;
        if close_complete {
            if (self.ep[e].prev_state != Inactive || self.ep[p].state != Inactive) && gen_event {
                self.is_active = false;
            }
            // `CancelTimers` (the adapter's timers; the inactivity timer stays).
            self.attempt_timer = None;
            self.expire_timers.clear();
            self.delete_timer = Some(self.last_time.0.saturating_add(TCP_CLOSE_DELAY));
        } else if self.ep[e].prev_state != Inactive {
            // At most one per side (`did_close` guards this), so there is room.
            let _ = self
                .expire_timers
                .try_push(self.last_time.0.saturating_add(TCP_SESSION_TIMER));
        }
    }

    /// `peer->AckReceived(rel_ack)`: the reassembler of the side whose data was
    /// acknowledged reports gaps (history `g`, `missed_bytes`) while both sides
    /// are cleanly established or closing.
    pub(super) fn ack_received(&mut self, i: usize, rel_ack: u64) {
        let mut seq = rel_ack;
        let ep = &self.ep[i];
        if ep.fin_cnt > 0 && seq >= ep.fin_seq {
            seq = ep.fin_seq.wrapping_sub(1);
        }
        let partial = self.is_partial;
        let gaps = self.ep[i].reassembler.ack_received(seq, partial);
        if gaps.is_empty() {
            return;
        }
        let clean = |x: &Endpoint| {
            x.state == Established || (x.state == Closed && x.prev_state == Established)
        };
        if !(clean(&self.ep[i]) && clean(&self.ep[1 - i])) {
            return;
        }
        for (_, len) in gaps {
            self.missed_bytes += len;
            if self.ep[i].gap.hit() {
                let is_orig = self.ep[i].is_orig;
                self.history.add(is_orig, 'G');
            }
        }
    }
}
