"""Analytic acquisition functions on warped posteriors: exact in the latent space, not Gaussian moments.

References: the Gaussian closed forms where the warp is affine (a sinh-arcsinh warp with c = 1, d = 0), numerical
integration (scipy) and Monte Carlo where it is not, finite differences for gradients.
"""

import math

import pytest
import torch
from scipy import integrate, optimize, stats
from test_output_warps import Chain, SinhArcsinh, skewed_data, Standardize
from warped_references import within_standard_errors

from botorch.acquisition.analytic import (
    _log_ei_helper,
    ExpectedImprovement,
    LogExpectedImprovement,
    LogConstrainedExpectedImprovement,
    LogProbabilityOfImprovement,
    PosteriorMean,
    PosteriorStandardDeviation,
    ProbabilityOfImprovement,
    qAnalyticProbabilityOfImprovement,
    UpperConfidenceBound,
)
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

X_TEST = torch.rand(4, 1, 2, generator=torch.Generator().manual_seed(3), dtype=torch.double)


def model_with(warp, fit=False):
    X, Y = skewed_data(20)
    model = SingleTaskGP(X.double(), Y.double(), outcome_transform=Chain(std=Standardize(m=1), warp=warp))
    if fit:
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


@pytest.fixture(scope="module")
def affine_model():
    warp = SinhArcsinh(m=1, initialize_from_data=False).double()  # z = a + b sinh(asinh(y)) = a + b y
    for name, value in (("a", 0.3), ("b", 1.7), ("c", 1.0), ("d", 0.0)):  # in double: c = 1 to the last bit
        warp._set_constrained(name, torch.tensor(value, dtype=torch.double))
    return model_with(warp)


@pytest.fixture(scope="module")
def skewed_model():
    return model_with(SinhArcsinh(m=1), fit=True)


def gaussian_moments(model):
    posterior = model.posterior(X_TEST)
    return posterior.mean.view(-1), posterior.variance.sqrt().view(-1)


@pytest.mark.parametrize("maximize", [True, False])
def test_affine_warp_gives_the_gaussian_closed_forms(affine_model, maximize):
    mean, std = gaussian_moments(affine_model)
    sign = 1 if maximize else -1
    for best_f in (mean[0], mean[0] + sign * 3.0, mean[0] + sign * 40.0):  # double: float32 would round
        u = sign * (mean - best_f) / std
        expected_log_ei = _log_ei_helper(u) + std.log()
        log_ei = LogExpectedImprovement(affine_model, best_f, maximize=maximize)(X_TEST)
        torch.testing.assert_close(log_ei, expected_log_ei, rtol=1e-8, atol=1e-9)
        ei = ExpectedImprovement(affine_model, best_f, maximize=maximize)(X_TEST)
        torch.testing.assert_close(ei, expected_log_ei.exp(), rtol=1e-7, atol=1e-300)
        log_pi = LogProbabilityOfImprovement(affine_model, best_f, maximize=maximize)(X_TEST)
        torch.testing.assert_close(log_pi, torch.special.log_ndtr(u), rtol=1e-8, atol=1e-10)
        pi = ProbabilityOfImprovement(affine_model, best_f, maximize=maximize)(X_TEST)
        torch.testing.assert_close(pi, torch.special.log_ndtr(u).exp(), rtol=1e-6, atol=1e-300)
    ucb = UpperConfidenceBound(affine_model, beta=4.0, maximize=maximize)(X_TEST)
    torch.testing.assert_close(ucb, sign * mean + 2.0 * std, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("maximize", [True, False])
def test_skewed_warp_matches_numerical_integration(skewed_model, maximize):
    posterior = skewed_model.posterior(X_TEST)
    latent = posterior._posterior
    sign = 1 if maximize else -1
    best_f = posterior.quantile(torch.tensor(0.8 if maximize else 0.2, dtype=torch.double))[1].squeeze()
    ei = ExpectedImprovement(skewed_model, best_f, maximize=maximize)(X_TEST)
    pi = ProbabilityOfImprovement(skewed_model, best_f, maximize=maximize)(X_TEST)
    ucb = UpperConfidenceBound(skewed_model, beta=1.0, maximize=maximize)(X_TEST)
    for i in range(len(X_TEST)):
        m, s = latent.mean[i].item(), latent.variance[i].sqrt().item()

        def original(z):
            return posterior._to_original(torch.tensor([[[z]]], dtype=torch.double)).item()

        threshold = best_f.item()
        kink = optimize.brentq(lambda z: original(z) - threshold, -1e3, 1e3, xtol=1e-14)
        tail = (kink, max(kink, m + 12 * s)) if maximize else (min(kink, m - 12 * s), kink)
        improvement = integrate.quad(
            lambda z: sign * (original(z) - threshold) * stats.norm(m, s).pdf(z), *tail, epsabs=0, epsrel=1e-10
        )[0]
        probability = stats.norm(m, s).sf(kink) if maximize else stats.norm(m, s).cdf(kink)
        assert ei[i].item() == pytest.approx(improvement, rel=1e-6, abs=1e-12)
        assert pi[i].item() == pytest.approx(probability, rel=1e-8)
        # UCB: the latent m + s (maximizing) or m - s (minimizing) mapped back, negated when minimizing.
        assert ucb[i].item() == pytest.approx(sign * original(m + sign * s), rel=1e-12)
    # The Gaussian formula with the warped moments is measurably different on this skewed posterior.
    mean, std = gaussian_moments(skewed_model)
    u = sign * (mean - best_f) / std
    assert not torch.allclose(
        ei, std * (torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi) + u * torch.special.ndtr(u)), rtol=1e-2
    )


def test_monte_carlo_agrees_and_a_negative_weight_flips_the_direction(skewed_model):
    """Seeded samples: EI within 5 standard errors wherever at least 100 samples improve. Where almost none do (EI
    of 1e-59 and below), an absolute tolerance would be vacuous: test_warped_references.py checks EI there relative
    to its value."""
    posterior = skewed_model.posterior(X_TEST)
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(200_000, *posterior.base_sample_shape, generator=generator, dtype=torch.double)
    with torch.no_grad():
        samples = posterior.rsample_from_base_samples(torch.Size([200_000]), base).view(200_000, -1)
    best_f = posterior.mean.view(-1)[0]
    ei = ExpectedImprovement(skewed_model, best_f)(X_TEST)
    improvement = (samples - best_f).clamp_min(0).detach().numpy()
    checked = 0
    for i in range(len(X_TEST)):
        if (improvement[:, i] > 0).sum() >= 100:
            assert within_standard_errors(improvement[:, i].mean(), improvement[:, i], ei[i].item()), i
            checked += 1
    assert checked >= 2
    flipped = ScalarizedPosteriorTransform(torch.tensor([-1.0], dtype=torch.double))
    ei_of_minus_y = ExpectedImprovement(skewed_model, -best_f, posterior_transform=flipped)(X_TEST)
    torch.testing.assert_close(ei_of_minus_y, ExpectedImprovement(skewed_model, best_f, maximize=False)(X_TEST))
    torch.testing.assert_close(
        UpperConfidenceBound(skewed_model, 2.0, posterior_transform=flipped)(X_TEST),
        UpperConfidenceBound(skewed_model, 2.0, maximize=False)(X_TEST),
    )


def test_log_expected_improvement_has_exact_gradients(skewed_model):
    best_f = skewed_model.posterior(X_TEST).quantile(torch.tensor(0.99, dtype=torch.double)).max()
    acquisition = LogExpectedImprovement(skewed_model, best_f)
    X = X_TEST.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(acquisition(X).sum(), X)
    step = 1e-6
    for k in range(2):
        shift = torch.zeros_like(X_TEST)
        shift[..., k] = step
        finite = (acquisition(X_TEST + shift) - acquisition(X_TEST - shift)) / (2 * step)
        torch.testing.assert_close(gradient[..., 0, k], finite, rtol=1e-5, atol=1e-7)


def test_acquisitions_that_assume_a_gaussian_refuse_and_moments_work(skewed_model):
    X, Y = skewed_data(20)
    two_outputs = SingleTaskGP(
        X.double(), Y.double().repeat(1, 2), outcome_transform=Chain(std=Standardize(m=2), warp=SinhArcsinh(m=2))
    ).eval()
    with pytest.raises(UnsupportedError, match="treats the posterior as Gaussian"):
        qAnalyticProbabilityOfImprovement(skewed_model, best_f=1.0)(X_TEST.view(2, 2, 2))
    with pytest.raises(UnsupportedError, match="treats the posterior as Gaussian"):
        LogConstrainedExpectedImprovement(two_outputs, 1.0, objective_index=0, constraints={1: (None, 9.0)})(X_TEST)
    posterior = skewed_model.posterior(X_TEST)
    torch.testing.assert_close(PosteriorMean(skewed_model)(X_TEST), posterior.mean.view(-1))
    torch.testing.assert_close(PosteriorStandardDeviation(skewed_model)(X_TEST), posterior.variance.sqrt().view(-1))
