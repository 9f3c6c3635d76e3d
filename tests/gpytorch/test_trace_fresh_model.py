"""Tracing a model that was never evaluated works, and a failed trace leaves the model usable (both lines).

It shows no warning but torch.jit's own deprecation (gpytorch 0005, legacy 0005; botorch 0002).
"""

import warnings

import gpytorch
import pytest
import torch
from botorch.models import SingleTaskGP

SIZES = (10, 1, 37)  # the traced size, then others


class MeanAndVariance(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        posterior = self.model.posterior(x)
        return posterior.mean, posterior.variance


class ReturnsAPosterior(MeanAndVariance):
    def forward(self, x):
        return self.model.posterior(x)  # not tensors: the tracer refuses it


def fitted_model(outputs: int) -> SingleTaskGP:
    """A fresh SingleTaskGP with set hyperparameters, in eval mode and never evaluated since."""
    torch.manual_seed(0)
    X = torch.rand(30, 3, dtype=torch.double)
    Y = torch.cat([torch.sin(5 * X.sum(-1, keepdim=True)) + k for k in range(outputs)], dim=-1)
    model = SingleTaskGP(X, Y)
    model.covar_module.lengthscale = 0.4
    model.likelihood.noise = 1e-3
    return model.eval()


def reference(model: SingleTaskGP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    twin = fitted_model(model.num_outputs)
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        posterior = twin.posterior(x)
        return posterior.mean, posterior.variance


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("grad", [False, True])
def test_trace_a_model_never_evaluated(outputs: int, grad: bool) -> None:
    model = fitted_model(outputs)
    x = torch.rand(SIZES[0], 3, dtype=torch.double)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.set_grad_enabled(grad), gpytorch.settings.trace_mode():
            traced = torch.jit.trace(MeanAndVariance(model), x, check_trace=not grad)
    # The tracer's size-check warnings are wrong here: the graph holds at every size below.
    # torch.jit's own deprecation: a DeprecationWarning on torch 2.13, a FutureWarning on 2.14
    deprecation = (DeprecationWarning, FutureWarning)
    shown = [f"{w.filename}: {w.message}" for w in caught if not issubclass(w.category, deprecation)]
    assert shown == []
    for size in SIZES:
        x = torch.rand(size, 3, dtype=torch.double)
        with torch.no_grad():
            mean, variance = traced(x)
        expected_mean, expected_variance = reference(model, x)
        torch.testing.assert_close(mean, expected_mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(variance, expected_variance, rtol=0, atol=1e-10)


def test_failed_trace_leaves_the_model_usable() -> None:
    model = fitted_model(2)
    x = torch.rand(SIZES[0], 3, dtype=torch.double)
    with torch.no_grad(), gpytorch.settings.trace_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="Only tensors"):
            torch.jit.trace(ReturnsAPosterior(model), x)
    with torch.no_grad():
        posterior = model.posterior(x)
    expected_mean, expected_variance = reference(model, x)
    torch.testing.assert_close(posterior.mean, expected_mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(posterior.variance, expected_variance, rtol=0, atol=1e-10)
