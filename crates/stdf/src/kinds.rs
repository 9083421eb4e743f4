//! STDF data types (U1, Cn, Dn, kxN1, GDR's V*n, ...) as marker types with their codec.

use serde_json::{Value, json};

use crate::codec::{Cursor, DecodeErr, Encoder};

/// A variable-length bit field (Dn): a U2 bit count followed by ceil(bits/8) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dn<'a> {
    /// Number of bits that are meaningful.
    pub bits: u16,
    /// Packed bits, first bit in the least significant bit of the first byte.
    pub data: &'a [u8],
}

impl Dn<'_> {
    /// Whether bit `i` is set (false past the end).
    pub fn bit(&self, i: usize) -> bool {
        i < self.bits as usize
            && self
                .data
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }
}

/// One typed value of a GDR's V*n list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GenValue<'a> {
    /// Code 0: a pad byte (no data).
    Pad,
    /// Code 1.
    U1(u8),
    /// Code 2.
    U2(u16),
    /// Code 3.
    U4(u32),
    /// Code 4.
    I1(i8),
    /// Code 5.
    I2(i16),
    /// Code 6.
    I4(i32),
    /// Code 7.
    R4(f32),
    /// Code 8.
    R8(f64),
    /// Code 10.
    Cn(&'a [u8]),
    /// Code 11.
    Bn(&'a [u8]),
    /// Code 12.
    Dn(Dn<'a>),
    /// Code 13: one nibble stored in one byte.
    N1(u8),
}

impl GenValue<'_> {
    /// The V*n type code.
    pub fn code(&self) -> u8 {
        match self {
            GenValue::Pad => 0,
            GenValue::U1(_) => 1,
            GenValue::U2(_) => 2,
            GenValue::U4(_) => 3,
            GenValue::I1(_) => 4,
            GenValue::I2(_) => 5,
            GenValue::I4(_) => 6,
            GenValue::R4(_) => 7,
            GenValue::R8(_) => 8,
            GenValue::Cn(_) => 10,
            GenValue::Bn(_) => 11,
            GenValue::Dn(_) => 12,
            GenValue::N1(_) => 13,
        }
    }

    /// The STDF type name of the value (`B0` for a pad byte).
    pub fn type_name(&self) -> &'static str {
        match self {
            GenValue::Pad => "B0",
            GenValue::U1(_) => "U1",
            GenValue::U2(_) => "U2",
            GenValue::U4(_) => "U4",
            GenValue::I1(_) => "I1",
            GenValue::I2(_) => "I2",
            GenValue::I4(_) => "I4",
            GenValue::R4(_) => "R4",
            GenValue::R8(_) => "R8",
            GenValue::Cn(_) => "Cn",
            GenValue::Bn(_) => "Bn",
            GenValue::Dn(_) => "Dn",
            GenValue::N1(_) => "N1",
        }
    }

    /// The value alone as JSON (null for a pad byte).
    pub fn value_json(&self) -> Value {
        match *self {
            GenValue::Pad => Value::Null,
            GenValue::U1(v) | GenValue::N1(v) => json!(v),
            GenValue::U2(v) => json!(v),
            GenValue::U4(v) => json!(v),
            GenValue::I1(v) => json!(v),
            GenValue::I2(v) => json!(v),
            GenValue::I4(v) => json!(v),
            GenValue::R4(v) => float_json(f64::from(v)),
            GenValue::R8(v) => float_json(v),
            GenValue::Cn(s) => Value::String(text(s).into_owned()),
            GenValue::Bn(b) => json!(b),
            GenValue::Dn(d) => dn_json(&d),
        }
    }
}

/// Decodes STDF text: UTF-8 when valid, else each byte as Latin-1.
pub fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(b.iter().map(|&c| char::from(c)).collect()),
    }
}

/// JSON for a float: a number when finite, else "NaN", "inf" or "-inf".
pub fn float_json(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

fn dn_json(d: &Dn<'_>) -> Value {
    json!({"bits": d.bits, "bytes": d.data})
}

/// One STDF data type: how it is read, written and shown as JSON.
pub trait Kind {
    /// Rust value of the type, borrowing from the record body where it can.
    type V<'a>: Clone + PartialEq + std::fmt::Debug;
    /// Reads one value; `Ok(None)` when the record ended before the field.
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<Self::V<'a>>, DecodeErr>;
    /// Writes one value.
    fn write(v: &Self::V<'_>, e: &mut Encoder);
    /// Writes the "missing" value used when a later field is present.
    fn write_default(e: &mut Encoder);
    /// The value as JSON.
    fn json(v: &Self::V<'_>) -> Value;

    /// Reads a kxTYPE array of `k` elements; `Ok(None)` when the record already ended.
    fn read_array<'a>(c: &mut Cursor<'a>, k: usize) -> Result<Option<Vec<Self::V<'a>>>, DecodeErr> {
        // A record that ends before the array leaves it out, even when k is 0.
        if c.at_end() {
            return Ok(None);
        }
        if k == 0 {
            return Ok(Some(Vec::new()));
        }
        // Each element takes at least one byte: bound the allocation by the bytes left.
        let mut out = Vec::with_capacity(k.min(c.remaining()));
        for _ in 0..k {
            match Self::read(c)? {
                Some(v) => out.push(v),
                None => return Err(DecodeErr::Overrun),
            }
        }
        Ok(Some(out))
    }
    /// Writes a kxTYPE array.
    fn write_array(vs: &[Self::V<'_>], e: &mut Encoder) {
        for v in vs {
            Self::write(v, e);
        }
    }
    /// Writes `k` default elements (an array absent before a present field).
    fn write_default_array(k: usize, e: &mut Encoder) {
        for _ in 0..k {
            Self::write_default(e);
        }
    }
}

macro_rules! num_kind {
    ($(#[$d:meta])* $name:ident, $t:ty, $read:ident, $write:ident) => {
        $(#[$d])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Kind for $name {
            type V<'a> = $t;
            #[inline]
            fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<$t>, DecodeErr> {
                c.$read()
            }
            #[inline]
            fn write(v: &$t, e: &mut Encoder) {
                e.$write(*v)
            }
            fn write_default(e: &mut Encoder) {
                e.$write(<$t>::default())
            }
            fn json(v: &$t) -> Value {
                json!(v)
            }
        }
    };
}

num_kind!(/// U1: unsigned byte.
    U1, u8, u8, u8);
num_kind!(/// B1: one byte of flags.
    B1, u8, u8, u8);
num_kind!(/// U2.
    U2, u16, u16, u16);
num_kind!(/// U4.
    U4, u32, u32, u32);
num_kind!(/// U8 (V4-2007).
    U8, u64, u64, u64);
num_kind!(/// I2.
    I2, i16, i16, i16);
num_kind!(/// I4.
    I4, i32, i32, i32);

/// I1: signed byte.
#[derive(Debug, Clone, Copy)]
pub struct I1;
impl Kind for I1 {
    type V<'a> = i8;
    #[inline]
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<i8>, DecodeErr> {
        Ok(c.u8()?.map(|b| b as i8))
    }
    fn write(v: &i8, e: &mut Encoder) {
        e.u8(*v as u8)
    }
    fn write_default(e: &mut Encoder) {
        e.u8(0)
    }
    fn json(v: &i8) -> Value {
        json!(v)
    }
}

macro_rules! float_kind {
    ($(#[$d:meta])* $name:ident, $t:ty, $read:ident, $write:ident) => {
        $(#[$d])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Kind for $name {
            type V<'a> = $t;
            #[inline]
            fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<$t>, DecodeErr> {
                c.$read()
            }
            #[inline]
            fn write(v: &$t, e: &mut Encoder) {
                e.$write(*v)
            }
            fn write_default(e: &mut Encoder) {
                e.$write(0.0)
            }
            fn json(v: &$t) -> Value {
                float_json(f64::from(*v))
            }
        }
    };
}
float_kind!(/// R4: IEEE single.
    R4, f32, f32, f32);
float_kind!(/// R8: IEEE double.
    R8, f64, f64, f64);

/// C1: one character.
#[derive(Debug, Clone, Copy)]
pub struct C1;
impl Kind for C1 {
    type V<'a> = u8;
    #[inline]
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<u8>, DecodeErr> {
        c.u8()
    }
    fn write(v: &u8, e: &mut Encoder) {
        e.u8(*v)
    }
    fn write_default(e: &mut Encoder) {
        e.u8(b' ')
    }
    fn json(v: &u8) -> Value {
        Value::String(char::from(*v).to_string())
    }
}

/// N1: a nibble; kxN1 arrays pack two per byte, first in the low half.
#[derive(Debug, Clone, Copy)]
pub struct N1;
impl Kind for N1 {
    type V<'a> = u8;
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<u8>, DecodeErr> {
        Ok(c.u8()?.map(|b| b & 0x0f))
    }
    fn write(v: &u8, e: &mut Encoder) {
        e.u8(*v & 0x0f)
    }
    fn write_default(e: &mut Encoder) {
        e.u8(0)
    }
    fn json(v: &u8) -> Value {
        json!(v)
    }
    fn read_array<'a>(c: &mut Cursor<'a>, k: usize) -> Result<Option<Vec<u8>>, DecodeErr> {
        if c.at_end() {
            return Ok(None);
        }
        if k == 0 {
            return Ok(Some(Vec::new()));
        }
        let Some(bytes) = c.take(k.div_ceil(2))? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(k);
        for i in 0..k {
            let b = bytes[i / 2];
            out.push(if i % 2 == 0 { b & 0x0f } else { b >> 4 });
        }
        Ok(Some(out))
    }
    fn write_array(vs: &[u8], e: &mut Encoder) {
        for pair in vs.chunks(2) {
            let hi = pair.get(1).map_or(0, |v| v & 0x0f);
            e.u8((pair[0] & 0x0f) | (hi << 4));
        }
    }
    fn write_default_array(k: usize, e: &mut Encoder) {
        for _ in 0..k.div_ceil(2) {
            e.u8(0);
        }
    }
}

/// Cn: text with a U1 length.
#[derive(Debug, Clone, Copy)]
pub struct Cn;
impl Kind for Cn {
    type V<'a> = &'a [u8];
    #[inline]
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<&'a [u8]>, DecodeErr> {
        let Some(n) = c.u8()? else { return Ok(None) };
        c.take_more(n as usize).map(Some)
    }
    fn write(v: &&[u8], e: &mut Encoder) {
        e.short_str(v)
    }
    fn write_default(e: &mut Encoder) {
        e.u8(0)
    }
    fn json(v: &&[u8]) -> Value {
        Value::String(text(v).into_owned())
    }
}

/// Sn: text with a U2 length (V4-2007).
#[derive(Debug, Clone, Copy)]
pub struct Sn;
impl Kind for Sn {
    type V<'a> = &'a [u8];
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<&'a [u8]>, DecodeErr> {
        let Some(n) = c.u16()? else { return Ok(None) };
        c.take_more(n as usize).map(Some)
    }
    fn write(v: &&[u8], e: &mut Encoder) {
        let n = v.len().min(65535);
        e.u16(n as u16);
        e.bytes(&v[..n]);
    }
    fn write_default(e: &mut Encoder) {
        e.u16(0)
    }
    fn json(v: &&[u8]) -> Value {
        Value::String(text(v).into_owned())
    }
}

/// Bn: bytes with a U1 length.
#[derive(Debug, Clone, Copy)]
pub struct Bn;
impl Kind for Bn {
    type V<'a> = &'a [u8];
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<&'a [u8]>, DecodeErr> {
        Cn::read(c)
    }
    fn write(v: &&[u8], e: &mut Encoder) {
        e.short_str(v)
    }
    fn write_default(e: &mut Encoder) {
        e.u8(0)
    }
    fn json(v: &&[u8]) -> Value {
        json!(v)
    }
}

/// Dn: bit field with a U2 bit count.
#[derive(Debug, Clone, Copy)]
pub struct DnK;
impl Kind for DnK {
    type V<'a> = Dn<'a>;
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<Dn<'a>>, DecodeErr> {
        let Some(bits) = c.u16()? else {
            return Ok(None);
        };
        let data = c.take_more((bits as usize).div_ceil(8))?;
        Ok(Some(Dn { bits, data }))
    }
    fn write(v: &Dn<'_>, e: &mut Encoder) {
        let n = (v.bits as usize).div_ceil(8);
        e.u16(v.bits);
        for i in 0..n {
            e.u8(v.data.get(i).copied().unwrap_or(0));
        }
    }
    fn write_default(e: &mut Encoder) {
        e.u16(0)
    }
    fn json(v: &Dn<'_>) -> Value {
        dn_json(v)
    }
}

fn need<T>(o: Option<T>) -> Result<T, DecodeErr> {
    o.ok_or(DecodeErr::Overrun)
}

/// V*n: one GDR value, a type code byte followed by the value.
#[derive(Debug, Clone, Copy)]
pub struct Vn;
impl Kind for Vn {
    type V<'a> = GenValue<'a>;
    fn read<'a>(c: &mut Cursor<'a>) -> Result<Option<GenValue<'a>>, DecodeErr> {
        let Some(code) = c.u8()? else { return Ok(None) };
        let v = match code {
            0 => GenValue::Pad,
            1 => GenValue::U1(need(c.u8()?)?),
            2 => GenValue::U2(need(c.u16()?)?),
            3 => GenValue::U4(need(c.u32()?)?),
            4 => GenValue::I1(need(c.u8()?)? as i8),
            5 => GenValue::I2(need(c.i16()?)?),
            6 => GenValue::I4(need(c.i32()?)?),
            7 => GenValue::R4(need(c.f32()?)?),
            8 => GenValue::R8(need(c.f64()?)?),
            10 => GenValue::Cn(need(Cn::read(c)?)?),
            11 => GenValue::Bn(need(Bn::read(c)?)?),
            12 => GenValue::Dn(need(DnK::read(c)?)?),
            13 => GenValue::N1(need(c.u8()?)? & 0x0f),
            code => return Err(DecodeErr::BadGdrCode { index: 0, code }),
        };
        Ok(Some(v))
    }
    fn write(v: &GenValue<'_>, e: &mut Encoder) {
        e.u8(v.code());
        match *v {
            GenValue::Pad => {}
            GenValue::U1(x) | GenValue::N1(x) => e.u8(x),
            GenValue::U2(x) => e.u16(x),
            GenValue::U4(x) => e.u32(x),
            GenValue::I1(x) => e.u8(x as u8),
            GenValue::I2(x) => e.i16(x),
            GenValue::I4(x) => e.i32(x),
            GenValue::R4(x) => e.f32(x),
            GenValue::R8(x) => e.f64(x),
            GenValue::Cn(s) | GenValue::Bn(s) => e.short_str(s),
            GenValue::Dn(d) => DnK::write(&d, e),
        }
    }
    fn write_default(e: &mut Encoder) {
        e.u8(0)
    }
    fn json(v: &GenValue<'_>) -> Value {
        json!({"type": v.type_name(), "value": v.value_json()})
    }
    fn read_array<'a>(
        c: &mut Cursor<'a>,
        k: usize,
    ) -> Result<Option<Vec<GenValue<'a>>>, DecodeErr> {
        // A record that ends before the array leaves it out, even when k is 0.
        if c.at_end() {
            return Ok(None);
        }
        if k == 0 {
            return Ok(Some(Vec::new()));
        }
        let mut out = Vec::with_capacity(k.min(c.remaining()));
        for index in 0..k {
            match Self::read(c) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => return Err(DecodeErr::Overrun),
                Err(DecodeErr::BadGdrCode { code, .. }) => {
                    return Err(DecodeErr::BadGdrCode { index, code });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(out))
    }
}
