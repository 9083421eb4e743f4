//! Streaming STDF reader: frames records from any `Read`, in bounded memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::codec::Endian;
use crate::error::{Result, StdfError};
use crate::records::{RawRecord, Record, type_name};

/// Largest record on disk: 4-byte header plus a REC_LEN of 65,535.
const MAX_RECORD: usize = 4 + u16::MAX as usize;
/// Read buffer size; always holds at least one whole record.
const BUF_SIZE: usize = 1 << 20;

/// Options of [`StdfReader`].
#[derive(Debug, Clone, Copy)]
pub struct ReaderOptions {
    /// Fail with [`StdfError::MissingMrr`] when the input ends without an MRR
    /// (the sign of a truncated file). Default true.
    pub require_mrr: bool,
    /// Reject records with bytes after their last field (a wrong REC_LEN).
    /// Default true; false ignores such bytes, as pystdf does.
    pub strict: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            require_mrr: true,
            strict: true,
        }
    }
}

/// Reads STDF V4 records one at a time. Memory use is the 1 MiB buffer,
/// whatever the file size; decoded records borrow from it.
#[derive(Debug)]
pub struct StdfReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Input offset of `buf[0]`.
    base: u64,
    eof: bool,
    endian: Option<Endian>,
    records: u64,
    last: (u8, u8),
    seen_mrr: bool,
    done: bool,
    opts: ReaderOptions,
}

impl<R: Read> StdfReader<R> {
    /// A reader with default options.
    pub fn new(inner: R) -> Self {
        Self::with_options(inner, ReaderOptions::default())
    }

    /// A reader with explicit options.
    pub fn with_options(inner: R, opts: ReaderOptions) -> Self {
        StdfReader {
            inner,
            buf: vec![0; BUF_SIZE.max(2 * MAX_RECORD)],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            endian: None,
            records: 0,
            last: (0, 0),
            seen_mrr: false,
            done: false,
            opts,
        }
    }

    /// Byte order, known once the FAR has been read.
    pub fn endian(&self) -> Option<Endian> {
        self.endian
    }

    /// Records framed so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Bytes of input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes at least `n` bytes available from `start` unless the input ends first.
    fn fill(&mut self, n: usize) -> Result<()> {
        if self.end - self.start >= n || self.eof {
            return Ok(());
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(StdfError::Io {
                        offset: self.base + self.end as u64,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Frames the next record, or `None` at the clean end of the input.
    pub fn next_raw(&mut self) -> Result<Option<RawRecord<'_>>> {
        let Some(f) = self.frame_checked()? else {
            return Ok(None);
        };
        Ok(Some(self.raw_at(f)))
    }

    fn raw_at(&self, (pos, typ, sub, len): (usize, u8, u8, usize)) -> RawRecord<'_> {
        RawRecord {
            offset: self.base + (pos - len - 4) as u64,
            typ,
            sub,
            body: &self.buf[pos - len..pos],
        }
    }

    fn frame_checked(&mut self) -> Result<Option<(usize, u8, u8, usize)>> {
        if self.done {
            return Ok(None);
        }
        let res = self.frame();
        if res.is_err() {
            self.done = true;
        }
        res
    }

    /// Returns (end index of body, typ, sub, len) of the next record.
    fn frame(&mut self) -> Result<Option<(usize, u8, u8, usize)>> {
        let offset = self.bytes_read();
        self.fill(4)?;
        let avail = self.end - self.start;
        if avail == 0 {
            self.done = true;
            if self.records == 0 {
                return Err(StdfError::Empty);
            }
            if self.opts.require_mrr && !self.seen_mrr {
                return Err(StdfError::MissingMrr {
                    offset,
                    records: self.records,
                    last: type_name(self.last.0, self.last.1),
                });
            }
            return Ok(None);
        }
        if avail < 4 {
            return Err(StdfError::TruncatedHeader {
                offset,
                available: avail,
            });
        }
        let h = &self.buf[self.start..self.start + 4];
        let (lb, typ, sub) = ([h[0], h[1]], h[2], h[3]);
        let endian = match self.endian {
            Some(e) => e,
            None => self.detect(offset, lb, typ, sub)?,
        };
        let len = endian.u16(lb) as usize;
        self.fill(4 + len)?;
        let avail = self.end - self.start - 4;
        if avail < len {
            return Err(StdfError::TruncatedRecord {
                offset,
                rec: type_name(typ, sub),
                len: len as u16,
                available: avail,
            });
        }
        if self.records == 0 {
            self.check_far(offset, endian, &self.buf[self.start + 4..self.start + 6])?;
        }
        self.start += 4 + len;
        self.records += 1;
        self.last = (typ, sub);
        if (typ, sub) == (1, 20) {
            self.seen_mrr = true;
        }
        Ok(Some((self.start, typ, sub, len)))
    }

    fn detect(&mut self, offset: u64, lb: [u8; 2], typ: u8, sub: u8) -> Result<Endian> {
        let endian = if lb == [0, 2] {
            Endian::Big
        } else if lb == [2, 0] {
            Endian::Little
        } else {
            return Err(StdfError::NotFar {
                offset,
                found: format!(
                    "header bytes {:02x} {:02x} {typ} {sub} (REC_LEN is 2 in neither byte order)",
                    lb[0], lb[1]
                ),
            });
        };
        if (typ, sub) != (0, 10) {
            return Err(StdfError::NotFar {
                offset,
                found: format!("record type ({typ},{sub})"),
            });
        }
        self.endian = Some(endian);
        Ok(endian)
    }

    fn check_far(&self, offset: u64, endian: Endian, body: &[u8]) -> Result<()> {
        let (cpu_type, version) = (body[0], body[1]);
        // CPU_TYPE 1 = Sun (big-endian), 2 = PC (little-endian); 0 (VAX) floats are not IEEE.
        if cpu_type != endian.cpu_type() {
            return Err(StdfError::BadCpuType {
                offset,
                cpu_type,
                endian: endian.name(),
            });
        }
        if version != 4 {
            return Err(StdfError::BadVersion { offset, version });
        }
        Ok(())
    }

    /// Frames and decodes the next record.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        let Some(f) = self.frame_checked()? else {
            return Ok(None);
        };
        let endian = self.endian.unwrap_or(Endian::Big);
        let raw = self.raw_at(f);
        Record::decode_with(&raw, endian, self.opts.strict).map(Some)
    }

    /// Frames and decodes the next record, with the byte offset of its header.
    pub fn next_with_offset(&mut self) -> Result<Option<(u64, Record<'_>)>> {
        let Some(f) = self.frame_checked()? else {
            return Ok(None);
        };
        let endian = self.endian.unwrap_or(Endian::Big);
        let raw = self.raw_at(f);
        Record::decode_with(&raw, endian, self.opts.strict).map(|r| Some((raw.offset, r)))
    }

    /// Calls `f` with the offset and decoded value of every record, until the
    /// end of input or the first error.
    pub fn for_each<F>(&mut self, mut f: F) -> Result<()>
    where
        F: FnMut(u64, &Record<'_>) -> Result<()>,
    {
        while let Some((off, rec)) = self.next_with_offset()? {
            f(off, &rec)?;
        }
        Ok(())
    }
}

/// Wraps `input` in a gzip or bzip2 decoder when its first bytes say so.
pub fn decompress<'a, R: Read + Send + 'a>(input: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut br = BufReader::with_capacity(1 << 16, input);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if head.starts_with(b"BZh") {
        Ok(Box::new(bzip2::read::MultiBzDecoder::new(br)))
    } else {
        Ok(Box::new(br))
    }
}

/// Opens a file (plain, `.gz` or `.bz2`, detected from content) for reading.
pub fn open(path: &Path) -> Result<StdfReader<Box<dyn Read + Send>>> {
    let f = File::open(path).map_err(|source| StdfError::Io { offset: 0, source })?;
    let r = decompress(f).map_err(|source| StdfError::Io { offset: 0, source })?;
    Ok(StdfReader::new(r))
}
