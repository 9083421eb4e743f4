//! The function every fuzzer drives: the whole read path on untrusted bytes.

use crate::export::{ConvertOptions, MemorySink, convert_reader};
use crate::reader::{ReaderOptions, StdfReader};
use crate::writer::StdfWriter;
use crate::{Endian, Record, StdfError};

/// Runs framing, decoding, re-encoding and both export layouts over `data`.
/// Returns the error the reader reported, if any. Panics only on a codec bug.
pub fn fuzz_one(data: &[u8]) -> Result<u64, StdfError> {
    // Decode every record and re-encode it; a decoded record must re-encode.
    let mut r = StdfReader::with_options(
        data,
        ReaderOptions {
            require_mrr: false,
            strict: false,
        },
    );
    let mut w = StdfWriter::new(std::io::sink(), Endian::Little);
    let mut n = 0u64;
    loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                if !matches!(rec, Record::Unknown(_)) {
                    // Records from a 64 KiB body re-encode within REC_LEN except
                    // arrays that the writer pads; an error here is fine, a panic is not.
                    let _ = w.write(&rec);
                }
                let _ = rec.to_json();
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                if e.offset().is_none() && !matches!(e, StdfError::Empty) {
                    panic!("error without offset: {e}");
                }
                break;
            }
        }
    }
    let opts = ConvertOptions {
        batch_rows: 64,
        ..ConvertOptions::default()
    };
    let mut r = StdfReader::new(data);
    convert_reader(&mut r, &mut MemorySink::default(), &opts).map(|_| n)
}
