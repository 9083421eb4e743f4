//! Where record batches go: Parquet or CSV files (written atomically) or memory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Result, StdfError};

/// Receives the Arrow batches of each output table.
pub trait BatchSink {
    /// Takes one batch of `table`.
    fn write(&mut self, table: &str, batch: RecordBatch) -> Result<()>;
    /// Completes every table (for files: close and move into place).
    fn finish(&mut self) -> Result<Vec<PathBuf>>;
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetCompression {
    /// zstd at the given level (default level 1).
    Zstd(i32),
    /// Snappy.
    Snappy,
    /// No compression.
    #[default]
    None,
}

enum TableWriter {
    Parquet(ArrowWriter<File>),
    Csv(arrow::csv::Writer<BufWriter<File>>),
}

struct OpenTable {
    writer: TableWriter,
    tmp: PathBuf,
    dest: PathBuf,
}

/// Writes one file per table into a directory: `<dir>/<TABLE>.parquet` or `.csv`.
/// Each file is written to a hidden temporary name and renamed when complete;
/// if conversion fails, the temporary files are removed and nothing appears.
pub struct FileSink {
    dir: PathBuf,
    csv: bool,
    compression: ParquetCompression,
    row_group_rows: usize,
    open: BTreeMap<String, OpenTable>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("dir", &self.dir)
            .field("csv", &self.csv)
            .finish()
    }
}

fn out_err(path: &Path, source: std::io::Error) -> StdfError {
    StdfError::Output {
        path: path.display().to_string(),
        source,
    }
}

fn export_err(table: &str, e: impl std::fmt::Display) -> StdfError {
    StdfError::Export {
        table: table.to_string(),
        message: e.to_string(),
    }
}

impl FileSink {
    /// A sink writing Parquet (`csv == false`) or CSV files into `dir` (created if needed).
    pub fn new(
        dir: &Path,
        csv: bool,
        compression: ParquetCompression,
        row_group_rows: usize,
    ) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| out_err(dir, e))?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            csv,
            compression,
            row_group_rows: row_group_rows.max(1),
            open: BTreeMap::new(),
        })
    }

    fn open_table(&self, table: &str, batch: &RecordBatch) -> Result<OpenTable> {
        let ext = if self.csv { "csv" } else { "parquet" };
        let dest = self.dir.join(format!("{table}.{ext}"));
        let tmp = self
            .dir
            .join(format!(".{table}.{ext}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| out_err(&tmp, e))?;
        let writer = if self.csv {
            TableWriter::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::with_capacity(1 << 20, file)),
            )
        } else {
            let compression = match self.compression {
                ParquetCompression::Zstd(l) => {
                    Compression::ZSTD(ZstdLevel::try_new(l).map_err(|e| export_err(table, e))?)
                }
                ParquetCompression::Snappy => Compression::SNAPPY,
                ParquetCompression::None => Compression::UNCOMPRESSED,
            };
            let props = WriterProperties::builder()
                .set_compression(compression)
                .set_max_row_group_row_count(Some(self.row_group_rows))
                .build();
            TableWriter::Parquet(
                ArrowWriter::try_new(file, batch.schema(), Some(props))
                    .map_err(|e| export_err(table, e))?,
            )
        };
        Ok(OpenTable { writer, tmp, dest })
    }
}

/// CSV has no nested values: list columns become text such as `[1, 2, 3]`.
fn lists_as_text(
    batch: &RecordBatch,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use std::sync::Arc;
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::List(_)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(f.data_type(), DataType::List(_)) {
            let fmt = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())?;
            let mut b = StringBuilder::new();
            for i in 0..col.len() {
                if col.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(fmt.value(i).to_string());
                }
            }
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(Arc::new(b.finish()));
        } else {
            fields.push(f.as_ref().clone());
            cols.push(col.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

impl BatchSink for FileSink {
    fn write(&mut self, table: &str, batch: RecordBatch) -> Result<()> {
        if !self.open.contains_key(table) {
            let t = self.open_table(table, &batch)?;
            self.open.insert(table.to_string(), t);
        }
        let Some(t) = self.open.get_mut(table) else {
            return Err(export_err(table, "table writer missing"));
        };
        match &mut t.writer {
            TableWriter::Parquet(w) => w.write(&batch).map_err(|e| export_err(table, e)),
            TableWriter::Csv(w) => {
                let flat = lists_as_text(&batch).map_err(|e| export_err(table, e))?;
                w.write(&flat).map_err(|e| export_err(table, e))
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        // Close every file first, then rename: a failure leaves no partial output.
        let open = std::mem::take(&mut self.open);
        let mut closed = Vec::new();
        let mut first_err = None;
        for (table, t) in open {
            let res = match t.writer {
                TableWriter::Parquet(w) => w.close().map(|_| ()).map_err(|e| export_err(&table, e)),
                TableWriter::Csv(w) => w
                    .into_inner()
                    .into_inner()
                    .map(|_| ())
                    .map_err(|e| export_err(&table, e)),
            };
            match res {
                Ok(()) if first_err.is_none() => closed.push((t.tmp, t.dest)),
                Ok(()) => {
                    let _ = fs::remove_file(&t.tmp);
                }
                Err(e) => {
                    let _ = fs::remove_file(&t.tmp);
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            for (tmp, _) in closed {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        for (tmp, dest) in closed {
            fs::rename(&tmp, &dest).map_err(|e| out_err(&dest, e))?;
            done.push(dest);
        }
        Ok(done)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        for t in self.open.values() {
            let _ = fs::remove_file(&t.tmp);
        }
    }
}

/// Keeps batches in memory (or only counts them, when `keep` is false).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Whether batches are kept.
    pub keep: bool,
    /// Kept batches per table.
    pub tables: BTreeMap<String, Vec<RecordBatch>>,
    /// Bytes of Arrow memory produced (sum of batch sizes).
    pub arrow_bytes: u64,
}

impl BatchSink for MemorySink {
    fn write(&mut self, table: &str, batch: RecordBatch) -> Result<()> {
        self.arrow_bytes += batch.get_array_memory_size() as u64;
        if self.keep {
            self.tables
                .entry(table.to_string())
                .or_default()
                .push(batch);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}
