//! Benchmark of our samplers on Branin (2-D) and Hartmann6 (6-D): simple regret after 50
//! and 100 trials over 20 seeds, and suggestion latency at 10 / 100 / 1,000 completed
//! trials. Prints one JSON object per line (read by `bench/report.py`).
//!
//! `cargo run --release -p hpo --example bench -- [--seeds 20] [--budget 100]
//!  [--samplers random,sobol,tpe,tpe-uni,gp] [--skip-regret] [--skip-latency]`

use anyhow::{Context, Result, bail};
use hpo::samplers::{Gp, Sampler, Sobol, Tpe};
use hpo::{Optimizer, Param, SearchSpace};
use std::time::Instant;

const BRANIN_MIN: f64 = 0.397_887_357_729_738;
const HARTMANN6_MIN: f64 = -3.322_368_011_415_51;

fn branin(x: &[f64]) -> f64 {
    let (x1, x2) = (x[0], x[1]);
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    let t = 1.0 / (8.0 * pi);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

struct Problem {
    name: &'static str,
    space: SearchSpace,
    f: fn(&[f64]) -> f64,
    min: f64,
}

fn problems() -> Result<Vec<Problem>> {
    Ok(vec![
        Problem {
            name: "branin",
            space: SearchSpace::new(vec![
                Param::double("x0", -5.0, 10.0),
                Param::double("x1", 0.0, 15.0),
            ])?,
            f: branin,
            min: BRANIN_MIN,
        },
        Problem {
            name: "hartmann6",
            space: SearchSpace::new(
                (0..6)
                    .map(|i| Param::double(&format!("x{i}"), 0.0, 1.0))
                    .collect(),
            )?,
            f: hartmann6,
            min: HARTMANN6_MIN,
        },
    ])
}

fn sampler(name: &str) -> Result<Sampler> {
    Ok(match name {
        "random" => Sampler::Random,
        "sobol" => Sampler::Sobol(Sobol::default()),
        "tpe" => Sampler::Tpe(Tpe::default()),
        "tpe-uni" => Sampler::Tpe(Tpe {
            multivariate: false,
            ..Tpe::default()
        }),
        "tpe-sobol" => Sampler::Tpe(Tpe {
            sobol_startup: Some(Sobol::default()),
            ..Tpe::default()
        }),
        "gp" => Sampler::Gp(Gp::default()),
        other => bail!("unknown sampler {other}"),
    })
}

fn values(s: &hpo::Suggestion) -> Vec<f64> {
    s.params.0.iter().map(|(_, v)| v.as_f64()).collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seeds: u64 = get("--seeds")
        .map(|s| s.parse())
        .transpose()
        .context("--seeds")?
        .unwrap_or(20);
    let budget: usize = get("--budget")
        .map(|s| s.parse())
        .transpose()
        .context("--budget")?
        .unwrap_or(100);
    let samplers = get("--samplers").unwrap_or_else(|| "tpe,tpe-uni,gp,sobol,random".into());
    let samplers: Vec<&str> = samplers.split(',').collect();
    let problems = problems()?;
    if !args.iter().any(|a| a == "--skip-regret") {
        for p in &problems {
            for &sname in &samplers {
                let started = Instant::now();
                for seed in 0..seeds {
                    let mut opt = Optimizer::new(p.space.clone(), sampler(sname)?, seed);
                    let mut best = f64::INFINITY;
                    let mut at = Vec::new();
                    for n in 1..=budget {
                        let s = opt.ask()?;
                        let y = (p.f)(&values(&s));
                        best = best.min(y);
                        opt.tell(s.trial_id, y)?;
                        if n == 50 || n == 100 || n == budget {
                            at.push(format!("\"{n}\":{}", best - p.min));
                        }
                    }
                    println!(
                        "{{\"kind\":\"regret\",\"impl\":\"ours\",\"sampler\":\"{sname}\",\"func\":\"{}\",\"seed\":{seed},\"regret\":{{{}}}}}",
                        p.name,
                        at.join(",")
                    );
                }
                eprintln!(
                    "{} {sname}: {:.1}s for {seeds} seeds",
                    p.name,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    if !args.iter().any(|a| a == "--skip-latency") {
        let p = &problems[1];
        for &sname in &samplers {
            for &n in &[10usize, 100, 1000] {
                let mut opt = Optimizer::new(p.space.clone(), sampler(sname)?, 7);
                // History: n completed random points (the sampler's own first n would cost
                // n suggestions of building time; the model only sees the history).
                let mut filler = Optimizer::new(p.space.clone(), Sampler::Random, 99);
                for _ in 0..n {
                    let s = filler.ask()?;
                    let y = (p.f)(&values(&s));
                    filler.tell(s.trial_id, y)?;
                    opt.add_completed(&s.params, y)?;
                }
                let reps = if sname == "gp" {
                    if n >= 1000 { 3 } else { 10 }
                } else {
                    50
                };
                let mut times = Vec::new();
                for _ in 0..reps {
                    let t0 = Instant::now();
                    let s = opt.ask()?;
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                    let y = (p.f)(&values(&s));
                    opt.tell(s.trial_id, y)?;
                }
                times.sort_by(f64::total_cmp);
                println!(
                    "{{\"kind\":\"latency\",\"impl\":\"ours\",\"sampler\":\"{sname}\",\"func\":\"{}\",\"n\":{n},\"median_ms\":{},\"min_ms\":{}}}",
                    p.name,
                    times[times.len() / 2],
                    times[0]
                );
            }
        }
    }
    Ok(())
}
