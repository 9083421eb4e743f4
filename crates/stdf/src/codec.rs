//! Byte-level primitives: byte order, a borrowing decode cursor and an encoder.

/// Byte order of an STDF file, fixed by its FAR record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Big-endian (FAR CPU_TYPE 1, Sun/SPARC and most legacy testers).
    Big,
    /// Little-endian (FAR CPU_TYPE 2, x86).
    Little,
}

impl Endian {
    /// The FAR CPU_TYPE value that announces this byte order.
    pub fn cpu_type(self) -> u8 {
        match self {
            Endian::Big => 1,
            Endian::Little => 2,
        }
    }

    /// Lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Endian::Big => "big-endian",
            Endian::Little => "little-endian",
        }
    }

    /// Reads a u16 in this byte order.
    #[inline]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Big => u16::from_be_bytes(b),
            Endian::Little => u16::from_le_bytes(b),
        }
    }
}

/// Why a field could not be decoded (turned into a `StdfError` with context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErr {
    /// The field's bytes run past the end of the record.
    Overrun,
    /// Bytes are left after the last field (the REC_LEN is too long).
    Trailing {
        /// Bytes left.
        extra: usize,
    },
    /// A GDR carried an unknown V*n type code.
    BadGdrCode {
        /// Index of the generic field.
        index: usize,
        /// The code.
        code: u8,
    },
}

/// Reads fields from one record body, borrowing strings and bit fields from it.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    endian: Endian,
}

macro_rules! num_reader {
    ($name:ident, $t:ty, $n:literal) => {
        /// Reads one number; `Ok(None)` when the record has ended.
        #[inline]
        pub fn $name(&mut self) -> Result<Option<$t>, DecodeErr> {
            match self.take($n)? {
                None => Ok(None),
                Some(b) => {
                    let a: [u8; $n] = b.try_into().map_err(|_| DecodeErr::Overrun)?;
                    Ok(Some(match self.endian {
                        Endian::Big => <$t>::from_be_bytes(a),
                        Endian::Little => <$t>::from_le_bytes(a),
                    }))
                }
            }
        }
    };
}

impl<'a> Cursor<'a> {
    /// A cursor over a record body.
    pub fn new(data: &'a [u8], endian: Endian) -> Self {
        Cursor {
            data,
            pos: 0,
            endian,
        }
    }

    /// Bytes not yet consumed.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Whether every byte has been consumed.
    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Takes `n` bytes: `None` at end of record, an error when only part is there.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<Option<&'a [u8]>, DecodeErr> {
        if self.at_end() {
            return Ok(None);
        }
        self.take_more(n).map(Some)
    }

    /// Takes `n` bytes that must be present (a field already started).
    #[inline]
    pub fn take_more(&mut self, n: usize) -> Result<&'a [u8], DecodeErr> {
        let end = self.pos.checked_add(n).ok_or(DecodeErr::Overrun)?;
        if end > self.data.len() {
            return Err(DecodeErr::Overrun);
        }
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<Option<u8>, DecodeErr> {
        if self.at_end() {
            return Ok(None);
        }
        let b = self.data[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    num_reader!(u16, u16, 2);
    num_reader!(u32, u32, 4);
    num_reader!(u64, u64, 8);
    num_reader!(i16, i16, 2);
    num_reader!(i32, i32, 4);
    num_reader!(f32, f32, 4);
    num_reader!(f64, f64, 8);

    /// A u16 that must be present (inside a started field).
    #[inline]
    pub fn u16_more(&mut self) -> Result<u16, DecodeErr> {
        let b = self.take_more(2)?;
        Ok(self.endian.u16([b[0], b[1]]))
    }
}

/// Appends fields to a record body in a chosen byte order.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The body written so far.
    pub buf: Vec<u8>,
    endian: Endian,
}

macro_rules! num_writer {
    ($name:ident, $t:ty) => {
        /// Appends one number.
        #[inline]
        pub fn $name(&mut self, v: $t) {
            match self.endian {
                Endian::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
                Endian::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
            }
        }
    };
}

impl Encoder {
    /// An empty encoder.
    pub fn new(endian: Endian) -> Self {
        Encoder {
            buf: Vec::with_capacity(256),
            endian,
        }
    }

    /// Byte order in use.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Appends one byte.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    num_writer!(u16, u16);
    num_writer!(u32, u32);
    num_writer!(u64, u64);
    num_writer!(i16, i16);
    num_writer!(i32, i32);
    num_writer!(f32, f32);
    num_writer!(f64, f64);

    /// Appends raw bytes.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a U1-length-prefixed string (Cn/Bn), cut to 255 bytes.
    pub fn short_str(&mut self, b: &[u8]) {
        let n = b.len().min(255);
        self.buf.push(n as u8);
        self.buf.extend_from_slice(&b[..n]);
    }
}
