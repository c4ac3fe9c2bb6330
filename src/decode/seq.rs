//! TCP sequence numbers with serial-number arithmetic (RFC 1982, RFC 9293 §3.4).
//!
//! Ordering is defined by the sign of the wrapping difference, so `a < b` holds when
//! `b` is less than 2^31 ahead of `a`, across the 2^32 wrap. There is deliberately
//! no `Ord`: serial order is not transitive over the whole space, and a sort by it
//! would be meaningless.

use std::cmp::Ordering;
use std::ops::{Add, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self` in sequence space.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers in serial order.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.diff(other) >= 0 { self } else { other }
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl std::fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_crosses_the_2_32_wrap() {
        let before = SeqNumber(u32::MAX - 10);
        let after = before + 20;
        assert_eq!(after.0, 9);
        assert!(before < after);
        assert!(after > before);
        assert_eq!(after.diff(before), 20);
        assert_eq!(before.diff(after), -20);
    }

    #[test]
    fn ordering_crosses_the_2_31_boundary() {
        let a = SeqNumber(0x7fff_fff0);
        let b = a + 0x20;
        assert!(a < b);
        assert_eq!(b.max(a), b);
        assert_eq!(a.max(b), b);
    }

    proptest! {
        #[test]
        fn adding_less_than_half_the_space_moves_forward(x: u32, d in 1u32..0x8000_0000) {
            let a = SeqNumber(x);
            prop_assert!(a < a + d);
            prop_assert!(a + d > a);
            prop_assert_eq!((a + d).diff(a), d as i32);
            prop_assert_eq!((a + d) - d, a);
        }

        #[test]
        fn max_is_symmetric(x: u32, y: u32) {
            let (a, b) = (SeqNumber(x), SeqNumber(y));
            // Exactly 2^31 apart is the one ambiguous distance; both answers are legal.
            prop_assume!(x.wrapping_sub(y) != 0x8000_0000);
            prop_assert_eq!(a.max(b), b.max(a));
        }
    }
}
