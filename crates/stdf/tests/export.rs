//! Export: Parquet/CSV tables agree with the records the reader sees, the
//! measurements layout joins each result to its part, and compressed input
//! gives the same result.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, UInt16Type, UInt32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use stdf::export::MemorySink;
use stdf::{ConvertOptions, Format, Layout, Record, StdfReader};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stdf-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn parquet_batches(path: &Path) -> Vec<arrow::record_batch::RecordBatch> {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Record counts by type, straight from the reader.
fn count_records(bytes: &[u8]) -> BTreeMap<String, u64> {
    let mut r = StdfReader::new(bytes);
    let mut m = BTreeMap::new();
    while let Some(rec) = r.next_record().unwrap() {
        *m.entry(rec.name().to_string()).or_default() += 1;
    }
    m
}

#[test]
fn records_layout_has_one_parquet_table_per_type_with_every_record() {
    let path = common::sample("demofile.stdf");
    let bytes = std::fs::read(&path).unwrap();
    let want = count_records(&bytes);
    let dir = tmpdir("records");
    let opts = ConvertOptions {
        layout: Layout::Records,
        batch_rows: 10_000,
        ..ConvertOptions::default()
    };
    let stats = stdf::convert_path(&path, &dir, &opts).unwrap();
    assert_eq!(stats.records, want);
    assert_eq!(stats.bytes_in, bytes.len() as u64);
    for (name, n) in &want {
        let batches = parquet_batches(&dir.join(format!("{name}.parquet")));
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, *n, "{name}");
    }
    // PTR values in the table equal the decoded records, in order.
    let ptr = parquet_batches(&dir.join("PTR.parquet"));
    let mut results = Vec::new();
    for b in &ptr {
        let col = b
            .column_by_name("RESULT")
            .unwrap()
            .as_primitive::<Float32Type>();
        let tn = b
            .column_by_name("TEST_NUM")
            .unwrap()
            .as_primitive::<UInt32Type>();
        for i in 0..b.num_rows() {
            results.push((tn.value(i), col.is_valid(i).then(|| col.value(i).to_bits())));
        }
    }
    let mut r = StdfReader::new(&bytes[..]);
    let mut expect = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Ptr(p) = rec {
            expect.push((p.test_num.unwrap(), p.result.map(f32::to_bits)));
        }
    }
    assert_eq!(results, expect);
    // No temporary files are left behind.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with('.'), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn measurements_layout_joins_results_to_their_part() {
    let path = common::sample("demofile.stdf");
    let bytes = std::fs::read(&path).unwrap();
    // Independent expectation: walk the records, remember results per site,
    // attach them at the PRR.
    let mut r = StdfReader::new(&bytes[..]);
    type Results = Vec<(u32, Option<u32>)>;
    let mut pending: BTreeMap<(u8, u8), Results> = BTreeMap::new();
    let mut expect: Vec<(u32, Option<u32>, Option<u16>, String)> = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        match rec {
            Record::Ptr(p) => pending
                .entry((p.head_num.unwrap(), p.site_num.unwrap()))
                .or_default()
                .push((p.test_num.unwrap(), p.result.map(f32::to_bits))),
            Record::Prr(p) => {
                for (t, v) in pending
                    .remove(&(p.head_num.unwrap(), p.site_num.unwrap()))
                    .unwrap_or_default()
                {
                    expect.push((
                        t,
                        v,
                        p.hard_bin,
                        String::from_utf8_lossy(p.part_id.unwrap_or_default()).into_owned(),
                    ));
                }
            }
            _ => {}
        }
    }
    let dir = tmpdir("meas");
    let opts = ConvertOptions {
        layout: Layout::Measurements,
        ..ConvertOptions::default()
    };
    let stats = stdf::convert_path(&path, &dir, &opts).unwrap();
    assert_eq!(stats.rows["measurements"], expect.len() as u64);
    let mut got = Vec::new();
    for b in parquet_batches(&dir.join("measurements.parquet")) {
        let tn = b
            .column_by_name("test_num")
            .unwrap()
            .as_primitive::<UInt32Type>();
        let res = b
            .column_by_name("result")
            .unwrap()
            .as_primitive::<Float32Type>();
        let hb = b
            .column_by_name("hard_bin")
            .unwrap()
            .as_primitive::<UInt16Type>();
        let pid = b.column_by_name("part_id").unwrap().as_string::<i32>();
        let lot = b.column_by_name("lot_id").unwrap().as_string::<i32>();
        assert!(lot.is_valid(0));
        for i in 0..b.num_rows() {
            got.push((
                tn.value(i),
                res.is_valid(i).then(|| res.value(i).to_bits()),
                hb.is_valid(i).then(|| hb.value(i)),
                pid.value(i).to_string(),
            ));
        }
    }
    assert_eq!(got.len(), expect.len());
    assert!(
        got == expect,
        "measurement rows differ from the PTR/PRR walk"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_and_compressed_inputs_match_plain_parquet() {
    let bytes = common::generated(300_000, stdf::Endian::Little, 40);
    let dir = tmpdir("csv");
    let opts = ConvertOptions {
        format: Format::Csv,
        ..ConvertOptions::default()
    };
    let plain = stdf::convert(&bytes[..], &dir, &opts).unwrap();
    let csv = std::fs::read_to_string(dir.join("PTR.csv")).unwrap();
    assert!(csv.starts_with("REC_OFFSET,TEST_NUM,"));
    assert_eq!(csv.lines().count() as u64, plain.rows["PTR"] + 1);
    let meas = std::fs::read_to_string(dir.join("measurements.csv")).unwrap();
    assert_eq!(meas.lines().count() as u64, plain.rows["measurements"] + 1);
    // Results rows: PTRs, 4 pins per MPR, FTRs.
    assert_eq!(
        plain.rows["measurements"],
        plain.records["PTR"] + 4 * plain.records["MPR"] + plain.records["FTR"]
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&bytes).unwrap();
    let bz = bz.finish().unwrap();
    for input in [gz, bz] {
        let mut sink = MemorySink::default();
        let r = stdf::decompress(&input[..]).unwrap();
        let mut reader = StdfReader::new(r);
        let s = stdf::export::convert_reader(&mut reader, &mut sink, &ConvertOptions::default())
            .unwrap();
        assert_eq!(s.records, plain.records);
        assert_eq!(s.rows, plain.rows);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
