//! Property test: mutated real and generated files never panic the reader or
//! the exporter; every failure is a typed error that carries an offset.

use std::path::PathBuf;

use proptest::prelude::*;
use stdf::fuzz_target::fuzz_one;

fn seeds() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    assert!(v.len() >= 4, "corpus seeds missing in {}", dir.display());
    v
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let len = data.len();
    match m {
        Mutation::Set(p, b) => data[p % len] = *b,
        Mutation::Flip(p, bit) => data[p % len] ^= 1 << bit,
        Mutation::Insert(p, b) => {
            let at = p % len;
            data.splice(at..at, b.iter().copied());
        }
        Mutation::Delete(p, n) => {
            let at = p % len;
            let end = (at + n).min(len);
            data.drain(at..end);
        }
        Mutation::Truncate(p) => data.truncate(p % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn mutated_files_give_typed_errors_not_panics(seed in any::<prop::sample::Index>(), muts in proptest::collection::vec(mutation(), 1..6)) {
        let seeds = seeds();
        let mut data = seeds[seed.index(seeds.len())].clone();
        for m in &muts {
            apply(&mut data, m);
        }
        let start = std::time::Instant::now();
        if let Err(e) = fuzz_one(&data) {
            prop_assert!(e.offset().is_some() || matches!(e, stdf::StdfError::Empty), "{}", e);
        }
        prop_assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn unmutated_seeds_read_cleanly() {
    for s in seeds() {
        let n = fuzz_one(&s).expect("seed reads");
        assert!(n > 2);
    }
}
