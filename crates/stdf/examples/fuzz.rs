//! Long-running mutation fuzzer for the STDF reader.
//!
//! `cargo run --release -p stdf --example fuzz -- --seconds 600 [--corpus DIR] [--crashes DIR] [--seed N]`
//!
//! Mutates the corpus seeds (byte sets, bit flips, inserts, deletes, splices,
//! length-field overwrites, truncations), runs the whole read path on each
//! input under `catch_unwind`, saves panicking or slow (> 1 s) inputs to the
//! crash directory, and prints executions and errors seen.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>], data: &mut Vec<u8>) {
    let rounds = rng.random_range(1..8);
    for _ in 0..rounds {
        if data.is_empty() {
            data.push(rng.random());
            continue;
        }
        let len = data.len();
        let p = rng.random_range(0..len);
        match rng.random_range(0..9) {
            0 => data[p] = rng.random(),
            1 => data[p] ^= 1 << rng.random_range(0..8),
            2 => {
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(p..p, bytes);
            }
            3 => {
                let end = (p + rng.random_range(1..128)).min(len);
                data.drain(p..end);
            }
            4 => data.truncate(p),
            5 => {
                // Overwrite a u16 with an interesting value (record lengths, counts).
                let v: u16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff]
                    [rng.random_range(0..10)];
                if p + 1 < len {
                    data[p..p + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
            6 => {
                // Splice a piece of another seed.
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let a = rng.random_range(0..other.len());
                    let b = (a + rng.random_range(1..512)).min(other.len());
                    data.splice(p..p, other[a..b].iter().copied());
                }
            }
            7 => {
                // Duplicate a range (repeated records).
                let end = (p + rng.random_range(1..256)).min(len);
                let piece = data[p..end].to_vec();
                data.splice(end..end, piece);
            }
            _ => data[p] = [0, 1, 2, 4, 10, 15, 20, 50, 255][rng.random_range(0..9)],
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = arg(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = arg(&args, "--corpus")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fuzz/corpus"));
    let crashes = arg(&args, "--crashes")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("stdf-fuzz-crashes"));
    let seed: u64 = arg(&args, "--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", corpus.display()))
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", corpus.display());
    std::fs::create_dir_all(&crashes).expect("crash dir");
    // Keep panics quiet: they are counted and saved.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let (mut execs, mut errors, mut panics, mut slow) = (0u64, 0u64, 0u64, 0u64);
    let mut next_report = start + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut data = seeds[rng.random_range(0..seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut data);
        let t0 = Instant::now();
        let res = catch_unwind(AssertUnwindSafe(|| stdf::fuzz_target::fuzz_one(&data)));
        let took = t0.elapsed();
        execs += 1;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => errors += 1,
            Err(_) => {
                panics += 1;
                let p = crashes.join(format!("panic-{execs}.stdf"));
                let _ = std::fs::write(&p, &data);
                eprintln!("PANIC on input saved to {}", p.display());
            }
        }
        if took > Duration::from_secs(1) {
            slow += 1;
            let _ = std::fs::write(crashes.join(format!("slow-{execs}.stdf")), &data);
        }
        if Instant::now() >= next_report {
            eprintln!(
                "{:>5}s execs {execs} errors {errors} panics {panics} slow {slow}",
                start.elapsed().as_secs()
            );
            next_report += Duration::from_secs(60);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz: {secs:.0} s, {execs} executions ({:.0}/s), {errors} typed errors, {panics} panics, {slow} slow inputs, {} seeds",
        execs as f64 / secs,
        seeds.len()
    );
    if panics > 0 || slow > 0 {
        std::process::exit(1);
    }
}
