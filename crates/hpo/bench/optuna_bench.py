"""Optuna side of the hpo benchmark: TPE (Optuna 5 defaults) and random sampling on
Branin and Hartmann6, plus suggestion latency at 10/100/1000 completed trials.
Prints one JSON object per line, in the same shape as `cargo run --example bench`."""

import argparse
import json
import math
import statistics
import sys
import time

import optuna

BRANIN_MIN = 0.397887357729738
HARTMANN6_MIN = -3.32236801141551

A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(x):
    x1, x2 = x
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


PROBLEMS = {
    "branin": ([("x0", -5.0, 10.0), ("x1", 0.0, 15.0)], branin, BRANIN_MIN),
    "hartmann6": ([(f"x{i}", 0.0, 1.0) for i in range(6)], hartmann6, HARTMANN6_MIN),
}


def make_sampler(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SystemExit(f"unknown sampler {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--samplers", default="tpe,random")
    ap.add_argument("--skip-regret", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = args.samplers.split(",")
    if not args.skip_regret:
        for fname, (bounds, f, fmin) in PROBLEMS.items():
            for sname in samplers:
                t0 = time.time()
                for seed in range(args.seeds):
                    study = optuna.create_study(sampler=make_sampler(sname, seed))
                    best = math.inf
                    at = {}
                    for n in range(1, args.budget + 1):
                        trial = study.ask()
                        x = [trial.suggest_float(name, lo, hi) for name, lo, hi in bounds]
                        y = f(x)
                        best = min(best, y)
                        study.tell(trial, y)
                        if n in (50, 100, args.budget):
                            at[str(n)] = best - fmin
                    print(json.dumps({"kind": "regret", "impl": "optuna", "sampler": sname, "func": fname,
                                      "seed": seed, "regret": at}), flush=True)
                print(f"optuna {fname} {sname}: {time.time() - t0:.1f}s", file=sys.stderr)
    if not args.skip_latency:
        bounds, f, _ = PROBLEMS["hartmann6"]
        dists = {name: optuna.distributions.FloatDistribution(lo, hi) for name, lo, hi in bounds}
        for sname in samplers:
            for n in (10, 100, 1000):
                study = optuna.create_study(sampler=make_sampler(sname, 7))
                filler = optuna.samplers.RandomSampler(seed=99)
                fstudy = optuna.create_study(sampler=filler)
                trials = []
                for _ in range(n):
                    t = fstudy.ask(dists)
                    x = [t.params[name] for name, _, _ in bounds]
                    y = f(x)
                    fstudy.tell(t, y)
                    trials.append(optuna.trial.create_trial(params=t.params, distributions=dists, value=y))
                study.add_trials(trials)
                times = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    trial = study.ask(dists)
                    times.append((time.perf_counter() - t0) * 1e3)
                    study.tell(trial, f([trial.params[name] for name, _, _ in bounds]))
                print(json.dumps({"kind": "latency", "impl": "optuna", "sampler": sname, "func": "hartmann6",
                                  "n": n, "median_ms": statistics.median(times),
                                  "min_ms": min(times)}), flush=True)


if __name__ == "__main__":
    main()
