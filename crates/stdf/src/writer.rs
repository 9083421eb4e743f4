//! STDF writer: frames records with a header in a chosen byte order.

use std::io::Write;

use crate::codec::{Encoder, Endian};
use crate::error::{Result, StdfError};
use crate::records::{Far, Record};

/// Writes STDF records to any `Write`.
#[derive(Debug)]
pub struct StdfWriter<W: Write> {
    out: W,
    enc: Encoder,
    bytes: u64,
    records: u64,
}

impl<W: Write> StdfWriter<W> {
    /// A writer in `endian` byte order; the caller writes the FAR first
    /// (see [`StdfWriter::write_far`]).
    pub fn new(out: W, endian: Endian) -> Self {
        StdfWriter {
            out,
            enc: Encoder::new(endian),
            bytes: 0,
            records: 0,
        }
    }

    /// Byte order in use.
    pub fn endian(&self) -> Endian {
        self.enc.endian()
    }

    /// Writes the FAR whose CPU_TYPE matches the writer's byte order (STDF_VER 4).
    pub fn write_far(&mut self) -> Result<()> {
        let far = Far {
            cpu_type: Some(self.endian().cpu_type()),
            stdf_ver: Some(4),
        };
        self.write(&Record::Far(far))
    }

    /// Encodes and writes one record.
    pub fn write(&mut self, rec: &Record<'_>) -> Result<()> {
        self.enc.buf.clear();
        self.enc.buf.extend_from_slice(&[0, 0, 0, 0]);
        rec.encode_body(&mut self.enc);
        let len = self.enc.buf.len() - 4;
        let len16 = u16::try_from(len).map_err(|_| StdfError::RecordTooLong {
            rec: rec.name(),
            len,
        })?;
        let (typ, sub) = rec.type_sub();
        let lb = match self.enc.endian() {
            Endian::Big => len16.to_be_bytes(),
            Endian::Little => len16.to_le_bytes(),
        };
        self.enc.buf[..4].copy_from_slice(&[lb[0], lb[1], typ, sub]);
        self.out
            .write_all(&self.enc.buf)
            .map_err(|source| StdfError::Output {
                path: "STDF output".into(),
                source,
            })?;
        self.bytes += self.enc.buf.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(|source| StdfError::Output {
            path: "STDF output".into(),
            source,
        })?;
        Ok(self.out)
    }
}
