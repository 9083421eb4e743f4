//! Corruption suite: truncations at every record boundary and mid-record,
//! flipped length bytes, wrong CPU_TYPE and empty input each give a typed error
//! (with offset and record type), never a panic or a hang.

mod common;

use std::time::{Duration, Instant};

use stdf::export::MemorySink;
use stdf::{ConvertOptions, Endian, StdfError, StdfReader};

/// Reads everything; returns the first error.
fn read_to_end(bytes: &[u8]) -> Result<u64, StdfError> {
    let mut r = StdfReader::new(bytes);
    let mut n = 0;
    while r.next_record()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn boundaries(bytes: &[u8]) -> Vec<(u64, (u8, u8), usize)> {
    common::read_all(bytes)
        .expect("clean file")
        .into_iter()
        .map(|(off, t, body)| (off, t, body.len()))
        .collect()
}

fn check_truncations(bytes: &[u8], step: usize) {
    let recs = boundaries(bytes);
    let t0 = Instant::now();
    for (i, &(off, (typ, sub), len)) in recs.iter().enumerate().step_by(step) {
        let off = off as usize;
        // At the boundary before record i: a shorter but well-framed file,
        // which lacks its MRR (except for the empty file).
        let e = read_to_end(&bytes[..off]).expect_err("truncated at boundary");
        if off == 0 {
            assert!(matches!(e, StdfError::Empty), "{e}");
        } else {
            assert!(
                matches!(e, StdfError::MissingMrr { offset, .. } if offset == off as u64),
                "{e}"
            );
        }
        // Inside the header.
        for cut in 1..4 {
            let e = read_to_end(&bytes[..off + cut]).expect_err("cut in header");
            assert!(
                matches!(e, StdfError::TruncatedHeader { offset, available } if offset == off as u64 && available == cut),
                "{e}"
            );
        }
        // Inside the body: offset and record type are reported.
        if len > 0 {
            let cut = off + 4 + len / 2;
            let e = read_to_end(&bytes[..cut]).expect_err("cut in body");
            let name = stdf::records::type_name(typ, sub);
            match &e {
                StdfError::TruncatedRecord { offset, rec, .. } => {
                    assert_eq!(*offset, off as u64);
                    assert_eq!(rec, &name);
                }
                // The FAR is validated before its body is framed.
                other if i == 0 => assert!(
                    matches!(other, StdfError::TruncatedRecord { .. }),
                    "{other}"
                ),
                other => panic!("record {i} ({name}): {other}"),
            }
            assert!(e.to_string().contains(&format!("byte {off}")), "{e}");
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "too slow: {:?}",
        t0.elapsed()
    );
}

#[test]
fn truncation_at_every_record_boundary_and_mid_record_of_generated_files() {
    for endian in [Endian::Big, Endian::Little] {
        let bytes = common::generated(20_000, endian, 8);
        check_truncations(&bytes, 1);
    }
}

#[test]
fn truncation_of_real_samples_at_sampled_boundaries() {
    for path in common::samples() {
        let bytes = std::fs::read(&path).unwrap();
        check_truncations(&bytes, 1499);
    }
}

#[test]
fn flipped_length_bytes_give_a_typed_error() {
    let bytes = common::generated(20_000, Endian::Little, 8);
    let recs = boundaries(&bytes);
    let mut errors = 0;
    for &(off, _, _) in recs.iter().skip(1) {
        for (byte, mask) in [(0usize, 0xffu8), (1, 0xff), (1, 0x80), (0, 0x01)] {
            let mut bad = bytes.clone();
            bad[off as usize + byte] ^= mask;
            let t0 = Instant::now();
            let res = read_to_end(&bad);
            assert!(t0.elapsed() < Duration::from_secs(5));
            // A changed length misframes the rest of the file: it must be reported.
            match res {
                Err(e) => {
                    assert!(e.offset().is_some(), "{e}");
                    errors += 1;
                }
                Ok(n) => {
                    panic!("flip {mask:#x} of byte {byte} at {off} went unnoticed ({n} records)")
                }
            }
        }
    }
    assert_eq!(errors, (recs.len() - 1) * 4);
}

#[test]
fn wrong_cpu_type_is_rejected() {
    for (endian, wrong) in [
        (Endian::Big, [0u8, 2, 3, 255]),
        (Endian::Little, [0, 1, 3, 255]),
    ] {
        let mut bytes = common::generated(5_000, endian, 4);
        for cpu in wrong {
            bytes[4] = cpu;
            match read_to_end(&bytes) {
                Err(StdfError::BadCpuType {
                    offset: 0,
                    cpu_type,
                    ..
                }) => assert_eq!(cpu_type, cpu),
                other => panic!("CPU_TYPE {cpu}: {other:?}"),
            }
        }
    }
}

#[test]
fn wrong_version_and_non_stdf_input_are_rejected() {
    let mut bytes = common::generated(5_000, Endian::Big, 4);
    bytes[5] = 3;
    assert!(matches!(
        read_to_end(&bytes),
        Err(StdfError::BadVersion { version: 3, .. })
    ));
    assert!(matches!(
        read_to_end(b"PAR1 this is not stdf"),
        Err(StdfError::NotFar { .. })
    ));
    // Right length, wrong record type.
    assert!(matches!(
        read_to_end(&[0, 2, 1, 10, 1, 4]),
        Err(StdfError::NotFar { .. })
    ));
}

#[test]
fn zero_length_input_is_an_empty_error() {
    assert!(matches!(read_to_end(&[]), Err(StdfError::Empty)));
    let dir = std::env::temp_dir().join(format!("stdf-empty-{}", std::process::id()));
    let res = stdf::convert(&[][..], &dir, &ConvertOptions::default());
    assert!(matches!(res, Err(StdfError::Empty)), "{res:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_conversion_leaves_no_output_files() {
    let bytes = std::fs::read(common::sample("demofile.stdf")).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let dir = std::env::temp_dir().join(format!("stdf-atomic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = ConvertOptions {
        batch_rows: 1000,
        ..ConvertOptions::default()
    };
    let err = stdf::convert(cut, &dir, &opts).expect_err("truncated input");
    assert!(err.offset().is_some());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_of_corrupt_input_into_memory_reports_error() {
    let bytes = common::generated(20_000, Endian::Big, 8);
    let mut bad = bytes.clone();
    bad.truncate(bytes.len() - 3);
    let mut r = StdfReader::new(&bad[..]);
    let err = stdf::export::convert_reader(
        &mut r,
        &mut MemorySink::default(),
        &ConvertOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StdfError::TruncatedRecord { .. }), "{err}");
}
