//! Property tests: every sampler stays inside random spaces, respects steps and
//! categories, is reproducible by seed, and the grid never repeats a point.

mod common;

use common::{all_samplers, objective, respects, space_strategy};
use hpo::samplers::{Grid, Sampler};
use hpo::{HpoError, Optimizer, Param, ParamKind, SearchSpace};
use proptest::prelude::*;
use std::collections::HashSet;

fn run(
    space: &SearchSpace,
    sampler: Sampler,
    seed: u64,
    n: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let mut opt = Optimizer::new(space.clone(), sampler, seed);
    let mut out = Vec::new();
    for _ in 0..n {
        let s = match opt.ask() {
            Ok(s) => s,
            Err(HpoError::Exhausted(_)) => break,
            Err(e) => return Err(e.to_string()),
        };
        respects(space, &s)?;
        let x = space.internal(&s.params)?;
        if !space.contains(&x) {
            return Err(format!("outside space: {x:?}"));
        }
        out.push(x);
        opt.tell(s.trial_id, objective(space, &s))
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_sampler_stays_inside_and_is_reproducible(space in space_strategy(), seed in 0u64..1000) {
        for sampler in all_samplers() {
            let name = sampler.name();
            let a = run(&space, sampler.clone(), seed, 14).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            let b = run(&space, sampler, seed, 14).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            prop_assert!(!a.is_empty(), "{} produced nothing", name);
            prop_assert_eq!(a, b, "{} not reproducible", name);
        }
    }

    #[test]
    fn grid_visits_each_point_once_then_reports_exhausted(space in space_strategy(), shuffle in any::<bool>(), seed in 0u64..100) {
        let grid = Grid { resolution: 3, shuffle, ..Grid::default() };
        let size = grid.size(&space);
        prop_assume!(size <= 3000);
        let mut opt = Optimizer::new(space.clone(), Sampler::Grid(grid), seed);
        let mut seen = HashSet::new();
        loop {
            match opt.ask() {
                Ok(s) => {
                    let key = format!("{}", s.params);
                    prop_assert!(seen.insert(key.clone()), "grid repeated {}", key);
                    // Keep some pending, fail some: the grid must not care.
                    if s.trial_id % 3 == 0 { opt.tell_failed(s.trial_id).unwrap(); }
                }
                Err(HpoError::Exhausted(n)) => { prop_assert_eq!(n, size); break; }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert_eq!(seen.len() as u64, size);
    }
}

#[test]
fn different_seeds_give_different_streams() {
    let space = SearchSpace::new(vec![
        Param::double("x", 0.0, 1.0),
        Param::double("y", 0.0, 1.0),
    ])
    .unwrap();
    for sampler in common::all_samplers() {
        if matches!(sampler, Sampler::Grid(ref g) if !g.shuffle) {
            continue;
        }
        let a = run(&space, sampler.clone(), 1, 12).unwrap();
        let b = run(&space, sampler.clone(), 2, 12).unwrap();
        assert_ne!(a, b, "{}", sampler.name());
    }
}

#[test]
fn streamed_grid_handles_huge_grids_without_materialising() {
    // 15 params × 10 levels = 10^15 points: must answer immediately.
    let params = (0..15)
        .map(|i| {
            Param::new(
                &format!("p{i}"),
                ParamKind::Int {
                    min: 0,
                    max: 9,
                    step: None,
                    log: false,
                },
            )
        })
        .collect();
    let space = SearchSpace::new(params).unwrap();
    let grid = Grid {
        shuffle: true,
        ..Grid::default()
    };
    assert_eq!(grid.size(&space), 10u64.pow(15));
    let mut opt = Optimizer::new(space.clone(), Sampler::Grid(grid), 3);
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let s = opt.ask().unwrap();
        assert!(seen.insert(format!("{}", s.params)));
    }
    // Lexicographic grid: point k decodes digit by digit (first parameter fastest).
    let g = Grid::default();
    let p = g.point(&space, 1234);
    assert_eq!(&p[..5], &[4.0, 3.0, 2.0, 1.0, 0.0]);
}

#[test]
fn continuous_grid_uses_resolution_with_both_ends() {
    let space = SearchSpace::new(vec![Param::log_double("lr", 1e-4, 1e-1)]).unwrap();
    let mut opt = Optimizer::new(
        space,
        Sampler::Grid(Grid {
            resolution: 4,
            ..Grid::default()
        }),
        0,
    );
    let vals: Vec<f64> = (0..4)
        .map(|_| opt.ask().unwrap().params.0[0].1.as_f64())
        .collect();
    for (v, e) in vals.iter().zip([1e-4, 1e-3, 1e-2, 1e-1]) {
        assert!((v / e - 1.0).abs() < 1e-9, "{v} vs {e}");
    }
    assert!(matches!(opt.ask(), Err(HpoError::Exhausted(4))));
}
