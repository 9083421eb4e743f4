//! `stdf-gen`: writes a synthetic STDF V4 file of a given size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use stdf::Endian;
use stdf::generate::{GenOptions, generate};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EndianArg {
    Little,
    Big,
}

/// Generate a synthetic STDF V4 lot (wafers of parts with PTR/MPR/FTR results).
#[derive(Debug, Parser)]
#[command(name = "stdf-gen", version)]
struct Args {
    /// Target size in MB (10^6 bytes); the file stops after the part that reaches it.
    #[arg(long, default_value_t = 10.0)]
    size_mb: f64,
    /// Output file (`.gz` suffix: gzip-compressed).
    #[arg(long)]
    out: PathBuf,
    /// Byte order.
    #[arg(long, value_enum, default_value = "little")]
    endian: EndianArg,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// PTRs per part.
    #[arg(long, default_value_t = 100)]
    tests_per_part: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = GenOptions {
        target_bytes: (args.size_mb * 1e6) as u64,
        endian: match args.endian {
            EndianArg::Little => Endian::Little,
            EndianArg::Big => Endian::Big,
        },
        seed: args.seed,
        tests_per_part: args.tests_per_part,
        ..GenOptions::default()
    };
    let tmp = args.out.with_extension("tmp-gen");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let buf = BufWriter::with_capacity(1 << 20, file);
    let stats = if args.out.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(buf, flate2::Compression::fast());
        let s = generate(&mut gz, &opts)?;
        gz.finish()?.flush()?;
        s
    } else {
        let mut buf = buf;
        let s = generate(&mut buf, &opts)?;
        buf.flush()?;
        s
    };
    std::fs::rename(&tmp, &args.out)?;
    println!(
        "{}: {} bytes, {} records, {} parts",
        args.out.display(),
        stats.bytes,
        stats.records,
        stats.parts
    );
    Ok(())
}
