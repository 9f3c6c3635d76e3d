"""Eager posteriors (and their derivatives) of a set of models, computed the same way by patched and by unpatched
BoTorch: models without trainable transforms, fitted, conditioned and fantasized ones included; and the analytic
acquisition values (and their gradients) of the single-output ones, which ask the posterior before falling back to
their Gaussian formulas.

Imported by test_eager_unchanged.py, and run as a script against the unpatched sdist:
    python eager_cases.py OUTPUT_FILE
"""

import sys
import warnings

import torch
from botorch.acquisition.analytic import (
    ExpectedImprovement,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    PosteriorMean,
    PosteriorStandardDeviation,
    ProbabilityOfImprovement,
    UpperConfidenceBound,
)
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.models.transforms.outcome import ChainedOutcomeTransform, Log
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood


class StandardizeWithParameter(Standardize):
    """A custom transform with a parameter that requires gradients, which does not opt in to being trained (as
    upstream, it is applied once, at construction)."""

    def __init__(self, m: int) -> None:
        super().__init__(m=m)
        self.offset = torch.nn.Parameter(torch.zeros(1, dtype=torch.double))


def _models():
    torch.manual_seed(0)
    X = 4 * torch.rand(16, 3, dtype=torch.double)
    Y = torch.stack([(k + 1) * torch.sin(X[:, 0] + k) + 3 * k for k in range(3)], dim=-1)
    for m in (1, 2, 3):
        yield f"stgp{m}", SingleTaskGP(X, Y[:, :m]), {}
        yield f"stgp{m}-normalize-fixed", SingleTaskGP(
            X, Y[:, :m], train_Yvar=torch.full_like(Y[:, :m], 0.01), input_transform=Normalize(d=3)
        ), {"observation_noise": True}
    yield "stgp3-output-indices", SingleTaskGP(X, Y, outcome_transform=None), {"output_indices": [2, 0]}
    yield "model-list", ModelListGP(SingleTaskGP(X, Y[:, :1]), SingleTaskGP(X, Y[:, 1:2])), {}
    model = SingleTaskGP(X, Y[:, :2], outcome_transform=Standardize(m=2))
    model.posterior(X[:2])
    yield "fantasized", model.fantasize(X[:4] + 0.1, SobolQMCNormalSampler(sample_shape=torch.Size([2]), seed=0)), {}
    yield "conditioned", model.condition_on_observations(X[:3] + 0.2, Y[:3, :2] + 0.5), {}
    chain = ChainedOutcomeTransform(log=Log(), std=Standardize(m=1))
    yield "log-chain", SingleTaskGP(X, Y[:, :1].exp(), outcome_transform=chain), {}
    fitted = SingleTaskGP(X, Y[:, :1], outcome_transform=StandardizeWithParameter(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(fitted.likelihood, fitted))
    yield "fitted-custom-transform-with-parameter", fitted, {}
    fitted.posterior(X[:2])
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([2]), seed=1)  # the batch of X_test
    yield "fitted-fantasized", fitted.fantasize(X[:2] + 0.05, sampler), {}


def _acquisition_functions(model, best_f: torch.Tensor, maximize: bool) -> dict:
    improvement = (LogExpectedImprovement, ExpectedImprovement, LogProbabilityOfImprovement, ProbabilityOfImprovement)
    functions = {cls.__name__: cls(model, best_f=best_f, maximize=maximize) for cls in improvement}
    functions["UpperConfidenceBound"] = UpperConfidenceBound(model, beta=0.7, maximize=maximize)
    functions["PosteriorMean"] = PosteriorMean(model, maximize=maximize)
    functions["PosteriorStandardDeviation"] = PosteriorStandardDeviation(model, maximize=maximize)
    return functions


def _acquisition_results(name: str, model, X_test: torch.Tensor) -> dict[str, torch.Tensor]:
    X = X_test.reshape(-1, 1, X_test.shape[-1])  # q = 1
    best_f = model.posterior(X).mean.detach().median()
    results = {}
    for maximize in (True, False):
        for acquisition_name, acquisition in _acquisition_functions(model, best_f, maximize).items():
            X_grad = X.clone().requires_grad_(True)
            value = acquisition(X_grad)
            (gradient,) = torch.autograd.grad(value.sum(), X_grad)
            key = f"{name}-{acquisition_name}-{'max' if maximize else 'min'}"
            results[key] = value.detach()
            results[f"{key}-gradient"] = gradient
    return results


def eager_results() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    X_test = 4 * torch.rand(2, 5, 3, dtype=torch.double)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, kwargs in _models():
            X = X_test.clone().requires_grad_(True)
            posterior = model.eval().posterior(X, **kwargs)
            results[f"{name}-mean"] = posterior.mean.detach()
            results[f"{name}-variance"] = posterior.variance.detach()
            if hasattr(posterior, "distribution"):  # not the Log chain's TransformedPosterior
                results[f"{name}-covariance"] = posterior.distribution.covariance_matrix.detach()
            (gradient,) = torch.autograd.grad(posterior.mean.sum() + posterior.variance.sum(), X)
            results[f"{name}-gradient"] = gradient
            if model.num_outputs == 1 and not model.batch_shape:
                results.update(_acquisition_results(name, model, X_test))
    return results


if __name__ == "__main__":
    import botorch

    torch.save(eager_results(), sys.argv[1])
    print(botorch.__file__)
