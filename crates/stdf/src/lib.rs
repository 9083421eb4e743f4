//! STDF V4 codec: a streaming, zero-copy reader for every record type, a writer,
//! a synthetic file generator, and export to Arrow, Parquet and CSV.
//!
//! ```no_run
//! use stdf::{StdfReader, Record};
//! let mut r = stdf::open(std::path::Path::new("lot.stdf"))?;
//! while let Some(rec) = r.next_record()? {
//!     if let Record::Ptr(p) = rec {
//!         println!("{:?} {:?}", p.test_num, p.result);
//!     }
//! }
//! # Ok::<(), stdf::StdfError>(())
//! ```

#[macro_use]
mod record_macro;

pub mod codec;
pub mod error;
pub mod export;
pub mod fuzz_target;
pub mod generate;
pub mod kinds;
pub mod reader;
pub mod records;
pub mod writer;

pub use codec::Endian;
pub use error::{Result, StdfError};
pub use export::{ConvertOptions, Format, Layout, Stats, convert, convert_path};
pub use kinds::{Dn, GenValue};
pub use reader::{ReaderOptions, StdfReader, decompress, open};
pub use records::*;
pub use writer::StdfWriter;
