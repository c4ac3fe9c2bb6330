//! Capture timestamps.

use serde::{Serialize, Serializer};

/// Nanoseconds since the Unix epoch, as recorded by the capture.
///
/// Kept as an integer so that ordering and differences are exact; serialized as a
/// JSON number of seconds (a float, microsecond-exact for present-day dates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Timestamp {
        Timestamp(
            secs.saturating_mul(Self::NANOS_PER_SEC)
                .saturating_add(nanos),
        )
    }

    /// Seconds since the epoch as a float, rounded to the microsecond (what the
    /// JSON report carries: an f64 cannot hold nanoseconds at present-day epoch
    /// values, and rounding first keeps the printed decimals clean).
    pub fn as_secs_f64(self) -> f64 {
        self.micros() as f64 / 1e6
    }

    /// Whole microseconds since the epoch, as the report writes times
    /// (rounded to the nearest).
    pub fn micros(self) -> i64 {
        (self.0 as f64 / 1e3).round() as i64
    }

    /// `self - earlier` in seconds; negative when timestamps go backwards.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e9
    }
}

impl Timestamp {
    /// RFC 3339 in UTC with microseconds (`2026-12-07T10:00:00.000001Z`); a
    /// time before the epoch as seconds.
    pub fn rfc3339(self) -> String {
        match u64::try_from(self.0) {
            Ok(ns) => humantime::format_rfc3339_micros(
                std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
            )
            .to_string(),
            Err(_) => format!("{:.6}", self.as_secs_f64()),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_rounded_to_the_microsecond() {
        let t = Timestamp(1_795_261_858_469_169_900);
        assert_eq!(t.as_secs_f64().to_string(), "1795261858.46917");
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795261858.46917");
    }

    #[test]
    fn differences_keep_nanoseconds() {
        let a = Timestamp::from_secs_nanos(10, 1);
        let b = Timestamp::from_secs_nanos(10, 3);
        assert_eq!(b.secs_since(a), 2e-9);
        assert!(a.secs_since(b) < 0.0);
    }
}
