//! Export of STDF to Arrow record batches, Parquet and CSV.
//!
//! Two layouts: `records` (one table per record type, `<dir>/<TYPE>.parquet`)
//! and `measurements` (one row per test result with its part's context,
//! `<dir>/measurements.parquet`).

pub mod arrow_kinds;
pub mod measurements;
pub mod sink;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Result, StdfError};
use crate::reader::{ReaderOptions, StdfReader, decompress};
use crate::records::RecordColumns;

pub use measurements::measurements_schema;
pub use sink::{BatchSink, FileSink, MemorySink, ParquetCompression};

/// Which tables to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One table per record type.
    Records,
    /// One row per test result with part context.
    Measurements,
    /// Both.
    #[default]
    Both,
}

impl Layout {
    fn records(self) -> bool {
        matches!(self, Layout::Records | Layout::Both)
    }
    fn measurements(self) -> bool {
        matches!(self, Layout::Measurements | Layout::Both)
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Parquet files.
    #[default]
    Parquet,
    /// CSV files with a header row.
    Csv,
    /// Arrow batches built in memory and dropped (for measuring decode speed).
    Memory,
}

/// Options of [`convert`].
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Tables to produce.
    pub layout: Layout,
    /// Output format.
    pub format: Format,
    /// Parquet compression (zstd level 1 by default).
    pub compression: ParquetCompression,
    /// Rows per Arrow batch (bounds memory per table).
    pub batch_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Reader options (e.g. whether a missing MRR is an error).
    pub reader: ReaderOptions,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            layout: Layout::Both,
            format: Format::Parquet,
            compression: ParquetCompression::Zstd(1),
            batch_rows: 65_536,
            row_group_rows: 262_144,
            reader: ReaderOptions::default(),
        }
    }
}

/// What a conversion read and wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Bytes of (decompressed) STDF read.
    pub bytes_in: u64,
    /// Records read per type name.
    pub records: BTreeMap<String, u64>,
    /// Rows written per output table (`PTR`, ..., `measurements`).
    pub rows: BTreeMap<String, u64>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn flush(
    rc: &mut RecordColumns,
    table: &str,
    sink: &mut dyn BatchSink,
    stats: &mut Stats,
) -> Result<()> {
    let batch = rc.finish(table).map_err(|e| StdfError::Export {
        table: table.into(),
        message: e.to_string(),
    })?;
    if let Some(b) = batch {
        *stats.rows.entry(table.to_string()).or_default() += b.num_rows() as u64;
        sink.write(table, b)?;
    }
    Ok(())
}

fn flush_meas(
    m: &mut measurements::Measurements,
    sink: &mut dyn BatchSink,
    stats: &mut Stats,
) -> Result<()> {
    if m.rows == 0 {
        return Ok(());
    }
    let b = m.finish().map_err(|e| StdfError::Export {
        table: "measurements".into(),
        message: e.to_string(),
    })?;
    *stats.rows.entry("measurements".into()).or_default() += b.num_rows() as u64;
    sink.write("measurements", b)
}

/// Streams every record of `reader` into Arrow batches handed to `sink`.
pub fn convert_reader<R: Read>(
    reader: &mut StdfReader<R>,
    sink: &mut dyn BatchSink,
    opts: &ConvertOptions,
) -> Result<Stats> {
    let t0 = Instant::now();
    let mut stats = Stats::default();
    let mut rc = opts.layout.records().then(RecordColumns::new);
    let mut meas = opts
        .layout
        .measurements()
        .then(measurements::Measurements::new);
    let batch_rows = opts.batch_rows.max(1);
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_name: &'static str = "";
    let mut last_count: u64 = 0;
    while let Some((off, rec)) = reader.next_with_offset()? {
        let name = rec.name();
        // Runs of one type are common (PTR, PTR, ...): count them without a map look-up.
        if name == last_name {
            last_count += 1;
        } else {
            if last_count > 0 {
                *counts.entry(last_name).or_default() += last_count;
            }
            last_name = name;
            last_count = 1;
        }
        if let Some(rc) = rc.as_mut() {
            let (table, rows) = rc.push(off, &rec);
            if rows >= batch_rows {
                flush(rc, table, sink, &mut stats)?;
            }
        }
        if let Some(m) = meas.as_mut()
            && m.push(&rec)
            && m.rows >= batch_rows
        {
            flush_meas(m, sink, &mut stats)?;
        }
    }
    if last_count > 0 {
        *counts.entry(last_name).or_default() += last_count;
    }
    if let Some(rc) = rc.as_mut() {
        for table in rc.pending() {
            flush(rc, table, sink, &mut stats)?;
        }
    }
    if let Some(m) = meas.as_mut() {
        m.flush_orphans();
        flush_meas(m, sink, &mut stats)?;
    }
    stats.files = sink.finish()?;
    stats.records = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    stats.bytes_in = reader.bytes_read();
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(stats)
}

/// Converts an STDF stream (plain, gzip or bzip2, detected from content) into
/// files under `out_dir` (or into memory for [`Format::Memory`]).
pub fn convert<R: Read + Send>(input: R, out_dir: &Path, opts: &ConvertOptions) -> Result<Stats> {
    let input = decompress(input).map_err(|source| StdfError::Io { offset: 0, source })?;
    let mut reader = StdfReader::with_options(input, opts.reader);
    match opts.format {
        Format::Memory => convert_reader(&mut reader, &mut MemorySink::default(), opts),
        Format::Parquet | Format::Csv => {
            let mut sink = FileSink::new(
                out_dir,
                opts.format == Format::Csv,
                opts.compression,
                opts.row_group_rows,
            )?;
            convert_reader(&mut reader, &mut sink, opts)
        }
    }
}

/// [`convert`] on a file path.
pub fn convert_path(input: &Path, out_dir: &Path, opts: &ConvertOptions) -> Result<Stats> {
    let f = std::fs::File::open(input).map_err(|source| StdfError::Io { offset: 0, source })?;
    convert(f, out_dir, opts)
}
