//! Typed errors of the STDF codec.

use std::io;

/// Every failure the reader, writer and exporter can report.
///
/// Decoding errors carry the byte offset of the offending record header in the
/// (decompressed) input and the record type, so a bad file can be located.
#[derive(Debug, thiserror::Error)]
pub enum StdfError {
    /// The input holds no bytes at all.
    #[error("empty input: an STDF file must start with a FAR record")]
    Empty,
    /// The first record is not a well-formed FAR (type 0, sub 10, REC_LEN 2).
    #[error(
        "byte {offset}: not an STDF V4 file: first record is {found}, expected FAR (0,10) with REC_LEN 2"
    )]
    NotFar {
        /// Byte offset of the record header.
        offset: u64,
        /// Description of what was found.
        found: String,
    },
    /// FAR CPU_TYPE is not a byte order this codec can read, or disagrees with REC_LEN.
    #[error(
        "byte {offset}: FAR CPU_TYPE {cpu_type} is unsupported or contradicts the byte order of REC_LEN ({endian})"
    )]
    BadCpuType {
        /// Byte offset of the FAR header.
        offset: u64,
        /// CPU_TYPE found.
        cpu_type: u8,
        /// Byte order detected from REC_LEN.
        endian: &'static str,
    },
    /// FAR STDF_VER is not 4.
    #[error("byte {offset}: FAR STDF_VER {version} is not 4")]
    BadVersion {
        /// Byte offset of the FAR header.
        offset: u64,
        /// STDF_VER found.
        version: u8,
    },
    /// The input ends inside a 4-byte record header.
    #[error("byte {offset}: input ends inside a record header ({available} of 4 bytes present)")]
    TruncatedHeader {
        /// Byte offset where the header starts.
        offset: u64,
        /// Bytes present.
        available: usize,
    },
    /// The input ends inside a record body.
    #[error(
        "byte {offset}: {rec} record truncated: REC_LEN is {len} but only {available} bytes follow"
    )]
    TruncatedRecord {
        /// Byte offset of the record header.
        offset: u64,
        /// Record type name (e.g. `PTR`, or `typ/sub` for unknown types).
        rec: String,
        /// REC_LEN from the header.
        len: u16,
        /// Body bytes present.
        available: usize,
    },
    /// A field's encoded length runs past the end of its record.
    #[error("byte {offset}: {rec} field {field} runs past the end of the record (REC_LEN {len})")]
    FieldOverrun {
        /// Byte offset of the record header.
        offset: u64,
        /// Record type name.
        rec: &'static str,
        /// Field name.
        field: &'static str,
        /// REC_LEN from the header.
        len: u16,
    },
    /// A record is longer than its fields: REC_LEN is wrong (or the record
    /// carries data this codec does not know; read with `strict: false` to ignore it).
    #[error(
        "byte {offset}: {rec} record has {extra} bytes after its last field (REC_LEN {len}): wrong record length?"
    )]
    TrailingBytes {
        /// Byte offset of the record header.
        offset: u64,
        /// Record type name.
        rec: &'static str,
        /// Bytes left over.
        extra: usize,
        /// REC_LEN from the header.
        len: u16,
    },
    /// A record type that STDF V4/V4-2007 does not define (and that is not a
    /// user-defined type 180/181): in a strict read this means misframing.
    #[error(
        "byte {offset}: record type ({typ},{sub}) with REC_LEN {len} is not defined by STDF V4 (corrupt length before it?)"
    )]
    UnknownRecordType {
        /// Byte offset of the record header.
        offset: u64,
        /// REC_TYP.
        typ: u8,
        /// REC_SUB.
        sub: u8,
        /// REC_LEN.
        len: u16,
    },
    /// A GDR carries a V*n type code outside the STDF V4 set.
    #[error("byte {offset}: GDR field {index} has unknown V*n type code {code}")]
    BadGdrCode {
        /// Byte offset of the record header.
        offset: u64,
        /// Index of the generic field.
        index: usize,
        /// The type code.
        code: u8,
    },
    /// The input ended without the MRR that closes every complete STDF file.
    #[error(
        "byte {offset}: input ends after {records} records without an MRR (file truncated?); last record {last}"
    )]
    MissingMrr {
        /// Byte offset of the end of input.
        offset: u64,
        /// Records read.
        records: u64,
        /// Name of the last record read.
        last: String,
    },
    /// A record body exceeds the 65,535 bytes REC_LEN can express.
    #[error("{rec} record body of {len} bytes does not fit REC_LEN (max 65535)")]
    RecordTooLong {
        /// Record type name.
        rec: &'static str,
        /// Body length.
        len: usize,
    },
    /// Reading the input failed.
    #[error("byte {offset}: read error: {source}")]
    Io {
        /// Offset reached when the error happened.
        offset: u64,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing output failed.
    #[error("writing {path}: {source}")]
    Output {
        /// Output path or description.
        path: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// Arrow/Parquet encoding failed.
    #[error("exporting table {table}: {message}")]
    Export {
        /// Table name.
        table: String,
        /// Error text from arrow/parquet.
        message: String,
    },
}

impl StdfError {
    /// Byte offset in the input the error refers to, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            StdfError::NotFar { offset, .. }
            | StdfError::BadCpuType { offset, .. }
            | StdfError::BadVersion { offset, .. }
            | StdfError::TruncatedHeader { offset, .. }
            | StdfError::TruncatedRecord { offset, .. }
            | StdfError::FieldOverrun { offset, .. }
            | StdfError::BadGdrCode { offset, .. }
            | StdfError::TrailingBytes { offset, .. }
            | StdfError::UnknownRecordType { offset, .. }
            | StdfError::MissingMrr { offset, .. }
            | StdfError::Io { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = StdfError> = std::result::Result<T, E>;
