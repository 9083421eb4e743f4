//! The model-based samplers must beat random search on a smooth problem.

use hpo::samplers::{Gp, Sampler, Tpe};
use hpo::{Optimizer, Param, SearchSpace};

fn mean_best(sampler: &Sampler, trials: usize) -> f64 {
    let space = SearchSpace::new(
        (0..3)
            .map(|i| Param::double(&format!("x{i}"), -5.0, 5.0))
            .collect(),
    )
    .unwrap();
    let seeds = 6;
    let mut total = 0.0;
    for seed in 0..seeds {
        let mut opt = Optimizer::new(space.clone(), sampler.clone(), seed);
        for _ in 0..trials {
            let s = opt.ask().unwrap();
            let y: f64 = s
                .params
                .0
                .iter()
                .map(|(_, v)| (v.as_f64() - 1.0).powi(2))
                .sum();
            opt.tell(s.trial_id, y).unwrap();
        }
        total += opt.best().unwrap().value.unwrap();
    }
    total / seeds as f64
}

#[test]
fn tpe_and_gp_beat_random_on_a_sphere() {
    let random = mean_best(&Sampler::Random, 40);
    let tpe = mean_best(&Sampler::Tpe(Tpe::default()), 40);
    let tpe_uni = mean_best(
        &Sampler::Tpe(Tpe {
            multivariate: false,
            ..Tpe::default()
        }),
        40,
    );
    let gp = mean_best(
        &Sampler::Gp(Gp {
            n_candidates: 256,
            ..Gp::default()
        }),
        25,
    );
    assert!(tpe < random, "tpe {tpe} random {random}");
    assert!(tpe_uni < random, "tpe-uni {tpe_uni} random {random}");
    assert!(gp < 0.1 * random, "gp {gp} random {random}");
}
