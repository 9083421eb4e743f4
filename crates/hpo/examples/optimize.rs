//! Optimise an expression given on the command line.
//!
//! ```text
//! cargo run -p hpo --example optimize -- \
//!     --expr "(x - 2)^2 + (y + 1)^2 + 0.1*n" \
//!     --param x=double:-5:5 --param y=double:-5:5 --param n=int:1:10 \
//!     --sampler tpe --trials 60 --seed 1 [--parallel 4] [--maximize] [--state opt.json]
//! ```
//!
//! Parameters: `name=double:MIN:MAX[:log]`, `name=int:MIN:MAX[:STEP|:log]`,
//! `name=cat:a,b,c` (the variable is the choice's index), `name=discrete:1,2,4`.
//! Samplers: random, grid, sobol, tpe, tpe-uni, gp. With `--state`, the optimiser is
//! restored from the file if it exists and saved after every result, so a run can be
//! interrupted and continued.

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use hpo::expr::Expr;
use hpo::samplers::{Gp, Grid, Sampler, Sobol, Tpe};
use hpo::{Direction, Optimizer, Param, ParamKind, ParamValue, SearchSpace};

#[derive(Parser, Debug)]
#[command(about = "Optimise an arithmetic expression over a search space")]
struct Args {
    /// Objective expression, e.g. "(x-2)^2 + y".
    #[arg(long)]
    expr: String,
    /// Parameter definitions (repeatable).
    #[arg(long = "param", required = true)]
    params: Vec<String>,
    /// random | grid | sobol | tpe | tpe-uni | gp
    #[arg(long, default_value = "tpe")]
    sampler: String,
    /// Number of trials to run in this invocation.
    #[arg(long, default_value_t = 50)]
    trials: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Suggestions asked before results are told (simulates parallel workers).
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// Maximise instead of minimise.
    #[arg(long)]
    maximize: bool,
    /// JSON file to resume from and save to.
    #[arg(long)]
    state: Option<std::path::PathBuf>,
}

fn parse_param(text: &str) -> Result<Param> {
    let (name, def) = text
        .split_once('=')
        .ok_or_else(|| anyhow!("`{text}`: expected name=kind:..."))?;
    let (kind, rest) = def
        .split_once(':')
        .ok_or_else(|| anyhow!("`{text}`: expected kind:..."))?;
    let parts: Vec<&str> = rest.split(':').collect();
    let num = |s: &str| {
        s.parse::<f64>()
            .with_context(|| format!("`{text}`: bad number `{s}`"))
    };
    let int = |s: &str| {
        s.parse::<i64>()
            .with_context(|| format!("`{text}`: bad integer `{s}`"))
    };
    let kind = match (kind, parts.as_slice()) {
        ("double", [min, max]) => ParamKind::Double {
            min: num(min)?,
            max: num(max)?,
            step: None,
            log: false,
        },
        ("double", [min, max, "log"]) => ParamKind::Double {
            min: num(min)?,
            max: num(max)?,
            step: None,
            log: true,
        },
        ("double", [min, max, step]) => ParamKind::Double {
            min: num(min)?,
            max: num(max)?,
            step: Some(num(step)?),
            log: false,
        },
        ("int", [min, max]) => ParamKind::Int {
            min: int(min)?,
            max: int(max)?,
            step: None,
            log: false,
        },
        ("int", [min, max, "log"]) => ParamKind::Int {
            min: int(min)?,
            max: int(max)?,
            step: None,
            log: true,
        },
        ("int", [min, max, step]) => ParamKind::Int {
            min: int(min)?,
            max: int(max)?,
            step: Some(int(step)?),
            log: false,
        },
        ("cat", [list]) => ParamKind::Categorical {
            choices: list.split(',').map(str::to_string).collect(),
        },
        ("discrete", [list]) => ParamKind::Discrete {
            values: list.split(',').map(num).collect::<Result<_>>()?,
        },
        _ => bail!("`{text}`: unknown parameter form"),
    };
    Ok(Param::new(name, kind))
}

fn sampler(name: &str) -> Result<Sampler> {
    Ok(match name {
        "random" => Sampler::Random,
        "grid" => Sampler::Grid(Grid::default()),
        "sobol" => Sampler::Sobol(Sobol::default()),
        "tpe" => Sampler::Tpe(Tpe::default()),
        "tpe-uni" => Sampler::Tpe(Tpe {
            multivariate: false,
            ..Tpe::default()
        }),
        "gp" => Sampler::Gp(Gp::default()),
        other => bail!("unknown sampler `{other}`"),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let expr = Expr::parse(&args.expr).with_context(|| format!("cannot parse `{}`", args.expr))?;
    let space = SearchSpace::new(
        args.params
            .iter()
            .map(|p| parse_param(p))
            .collect::<Result<_>>()?,
    )?;
    for v in expr.variables() {
        if !space.params().iter().any(|p| p.name == v) {
            bail!("expression uses `{v}`, which is not a parameter");
        }
    }
    let mut opt = match &args.state {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let opt = Optimizer::from_json(&text)?;
            eprintln!(
                "resumed {} trials from {}",
                opt.trials().len(),
                path.display()
            );
            opt
        }
        _ => {
            let dir = if args.maximize {
                Direction::Maximize
            } else {
                Direction::Minimize
            };
            Optimizer::new(space, sampler(&args.sampler)?, args.seed).with_direction(dir)
        }
    };
    let mut done = 0;
    while done < args.trials {
        let batch: Vec<_> = (0..args.parallel.max(1).min(args.trials - done))
            .map(|_| opt.ask())
            .collect::<Result<_, _>>()?;
        for s in batch {
            let params = &s.params;
            let value = expr.eval(&|name| {
                let (i, p) = opt
                    .space()
                    .params()
                    .iter()
                    .enumerate()
                    .find(|(_, p)| p.name == name)?;
                match (&p.kind, &params.0[i].1) {
                    (ParamKind::Categorical { choices }, ParamValue::Str(l)) => {
                        choices.iter().position(|c| c == l).map(|x| x as f64)
                    }
                    (_, v) => Some(v.as_f64()),
                }
            })?;
            if value.is_finite() {
                opt.tell(s.trial_id, value)?;
                println!("trial {:>4}  {:<12.6}  {}", s.trial_id, value, s.params);
            } else {
                opt.tell_failed(s.trial_id)?;
                println!(
                    "trial {:>4}  failed (value {value})  {}",
                    s.trial_id, s.params
                );
            }
            if let Some(path) = &args.state {
                std::fs::write(path, opt.to_json())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            done += 1;
        }
    }
    let best = opt.best().ok_or_else(|| anyhow!("no trial completed"))?;
    println!(
        "best: {} = {}",
        opt.assignment(best.id)?,
        best.value.unwrap_or(f64::NAN)
    );
    Ok(())
}
