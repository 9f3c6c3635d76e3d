"""Tables and plot of a `bo_tuning.py` results file (works on partial results: each cell says its run count).

    python benchmarks/bo_report.py [RESULTS] [--out NAME]   # needs scipy and matplotlib (the bench-cur venv)

Normalized score (Bayesmark's): per task and evaluation count i, 100 * (R_i - b_i) / (R_i - opt), where b_i is
the run's best loss after i evaluations, R_i the mean of random search's b_i over its runs, and opt the best
loss any run found on the task. Writes benchmarks/results/<NAME>.md and <NAME>.png.
"""

import argparse
import statistics
from pathlib import Path

import numpy as np
from bo_tuning import read_results

WARPS = ["sinharcsinh", "boxcox", "yeojohnson", "tanh", "sal2"]


def scores(runs):
    """{(task, method, seed): normalized score trace} for tasks that have random-search runs."""
    out = {}
    for task in sorted({t for t, _, _ in runs}):
        task_runs = {k: np.array(r["best"]) for k, r in runs.items() if k[0] == task}
        randoms = [b for (_, m, _), b in task_runs.items() if m == "random"]
        if not randoms:
            continue
        random_mean = np.mean(randoms, axis=0)
        opt = min(b.min() for b in task_runs.values())
        for key, best in task_runs.items():
            gap = np.maximum(random_mean - opt, 1e-12)
            out[key] = 100 * (random_mean - best) / gap
    return out


def mean_se(values):
    values = list(values)
    if not values:
        return "-"
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} +-{se:.1f} ({len(values)})"


def paired(score, method, baseline):
    from scipy.stats import wilcoxon

    pairs = [
        (s[-1], score[t, baseline, seed][-1])
        for (t, m, seed), s in score.items()
        if m == method and (t, baseline, seed) in score
    ]
    if not pairs:
        return "-"
    diffs = np.array([a - b for a, b in pairs])
    wins = (diffs > 0).sum() + 0.5 * (diffs == 0).sum()
    p = wilcoxon(diffs).pvalue if np.any(diffs != 0) else 1.0
    return f"{wins / len(diffs):.2f} / p={p:.3g} ({len(diffs)})"


def timing(runs, method):
    """(fit, total) seconds per iteration relative to Standardize, medians over the paired runs."""
    ratios_fit, ratios_total = [], []
    for (task, m, seed), record in runs.items():
        base = runs.get((task, "standardize", seed))
        if m != method or base is None or not record["fit_s"] or not base["fit_s"]:
            continue
        fit, base_fit = np.mean(record["fit_s"]), np.mean(base["fit_s"])
        total = fit + np.mean(record["acq_s"])
        ratios_fit.append(fit / base_fit)
        ratios_total.append(total / (base_fit + np.mean(base["acq_s"])))
    if not ratios_fit:
        return "-", "-"
    return f"{np.median(ratios_fit):.2f}x", f"{np.median(ratios_total):.2f}x"


def plot(score, methods, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab20").colors  # more methods than the default cycle's 10 colors
    for index, method in enumerate(methods):
        traces = [s for (t, m, _), s in score.items() if m == method]
        if traces:
            length = min(len(s) for s in traces)
            mean = np.mean([s[:length] for s in traces], axis=0)
            style = {"color": "gray", "linestyle": "--"} if method == "random" else {"color": colors[2 * index % 20]}
            axis.plot(range(1, length + 1), mean, label=method, **style)
    axis.set_xlabel("evaluations")
    axis.set_ylabel("mean normalized score (all tasks and seeds)")
    axis.set_ylim(-50, 105)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(path, name):
    header, runs = read_results(path)
    score = scores(runs)
    methods = [m for m in header["methods"] if any(k[1] == m for k in runs)]
    tasks = [t for t in header["tasks"] if any(k[0] == t for k in score)]
    lines = [
        f"# Bayesian optimization of real tuning tasks (`{Path(path).name}`)",
        "",
        f"Revision {header['revision']}, started {header['date']}; {header['evals']} evaluations per run "
        f"({header['n_init']} initial); {len(runs)} runs. Command: `{header['command']}`.",
        "Mean normalized score at the last evaluation +- standard error (runs); 100 = best any method found, "
        "0 = random search's mean.",
        "",
        "| task | skew (random) | " + " | ".join(methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]
    from scipy.stats import skew

    for task in tasks:
        values = [v for (t, m, _), r in runs.items() if t == task and m == "random" for v in r["y"]]
        cells = [mean_se(s[-1] for (t, m, _), s in score.items() if t == task and m == method) for method in methods]
        lines.append(f"| {task} | {skew(values):.2f} | " + " | ".join(cells) + " |")
    overall = [mean_se(s[-1] for (t, m, _), s in score.items() if m == method) for method in methods]
    lines += ["| **all** | | " + " | ".join(overall) + " |", ""]
    lines += [
        "Paired over (task, seed) at the last evaluation: win rate / Wilcoxon signed-rank p (pairs); time per "
        "iteration relative to Standardize (median over paired runs of the mean seconds per iteration).",
        "",
        "| method | vs standardize | vs power | fit time | total time |",
        "|---|---:|---:|---:|---:|",
    ]
    for method in methods:
        if method in ("standardize", "random"):
            continue
        fit, total = timing(runs, method)
        versus = [paired(score, method, baseline) for baseline in ("standardize", "power")]
        lines.append(f"| {method} | {versus[0]} | {versus[1]} | {fit} | {total} |")
    base = [np.mean(r["fit_s"]) + np.mean(r["acq_s"]) for (_, m, _), r in runs.items() if m == "standardize"]
    if base:
        lines += ["", f"Standardize: {np.median(base):.2f} s per iteration (median over runs)."]
    out = Path(path).parent / name
    plot(score, methods, out.with_suffix(".png"))
    lines += ["", f"![normalized score against evaluations]({out.with_suffix('.png').name})", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).parent / "results" / "bo_tuning-current-r33.jsonl"
    parser.add_argument("results", nargs="?", type=Path, default=default)
    parser.add_argument("--out", help="name of the .md and .png (default: the results file's stem)")
    args = parser.parse_args()
    report(args.results, args.out or args.results.stem)


if __name__ == "__main__":
    main()
