"""Posterior transforms on warped models: Ax scalarizes every posterior with a ScalarizedPosteriorTransform.

One output: `offset + w * Y` is one more monotone map, applied exactly (moments, quantiles, density; a negative
weight flips quantiles). Several outputs: samples and the mean are exact, the variance raises. The references
are the unscalarized posterior's own numbers, mapped by hand.
"""

import warnings

import pytest
import torch
from test_output_warps import Chain, SinhArcsinh, skewed_data, Standardize, warped_model

from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.exceptions.warnings import InputDataWarning
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Log, TanhWarp, YeoJohnson
from botorch.sampling import SobolQMCNormalSampler

X_TEST = torch.rand(3, 2, generator=torch.Generator().manual_seed(7), dtype=torch.double)


@pytest.fixture(scope="module")
def model():
    X, Y = skewed_data(20)
    return warped_model(X.double(), Y.double()).eval()


def scalarized(model, weights, offset=0.0, X=X_TEST):
    transform = ScalarizedPosteriorTransform(torch.tensor(weights, dtype=torch.double), offset=offset)
    return model.posterior(X, posterior_transform=transform)


@pytest.mark.parametrize("weight", [2.0, -0.5])
def test_one_output_is_an_exact_monotone_map(model, weight):
    plain, posterior = model.posterior(X_TEST), scalarized(model, [weight], offset=1.0)
    torch.testing.assert_close(posterior.mean, 1.0 + weight * plain.mean)
    torch.testing.assert_close(posterior.variance, weight**2 * plain.variance)
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=torch.double)
    flipped = levels if weight > 0 else 1 - levels
    torch.testing.assert_close(posterior.quantile(levels), 1.0 + weight * plain.quantile(flipped))
    y = posterior.quantile(torch.tensor(0.3, dtype=torch.double))
    torch.testing.assert_close(posterior.density(y), plain.density((y - 1.0) / weight) / abs(weight))
    base = torch.randn(16, *plain.base_sample_shape, generator=torch.Generator().manual_seed(0), dtype=torch.double)
    torch.testing.assert_close(
        posterior.rsample_from_base_samples(torch.Size([16]), base),
        1.0 + weight * plain.rsample_from_base_samples(torch.Size([16]), base),
    )


def test_noisy_expected_improvement_with_a_unit_weight_is_unchanged(model):
    def acquisition(**kwargs):
        sampler = SobolQMCNormalSampler(torch.Size([64]), seed=0)
        value = qLogNoisyExpectedImprovement(model, X_baseline=model.train_inputs[0], sampler=sampler, **kwargs)
        return value(X_TEST[:2].unsqueeze(0))

    weights = torch.tensor([1.0], dtype=torch.double)
    torch.testing.assert_close(acquisition(posterior_transform=ScalarizedPosteriorTransform(weights)), acquisition())


def test_several_outputs_give_exact_samples_and_mean_and_refuse_the_variance():
    X, Y = skewed_data(20)
    Y2 = torch.cat([Y, Y.log() + 0.1 * torch.randn(20, 1, generator=torch.Generator().manual_seed(1))], dim=-1)
    model = warped_model(X.double(), Y2.double()).eval()
    plain, posterior = model.posterior(X_TEST), scalarized(model, [0.5, -1.0], offset=2.0)
    weights = torch.tensor([[0.5], [-1.0]], dtype=torch.double)
    torch.testing.assert_close(posterior.mean, 2.0 + plain.mean @ weights)
    base = torch.randn(8, *plain.base_sample_shape, generator=torch.Generator().manual_seed(0), dtype=torch.double)
    samples = posterior.rsample_from_base_samples(torch.Size([8]), base)
    torch.testing.assert_close(samples, 2.0 + plain.rsample_from_base_samples(torch.Size([8]), base) @ weights)
    assert posterior._extended_shape(torch.Size([8])) == samples.shape == torch.Size([8, 3, 1])
    with pytest.raises(UnsupportedError, match="variance of a weighted sum"):
        posterior.variance


def test_a_fixed_log_transform_scalarizes_too():
    X, Y = skewed_data(20)
    model = SingleTaskGP(X.double(), Y.double(), outcome_transform=Chain(log=Log(), std=Standardize(m=1))).eval()
    plain, posterior = model.posterior(X_TEST), scalarized(model, [-3.0])
    torch.testing.assert_close(posterior.mean, -3.0 * plain.mean)
    torch.testing.assert_close(posterior.variance, 9.0 * plain.variance)


@pytest.mark.parametrize("warp", [SinhArcsinh, YeoJohnson, TanhWarp])
def test_warped_models_do_not_warn_about_standardization_but_still_check_inputs(warp):
    X, Y = skewed_data(20)
    transform = Chain(std=Standardize(m=1), warp=warp(m=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDataWarning)
        SingleTaskGP(X.double(), Y.double(), outcome_transform=transform)
    with pytest.warns(InputDataWarning, match="not contained to the unit cube"):
        SingleTaskGP(10 * X.double(), Y.double(), outcome_transform=Chain(std=Standardize(m=1), warp=warp(m=1)))
