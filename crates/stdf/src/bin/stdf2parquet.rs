//! `stdf2parquet`: converts an STDF V4 file (plain, .gz or .bz2) to Parquet or CSV.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use stdf::export::ParquetCompression;
use stdf::{ConvertOptions, Format, Layout, ReaderOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LayoutArg {
    Records,
    Measurements,
    Both,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Parquet,
    Csv,
    /// Build the Arrow tables in memory and discard them (decode benchmark).
    Memory,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    Zstd,
    Snappy,
    None,
}

/// Convert STDF V4 to Parquet/CSV tables.
#[derive(Debug, Parser)]
#[command(name = "stdf2parquet", version)]
struct Args {
    /// Input STDF file (.stdf, .stdf.gz or .stdf.bz2; compression detected from content).
    input: PathBuf,
    /// Output directory (`<dir>/<RECORD>.parquet`, `<dir>/measurements.parquet`).
    #[arg(long, required_unless_present = "dump_jsonl")]
    out: Option<PathBuf>,
    /// Tables to write.
    #[arg(long, value_enum, default_value = "both")]
    layout: LayoutArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: FormatArg,
    /// Parquet compression.
    #[arg(long, value_enum, default_value = "zstd")]
    compression: CompressionArg,
    /// zstd level.
    #[arg(long, default_value_t = 1)]
    zstd_level: i32,
    /// Accept a file that ends without an MRR.
    #[arg(long)]
    allow_missing_mrr: bool,
    /// Ignore bytes after the last field of a record instead of failing.
    #[arg(long)]
    lenient: bool,
    /// Instead of converting, write every record as one JSON line to this file (`-` = stdout).
    #[arg(long)]
    dump_jsonl: Option<PathBuf>,
}

fn dump(args: &Args, path: &PathBuf) -> anyhow::Result<u64> {
    let f = std::fs::File::open(&args.input)
        .with_context(|| format!("opening {}", args.input.display()))?;
    let input = stdf::decompress(f)?;
    let mut reader = stdf::StdfReader::with_options(
        input,
        ReaderOptions {
            require_mrr: !args.allow_missing_mrr,
            strict: !args.lenient,
        },
    );
    let out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )
    };
    let mut out = BufWriter::new(out);
    let mut n = 0u64;
    while let Some((offset, rec)) = reader.next_with_offset()? {
        let mut v = rec.to_json();
        v["offset"] = offset.into();
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(path) = &args.dump_jsonl {
        let n = dump(args, path)?;
        eprintln!("{n} records");
        return Ok(());
    }
    let opts = ConvertOptions {
        layout: match args.layout {
            LayoutArg::Records => Layout::Records,
            LayoutArg::Measurements => Layout::Measurements,
            LayoutArg::Both => Layout::Both,
        },
        format: match args.format {
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Csv => Format::Csv,
            FormatArg::Memory => Format::Memory,
        },
        compression: match args.compression {
            CompressionArg::Zstd => ParquetCompression::Zstd(args.zstd_level),
            CompressionArg::Snappy => ParquetCompression::Snappy,
            CompressionArg::None => ParquetCompression::None,
        },
        reader: ReaderOptions {
            require_mrr: !args.allow_missing_mrr,
            strict: !args.lenient,
        },
        ..ConvertOptions::default()
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let stats = stdf::convert_path(&args.input, &out, &opts)?;
    let summary = serde_json::json!({
        "input": args.input.display().to_string(),
        "bytes_in": stats.bytes_in,
        "seconds": stats.seconds,
        "mb_per_s": stats.bytes_in as f64 / 1e6 / stats.seconds.max(1e-9),
        "records": stats.records,
        "rows": stats.rows,
        "files": stats.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stdf2parquet: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
