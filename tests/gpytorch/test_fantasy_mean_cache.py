"""A fantasy model reads the mean cache that get_fantasy_model updated, instead of solving again (GPyTorch #2669).

The update is a bordered solve against the cached root inverse; without the fix it was stored under a key that
`mean_cache` never reads, so every fantasy model solved against its full training covariance at its first
prediction. The predictions must not change: they are checked against the same fantasy model with its mean cache
recomputed from scratch, and against a dense closed form on the concatenated data.
"""

import pickle
import warnings

import gpytorch
import pytest
import torch
from gpytorch.models.exact_prediction_strategies import DefaultPredictionStrategy
from gpytorch.utils.memoize import cached

TEST_X = torch.rand(7, 2, dtype=torch.double, generator=torch.Generator().manual_seed(3))
IGNORE_KEY = ("mean_cache", ("ignore",), pickle.dumps({}))


class ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y, likelihood, batch_shape=torch.Size()):
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean(batch_shape=batch_shape)
        self.covar_module = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.RBFKernel(batch_shape=batch_shape), batch_shape=batch_shape
        )

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


@pytest.fixture
def mean_cache_computations(monkeypatch):
    """Counts the computations (not the cached reads) of `DefaultPredictionStrategy._mean_cache`."""
    calls = []
    compute = DefaultPredictionStrategy._mean_cache.__wrapped__

    def counting(self, nan_policy):
        calls.append(nan_policy)
        return compute(self, nan_policy)

    monkeypatch.setattr(DefaultPredictionStrategy, "_mean_cache", cached(name="mean_cache")(counting))
    return calls


def model_and_fantasy_data(case: str, seed: int = 0):
    """A model whose caches are built, fantasy inputs, fantasy targets and the keywords of get_fantasy_model."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, dtype=torch.double, generator=gen)

    batch_shape = torch.Size([2]) if case.startswith("batched model") else torch.Size()
    train_x = rand(*batch_shape, 20, 2)
    train_y = torch.sin(3 * train_x.sum(-1))
    kwargs = {}
    if case == "fixed noise":
        likelihood = gpytorch.likelihoods.FixedNoiseGaussianLikelihood(torch.full((20,), 0.01, dtype=torch.double))
        kwargs["noise"] = torch.full((3,), 0.02, dtype=torch.double)
    else:
        likelihood = gpytorch.likelihoods.GaussianLikelihood(batch_shape=batch_shape)
    model = ExactGPModel(train_x, train_y, likelihood, batch_shape).double().eval()
    model.covar_module.base_kernel.lengthscale = 0.4
    model(TEST_X)
    fantasy_x, fantasy_y = {
        "single": (rand(3, 2), rand(3)),
        "fixed noise": (rand(3, 2), rand(3)),
        "fantasies at the same inputs": (rand(3, 2), rand(4, 3)),
        "batched fantasy inputs": (rand(4, 3, 2), rand(4, 3)),
        "batched model": (rand(2, 3, 2), rand(2, 3)),
        "batched model, fantasies at the same inputs": (rand(2, 3, 2), rand(5, 2, 3)),
    }[case]
    return model, fantasy_x, fantasy_y, kwargs


CASES = [
    "single",
    "fixed noise",
    "fantasies at the same inputs",
    "batched fantasy inputs",
    "batched model",
    "batched model, fantasies at the same inputs",
]


def dense_posterior(model, fantasy_x, fantasy_y, noise=None):
    """Posterior mean and variance at TEST_X of the model conditioned on its data and the fantasies, in closed form."""
    with torch.no_grad():
        x = torch.cat([model.train_inputs[0].expand(*fantasy_x.shape[:-2], -1, -1), fantasy_x], dim=-2)
        y = torch.cat([model.train_targets.expand(*fantasy_y.shape[:-1], -1), fantasy_y], dim=-1)
        if noise is None:
            noise_diag = model.likelihood.noise.expand(*x.shape[:-1])
        else:
            noise_diag = torch.cat([model.likelihood.noise, noise], dim=-1)
        constant = model.mean_module.constant.unsqueeze(-1)
        covar = model.covar_module(x).to_dense() + torch.diag_embed(noise_diag)
        cross = model.covar_module(TEST_X, x).to_dense()
        mean = constant + (cross @ torch.linalg.solve(covar, (y - constant).unsqueeze(-1))).squeeze(-1)
        variance = model.covar_module(TEST_X, diag=True) - (cross * torch.linalg.solve(covar, cross.mT).mT).sum(-1)
    return mean, variance


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fast_pred_var", [False, True])
def test_fantasy_model_does_not_recompute_its_mean_cache(case, fast_pred_var, mean_cache_computations):
    model, fantasy_x, fantasy_y, kwargs = model_and_fantasy_data(case)
    with gpytorch.settings.fast_pred_var(fast_pred_var):
        fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y, **kwargs)
        mean_cache_computations.clear()
        posterior = fantasy_model(TEST_X)
        posterior.mean, posterior.variance
    assert mean_cache_computations == []
    assert IGNORE_KEY in fantasy_model.prediction_strategy._memoize_cache


@pytest.mark.parametrize("case", CASES)
def test_fantasy_predictions_equal_those_of_a_recomputed_mean_cache(case):
    model, fantasy_x, fantasy_y, kwargs = model_and_fantasy_data(case)
    fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y, **kwargs)
    strategy = fantasy_model.prediction_strategy
    with torch.no_grad():
        updated = fantasy_model(TEST_X)
        updated_cache = strategy.mean_cache
        strategy._memoize_cache.pop(IGNORE_KEY)
        recomputed = fantasy_model(TEST_X)
        recomputed_cache = strategy.mean_cache
    assert updated_cache is not recomputed_cache and updated_cache.shape == recomputed_cache.shape
    # The cache scales with 1 / noise (0.01 with fixed noise); the predictions agree to 1e-10.
    torch.testing.assert_close(updated_cache, recomputed_cache, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(updated.mean, recomputed.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(updated.variance, recomputed.variance, rtol=0, atol=1e-10)

    dense_mean, dense_variance = dense_posterior(model, fantasy_x, fantasy_y, kwargs.get("noise"))
    torch.testing.assert_close(updated.mean, dense_mean.expand_as(updated.mean), rtol=0, atol=1e-10)
    torch.testing.assert_close(updated.variance, dense_variance.expand_as(updated.variance), rtol=0, atol=1e-10)


def test_fantasy_of_a_fantasy_model_does_not_recompute_its_mean_cache(mean_cache_computations):
    model, fantasy_x, fantasy_y, _ = model_and_fantasy_data("single")
    fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y)
    fantasy_model(TEST_X)
    second_x, second_y = torch.rand(2, 2, dtype=torch.double), torch.rand(2, dtype=torch.double)
    second = fantasy_model.get_fantasy_model(second_x, second_y)
    mean_cache_computations.clear()
    with torch.no_grad():
        mean = second(TEST_X).mean
    assert mean_cache_computations == []
    dense_mean, _ = dense_posterior(model, torch.cat([fantasy_x, second_x]), torch.cat([fantasy_y, second_y]))
    torch.testing.assert_close(mean, dense_mean, rtol=0, atol=1e-10)


@pytest.mark.parametrize("nan_policy", ["mask", "fill"])
def test_missing_labels_under_mask_and_fill_recompute_the_mean_cache(nan_policy, mean_cache_computations):
    # The update neither masks nor fills missing labels: under these policies the fantasy model computes its mean
    # cache itself, and predicts as the model without the missing point.
    model, fantasy_x, fantasy_y, _ = model_and_fantasy_data("single")
    train_x, train_y = model.train_inputs[0], model.train_targets.clone()
    train_y[4] = float("nan")
    observed = ~torch.isnan(train_y)
    model.set_train_data(train_x, train_y, strict=False)
    with gpytorch.settings.observation_nan_policy(nan_policy), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "fill" warns that it makes the kernel dense
        model(TEST_X)
        fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y)
        mean_cache_computations.clear()
        with torch.no_grad():
            mean = fantasy_model(TEST_X).mean
    assert mean_cache_computations == [nan_policy]
    model.set_train_data(train_x[observed], train_y[observed], strict=False)
    dense_mean, _ = dense_posterior(model, fantasy_x, fantasy_y)
    torch.testing.assert_close(mean, dense_mean, rtol=0, atol=1e-10)
