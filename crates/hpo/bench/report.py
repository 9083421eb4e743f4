"""Merge the JSON lines of `cargo run --example bench` and `optuna_bench.py` into the
side-by-side tables of the README (Markdown), and check the targets."""

import collections
import json
import statistics
import sys

ORDER = [("optuna", "tpe"), ("optuna", "random"), ("ours", "tpe"), ("ours", "tpe-uni"),
         ("ours", "gp"), ("ours", "sobol"), ("ours", "random")]


def quartiles(v):
    if len(v) < 2:
        return v[0], v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], statistics.median(v), q[2]


def main(paths):
    regret = collections.defaultdict(list)
    latency = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                key = (r["impl"], r["sampler"])
                if r["kind"] == "regret":
                    for budget, v in r["regret"].items():
                        regret[(r["func"], int(budget), key)].append(v)
                else:
                    latency[(key, r["n"])] = (r["median_ms"], r.get("min_ms", r["median_ms"]))
    funcs = sorted({k[0] for k in regret})
    budgets = sorted({k[1] for k in regret})
    seeds = max((len(v) for v in regret.values()), default=0)
    print(f"### Simple regret ({seeds} seeds; median [q1, q3]; ratio = median / Optuna TPE median)\n")
    head = "| sampler |" + "".join(f" {f} @{b} |" for f in funcs for b in budgets)
    print(head)
    print("|---|" + "---|" * (len(funcs) * len(budgets)))
    meds = {}
    for key in ORDER:
        cells = []
        for f in funcs:
            for b in budgets:
                v = regret.get((f, b, key))
                if not v:
                    cells.append(" – |")
                    continue
                q1, med, q3 = quartiles(v)
                meds[(f, b, key)] = med
                base = statistics.median(regret.get((f, b, ("optuna", "tpe")), [float("nan")]))
                ratio = med / base if base > 0 else float("nan")
                cells.append(f" {med:.3g} [{q1:.3g}, {q3:.3g}] ×{ratio:.3g} |")
        if any(c != " – |" for c in cells):
            print(f"| {key[0]} {key[1]} |" + "".join(cells))
    print()
    if latency:
        ns = sorted({n for (_, n) in latency})
        print("### Suggestion latency (Hartmann6, ms per suggestion: median (fastest) of 50 asks, 10 for GP, 3 for GP at n=1000; history of n completed trials)\n")
        print("| sampler |" + "".join(f" n={n} |" for n in ns))
        print("|---|" + "---|" * len(ns))
        for key in ORDER:
            if any((key, n) in latency for n in ns):
                print(f"| {key[0]} {key[1]} |" + "".join(
                    f" {latency[(key, n)][0]:.3g} ({latency[(key, n)][1]:.3g}) |" if (key, n) in latency else " – |" for n in ns))
        print()
    print("### Targets\n")
    for f in funcs:
        for b in budgets:
            base = meds.get((f, b, ("optuna", "tpe")))
            if base is None:
                continue
            for key in [("ours", "tpe"), ("ours", "gp")]:
                m = meds.get((f, b, key))
                if m is not None:
                    verdict = "met" if m <= base else "MISSED"
                    print(f"- {f} @{b}: ours {key[1]} median {m:.3g} vs Optuna TPE {base:.3g} → {verdict}")
    t = latency.get((("ours", "tpe"), 1000))
    if t is not None:
        o = latency.get((("optuna", "tpe"), 1000))
        extra = f", Optuna TPE {o[0]:.3g} ms ({o[0] / t[0]:.0f}× slower)" if o else ""
        print(f"- TPE suggestion at 1,000 trials: median {t[0]:.3g} ms, fastest {t[1]:.3g} ms "
              f"(target < 1 ms → {'met' if t[0] < 1 else 'MISSED'} on the median){extra}")


if __name__ == "__main__":
    main(sys.argv[1:])
