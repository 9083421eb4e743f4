//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use stdf::generate::{GenOptions, generate};
use stdf::{Endian, Record, StdfReader, StdfWriter};

/// Path of a real sample file (`../shared/data/stdf/NAME` from the workspace root).
pub fn sample(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join("../shared/data/stdf").join(name);
    assert!(
        p.exists(),
        "sample file {} missing (CI keeps ../shared beside the checkout)",
        p.display()
    );
    p
}

/// Both real sample files.
pub fn samples() -> Vec<PathBuf> {
    vec![sample("demofile.stdf"), sample("lot2.stdf")]
}

/// (offset, (type, sub), body) of one framed record.
pub type Framed = (u64, (u8, u8), Vec<u8>);

/// Every record's offset, (type, sub) and body.
pub fn read_all(bytes: &[u8]) -> stdf::Result<Vec<Framed>> {
    let mut r = StdfReader::new(bytes);
    let mut out = Vec::new();
    while let Some(raw) = r.next_raw()? {
        out.push((raw.offset, (raw.typ, raw.sub), raw.body.to_vec()));
    }
    Ok(out)
}

/// Reads every record and writes it back with our writer in the byte order of its FAR.
pub fn rewrite(bytes: &[u8]) -> stdf::Result<Vec<u8>> {
    let mut r = StdfReader::new(bytes);
    let mut w: Option<StdfWriter<Vec<u8>>> = None;
    while let Some(rec) = r.next_record()? {
        if let (None, Record::Far(f)) = (&w, &rec) {
            let e = if f.cpu_type == Some(2) {
                Endian::Little
            } else {
                Endian::Big
            };
            w = Some(StdfWriter::new(Vec::new(), e));
        }
        w.as_mut().expect("writer exists after FAR").write(&rec)?;
    }
    w.expect("file had a FAR").finish()
}

/// A generated file of about `bytes` bytes.
pub fn generated(bytes: u64, endian: Endian, tests_per_part: u32) -> Vec<u8> {
    let mut out = Vec::new();
    generate(
        &mut out,
        &GenOptions {
            target_bytes: bytes,
            endian,
            seed: 7,
            tests_per_part,
            sites: 2,
            parts_per_wafer: 6,
        },
    )
    .expect("generate");
    out
}
