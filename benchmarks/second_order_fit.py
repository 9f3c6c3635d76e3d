"""A second-order fit of warped models against L-BFGS-B, the fit of fit_gpytorch_mll (issue #25's lever).

    python benchmarks/second_order_fit.py [TASKS...]   # the current line's environment plus scikit-learn

The warped models have about ten hyperparameters, so the exact Hessian of the loss costs ten backward passes
through the gradient's graph. Does Newton's method with it fit faster than L-BFGS-B, which needs about twice as many
iterations for SinhArcsinh as for Standardize? The method: SciPy's `trust-constr` (a trust-region method that takes
the exact Hessian and honors the bounds BoTorch puts on the noise and lengthscales; a plain Newton step leaves them),
on the same loss (`get_loss_closure`, the warped likelihood of the training pass) from the same start.

For each task of benchmarks/bo_tuning.py (its losses at 29 uniform random points, seed 0, as fit_levers.py) and
transform: a cold fit at 29 points, and a warm fit at 29 points from the L-BFGS-B fit at 26 points (as a loop does).
Table, one row per transform and start, medians over tasks: Newton's fit seconds relative to L-BFGS-B's, L-BFGS-B
iterations, Newton iterations and Hessians, and the final loss of Newton minus that of L-BFGS-B (nats over all
points, mean over tasks; negative: Newton found the better optimum). One thread.
"""

import statistics
import sys
import time
import warnings

import numpy as np
import torch
from bo_tuning import TASKS, Task, outcome_transform, warm_state
from botorch.models import SingleTaskGP
from botorch.optim.closures import get_loss_closure
from botorch.optim.utils import get_parameters_and_bounds
from fit_levers import METHODS, fit
from gpytorch.mlls import ExactMarginalLogLikelihood
from results import save
from scipy.optimize import Bounds, minimize


class HessianLoss:
    """The loss of an mll as a function of its trainable parameters' flat vector, with gradient and exact Hessian."""

    def __init__(self, mll: ExactMarginalLogLikelihood) -> None:
        named, bounds = get_parameters_and_bounds(mll)
        self.names = [name for name, parameter in named.items() if parameter.requires_grad]
        self.parameters = [named[name] for name in self.names]
        self.closure = get_loss_closure(mll)
        lower, upper = [], []
        for name, parameter in zip(self.names, self.parameters):
            low, high = bounds.get(name, (None, None))
            lower.append(np.full(parameter.numel(), -np.inf if low is None else float(low)))
            upper.append(np.full(parameter.numel(), np.inf if high is None else float(high)))
        self.bounds = Bounds(np.concatenate(lower), np.concatenate(upper), keep_feasible=True)

    def x0(self) -> np.ndarray:
        x = torch.cat([parameter.detach().reshape(-1) for parameter in self.parameters]).numpy().astype(float)
        return np.clip(x, self.bounds.lb, self.bounds.ub)

    def set(self, x: np.ndarray) -> None:
        with torch.no_grad():
            offset = 0
            for parameter in self.parameters:
                parameter.copy_(torch.as_tensor(x[offset : offset + parameter.numel()]).view_as(parameter))
                offset += parameter.numel()

    def gradient(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        self.set(x)
        loss = self.closure()
        grads = torch.autograd.grad(loss, self.parameters, create_graph=True, allow_unused=True)
        return loss, self.flat(grads)

    def flat(self, grads) -> torch.Tensor:
        parts = [torch.zeros(p.numel()) if g is None else g.reshape(-1) for g, p in zip(grads, self.parameters)]
        return torch.cat(parts)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = self.gradient(x)
        return loss.item(), grad.detach().numpy().astype(float)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        _, grad = self.gradient(x)
        rows = [
            (
                self.flat(torch.autograd.grad(g, self.parameters, retain_graph=True, allow_unused=True))
                if g.requires_grad
                else torch.zeros_like(grad)
            )
            for g in grad
        ]
        hessian = torch.stack(rows).detach().numpy()
        return (hessian + hessian.T) / 2


def newton_fit(mll: ExactMarginalLogLikelihood) -> tuple[float, int, int]:
    """Fit by trust-constr with the exact Hessian: seconds, iterations and Hessians."""
    start = time.perf_counter()
    mll.train()
    loss = HessianLoss(mll)
    result = minimize(
        loss.value_and_grad,
        loss.x0(),
        jac=True,
        hess=loss.hessian,
        method="trust-constr",
        bounds=loss.bounds,
        options={"gtol": 1e-6, "maxiter": 500},
    )
    loss.set(result.x)
    mll.eval()
    return time.perf_counter() - start, result.nit, result.nhev


def final_loss(mll: ExactMarginalLogLikelihood) -> float:
    mll.train()
    with torch.no_grad():
        loss = get_loss_closure(mll)().item() * len(mll.model.train_targets)
    mll.eval()
    return loss


def model_and_mll(method: str, X: np.ndarray, Y: np.ndarray, state: dict | None):
    torch.manual_seed(0)
    model = SingleTaskGP(torch.tensor(X), torch.tensor(Y), outcome_transform=outcome_transform(method))
    if state is not None:
        model.load_state_dict(state, strict=False)
    return ExactMarginalLogLikelihood(model.likelihood, model)


def measure(method: str, X: np.ndarray, Y: np.ndarray) -> dict:
    previous = model_and_mll(method, X[:-3], Y[:-3], None)
    fit(previous.model)
    found = {}
    for start, state in (("cold", None), ("warm", warm_state(previous.model))):
        mll = model_and_mll(method, X, Y, state)
        seconds, iterations, _ = fit(mll.model)  # L-BFGS-B, fit_gpytorch_mll's defaults
        lbfgs_loss = final_loss(mll)
        mll = model_and_mll(method, X, Y, state)
        newton_seconds, newton_iterations, hessians = newton_fit(mll)
        found[start] = {
            "ratio": newton_seconds / seconds,
            "lbfgs_iterations": iterations,
            "newton_iterations": newton_iterations,
            "hessians": hessians,
            "gap": final_loss(mll) - lbfgs_loss,
        }
    return found


def main(tasks: list[str]) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # input-scaling and fallback warnings of small training sets
    found = {}
    for name in tasks:
        task = Task(name)
        X = np.random.default_rng(0).random((29, task.dim))
        Y = np.array([[task(x)] for x in X])
        if not found:
            measure("sinharcsinh", X, Y)  # first calls' one-time costs
        for method in METHODS:
            found[name, method] = measure(method, X, Y)
            print(name, method, found[name, method], flush=True)
    rows = []
    for method in METHODS:
        for start in ("cold", "warm"):
            runs = [found[task, method][start] for task in tasks]

            def median(key: str) -> float:
                return statistics.median(run[key] for run in runs)

            gap = statistics.mean(run["gap"] for run in runs)
            rows.append([method, start, median("ratio"), median("lbfgs_iterations")])
            rows[-1] += [median("newton_iterations"), median("hessians"), gap]
    save(
        "second_order_fit",
        ["transform", "start", "Newton / L-BFGS-B", "L-BFGS-B iterations", "Newton iterations", "Hessians", "gap"],
        ["s", "s", ".2f", ".0f", ".0f", ".0f", ".3f"],
        rows,
        notes=(
            f"Medians over the tasks {', '.join(tasks)} (fits at 29 points; warm: from the L-BFGS-B fit at 26). "
            "Newton: SciPy's trust-constr with the exact Hessian (autograd), gtol 1e-6. Gap: Newton's final loss "
            "minus L-BFGS-B's, nats over all points, mean over tasks (negative: Newton's optimum is better)."
        ),
        variant="" if list(tasks) == list(TASKS) else "some-tasks",
    )


if __name__ == "__main__":
    main(sys.argv[1:] or list(TASKS))
