//! Writes the fuzz corpus seeds (small files, a few KB each) into `fuzz/corpus/`:
//! generated lots in both byte orders, every record type in both byte orders,
//! and the head of each real sample (first records plus its MRR) when present.

use std::path::PathBuf;

use stdf::generate::{GenOptions, every_record_type, generate};
use stdf::{Endian, Record, StdfReader, StdfWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fuzz/corpus");
    std::fs::create_dir_all(&dir)?;
    for (endian, tag) in [(Endian::Big, "be"), (Endian::Little, "le")] {
        let mut out = Vec::new();
        let opts = GenOptions {
            target_bytes: 2_000,
            endian,
            seed: 3,
            tests_per_part: 12,
            sites: 2,
            parts_per_wafer: 4,
        };
        generate(&mut out, &opts)?;
        std::fs::write(dir.join(format!("generated-{tag}.stdf")), &out)?;
        let mut w = StdfWriter::new(Vec::new(), endian);
        w.write_far()?;
        for r in every_record_type() {
            w.write(&r)?;
        }
        std::fs::write(dir.join(format!("every-type-{tag}.stdf")), w.finish()?)?;
    }
    for name in ["demofile.stdf", "lot2.stdf"] {
        let p = root.join("../../../shared/data/stdf").join(name);
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        // The first records (FAR, MIR, SDR, ... and some parts), then the MRR.
        let mut r = StdfReader::new(&bytes[..]);
        let mut w = StdfWriter::new(Vec::new(), Endian::Big);
        let mut head = 0;
        while let Some(rec) = r.next_record()? {
            if let Record::Mrr(_) = &rec {
                w.write(&rec)?;
                break;
            }
            if head < 3_500 {
                let before = w.bytes_written();
                w.write(&rec)?;
                head += (w.bytes_written() - before) as usize;
            }
        }
        let stem = name.trim_end_matches(".stdf");
        std::fs::write(dir.join(format!("{stem}-head.stdf")), w.finish()?)?;
    }
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        println!("{} {}", e.path().display(), e.metadata()?.len());
    }
    Ok(())
}
