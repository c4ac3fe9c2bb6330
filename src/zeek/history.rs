//! Zeek's `history` string: one letter per kind of packet, upper case for the
//! originator, with Zeek's rules for when a letter is recorded again.
//!
//! Source: `Session::CheckHistory` / `AddHistory` / `ScaledHistoryEntry`
//! (src/session/Session.h, src/Conn.cc) and the masks of `TCP_Endpoint.h`.

/// The per-kind bits of Zeek's `hist_seen` (TCP_Endpoint.h `HistoryMasks`); a
/// responder's bits are these shifted left by 16.
pub(super) mod mask {
    pub const SYN: u32 = 0x1;
    pub const FIN: u32 = 0x2;
    pub const RST: u32 = 0x4;
    pub const FIN_RST: u32 = 0x8;
    pub const DATA: u32 = 0x10;
    pub const ACK: u32 = 0x20;
    pub const MULTI_FLAG: u32 = 0x40;
}

/// The letters so far and which kinds each side has already shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct History {
    letters: String,
    seen: u32,
}

fn cased(is_orig: bool, code: char) -> char {
    if is_orig {
        code.to_ascii_uppercase()
    } else {
        code.to_ascii_lowercase()
    }
}

impl History {
    pub fn as_str(&self) -> &str {
        &self.letters
    }

    /// `CheckHistory`: records `code` the first time this side shows this kind
    /// of packet and returns false; afterwards returns true (the caller decides,
    /// for SYN, FIN and RST, whether a new sequence number deserves a repeat).
    pub fn check(&mut self, mask: u32, is_orig: bool, code: char) -> bool {
        let mask = if is_orig { mask } else { mask << 16 };
        if self.seen & mask == 0 {
            self.seen |= mask;
            self.letters.push(cased(is_orig, code));
            false
        } else {
            true
        }
    }

    /// `AddHistory`: records `code` unconditionally.
    pub fn add(&mut self, is_orig: bool, code: char) {
        self.letters.push(cased(is_orig, code));
    }

    /// `AddHistory('^')`: the roles were flipped.
    pub fn add_flip(&mut self) {
        self.letters.push('^');
    }

    /// A flip decided on the second packet (zeek/zeek#2191): the letters so far
    /// were recorded for the wrong side, so they change case, the `^` goes in
    /// front, and each side's seen-kinds move with it. This is what Zeek's
    /// baselines show for such connections (`core.tcp.flip-without-syn`:
    /// `^hADadFf`; the `one-sided` trace of zeek/zeek#5047: `^haf`).
    pub fn flip_retroactively(&mut self) {
        let swapped: String = self
            .letters
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        self.letters = format!("^{swapped}");
        self.seen = self.seen.rotate_left(16);
    }
}

/// `ScaledHistoryEntry` with Zeek's base 10: the letter is recorded at the 1st,
/// 10th, 100th, ... occurrence (retransmissions `t`, zero windows `w`, content
/// gaps `g`, bad checksums `c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Scaled {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Counts one occurrence; true when this one is recorded.
    pub fn hit(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        if self.count != self.threshold {
            return false;
        }
        match self.threshold.checked_mul(10) {
            Some(next) => self.threshold = next,
            // Zeek: on wrap-around keep the threshold and restart the count.
            None => self.count = 0,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_a_kind_is_recorded_with_the_sides_case() {
        let mut h = History::default();
        assert!(!h.check(mask::SYN, true, 'S'));
        assert!(!h.check(mask::SYN, false, 'H'));
        assert!(h.check(mask::SYN, true, 'S'));
        assert!(!h.check(mask::ACK, true, 'A'));
        assert!(h.check(mask::ACK, true, 'A'));
        assert_eq!(h.as_str(), "ShA");
    }

    #[test]
    fn retroactive_flip_swaps_case_and_seen_kinds() {
        let mut h = History::default();
        h.check(mask::SYN, true, 'H');
        h.flip_retroactively();
        assert_eq!(h.as_str(), "^h");
        // The SYN-ACK is now the responder's: a responder SYN is already seen,
        // an originator SYN is not.
        assert!(h.check(mask::SYN, false, 'H'));
        assert!(!h.check(mask::SYN, true, 'S'));
        assert_eq!(h.as_str(), "^hS");
    }

    #[test]
    fn scaled_entries_are_logarithmic() {
        let mut s = Scaled::default();
        let at: Vec<u32> = (1..=1000u32).filter(|_| s.hit()).collect();
        assert_eq!(at, vec![1, 10, 100, 1000]);
    }
}
