"""End-to-end Bayesian optimization on a skewed problem: each outcome transform, with qLogNEI and analytic LogEI.

    python benchmarks/bo_loop.py [SEEDS] [ITERATIONS] [PLOT]   # a line's environment plus matplotlib

Problem: maximize exp(-Hartmann6(x)) observed with log-normal noise, y = exp(-H(x) + 0.1 e): positive and
right-skewed (the optimum is exp(3.32237) = 27.7). 8 Sobol points, then ITERATIONS (default 20) steps of q = 1
from a SingleTaskGP with each outcome transform, for SEEDS seeds (default 10); acquisition optimized with
optimize_acqf (4 restarts, 128 raw samples). Prints, per acquisition function and transform, the median wall
time of an iteration (fit + acquisition optimization) as a ratio to Standardize's and the final simple regret
(noise-free, of the best point evaluated; mean and standard error over seeds), and saves the regret curves to
PLOT (default benchmarks/bo_loop.png). One thread.

Each finished run (acquisition, transform, seed) is appended to benchmarks/results/bo_loop-<line>-r<botorch
revision>-runs.jsonl, seed by seed: an interrupted benchmark, started again with the same arguments, resumes there.
"""

import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import (
    BoxCox,
    ChainedOutcomeTransform,
    Log,
    SinhArcsinh,
    Standardize,
    TanhWarp,
    YeoJohnson,
)
from botorch.optim import optimize_acqf
from botorch.test_functions import Hartmann
from botorch.utils.sampling import draw_sobol_samples
from gpytorch.mlls import ExactMarginalLogLikelihood
from results import append_jsonl, read_jsonl, runs_file, save

OPTIMUM = 3.32237
TRANSFORMS = {
    "Standardize": lambda: Standardize(m=1),
    "Log": lambda: ChainedOutcomeTransform(log=Log(), std=Standardize(m=1)),
    "SinhArcsinh": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=SinhArcsinh(m=1)),
    "BoxCox": lambda: ChainedOutcomeTransform(warp=BoxCox(m=1), std=Standardize(m=1)),
    "YeoJohnson": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=YeoJohnson(m=1)),
    "TanhWarp": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=TanhWarp(m=1)),
}
ACQUISITIONS = ("qLogNEI", "LogEI")
HARTMANN = Hartmann(dim=6)
BOUNDS = torch.stack([torch.zeros(6), torch.ones(6)]).double()


def observe(X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = 0.1 * torch.randn(len(X), generator=generator, dtype=X.dtype)
    return torch.exp(-HARTMANN(X) + noise).unsqueeze(-1)


def acquisition(name: str, model: SingleTaskGP, X: torch.Tensor, Y: torch.Tensor):
    if name == "LogEI":
        return LogExpectedImprovement(model, best_f=Y.max())
    return qLogNoisyExpectedImprovement(model, X_baseline=X, prune_baseline=True)


def run(transform: str, acquisition_name: str, seed: int, iterations: int) -> tuple[list[float], list[float]]:
    """Simple regret after each iteration, and the seconds each iteration took."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    X = draw_sobol_samples(BOUNDS, n=8, q=1, seed=seed).squeeze(1)
    Y = observe(X, generator)
    regrets, seconds = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        model = SingleTaskGP(X, Y, outcome_transform=TRANSFORMS[transform]())
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        candidate, _ = optimize_acqf(
            acquisition(acquisition_name, model, X, Y), bounds=BOUNDS, q=1, num_restarts=4, raw_samples=128
        )
        seconds.append(time.perf_counter() - start)
        X, Y = torch.cat([X, candidate]), torch.cat([Y, observe(candidate, generator)])
        best = (-HARTMANN(X)).max().item()
        regrets.append(OPTIMUM - best)
    return regrets, seconds


def mean_and_error(values: list[float]) -> tuple[float, float]:
    error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return statistics.mean(values), error


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(ACQUISITIONS), figsize=(11, 4), sharey=True)
    for axis, acquisition_name in zip(axes, ACQUISITIONS):
        for transform in TRANSFORMS:
            runs = torch.tensor(curves[acquisition_name, transform])
            axis.plot(range(1, runs.shape[1] + 1), runs.clamp_min(1e-6).log10().mean(0), label=transform)
        axis.set_title(f"{acquisition_name}: exp(-Hartmann6), log-normal noise")
        axis.set_xlabel("iteration")
    axes[0].set_ylabel("mean log10 simple regret (latent -H)")
    axes[-1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def run_all(seeds: int, iterations: int, path: Path) -> dict:
    """Each run's record, keyed by (acquisition, transform, seed): read from `path`, or run and appended to it."""
    records = {
        (record["acquisition"], record["transform"], record["seed"]): record
        for record in read_jsonl(path)
        if record["iterations"] == iterations
    }
    for seed in range(seeds):  # seed by seed: an interrupted benchmark has whole seeds of every transform
        for acquisition_name in ACQUISITIONS:
            for transform in TRANSFORMS:
                if (acquisition_name, transform, seed) in records:
                    continue
                regrets, seconds = run(transform, acquisition_name, seed, iterations)
                record = dict(acquisition=acquisition_name, transform=transform, seed=seed, iterations=iterations)
                records[acquisition_name, transform, seed] = {**record, "regrets": regrets, "seconds": seconds}
                append_jsonl(path, records[acquisition_name, transform, seed])
    return records


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    records = run_all(seeds, iterations, runs_file("bo_loop"))
    curves, times = {}, {}
    for acquisition_name in ACQUISITIONS:
        for transform in TRANSFORMS:
            results = [records[acquisition_name, transform, seed] for seed in range(seeds)]
            curves[acquisition_name, transform] = [result["regrets"] for result in results]
            times[acquisition_name, transform] = statistics.median(s for r in results for s in r["seconds"])
    print(f"{seeds} seeds, {iterations} iterations after 8 Sobol points")
    print("| acquisition | transform | time per iteration (ratio to Standardize) | final simple regret |")
    print("|---|---|---:|---:|")
    rows = []
    for (acquisition_name, transform), runs in curves.items():
        ratio = times[acquisition_name, transform] / times[acquisition_name, "Standardize"]
        mean, error = mean_and_error([regrets[-1] for regrets in runs])
        seconds = times[acquisition_name, "Standardize"]
        base = f" ({seconds:.2f} s)" if transform == "Standardize" else ""
        print(f"| {acquisition_name} | {transform} | {ratio:.2f}x{base} | {mean:.3f} +-{error:.3f} |")
        rows.append([acquisition_name, transform, ratio, seconds, mean, error])
    columns = ["acquisition", "transform", "time per iteration / Standardize", "Standardize s", "regret", "+- s.e."]
    notes = f"{seeds} seeds, {iterations} iterations after 8 Sobol points; final simple regret of -Hartmann6."
    variant = "" if (seeds, iterations) == (10, 20) else f"{seeds}x{iterations}"
    save("bo_loop", columns, ["s", "s", ".2f", ".2f", ".3f", ".3f"], rows, notes, variant=variant)
    plot(curves, Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).with_name("bo_loop.png"))


if __name__ == "__main__":
    main()
