"""Fantasy models trace with torch.jit.trace and the traced graph matches the eager model (GPyTorch #2604)."""

import itertools
import math
import warnings

import gpytorch
import pytest
import torch

TEST_SIZES = (51, 7, 1, 120)  # the traced size, then others


class ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y, likelihood):
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class MeanVarModelWrapper(torch.nn.Module):
    """The wrapper of GPyTorch's TorchScript example."""

    def __init__(self, gp):
        super().__init__()
        self.gp = gp

    def forward(self, x):
        output_dist = self.gp(x)
        return output_dist.mean, output_dist.variance


def trained_model(seed: int = 0) -> ExactGPModel:
    torch.manual_seed(seed)
    train_x = torch.linspace(0, 1, 20, dtype=torch.double)
    train_y = torch.sin(6 * train_x) + 0.1 * torch.randn_like(train_x)
    model = ExactGPModel(train_x, train_y, gpytorch.likelihoods.GaussianLikelihood()).double()
    model.covar_module.base_kernel.lengthscale = 0.2
    model.likelihood.noise = 0.01
    model.eval()
    model(torch.rand(3, dtype=torch.double))  # builds the caches that fantasies update
    return model


def fantasize(model: ExactGPModel, batch: bool) -> ExactGPModel:
    fantasy_x = torch.rand(5, dtype=torch.double)
    fantasy_y = torch.randn(3, 5, dtype=torch.double) if batch else torch.randn(5, dtype=torch.double)
    return model.get_fantasy_model(fantasy_x, fantasy_y)


def trace(model: ExactGPModel, check: bool) -> torch.jit.ScriptModule:
    test_x = torch.linspace(0, 1, TEST_SIZES[0], dtype=torch.double)
    model(test_x)  # the precomputation call of GPyTorch's TorchScript example
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings, and TorchScript's deprecation
        return torch.jit.trace(MeanVarModelWrapper(model), test_x, check_trace=check)


def assert_matches_eager(traced: torch.jit.ScriptModule, model: ExactGPModel) -> None:
    """The traced graph against the eager model outside trace_mode (which restores its untraced caches)."""
    for size in TEST_SIZES:
        x = torch.linspace(-0.2, 1.2, size, dtype=torch.double)
        with gpytorch.settings.trace_mode(False):
            eager_mean, eager_variance = MeanVarModelWrapper(model)(x)
        traced_mean, traced_variance = traced(x)
        assert traced_mean.shape == eager_mean.shape and eager_mean.shape[-1] == size
        torch.testing.assert_close(traced_mean, eager_mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(traced_variance, eager_variance, rtol=0, atol=1e-10)


@pytest.mark.parametrize("fast_pred_var", [True, False])
def test_reproduction_of_2604(fast_pred_var: bool) -> None:
    """The issue's script: float32, five Adam steps, ten fantasy points, traced after the precomputation call."""
    torch.manual_seed(0)
    X = torch.linspace(0, 1, 100)
    y = torch.sin(X * (2 * math.pi)) + torch.randn(X.size()) * 0.2
    train_x, fantasy_x = X[:90], X[90:]
    train_y, fantasy_y = y[:90], y[90:]
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = ExactGPModel(train_x, train_y, likelihood)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    for _ in range(5):
        optimizer.zero_grad()
        (-mll(model(train_x), train_y)).backward()
        optimizer.step()
    model.eval()
    model(train_x[:2])
    fantasized_model = model.get_fantasy_model(fantasy_x, fantasy_y)

    test_x = torch.linspace(0, 1, 51)
    with torch.no_grad(), gpytorch.settings.fast_pred_var(fast_pred_var), gpytorch.settings.trace_mode():
        fantasized_model(test_x)  # Do precomputation
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced_model = torch.jit.trace(MeanVarModelWrapper(fantasized_model), test_x)
    for x in (test_x, torch.rand(7), torch.rand(1)):  # eager outside trace_mode
        with torch.no_grad(), gpytorch.settings.fast_pred_var(fast_pred_var):
            for traced, eager in zip(traced_model(x), MeanVarModelWrapper(fantasized_model)(x)):
                torch.testing.assert_close(traced, eager, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "built_in_trace_mode, no_grad, fast_pred_var, detach_test_caches, batch",
    list(itertools.product([True, False], repeat=5)),
)
def test_traced_fantasy_model_matches_eager(built_in_trace_mode, no_grad, fast_pred_var, detach_test_caches, batch):
    model = trained_model()
    fantasy_model = None if built_in_trace_mode else fantasize(model, batch)
    grad_mode = torch.no_grad() if no_grad else torch.enable_grad()
    with grad_mode, gpytorch.settings.fast_pred_var(fast_pred_var), gpytorch.settings.detach_test_caches(
        detach_test_caches
    ), gpytorch.settings.trace_mode():
        if built_in_trace_mode:
            fantasy_model = fantasize(model, batch)
        # torch.jit.trace's own check (it traces again without gradients) as well as the comparison with eager
        traced = trace(fantasy_model, check=True)
        assert_matches_eager(traced, fantasy_model)


def test_eager_fantasy_model_unchanged_after_tracing() -> None:
    """Tracing detaches caches but must not change what the model predicts."""
    model = trained_model()
    fantasy_model = fantasize(model, batch=False)
    x = torch.linspace(0, 1, 9, dtype=torch.double)
    with gpytorch.settings.fast_pred_var():
        before = MeanVarModelWrapper(fantasy_model)(x)
        with torch.no_grad(), gpytorch.settings.trace_mode():
            trace(fantasy_model, check=True)
        after = MeanVarModelWrapper(fantasy_model)(x)
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
