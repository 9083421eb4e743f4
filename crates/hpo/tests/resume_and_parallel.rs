//! Serialise → restore gives the same next suggestions; pending suggestions never
//! duplicate; failed and pruned trials are handled.

mod common;

use common::{all_samplers, objective, space_strategy};
use hpo::samplers::{Gp, Sampler, Tpe};
use hpo::{HpoError, Optimizer, Param, SearchSpace, TrialState};
use proptest::prelude::*;
use std::collections::HashSet;

/// Drive an optimiser: every 5th trial fails, every 7th is left pending, others complete
/// (with an intermediate report).
fn drive(opt: &mut Optimizer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let s = match opt.ask() {
            Ok(s) => s,
            Err(HpoError::Exhausted(_)) => break,
            Err(e) => panic!("{e}"),
        };
        out.push(format!("{} {:?}", s.params, s.budget));
        let y = objective(opt.space(), &s);
        match s.trial_id % 7 {
            0 => {}
            3 => opt.tell_failed(s.trial_id).unwrap(),
            _ => {
                opt.report(s.trial_id, 1, y + 1.0).unwrap();
                if opt.trials()[s.trial_id as usize].state == TrialState::Running {
                    opt.tell(s.trial_id, y).unwrap();
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn restored_state_continues_identically(space in space_strategy(), seed in 0u64..1000, cut in 1usize..12) {
        for sampler in all_samplers() {
            let mut a = Optimizer::new(space.clone(), sampler.clone(), seed);
            drive(&mut a, cut);
            let json = a.to_json();
            let mut b = Optimizer::from_json(&json).unwrap();
            prop_assert_eq!(&a, &b);
            let next_a = drive(&mut a, 8);
            let next_b = drive(&mut b, 8);
            prop_assert_eq!(next_a, next_b, "{} diverged after restore", sampler.name());
            prop_assert_eq!(a.to_json(), b.to_json());
        }
    }
}

#[test]
fn state_json_is_compact() {
    let space = SearchSpace::new(
        (0..6)
            .map(|i| Param::double(&format!("x{i}"), 0.0, 1.0))
            .collect(),
    )
    .unwrap();
    let mut opt = Optimizer::new(space, Sampler::Tpe(Tpe::default()), 1);
    for _ in 0..100 {
        let s = opt.ask().unwrap();
        let y: f64 = s.params.0.iter().map(|(_, v)| v.as_f64()).sum();
        opt.tell(s.trial_id, y).unwrap();
    }
    let json = opt.to_json();
    // 100 trials × 7 full-precision floats ≈ 100 × 7 × 20 bytes, plus small framing.
    assert!(
        json.len() < 100 * 7 * 21 + 100 * 20 + 600,
        "{} bytes",
        json.len()
    );
}

#[test]
fn pending_suggestions_in_a_small_space_never_collide() {
    let space = SearchSpace::new(vec![
        Param::int("a", 0, 2),
        Param::categorical("b", &["x", "y", "z"]),
    ])
    .unwrap();
    for sampler in [
        Sampler::Random,
        Sampler::Tpe(Tpe {
            n_startup_trials: 2,
            ..Tpe::default()
        }),
        Sampler::Gp(Gp {
            n_startup_trials: 2,
            n_candidates: 32,
            ..Gp::default()
        }),
    ] {
        let mut opt = Optimizer::new(space.clone(), sampler.clone(), 5);
        // Some history first so the models are active.
        for _ in 0..3 {
            let s = opt.ask().unwrap();
            opt.tell(s.trial_id, s.params.0[0].1.as_f64()).unwrap();
        }
        let mut seen = HashSet::new();
        for _ in 0..9 {
            let s = opt.ask().unwrap();
            assert!(
                seen.insert(format!("{}", s.params)),
                "{}: duplicate pending {}",
                sampler.name(),
                s.params
            );
        }
        assert!(
            matches!(opt.ask(), Err(HpoError::Exhausted(9))),
            "{}",
            sampler.name()
        );
    }
}

#[test]
fn parallel_tpe_and_gp_spread_out_in_continuous_spaces() {
    let space = SearchSpace::new(vec![Param::double("x", 0.0, 1.0)]).unwrap();
    for sampler in [Sampler::Tpe(Tpe::default()), Sampler::Gp(Gp::default())] {
        let mut opt = Optimizer::new(space.clone(), sampler.clone(), 11);
        for _ in 0..20 {
            let s = opt.ask().unwrap();
            let x = s.params.0[0].1.as_f64();
            opt.tell(s.trial_id, (x - 0.3).powi(2)).unwrap();
        }
        let batch: Vec<f64> = (0..4)
            .map(|_| opt.ask().unwrap().params.0[0].1.as_f64())
            .collect();
        for i in 0..4 {
            for j in 0..i {
                assert!(
                    (batch[i] - batch[j]).abs() > 1e-6,
                    "{}: {batch:?}",
                    sampler.name()
                );
            }
        }
    }
}

#[test]
fn failed_and_pruned_trials_are_not_best_and_do_not_break_models() {
    let space =
        SearchSpace::new(vec![Param::double("x", -1.0, 1.0), Param::int("n", 1, 4)]).unwrap();
    for sampler in [
        Sampler::Tpe(Tpe {
            n_startup_trials: 3,
            ..Tpe::default()
        }),
        Sampler::Gp(Gp {
            n_startup_trials: 3,
            n_candidates: 64,
            ..Gp::default()
        }),
    ] {
        let mut opt = Optimizer::new(space.clone(), sampler.clone(), 2);
        for i in 0..15 {
            let s = opt.ask().unwrap();
            let x = s.params.0[0].1.as_f64();
            match i % 3 {
                0 => opt.tell_failed(s.trial_id).unwrap(),
                1 => {
                    opt.report(s.trial_id, 1, -100.0).unwrap();
                    opt.tell_pruned(s.trial_id).unwrap();
                }
                _ => opt.tell(s.trial_id, x * x).unwrap(),
            }
        }
        let best = opt.best().unwrap();
        assert_eq!(best.state, TrialState::Complete);
        assert!(
            best.value.unwrap() >= 0.0,
            "pruned trial's -100 must not count"
        );
        assert!(matches!(opt.tell(0, 1.0), Err(HpoError::TrialFinished(0))));
        assert!(matches!(
            opt.tell(999, 1.0),
            Err(HpoError::UnknownTrial(999))
        ));
        let s = opt.ask().unwrap();
        assert!(matches!(
            opt.tell(s.trial_id, f64::NAN),
            Err(HpoError::NotFinite(_))
        ));
    }
}

#[test]
fn restore_rejects_bad_state_with_typed_errors() {
    assert!(matches!(
        Optimizer::from_json("{"),
        Err(HpoError::BadState(_))
    ));
    let space = SearchSpace::new(vec![Param::int("a", 0, 3)]).unwrap();
    let mut opt = Optimizer::new(space, Sampler::Random, 0);
    let s = opt.ask().unwrap();
    opt.tell(s.trial_id, 1.0).unwrap();
    let json = opt.to_json();
    let v = s.params.0[0].1.as_f64();
    let tampered = json.replacen(&format!("\"x\":[{v:?}]"), "\"x\":[17.0]", 1);
    assert_ne!(tampered, json);
    assert!(matches!(
        Optimizer::from_json(&tampered),
        Err(HpoError::BadState(_))
    ));
    let bad_space = json.replacen("\"max\":3", "\"max\":0", 1);
    let err = Optimizer::from_json(&bad_space).unwrap_err().to_string();
    assert!(err.contains("min (0) must be below max (0)"), "{err}");
}
