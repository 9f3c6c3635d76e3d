"""Latency of warped posteriors against the same model with Standardize, in one process.

    python benchmarks/warped_posterior.py            # in the current line's environment

A SingleTaskGP on 100 training points (d = 3, double precision, one thread) with each outcome transform,
fitted once. For n_test in {1, 10, 100}, prints the median time of `model.posterior(X)` then `.mean` and
`.variance` (50 calls, no gradients), and of `posterior.rsample(torch.Size([256]))`, for Standardize in
milliseconds and for each warp as a ratio to Standardize. The aim is a ratio of at most 2.
"""

import statistics
import time
import warnings

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import (
    BoxCox,
    ChainedOutcomeTransform,
    SinhArcsinh,
    Standardize,
    TanhWarp,
    YeoJohnson,
)
from gpytorch.mlls import ExactMarginalLogLikelihood
from results import save

CALLS = 50
N_TEST = (1, 10, 100)
TRANSFORMS = {
    "Standardize": lambda: Standardize(m=1),
    "SinhArcsinh": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=SinhArcsinh(m=1)),
    "BoxCox": lambda: ChainedOutcomeTransform(warp=BoxCox(m=1), std=Standardize(m=1)),
    "YeoJohnson": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=YeoJohnson(m=1)),
    "TanhWarp": lambda: ChainedOutcomeTransform(std=Standardize(m=1), warp=TanhWarp(m=1)),
    "SAL x2": lambda: ChainedOutcomeTransform(
        std=Standardize(m=1), sal1=SinhArcsinh(m=1, learn_location=True), sal2=SinhArcsinh(m=1)
    ),
}


def fitted_model(make_transform) -> SingleTaskGP:
    torch.manual_seed(0)
    X = torch.rand(100, 3, dtype=torch.double)
    Y = torch.exp(torch.sin(6 * X).sum(-1, keepdim=True) + 0.3 * torch.randn(100, 1, dtype=torch.double))
    model = SingleTaskGP(X, Y, outcome_transform=make_transform())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def median_ms(function) -> float:
    function()  # warm-up
    times = []
    for _ in range(CALLS):
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return 1000 * statistics.median(times)


def mean_and_variance(model, X):
    posterior = model.posterior(X)
    return posterior.mean, posterior.variance


def latencies(model, X) -> tuple[float, float]:
    with torch.no_grad():
        moments = median_ms(lambda: mean_and_variance(model, X))
        posterior = model.posterior(X)
        samples = median_ms(lambda: posterior.rsample(torch.Size([256])))
    return moments, samples


def main() -> None:
    torch.set_num_threads(1)
    models = {name: fitted_model(make) for name, make in TRANSFORMS.items()}
    header = "| n_test | statistic | Standardize | " + " | ".join(list(TRANSFORMS)[1:]) + " |"
    print(header)
    print("|" + "|".join(["---:"] * (len(TRANSFORMS) + 2)) + "|")
    rows = []
    for n_test in N_TEST:
        X = torch.rand(n_test, 3, dtype=torch.double, generator=torch.Generator().manual_seed(n_test))
        times = {name: latencies(model, X) for name, model in models.items()}
        for k, statistic in enumerate(("mean+variance", "rsample(256)")):
            base = times["Standardize"][k]
            ratios = " | ".join(f"{times[name][k] / base:.2f}x" for name in list(TRANSFORMS)[1:])
            print(f"| {n_test} | {statistic} | {base:.3f} ms | {ratios} |")
            rows.append([n_test, statistic, base, *(times[name][k] / base for name in list(TRANSFORMS)[1:])])
    columns = ["n_test", "statistic", "Standardize ms", *list(TRANSFORMS)[1:]]
    notes = f"Median of {CALLS} calls; each warp as a ratio to Standardize (the aim: at most 2)."
    save("warped_posterior", columns, ["d", "s", ".3f"] + [".2f"] * (len(TRANSFORMS) - 1), rows, notes)


if __name__ == "__main__":
    main()
