//! Round trip: read → write → read is identical, on the real samples and on
//! generated files with every record type, both byte orders and records that
//! leave optional trailing fields out.

mod common;

use stdf::codec::{Cursor, Encoder};
use stdf::generate::every_record_type;
use stdf::{Endian, RawRecord, Record, StdfReader, StdfWriter};

fn roundtrip_bytes(bytes: &[u8]) {
    let again = common::rewrite(bytes).expect("rewrite");
    // Every record decodes and re-encodes to the very same bytes.
    assert_eq!(again.len(), bytes.len(), "re-encoded length differs");
    assert!(again == bytes, "re-encoded bytes differ");
    // And reading the rewritten file gives the same records.
    let mut a = StdfReader::new(bytes);
    let mut b = StdfReader::new(&again[..]);
    let mut n = 0;
    loop {
        let ra = a
            .next_record()
            .expect("read original")
            .map(|r| format!("{r:?}"));
        let rb = b
            .next_record()
            .expect("read rewritten")
            .map(|r| format!("{r:?}"));
        assert_eq!(ra, rb);
        if ra.is_none() {
            break;
        }
        n += 1;
    }
    assert!(n > 10);
}

#[test]
fn real_samples_round_trip_byte_for_byte() {
    for path in common::samples() {
        let bytes = std::fs::read(&path).expect("read sample");
        roundtrip_bytes(&bytes);
    }
}

#[test]
fn generated_files_round_trip_in_both_byte_orders() {
    for endian in [Endian::Big, Endian::Little] {
        let bytes = common::generated(200_000, endian, 30);
        roundtrip_bytes(&bytes);
        let first_len = if endian == Endian::Big {
            [0, 2]
        } else {
            [2, 0]
        };
        assert_eq!(bytes[..2], first_len);
    }
}

#[test]
fn every_record_type_survives_write_and_read_in_both_byte_orders() {
    let records = every_record_type();
    let mut names: Vec<&str> = records.iter().map(Record::name).collect();
    names.push("FAR");
    for n in stdf::RECORD_NAMES {
        assert!(names.contains(n), "every_record_type lacks {n}");
    }
    for endian in [Endian::Big, Endian::Little] {
        let mut w = StdfWriter::new(Vec::new(), endian);
        w.write_far().unwrap();
        for r in &records {
            w.write(r).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut rd = StdfReader::new(&bytes[..]);
        assert!(matches!(rd.next_record().unwrap(), Some(Record::Far(_))));
        for want in &records {
            let got = rd.next_record().unwrap().expect("record");
            assert_eq!(&got, want);
        }
        assert!(rd.next_record().unwrap().is_none());
        assert_eq!(rd.endian(), Some(endian));
    }
}

#[test]
fn every_prefix_of_every_record_is_a_valid_short_record_or_a_typed_error() {
    // Cutting a record body anywhere either drops trailing fields (which must
    // come back as None and re-encode to the same prefix) or cuts a field in
    // half (which must be a FieldOverrun/GDR error).
    let mut short_records = 0;
    for endian in [Endian::Big, Endian::Little] {
        for rec in every_record_type() {
            let mut enc = Encoder::new(endian);
            rec.encode_body(&mut enc);
            let body = enc.buf.clone();
            let (typ, sub) = rec.type_sub();
            for cut in 0..=body.len() {
                let raw = RawRecord {
                    offset: 0,
                    typ,
                    sub,
                    body: &body[..cut],
                };
                match Record::decode(&raw, endian) {
                    Ok(short) => {
                        let mut e2 = Encoder::new(endian);
                        short.encode_body(&mut e2);
                        assert_eq!(e2.buf, &body[..cut], "{} cut at {cut}", rec.name());
                        short_records += 1;
                    }
                    Err(e) => {
                        assert!(
                            matches!(
                                e,
                                stdf::StdfError::FieldOverrun { .. }
                                    | stdf::StdfError::BadGdrCode { .. }
                            ),
                            "{}: {e}",
                            rec.name()
                        );
                    }
                }
            }
            let _ = Cursor::new(&body, endian);
        }
    }
    assert!(short_records > 200, "{short_records}");
}

#[test]
fn short_ptr_decodes_missing_fields_as_none() {
    let mut w = StdfWriter::new(Vec::new(), Endian::Little);
    w.write_far().unwrap();
    let ptr = stdf::Ptr {
        test_num: Some(5),
        head_num: Some(1),
        site_num: Some(2),
        test_flg: Some(0),
        parm_flg: Some(0),
        result: Some(0.5),
        ..Default::default()
    };
    w.write(&Record::Ptr(ptr.clone())).unwrap();
    let bytes = w.finish().unwrap();
    // FAR (6 bytes) + PTR header (4) + 4+1+1+1+1+4 body bytes.
    assert_eq!(bytes.len(), 6 + 4 + 12);
    let mut r = StdfReader::new(&bytes[..]);
    r.next_record().unwrap();
    match r.next_record().unwrap() {
        Some(Record::Ptr(p)) => {
            assert_eq!(p, ptr);
            assert_eq!(p.test_txt, None);
            assert_eq!(p.lo_limit, None);
        }
        other => panic!("expected PTR, got {other:?}"),
    }
}
