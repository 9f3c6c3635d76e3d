"""What a warped model's fit costs in a Bayesian-optimization loop, and what a stopping rule saves (issue #25).

    python benchmarks/fit_levers.py [TASKS...]   # the current line's environment plus scikit-learn

For each task of benchmarks/bo_tuning.py (its losses at 29 uniform random points, seed 0; default: all nine), each
outcome transform of that benchmark fits a SingleTaskGP on the first 8, 11, ..., 29 points as a loop does: each fit
starts from the previous fit's parameters (warm, as bo_tuning.py's loop), once to L-BFGS-B's convergence
(fit_gpytorch_mll's defaults) and once with the stopping rule `LossPlateau` (stop once the marginal log likelihood, in
nats over all points, rose by less than 0.01 over the last 10 iterations; it needs botorch 0018, which lets a
callback stop a fit). What the rule leaves on the table: the fit is continued to convergence, and the rise in
log likelihood it finds is the gap (nats, summed over the points). Cold: one fit from scratch at 29 points, without
and with the rule.

Table, one row per transform, medians over tasks: fit seconds relative to Standardize's fit to convergence (cold;
cold with the rule; warm; warm with the rule), L-BFGS-B iterations per warm fit without and with the rule, and the
rule's gap (mean and largest over all fits). One thread.
"""

import statistics
import sys
import time
import warnings

import numpy as np
import torch
from bo_tuning import TASKS, Task, outcome_transform, warm_state
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood
from results import save

METHODS = ["standardize", "yeojohnson", "boxcox", "sinharcsinh", "tanh", "sal2"]
SIZES = range(8, 30, 3)


class LossPlateau:
    """A fit_gpytorch_mll callback that stops the fit once the log likelihood stops rising.

    Args:
        num_data: The number of training points (the loss is the negative log likelihood per point).
        tol: The least rise in log likelihood, in nats over all points, over `window` iterations to go on.
        window: The number of iterations the rise is measured over.
    """

    def __init__(self, num_data: int, tol: float = 0.01, window: int = 10) -> None:
        self.num_data, self.tol, self.window, self.losses = num_data, tol, window, []

    def __call__(self, parameters, result) -> None:
        self.losses.append(result.fval * self.num_data)
        if len(self.losses) > self.window and self.losses[-self.window - 1] - self.losses[-1] < self.tol:
            raise StopIteration


def fit(model, rule: LossPlateau | None = None) -> tuple[float, int, float]:
    """Seconds, iterations and final loss (nats over all points) of one fit."""
    recorder = rule or LossPlateau(len(model.train_targets), tol=-np.inf)
    start = time.perf_counter()
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model), optimizer_kwargs={"callback": recorder})
    seconds = time.perf_counter() - start
    return seconds, len(recorder.losses), recorder.losses[-1] if recorder.losses else float("nan")


def measure(task: Task, method: str, X: np.ndarray, Y: np.ndarray) -> dict:
    runs = {"warm": [], "rule": []}
    gaps = []
    for kind in runs:
        state = None
        for n in SIZES:
            torch.manual_seed(0)
            model = SingleTaskGP(torch.tensor(X[:n]), torch.tensor(Y[:n]), outcome_transform=outcome_transform(method))
            if state is not None:
                model.load_state_dict(state, strict=False)
            seconds, iterations, loss = fit(model, LossPlateau(n) if kind == "rule" else None)
            runs[kind].append((seconds, iterations))
            state = warm_state(model)
            if kind == "rule":  # how much better the converged fit from here is
                gaps.append(max(0.0, loss - fit(model)[2]))
    cold = {}
    for kind, rule in (("cold_s", None), ("cold_rule_s", LossPlateau(len(X)))):
        torch.manual_seed(0)
        model = SingleTaskGP(torch.tensor(X), torch.tensor(Y), outcome_transform=outcome_transform(method))
        cold[kind] = fit(model, rule)[0]
    return {
        **cold,
        **{f"{kind}_s": statistics.mean(s for s, _ in runs[kind]) for kind in runs},
        **{f"{kind}_iterations": statistics.mean(i for _, i in runs[kind]) for kind in runs},
        "gap_mean": statistics.mean(gaps),
        "gap_max": max(gaps),
    }


def main(tasks: list[str]) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # input-scaling and fallback warnings of small training sets
    found = {}
    warm_up = Task(tasks[0])
    X = np.random.default_rng(1).random((8, warm_up.dim))
    measure(warm_up, "sinharcsinh", X, np.array([[warm_up(x)] for x in X]))  # first calls' one-time costs
    for name in tasks:
        task = Task(name)
        X = np.random.default_rng(0).random((max(SIZES), task.dim))
        Y = np.array([[task(x)] for x in X])
        for method in METHODS:
            found[name, method] = measure(task, method, X, Y)
            print(name, method, {k: round(v, 3) for k, v in found[name, method].items()}, flush=True)
    rows = []
    for method in METHODS:

        def ratio(key: str) -> float:
            return statistics.median(found[t, method][key] / found[t, "standardize"]["warm_s"] for t in tasks)

        def median(key: str) -> float:
            return statistics.median(found[t, method][key] for t in tasks)

        rows.append(
            [
                method,
                statistics.median(found[t, method]["cold_s"] / found[t, "standardize"]["cold_s"] for t in tasks),
                statistics.median(found[t, method]["cold_rule_s"] / found[t, "standardize"]["cold_s"] for t in tasks),
                ratio("warm_s"),
                ratio("rule_s"),
                median("warm_iterations"),
                median("rule_iterations"),
                statistics.mean(found[t, method]["gap_mean"] for t in tasks),
                max(found[t, method]["gap_max"] for t in tasks),
            ]
        )
    standard = statistics.median(found[t, "standardize"]["warm_s"] for t in tasks)
    save(
        "fit_levers",
        [
            "transform",
            "cold fit / Standardize",
            "cold fit with the rule / Standardize",
            "warm fit / Standardize",
            "warm fit with the rule / Standardize",
            "iterations",
            "iterations with the rule",
            "rule's gap (nats, mean)",
            "rule's gap (nats, largest)",
        ],
        ["s", ".2f", ".2f", ".2f", ".2f", ".0f", ".0f", ".3f", ".3f"],
        rows,
        notes=(
            f"Medians over the tasks {', '.join(tasks)}. Warm ratios are relative to Standardize's warm fit to "
            f"convergence ({standard:.3f} s, median over tasks), cold ratios to its cold fit. The rule: LossPlateau "
            "(tol 0.01 nats over 10 iterations). Gap: the log likelihood a fit to convergence gains after the rule "
            "stopped, in nats over all points (a rise of 0.5 moves a hyperparameter by about one standard error)."
        ),
        variant="" if list(tasks) == list(TASKS) else "some-tasks",
    )


if __name__ == "__main__":
    main(sys.argv[1:] or list(TASKS))
