"""Every number a warped posterior gives, against references built from the forward transform only.

The references (warped_references.py) never call the posterior's inverse maps or log-Jacobians: quadrature of the
change-of-variables density (SciPy), the numeric inverse of the forward transform (bisection), seeded Monte Carlo
through that inverse (within 5 standard errors), and closed forms where the chain is a log or affine.
"""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from warped_references import (
    derivative,
    forward,
    latent_gaussian,
    log_marginal_likelihood,
    Marginal,
    monte_carlo,
    numeric_inverse,
    within_standard_errors,
)

from botorch.acquisition.analytic import (
    ExpectedImprovement,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    ProbabilityOfImprovement,
    UpperConfidenceBound,
)
from botorch.models import SingleTaskGP
from botorch.models.transforms import outcome
from botorch.models.utils import log_marginal_likelihood_original_units

Chain, Standardize = outcome.ChainedOutcomeTransform, outcome.Standardize
DOUBLE = torch.double


def randomized(warp, seed):
    """A warp with random (valid) parameters, kept by the model (no initialization from data)."""
    warp.initialize_from_data = False
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in warp.parameters():
            parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return warp


def sinh_arcsinh(seed=3):
    return randomized(outcome.SinhArcsinh(m=1, learn_location=True).double(), seed)


# Chains of one output, with Standardize before the warp, after it, and on both sides. "positive": the outcomes
# must be positive (Box-Cox); the numeric inverse then solves for log(y).
CHAINS = {
    "standardize, sinh-arcsinh": lambda: Chain(std=Standardize(m=1), warp=sinh_arcsinh()),
    "sinh-arcsinh, standardize": lambda: Chain(warp=sinh_arcsinh(), std=Standardize(m=1)),
    "standardize, sinh-arcsinh, standardize": lambda: Chain(
        std1=Standardize(m=1), warp=sinh_arcsinh(), std2=Standardize(m=1)
    ),
    "box-cox, standardize": lambda: Chain(warp=outcome.BoxCox(m=1).double(), std=Standardize(m=1)),  # from data
    "standardize, yeo-johnson": lambda: Chain(
        std=Standardize(m=1), warp=randomized(outcome.YeoJohnson(m=1).double(), seed=3)
    ),
    "standardize, tanh": lambda: Chain(std=Standardize(m=1), warp=randomized(outcome.TanhWarp(m=1).double(), seed=3)),
    "standardize, two sinh-arcsinh layers": lambda: Chain(
        std=Standardize(m=1), sal1=sinh_arcsinh(3), sal2=sinh_arcsinh(4)
    ),
}


def data(n=30, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=generator, dtype=DOUBLE)
    Y = torch.exp(torch.sin(6 * X[:, :1]) + X[:, 1:] + 0.1 * torch.randn(n, 1, generator=generator, dtype=DOUBLE))
    return X, Y


X_TEST = torch.tensor([[0.2, 0.3], [0.55, 0.9], [1.3, -0.2]], dtype=DOUBLE)  # the last one away from the data


class Case:
    """A SingleTaskGP with a chain of transforms (not fitted: the warps keep their random parameters)."""

    def __init__(self, name, transform):
        self.X, self.Y = data()
        self.positive = name.startswith("box-cox")
        self.model = SingleTaskGP(self.X, self.Y, outcome_transform=transform.double()).eval()
        self.model.covar_module.lengthscale = 0.3
        self.model.likelihood.noise = 0.02

    def latent(self, observation_noise=False):
        return latent_gaussian(self.model, self.X, self.Y, X_TEST, observation_noise)

    def marginals(self, observation_noise=False):
        mean, variance = self.latent(observation_noise)
        return [Marginal(self.model, m, s, self.positive) for m, s in zip(mean.tolist(), variance.sqrt().tolist())]


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture(scope="module", params=list(CHAINS))
def case(request):
    return Case(request.param, CHAINS[request.param]())


@pytest.mark.parametrize("observation_noise", [False, True], ids=["noiseless", "observation noise"])
def test_mean_and_variance_against_quadrature_of_the_density(case, observation_noise):
    posterior = case.model.posterior(X_TEST, observation_noise=observation_noise)
    for i, marginal in enumerate(case.marginals(observation_noise)):
        mean, variance = marginal.moments()
        # The posterior's Gauss-Hermite rule is off by up to 4.4e-7 standard deviations where the warp has a kink
        # in a higher derivative (Yeo-Johnson at 0, far from the data); the quadrature here is good to 1e-9.
        assert abs(posterior.mean[i, 0].item() - mean) <= 2e-6 * math.sqrt(variance), (i, mean)
        assert posterior.variance[i, 0].item() == pytest.approx(variance, rel=1e-5), i


def test_quantiles_and_density_against_the_numeric_inverse(case):
    posterior = case.model.posterior(X_TEST)
    levels = [0.001, 0.1, 0.5, 0.9, 0.999]
    quantiles = posterior.quantile(torch.tensor(levels, dtype=DOUBLE)).squeeze(-1)  # levels x points
    for i, marginal in enumerate(case.marginals()):
        expected = marginal.quantile(levels)
        scale = expected[-1] - expected[0]
        np.testing.assert_allclose(quantiles[:, i].numpy(), expected, rtol=0, atol=1e-10 * scale)
        # The density at the quantiles and between them (one point per column: broadcast over the three points).
        y = np.sort(np.concatenate([expected, (expected[1:] + expected[:-1]) / 2]))
        values = posterior.density(torch.tensor(y, dtype=DOUBLE).reshape(-1, 1, 1))[:, i, 0].numpy()
        np.testing.assert_allclose(values, marginal.density(y), rtol=1e-9, atol=0)


def test_samples_are_the_inverse_of_the_latent_samples_and_their_statistics_agree(case):
    """Sample by sample with the same base samples; then the moments and quantiles of 20,000 seeded samples of the
    reference within 5 standard errors of the posterior's exact values."""
    posterior = case.model.posterior(X_TEST.unsqueeze(-2))  # three independent points: a batch of 3 x 1
    mean, variance = case.latent()
    base = torch.randn(64, 3, 1, generator=torch.Generator().manual_seed(4), dtype=DOUBLE)
    samples = posterior.rsample_from_base_samples(torch.Size([64]), base).squeeze(-1).squeeze(-1)
    expected = numeric_inverse(
        case.model, (mean + variance.sqrt() * base.view(64, 3)).reshape(-1, 1), positive=case.positive
    ).view(64, 3)
    torch.testing.assert_close(samples, expected, rtol=1e-9, atol=1e-12)

    reference = monte_carlo(case.model, mean, variance.sqrt(), 20_000, seed=5, positive=case.positive).numpy()
    exact_mean, exact_variance = posterior.mean.view(-1), posterior.variance.view(-1)
    for i in range(3):
        y = reference[:, i]
        assert within_standard_errors(y.mean(), y, exact_mean[i].item()), i
        squares = (y - exact_mean[i].item()) ** 2
        assert within_standard_errors(squares.mean(), squares, exact_variance[i].item()), i
        # The empirical CDF at the posterior's median: 0.5 within 5 standard errors of a proportion.
        median = posterior.quantile(torch.tensor(0.5, dtype=DOUBLE)).view(-1)[i].item()
        assert abs((y <= median).mean() - 0.5) <= 5 * math.sqrt(0.25 / len(y)), i


def test_log_marginal_likelihood_in_original_units(case):
    """Two-sided: the Gaussian likelihood of T(y) plus sum log T'(y), in eval and in train mode."""
    expected = log_marginal_likelihood(case.model, case.X, case.Y)
    torch.testing.assert_close(log_marginal_likelihood_original_units(case.model), expected, rtol=1e-10, atol=0)
    case.model.train()
    try:
        actual = log_marginal_likelihood_original_units(case.model)
    finally:
        case.model.eval()
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize("maximize", [True, False], ids=["maximize", "minimize"])
def test_analytic_acquisition_functions(case, maximize):
    """EI and PI (and their logs) and UCB, per point at a threshold inside the posterior and at one 8 latent standard
    deviations away (EI about 1e-16 of the scale: checked relative to its value)."""
    model, X = case.model, X_TEST.unsqueeze(-2)
    marginals = case.marginals()
    sign = 1 if maximize else -1
    near = torch.tensor([m.quantile(0.7 if maximize else 0.3)[0] for m in marginals], dtype=DOUBLE)
    far = torch.tensor([m.inverse(m.m + sign * 8 * m.s)[0] for m in marginals], dtype=DOUBLE)
    for best_f in (near, far):
        ei = ExpectedImprovement(model, best_f, maximize=maximize)(X)
        log_ei = LogExpectedImprovement(model, best_f, maximize=maximize)(X)
        pi = ProbabilityOfImprovement(model, best_f, maximize=maximize)(X)
        log_pi = LogProbabilityOfImprovement(model, best_f, maximize=maximize)(X)
        for i, marginal in enumerate(marginals):
            expected_ei = marginal.expected_improvement(best_f[i].item(), maximize)
            expected_pi = marginal.probability_of_improvement(best_f[i].item(), maximize)
            assert ei[i].item() == pytest.approx(expected_ei, rel=1e-6, abs=0), (best_f, i)
            assert log_ei[i].item() == pytest.approx(math.log(expected_ei), rel=0, abs=1e-6), (best_f, i)
            assert pi[i].item() == pytest.approx(expected_pi, rel=1e-8, abs=0), (best_f, i)
            assert log_pi[i].item() == pytest.approx(math.log(expected_pi), rel=0, abs=1e-8), (best_f, i)
    for beta in (0.25, 4.0):
        ucb = UpperConfidenceBound(model, beta=beta, maximize=maximize)(X)
        for i, marginal in enumerate(marginals):
            bound = marginal.inverse(marginal.m + sign * math.sqrt(beta) * marginal.s)[0]
            assert ucb[i].item() == pytest.approx(sign * bound, rel=1e-10, abs=1e-12), (beta, i)


def test_the_reference_itself_on_a_log_normal_posterior():
    """The quadrature and the numeric inverse reproduce the log-normal closed forms (Box-Cox at lambda = 0)."""
    case = Case("box-cox", Chain(warp=outcome.BoxCox(m=1, lam=0.0, initialize_from_data=False), std=Standardize(m=1)))
    mu, sigma = case.model.outcome_transform["std"].means.item(), case.model.outcome_transform["std"].stdvs.item()
    for marginal in case.marginals():
        M, S = mu + sigma * marginal.m, sigma * marginal.s
        lognormal = stats.lognorm(s=S, scale=math.exp(M))
        mean, variance = marginal.moments()
        assert mean == pytest.approx(lognormal.mean(), rel=1e-9)
        assert variance == pytest.approx(lognormal.var(), rel=1e-8)
        np.testing.assert_allclose(marginal.quantile([0.01, 0.5, 0.99]), lognormal.ppf([0.01, 0.5, 0.99]), rtol=1e-12)
        for best_f in (lognormal.ppf(0.5), lognormal.ppf(1 - 1e-15)):
            d = (M - math.log(best_f)) / S
            ei = math.exp(M + S**2 / 2) * stats.norm.cdf(d + S) - best_f * stats.norm.cdf(d)
            if ei > 1e-6 * best_f:  # the closed form loses all digits to cancellation further out
                assert marginal.expected_improvement(best_f) == pytest.approx(ei, rel=1e-8)
            assert marginal.probability_of_improvement(best_f) == pytest.approx(stats.norm.cdf(d), rel=1e-10)


def closed_form_case(name):
    """Chains whose composition has a closed form: a log then Standardize (log-normal), and affine chains."""
    if name == "log-normal":
        return Case(
            "box-cox", Chain(warp=outcome.BoxCox(m=1, lam=0.0, initialize_from_data=False), std=Standardize(m=1))
        )
    warp = outcome.SinhArcsinh(m=1, initialize_from_data=False).double()
    for parameter, value in (("a", 0.3), ("b", 1.7), ("c", 1.0), ("d", 0.0)):  # z = 0.3 + 1.7 y
        warp._set_constrained(parameter, torch.tensor(value, dtype=DOUBLE))
    if name == "affine: standardize, warp":
        return Case(name, Chain(std=Standardize(m=1), warp=warp))
    return Case(name, Chain(std1=Standardize(m=1), warp=warp, std2=Standardize(m=1)))


def gaussian(case, marginal):
    """Y = alpha + beta Z for an affine chain, with alpha and beta read off the forward transform."""
    T0, T1 = (forward(case.model, torch.tensor([[y]], dtype=DOUBLE)).item() for y in (0.0, 1.0))
    beta = 1 / (T1 - T0)
    return stats.norm(-T0 * beta + beta * marginal.m, beta * marginal.s)


@pytest.mark.parametrize("name", ["log-normal", "affine: standardize, warp", "affine: standardize, warp, standardize"])
def test_closed_forms(name):
    case = closed_form_case(name)
    posterior = case.model.posterior(X_TEST.unsqueeze(-2))
    levels = torch.tensor([0.05, 0.5, 0.95], dtype=DOUBLE)
    for i, marginal in enumerate(case.marginals()):
        if name == "log-normal":
            std = case.model.outcome_transform["std"]
            M, S = std.means.item() + std.stdvs.item() * marginal.m, std.stdvs.item() * marginal.s
            distribution = stats.lognorm(s=S, scale=math.exp(M))
        else:
            distribution = gaussian(case, marginal)
        assert posterior.mean[i].item() == pytest.approx(distribution.mean(), rel=1e-10)
        assert posterior.variance[i].item() == pytest.approx(distribution.var(), rel=1e-9)
        np.testing.assert_allclose(
            posterior.quantile(levels)[:, i].flatten().numpy(), distribution.ppf(levels.numpy()), rtol=1e-10
        )
        y = torch.tensor(distribution.ppf([0.2, 0.5, 0.8]), dtype=DOUBLE)
        density = posterior.density(y.view(-1, 1, 1, 1))[:, i].flatten().numpy()
        np.testing.assert_allclose(density, distribution.pdf(y.numpy()), rtol=1e-10)
        best_f = distribution.ppf(0.75)
        ei = ExpectedImprovement(case.model, best_f)(X_TEST.unsqueeze(-2))[i].item()
        expected = integrate_improvement(distribution, best_f)
        assert ei == pytest.approx(expected, rel=1e-8)
    np.testing.assert_array_less(0, derivative(case.model, case.Y).numpy())


def integrate_improvement(distribution, best_f):
    """E max(Y - best_f, 0) for a SciPy distribution, by its own expect (closed form for the normal)."""
    if isinstance(distribution.dist, type(stats.norm)):
        u = (distribution.mean() - best_f) / distribution.std()
        return distribution.std() * (stats.norm.pdf(u) + u * stats.norm.cdf(u))
    M, S = math.log(distribution.kwds["scale"]), distribution.kwds["s"]
    d = (M - math.log(best_f)) / S
    return math.exp(M + S**2 / 2) * stats.norm.cdf(d + S) - best_f * stats.norm.cdf(d)


def test_gradients_of_monte_carlo_acquisition_against_finite_differences(case):
    """qEI with fixed base samples: its value within 5 standard errors of the quadrature reference, and its gradient
    (through the inverse warp) against central differences of the same function."""
    from botorch.acquisition import qExpectedImprovement
    from botorch.sampling import IIDNormalSampler

    marginal = case.marginals()[1]
    best_f = marginal.quantile(0.6)[0]
    acquisition = qExpectedImprovement(case.model, best_f, sampler=IIDNormalSampler(torch.Size([4096]), seed=0))
    X = X_TEST[1:2].clone()
    value = acquisition(X.unsqueeze(0)).item()
    reference = monte_carlo(case.model, torch.tensor([marginal.m]), torch.tensor([marginal.s]), 4096, 1, case.positive)
    improvement = (reference[:, 0] - best_f).clamp_min(0).numpy()
    assert within_standard_errors(value, improvement, marginal.expected_improvement(best_f))
    with torch.enable_grad():
        X_grad = X.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(acquisition(X_grad.unsqueeze(0)).sum(), X_grad)
    for k in range(2):
        step = torch.zeros_like(X)
        step[0, k] = 1e-6
        finite = (acquisition((X + step).unsqueeze(0)) - acquisition((X - step).unsqueeze(0))).item() / 2e-6
        assert gradient[0, k].item() == pytest.approx(finite, rel=1e-5, abs=1e-9), k


def test_untransformed_noise_is_divided_by_the_squared_derivative(case):
    """untransform(Z, Zvar) of each warp: Yvar = Zvar / T'(y)^2 (first order), T' by autograd of the forward warp."""
    for layer in case.model.outcome_transform.values():
        if not isinstance(layer, outcome.OutcomeWarp):
            continue
        Z = torch.linspace(-2, 2, 8, dtype=DOUBLE).unsqueeze(-1)  # not 0, where autograd of |y| is undefined
        Y, Yvar = layer.untransform(Z, torch.full_like(Z, 0.1))
        with torch.enable_grad():
            Y_grad = Y.clone().requires_grad_(True)
            (dZ,) = torch.autograd.grad(layer(Y_grad)[0].sum(), Y_grad)
        torch.testing.assert_close(Yvar, 0.1 / dZ.square(), rtol=1e-9, atol=0)
