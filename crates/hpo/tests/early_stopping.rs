//! Median stopping, ASHA pruning and Hyperband promotions on hand-checkable examples.

use hpo::pruners::{AshaPruner, MedianStop, Pruner};
use hpo::samplers::{Hyperband, Sampler};
use hpo::{Decision, Direction, Optimizer, Param, SearchSpace, TrialState};

fn space() -> SearchSpace {
    SearchSpace::new(vec![Param::double("x", 0.0, 1.0)]).unwrap()
}

/// Run one trial's curve; returns the step at which it was pruned, if any.
fn run_curve(opt: &mut Optimizer, curve: &[f64]) -> Option<u64> {
    let s = opt.ask().unwrap();
    for (i, v) in curve.iter().enumerate() {
        let step = i as u64 + 1;
        if opt.report(s.trial_id, step, *v).unwrap() == Decision::Prune {
            assert_eq!(opt.trials()[s.trial_id as usize].state, TrialState::Pruned);
            return Some(step);
        }
    }
    opt.tell(s.trial_id, *curve.last().unwrap()).unwrap();
    None
}

#[test]
fn median_stop_uses_katib_settings() {
    // Katib defaults: min_trials_required = 3, start_step = 4.
    let mut opt = Optimizer::new(space(), Sampler::Random, 0)
        .with_pruner(Pruner::MedianStop(MedianStop::default()));
    // Two completed trials are not enough to stop anything, even a terrible one.
    assert_eq!(run_curve(&mut opt, &[1.0, 0.8, 0.6, 0.5]), None); // running avg at step 4: 0.725
    assert_eq!(run_curve(&mut opt, &[2.0, 1.5, 1.2, 1.0]), None); // 1.425
    assert_eq!(run_curve(&mut opt, &[9.0, 9.0, 9.0, 9.0, 9.0]), None);
    // Now three completed: running averages at step 4 are 0.725, 1.425, 9.0 → median 1.425.
    // Best-so-far 1.5 at step 4 is worse than 1.425 → stopped at step 4, not before
    // (steps 1–3 are below start_step even though they are worse).
    assert_eq!(run_curve(&mut opt, &[3.0, 2.0, 1.8, 1.5, 1.0]), Some(4));
    // Best-so-far 1.4 < 1.425 → keeps running.
    assert_eq!(run_curve(&mut opt, &[3.0, 2.0, 1.8, 1.4, 1.3]), None);
    // Four completed now (the last one too): averages 0.725, 1.425, 9.0, 1.9 (mean of
    // 3.0, 2.0, 1.8, 1.4, 1.3 up to step 4 = 2.05) → sorted 0.725, 1.425, 2.05, 9.0,
    // median (1.425 + 2.05) / 2 = 1.7375. A trial at 1.7 continues, one at 1.75 stops.
    let mut opt2 = opt.clone();
    assert_eq!(run_curve(&mut opt, &[5.0, 5.0, 5.0, 1.7]), None);
    assert_eq!(run_curve(&mut opt2, &[5.0, 5.0, 5.0, 1.75]), Some(4));
}

#[test]
fn median_stop_respects_maximisation_and_custom_settings() {
    let pruner = Pruner::MedianStop(MedianStop {
        min_trials_required: 1,
        start_step: 2,
    });
    let mut opt = Optimizer::new(space(), Sampler::Random, 0)
        .with_direction(Direction::Maximize)
        .with_pruner(pruner);
    assert_eq!(run_curve(&mut opt, &[0.5, 0.7, 0.9]), None); // avg up to step 2 = 0.6
    assert_eq!(run_curve(&mut opt, &[0.1, 0.5, 0.9]), Some(2)); // best 0.5 < 0.6 (maximising)
    assert_eq!(run_curve(&mut opt, &[0.1, 0.65, 0.9]), None); // best 0.65 > 0.6
}

#[test]
fn asha_pruner_stops_the_right_trials() {
    // Rungs at steps 1, 2, 4, 8 (min_resource 1, eta 2).
    let pruner = Pruner::Asha(AshaPruner {
        min_resource: 1,
        reduction_factor: 2,
        min_early_stopping_rate: 0,
    });
    let mut opt = Optimizer::new(space(), Sampler::Random, 0).with_pruner(pruner);
    // T0 is alone at every rung → promoted everywhere.
    assert_eq!(
        run_curve(&mut opt, &[5.0, 4.0, 3.5, 3.0, 2.8, 2.6, 2.4, 2.0]),
        None
    );
    // T1 at rung 0: competitors [5, 6], top floor(2/2)=1 is 5 → 6 is pruned at step 1.
    assert_eq!(run_curve(&mut opt, &[6.0, 1.0]), Some(1));
    // T2: rung 0 [4, 5, 6] → 4 is best, continues; rung 1 (step 2) [4.0 (T0), 3.5] → 3.5
    // best, continues; step 3 crosses no rung; rung 2 (step 4) [3.0 (T0), 3.2] → pruned.
    assert_eq!(run_curve(&mut opt, &[4.0, 3.5, 3.4, 3.2, 0.1]), Some(4));
    // T3: rung 0 [5, 6, 4, 5.5] → top floor(4/2)=2 are 4 and 5 → 5.5 pruned at step 1.
    assert_eq!(run_curve(&mut opt, &[5.5]), Some(1));
    // T4: rung 0 [5, 6, 4, 5.5, 4.5] → top 2 are 4, 4.5 → continues at step 1.
    assert_eq!(run_curve(&mut opt, &[4.5]), None);
}

#[test]
fn asha_sampler_promotes_top_third_and_hyperband_rotates_brackets() {
    let mut opt = Optimizer::new(
        space(),
        Sampler::Hyperband(Hyperband::asha(1.0, 9.0, 3.0)),
        4,
    );
    let ids: Vec<_> = (0..3).map(|_| opt.ask().unwrap()).collect();
    assert!(ids.iter().all(|s| s.budget == Some(1.0)));
    for (s, v) in ids.iter().zip([3.0, 1.0, 2.0]) {
        opt.tell(s.trial_id, v).unwrap();
    }
    // floor(3/3) = 1 promotion due: the trial that scored 1.0, at budget 3, same params.
    let p = opt.ask().unwrap();
    assert_eq!(p.budget, Some(3.0));
    assert_eq!(p.params, ids[1].params);
    // Nothing else is due: a new configuration at the bottom rung.
    let n = opt.ask().unwrap();
    assert_eq!(n.budget, Some(1.0));
    assert_ne!(n.params, ids[0].params);

    let hb = Hyperband {
        min_resource: 1.0,
        max_resource: 9.0,
        eta: 3.0,
        brackets: 0,
        next_bracket: 0,
    };
    assert_eq!(hb.s_max(), 2);
    let mut opt = Optimizer::new(space(), Sampler::Hyperband(hb), 4);
    let budgets: Vec<_> = (0..4).map(|_| opt.ask().unwrap().budget.unwrap()).collect();
    assert_eq!(budgets, vec![1.0, 3.0, 9.0, 1.0]);
}
