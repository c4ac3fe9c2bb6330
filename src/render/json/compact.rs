//! A serde serializer for the per-connection JSON objects: the same bytes as
//! `serde_json::to_writer` (tests below and the `pipeline` fuzz target hold it
//! to that), in about half the instructions.
//!
//! Profiles showed serializing connections was half of all instructions of a
//! JSON run (docs/performance.md): serde_json writes every struct field name
//! through its escaping loop, a few small writes per key, into an `io::Write`.
//! Here a field name — an identifier of ours, never in need of escaping — is one
//! `extend_from_slice` of `"name":`, other strings are scanned once and copied
//! whole unless they need escaping (then serde_json escapes them), integers and
//! whole-microsecond decimals are written from their digits (the bytes `itoa`
//! and `zmij` would write; tested against serde_json), other floats by `zmij`.
//!
//! A connection record itself is written by [`connection_to_vec`]
//! (`compact/record.rs`): its keys as literals, its leaves by this serializer, and its
//! rare parts through it as serde drives them.

use std::fmt;

use serde::ser::{self, Serialize};

mod record;

/// Appends `value` as compact JSON to `out`.
pub fn to_vec<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Compact {
        out,
        secs: Whole::default(),
    })
}

/// Appends a connection record as compact JSON to `out`: the bytes of
/// [`to_vec`], with its keys written as literals (`compact/record.rs`).
pub fn connection_to_vec(out: &mut Vec<u8>, r: &crate::report::ConnectionReport) {
    Compact {
        out,
        secs: Whole::default(),
    }
    .connection(r);
}

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

struct Compact<'a> {
    out: &'a mut Vec<u8>,
    /// The whole-seconds digits of the last microsecond number written: the
    /// timestamps of one connection nearly always share them.
    secs: Whole,
}

/// A whole number and its decimal digits ([`decimal`]).
struct Whole {
    value: u64,
    digits: [u8; 20],
    len: usize,
}

impl Default for Whole {
    fn default() -> Whole {
        let (digits, len) = decimal(0);
        Whole {
            value: 0,
            digits,
            len,
        }
    }
}

impl Compact<'_> {
    fn string(&mut self, s: &str) {
        if needs_escape(s.as_bytes()) {
            // Rare (capture text): let serde_json do it, for the same bytes.
            let _ = serde_json::to_writer(&mut *self.out, s);
        } else {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        }
    }

    /// Writes `v` as zmij (and so serde_json) would when it is a whole number
    /// of microseconds from 1 ms to 2^33 s — every timestamp and most durations
    /// of a report — and returns false, writing nothing, otherwise.
    ///
    /// Why the bytes agree: `m / 1e6` is the correctly rounded quotient of two
    /// exact doubles, so when it equals `v` the decimal `m`·10⁻⁶ reads back as
    /// `v`. Below 2^33 the spacing of doubles is under 10⁻⁶, so no other decimal
    /// with at most six fraction digits reads back as `v`, and one with fewer
    /// significant digits would have fewer fraction digits: the trimmed
    /// `m`·10⁻⁶ is the shortest round trip, which zmij prints, and from 1 ms up
    /// it prints it in plain decimal notation (`0.001`, `12.5`, `3.0`).
    #[inline]
    fn micros_decimal(&mut self, v: f64) -> bool {
        const MAX: f64 = (1u64 << 33) as f64;
        if !(1e-3..MAX).contains(&v) {
            return false;
        }
        // Rounds half up (v is positive); the check below catches any miss.
        let m = (v * 1e6 + 0.5) as u64;
        if m as f64 / 1e6 != v {
            return false;
        }
        let (whole, frac) = (m / 1_000_000, (m % 1_000_000) as u32);
        if whole != self.secs.value {
            (self.secs.digits, self.secs.len) = decimal(whole);
            self.secs.value = whole;
        }
        let mut tail = [b'.', b'0', 0, 0, 0, 0, 0];
        let mut len = 2;
        if frac != 0 {
            let (hi, mid, lo) = (frac / 10_000, frac / 100 % 100, frac % 100);
            for (i, pair) in [hi, mid, lo].into_iter().enumerate() {
                let at = 1 + 2 * i;
                tail[at..at + 2].copy_from_slice(&PAIRS[pair as usize]);
            }
            let mut f = frac;
            len = 7;
            while f % 10 == 0 {
                f /= 10;
                len -= 1;
            }
        }
        let whole_len = self.secs.len;
        let mut text = [0u8; 32];
        text[..20].copy_from_slice(&self.secs.digits);
        text[whole_len..whole_len + 7].copy_from_slice(&tail);
        put(self.out, &text, whole_len + len);
        true
    }

    /// An unsigned integer, as `itoa` writes it.
    #[inline]
    fn uint(&mut self, v: u64) {
        if v < 10 {
            self.out.push(b'0' + v as u8);
            return;
        }
        let (digits, n) = decimal(v);
        put(self.out, &digits, n);
    }

    #[inline]
    fn int(&mut self, v: i64) {
        if v < 0 {
            self.out.push(b'-');
        }
        self.uint(v.unsigned_abs());
    }
}

/// The decimal digits of `v`, left-aligned, and how many there are: what `itoa`
/// writes, placed so that [`put`] can append them with a constant-size copy.
#[inline(always)]
fn decimal(v: u64) -> ([u8; 20], usize) {
    // Digit count from the bit length (log10 2 ≈ 1233/4096), corrected by one
    // comparison; 0 has one digit too.
    let t = (((64 - v.leading_zeros()) * 1233) >> 12) as usize;
    let n = (t + usize::from(v >= POW10[t])).max(1);
    let mut digits = [0u8; 20];
    let (mut rest, mut at) = (v, n);
    while rest >= 100 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[(rest % 100) as usize]);
        rest /= 100;
    }
    if rest >= 10 {
        digits[..2].copy_from_slice(&PAIRS[rest as usize]);
    } else {
        digits[0] = b'0' + rest as u8;
    }
    (digits, n)
}

/// Appends the first `len` bytes of `bytes`: a copy of constant size (a few
/// stores, where a copy of `len` bytes is a `memcpy` call) and a truncation.
#[inline(always)]
fn put<const N: usize>(out: &mut Vec<u8>, bytes: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(bytes);
    out.truncate(at + len);
}

/// Whether serde_json would escape anything in `s`: `"`, `\` or a control
/// character (nothing else). Eight bytes at a time, with the classic bit tricks
/// for "some byte is zero" and "some byte is less than n".
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(word);
        if v.wrapping_sub(ONES * 0x20) & !v & HIGH != 0
            || has_zero(v ^ (ONES * u64::from(b'"')))
            || has_zero(v ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// 10⁰ to 10¹⁹.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// "00" to "99".
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// A struct, map or sequence being written: its separator state.
struct Compound<'a, 'b> {
    ser: &'b mut Compact<'a>,
    first: bool,
}

impl Compound<'_, '_> {
    #[inline(always)]
    fn comma(&mut self) {
        if !self.first {
            self.ser.out.push(b',');
        }
        self.first = false;
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Compact<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.int(i64::from(v));
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.int(i64::from(v));
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.int(i64::from(v));
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.uint(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if v.is_finite() {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if self.micros_decimal(v) {
            return Ok(());
        }
        if v.is_finite() {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // As serde_json: an array of numbers.
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        // A variant name of one of our enums: an identifier, nothing to escape.
        self.out.push(b'"');
        self.out.extend_from_slice(variant.as_bytes());
        self.out.push(b'"');
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        self.string(variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            ser: self,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        self.string(variant);
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            ser: self,
            first: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            ser: self,
            first: true,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        self.string(variant);
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            ser: self,
            first: true,
        })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(b"]}");
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        // Keys of our maps are strings (class and flag names, flattened fields).
        key.serialize(MapKey {
            ser: &mut *self.ser,
        })?;
        self.ser.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    // Inlined into each derived `serialize`, where `key` is a constant: the
    // copy of `"key":` becomes a few moves instead of a call to `memcpy`.
    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.comma();
        // Field names are Rust identifiers: nothing to escape.
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let out = &mut *self.ser.out;
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(b"}}");
        Ok(())
    }
}

/// Map keys: strings are written as they are; numbers are quoted, as serde_json
/// does. Anything else is an error, as in serde_json.
struct MapKey<'a, 'b> {
    ser: &'b mut Compact<'a>,
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".to_string())
}

macro_rules! quoted_int_key {
    ($($f:ident: $t:ty => $write:ident($wide:ty)),*) => {$(
        fn $f(self, v: $t) -> Result<(), Error> {
            self.ser.out.push(b'"');
            self.ser.$write(<$wide>::from(v));
            self.ser.out.push(b'"');
            Ok(())
        }
    )*};
}

macro_rules! refused_key {
    ($($f:ident($($t:ty),*)),*) => {$(
        fn $f(self, $(_: $t),*) -> Result<(), Error> {
            Err(key_must_be_a_string())
        }
    )*};
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.ser.string(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.ser.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.ser.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    quoted_int_key!(
        serialize_i8: i8 => int(i64),
        serialize_i16: i16 => int(i64),
        serialize_i32: i32 => int(i64),
        serialize_i64: i64 => int(i64),
        serialize_u8: u8 => uint(u64),
        serialize_u16: u16 => uint(u64),
        serialize_u32: u32 => uint(u64),
        serialize_u64: u64 => uint(u64)
    );
    refused_key!(
        serialize_bool(bool),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str)
    );
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    fn both<T: Serialize>(v: &T) -> (String, String) {
        let mut ours = Vec::new();
        to_vec(&mut ours, v).unwrap();
        (
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(v).unwrap(),
        )
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        New(u8),
        Tuple(u8, i64),
        Named { a: bool },
    }

    #[derive(Serialize)]
    struct Inner {
        x: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        gone: Option<u8>,
        kinds: Vec<Kind>,
    }

    #[derive(Serialize)]
    struct Outer {
        text: String,
        ch: char,
        ints: (i8, i16, i32, i64, u8, u16, u32, u64),
        floats: [f64; 10],
        unit: (),
        #[serde(flatten)]
        inner: Inner,
        map: BTreeMap<u16, &'static str>,
        bytes: &'static [u8],
    }

    #[test]
    fn every_shape_gives_serde_json_bytes() {
        let v = Outer {
            text: "tab\there \"quoted\" back\\slash \u{1} é ✓".to_string(),
            ch: '"',
            ints: (i8::MIN, -1, i32::MAX, i64::MIN, 255, 0, 7, u64::MAX),
            floats: [
                0.0,
                -0.0,
                1e-7,
                1795261858.469169,
                1795261858.4,
                1795261858.0,
                1.000001,
                4294967295.999999,
                f64::NAN,
                f64::INFINITY,
            ],
            unit: (),
            inner: Inner {
                x: Some(4.4e-5),
                gone: None,
                kinds: vec![
                    Kind::Plain,
                    Kind::New(3),
                    Kind::Tuple(1, -2),
                    Kind::Named { a: true },
                ],
            },
            map: [(80, "http"), (443, "h\"s")].into_iter().collect(),
            bytes: b"\x00\xff",
        };
        let (ours, serde) = both(&v);
        assert_eq!(ours, serde);
    }

    #[test]
    fn integers_at_every_digit_count_match_serde_json() {
        let mut unsigned = vec![0, u64::MAX];
        let mut signed = vec![0, i64::MIN, i64::MAX];
        for p in 0..20 {
            let t = 10u64.pow(p);
            unsigned.extend([t - 1, t, t + 1]);
            if let Ok(t) = i64::try_from(t) {
                signed.extend([t - 1, t, t + 1, -t + 1, -t, -t - 1]);
            }
        }
        let small = (
            u8::MAX,
            u16::MAX,
            u32::MAX,
            i8::MIN,
            i16::MIN,
            i32::MIN,
            7u8,
            -7i8,
        );
        let signed_keys: BTreeMap<i64, u8> = signed.iter().map(|&k| (k, 1)).collect();
        let unsigned_keys: BTreeMap<u64, u8> = unsigned.iter().map(|&k| (k, 2)).collect();
        let small_keys: BTreeMap<i8, u32> = [(i8::MIN, 1), (0, 2), (9, 3)].into_iter().collect();
        let (ours, serde) = both(&(unsigned, signed, small));
        assert_eq!(ours, serde);
        let (ours, serde) = both(&(signed_keys, unsigned_keys, small_keys));
        assert_eq!(ours, serde);
    }

    #[test]
    fn microsecond_decimals_at_the_edges_of_the_fast_path_match_serde_json() {
        let v = [
            1e-3,
            0.000999,
            0.0010005,
            0.1,
            0.123456,
            0.12,
            1.0,
            10.000001,
            10.00001,
            999999.999999,
            1e6,
            8589934591.999999,
            8589934591.999998,
            (1u64 << 33) as f64,
            (1u64 << 33) as f64 + 0.5,
            1e10 + 0.25,
            0.1 + 0.2,
            1795261858.46917,
            1795261858.0,
            1795261859.000001,
        ];
        let (ours, serde) = both(&v);
        assert_eq!(ours, serde);
    }

    #[test]
    fn a_map_key_that_is_not_a_string_fails_like_serde_json() {
        let v: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        assert!(to_vec(&mut Vec::new(), &v).is_err());
        assert!(serde_json::to_string(&v).is_err());
    }

    #[test]
    fn escapes_are_found_at_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for b in [0u8, 0x1f, b'"', b'\\'] {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    assert!(needs_escape(&s), "{len} {at} {b}");
                }
            }
            for b in [0x20u8, 0x21, b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
                assert!(!needs_escape(&vec![b; len]), "{len} {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn escape_test_agrees_with_the_plain_one(s in proptest::collection::vec(any::<u8>(), 0..40)) {
            let plain = s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(&s), plain);
        }

        #[test]
        fn timestamps_sharing_their_seconds_match_serde_json(
            secs in 0u64..8_589_934_591,
            micros in proptest::collection::vec(0u64..1_000_000, 1..12),
            other in 0u64..8_589_934_591,
        ) {
            let mut vs: Vec<f64> = micros
                .iter()
                .map(|&m| (secs * 1_000_000 + m) as f64 / 1e6)
                .collect();
            vs.insert(vs.len() / 2, other as f64 + 0.5);
            let (ours, serde) = both(&vs);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn microsecond_timestamps_and_durations_match_serde_json(
            micros in prop_oneof![0u64..100_000_000, 0u64..5_000_000_000_000_000],
            nudge in -2i64..=2,
        ) {
            let v = micros as f64 / 1e6;
            // The value itself, its neighbouring doubles (not whole
            // microseconds: the fast path must leave them to zmij), and its
            // negative (left to zmij too).
            let bits = (v.to_bits() as i64 + nudge) as u64;
            let (ours, serde) = both(&(v, f64::from_bits(bits), -v));
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn strings_and_numbers_match_serde_json(
            s in any::<String>(),
            f in any::<f64>(),
            g in any::<f32>(),
            i in any::<i64>(),
            u in any::<u64>(),
            small in any::<(u8, u16, u32, i8, i16, i32)>(),
        ) {
            let (ours, serde) = both(&(s, f, g, i, u, small));
            prop_assert_eq!(ours, serde);
        }
    }
}
