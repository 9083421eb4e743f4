//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use hpo::samplers::{Gp, Grid, Hyperband, Sampler, Sobol, Tpe};
use hpo::{Param, ParamKind, SearchSpace, Suggestion};
use proptest::prelude::*;

/// Every sampler kind, with settings small enough for debug-mode tests (models start
/// after 4 trials so they are exercised).
pub fn all_samplers() -> Vec<Sampler> {
    vec![
        Sampler::Random,
        Sampler::Grid(Grid {
            resolution: 4,
            shuffle: true,
            ..Grid::default()
        }),
        Sampler::Grid(Grid {
            resolution: 3,
            ..Grid::default()
        }),
        Sampler::Sobol(Sobol::default()),
        Sampler::Tpe(Tpe {
            n_startup_trials: 4,
            ..Tpe::default()
        }),
        Sampler::Tpe(Tpe {
            n_startup_trials: 4,
            multivariate: false,
            ..Tpe::default()
        }),
        Sampler::Gp(Gp {
            n_startup_trials: 4,
            n_candidates: 64,
            n_local: 1,
            ..Gp::default()
        }),
        Sampler::Hyperband(Hyperband {
            min_resource: 1.0,
            max_resource: 9.0,
            eta: 3.0,
            brackets: 0,
            next_bracket: 0,
        }),
    ]
}

/// A deterministic objective over any assignment: sum of squared unit coordinates
/// plus a per-label offset.
pub fn objective(space: &SearchSpace, s: &Suggestion) -> f64 {
    space
        .params()
        .iter()
        .zip(&s.params.0)
        .map(|(p, (_, v))| match (&p.kind, v) {
            (ParamKind::Categorical { choices }, hpo::ParamValue::Str(l)) => {
                choices.iter().position(|c| c == l).unwrap_or(0) as f64 * 0.3
            }
            _ => {
                let x = v.as_f64();
                (x.abs() + 1.0).ln()
            }
        })
        .sum()
}

fn param_strategy(i: usize) -> impl Strategy<Value = Param> {
    let name = format!("p{i}");
    prop_oneof![
        (-50i64..50, 1i64..40, proptest::option::of(1i64..7)).prop_map({
            let name = name.clone();
            move |(min, span, step)| {
                Param::new(
                    &name,
                    ParamKind::Int {
                        min,
                        max: min + span,
                        step,
                        log: false,
                    },
                )
            }
        }),
        (1i64..20, 2i64..500).prop_map({
            let name = name.clone();
            move |(min, span)| {
                Param::new(
                    &name,
                    ParamKind::Int {
                        min,
                        max: min + span,
                        step: None,
                        log: true,
                    },
                )
            }
        }),
        (
            -10.0f64..10.0,
            0.01f64..20.0,
            proptest::option::of(0.05f64..3.0)
        )
            .prop_map({
                let name = name.clone();
                move |(min, span, step)| {
                    let step = step.filter(|s| *s < span);
                    Param::new(
                        &name,
                        ParamKind::Double {
                            min,
                            max: min + span,
                            step,
                            log: false,
                        },
                    )
                }
            }),
        (1e-6f64..1.0, 1.5f64..1e4).prop_map({
            let name = name.clone();
            move |(min, f)| {
                Param::new(
                    &name,
                    ParamKind::Double {
                        min,
                        max: min * f,
                        step: None,
                        log: true,
                    },
                )
            }
        }),
        (1usize..6).prop_map({
            let name = name.clone();
            move |n| {
                let labels: Vec<String> = (0..n).map(|k| format!("c{k}")).collect();
                Param::new(&name, ParamKind::Categorical { choices: labels })
            }
        }),
        proptest::collection::btree_set(-1000i32..1000, 1..6).prop_map(move |vals| {
            let values = vals.into_iter().map(|v| f64::from(v) / 8.0).rev().collect();
            Param::new(&name, ParamKind::Discrete { values })
        }),
    ]
}

/// Random valid search spaces with 1–4 parameters of every kind.
pub fn space_strategy() -> impl Strategy<Value = SearchSpace> {
    (1usize..5)
        .prop_flat_map(|n| (0..n).map(param_strategy).collect::<Vec<_>>())
        .prop_map(|params| SearchSpace::new(params).expect("generated spaces are valid"))
}

/// Whether a user-facing assignment respects the parameter definitions directly
/// (bounds, steps, list membership), independent of the internal encoding.
pub fn respects(space: &SearchSpace, s: &Suggestion) -> Result<(), String> {
    for (p, (name, v)) in space.params().iter().zip(&s.params.0) {
        if &p.name != name {
            return Err(format!("name {name} != {}", p.name));
        }
        let ok = match (&p.kind, v) {
            (ParamKind::Int { min, max, step, .. }, hpo::ParamValue::Int(i)) => {
                i >= min && i <= max && (i - min) % step.unwrap_or(1) == 0
            }
            (ParamKind::Double { min, max, step, .. }, hpo::ParamValue::Double(d)) => {
                d >= min
                    && d <= max
                    && step.is_none_or(|st| {
                        let k = ((d - min) / st).round();
                        (min + k * st - d).abs() < 1e-9 * st.max(1.0)
                    })
            }
            (ParamKind::Categorical { choices }, hpo::ParamValue::Str(l)) => choices.contains(l),
            (ParamKind::Discrete { values }, hpo::ParamValue::Double(d)) => values.contains(d),
            _ => false,
        };
        if !ok {
            return Err(format!("{name}={v} violates {:?}", p.kind));
        }
    }
    Ok(())
}
