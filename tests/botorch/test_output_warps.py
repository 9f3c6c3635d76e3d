"""Trainable outcome transforms (output warps), checked against independent references, on both lines."""

import math
import warnings

import gpytorch
import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from warped_references import latent_gaussian, Marginal, within_standard_errors

from botorch.models.transforms import outcome
from botorch.models.utils import log_marginal_likelihood_original_units
from botorch.posteriors.warped import WarpedPosterior
from botorch.acquisition.logei import qLogNoisyExpectedImprovement  # noqa: E402
from botorch.acquisition.monte_carlo import qNoisyExpectedImprovement  # noqa: E402
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement  # noqa: E402
from botorch.acquisition.multi_objective.monte_carlo import qNoisyExpectedHypervolumeImprovement  # noqa: E402
from botorch.exceptions.errors import BotorchTensorDimensionError, UnsupportedError  # noqa: E402
from botorch.fit import fit_gpytorch_mll  # noqa: E402
from botorch.models import ModelListGP, MultiTaskGP, SingleTaskGP  # noqa: E402
from botorch.optim.closures import ForwardBackwardClosure  # noqa: E402
from botorch.sampling import SobolQMCNormalSampler  # noqa: E402
from gpytorch.mlls import ExactMarginalLogLikelihood, SumMarginalLogLikelihood  # noqa: E402

BoxCox, SinhArcsinh, TanhWarp, YeoJohnson = outcome.BoxCox, outcome.SinhArcsinh, outcome.TanhWarp, outcome.YeoJohnson
Chain, Standardize = outcome.ChainedOutcomeTransform, outcome.Standardize


@pytest.fixture(autouse=True, scope="module")
def _double_precision():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.double)
    yield
    torch.set_default_dtype(previous)


def randomized(warp, seed=0):
    """A warp with random (valid) parameters, which a model keeps (no initialization from data)."""
    warp.initialize_from_data = False
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in warp.parameters():
            parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    return warp


WARPS = {
    "sinh-arcsinh": lambda m=2, batch_shape=torch.Size(): randomized(
        SinhArcsinh(m=m, batch_shape=batch_shape, learn_location=True)
    ),
    "box-cox": lambda m=2, batch_shape=torch.Size(): randomized(BoxCox(m=m, batch_shape=batch_shape)),
    "yeo-johnson": lambda m=2, batch_shape=torch.Size(): randomized(YeoJohnson(m=m, batch_shape=batch_shape)),
    "tanh": lambda m=2, batch_shape=torch.Size(): randomized(TanhWarp(m=m, batch_shape=batch_shape)),
}


def outcomes(name, shape=(3, 50, 2), seed=1):
    Y = 3 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return Y.exp() if name == "box-cox" else Y


@pytest.mark.parametrize("name", WARPS)
def test_log_derivative_matches_autograd(name):
    warp = WARPS[name](batch_shape=torch.Size([3]))
    Y = outcomes(name).requires_grad_(True)
    Z, _ = warp(Y)
    (dZ,) = torch.autograd.grad(Z.sum(), Y)
    torch.testing.assert_close(warp.log_abs_det_jacobian(Y.detach()), dZ.log(), rtol=1e-10, atol=1e-10)
    assert (dZ > 0).all()  # strictly increasing


@pytest.mark.parametrize("name", WARPS)
def test_inverse_inverts_forward_including_extreme_values(name):
    warp = WARPS[name]()
    Y = outcomes(name, shape=(200, 2))
    extreme = torch.tensor([1e-8, 1e-3, 1.0, 1e3, 1e6]).repeat(2, 1).T
    Y = torch.cat([Y, extreme, extreme if name == "box-cox" else -extreme])
    Z, _ = warp(Y)
    Y_back, _ = warp.untransform(Z)
    torch.testing.assert_close(Y_back, Y, rtol=1e-8, atol=1e-8)
    for values in (Z, Y_back, warp.log_abs_det_jacobian(Y)):
        assert torch.isfinite(values).all()


@pytest.mark.parametrize("name", WARPS)
def test_inverse_of_any_latent_value_is_finite_with_finite_gradients(name):
    # Box-Cox latent values beyond -1 / lambda (lambda > 0) or above it (lambda < 0) have no preimage: they map
    # to the boundary (a tiny or huge positive number), not to NaN; -2.0 is exactly -1 / lambda for lambda = 0.5.
    Z = torch.tensor([-1e300, -1e6, -3.0, -2.0, 0.0, 3.0, 1e6, 1e300]).repeat(2, 1).T.requires_grad_(True)
    warps = [WARPS[name]()] + (
        [BoxCox(m=2, lam=lam, initialize_from_data=False) for lam in (0.5, -0.5)] if name == "box-cox" else []
    )
    for warp in warps:
        Y, _ = warp.untransform(Z)
        assert torch.isfinite(Y).all() and (name != "box-cox" or (Y > 0).all())
        gradients = torch.autograd.grad(Y.sum(), [Z, *warp.parameters()])
        assert all(torch.isfinite(g).all() for g in gradients)


@pytest.mark.parametrize("name", ["sinh-arcsinh", "tanh"])
def test_positive_parameters_stay_positive_where_a_softplus_would_underflow(name):
    # A line search can try raw values this negative; softplus(-1000) is 0, where the LogNormal priors fail.
    warp = WARPS[name]()
    with torch.no_grad():
        for parameter_name, parameter in warp.named_parameters():
            if parameter_name in ("raw_a", "raw_b", "raw_c") and hasattr(warp, f"{parameter_name}_constraint"):
                parameter.fill_(-1000.0)
    log_priors = [prior.log_prob(closure(module)) for _, module, prior, closure, _ in warp.named_priors()]
    assert all(torch.isfinite(value).all() for value in log_priors)
    assert torch.isfinite(warp.untransform(torch.linspace(-3, 3, 8).repeat(2, 1).T)[0]).all()


def test_bad_input_is_refused_at_construction():
    X = torch.rand(10, 2)
    with pytest.raises(ValueError, match="BoxCox requires positive outcomes"):
        SingleTaskGP(X, torch.randn(10, 1), outcome_transform=BoxCox(m=1))
    Y = torch.rand(10, 1)
    Y[3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        SingleTaskGP(X, Y, outcome_transform=SinhArcsinh(m=1))
    with pytest.raises(BotorchTensorDimensionError, match="m=1 outputs, but the outcomes have 2"):
        SingleTaskGP(X, torch.rand(10, 2), outcome_transform=SinhArcsinh(m=1))
    X_task = torch.cat([X, torch.randint(2, (10, 1)).double()], dim=-1)
    with pytest.raises(UnsupportedError, match="MultiTaskGP cannot train the parameters"):
        MultiTaskGP(X_task, torch.rand(10, 1), task_feature=-1, outcome_transform=SinhArcsinh(m=1))


def skewed_data(n=30, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=generator)
    Y = torch.exp(torch.sin(6 * X[:, :1]) + X[:, 1:] + 0.1 * torch.randn(n, 1, generator=generator))
    return X, Y


def hand_written_log_likelihood(model, X, Y) -> torch.Tensor:
    """log N(T(y); c, K + s I) + sum log T'(y) + log priors, with T written out by hand."""
    std, warp = model.outcome_transform["std"], model.outcome_transform["warp"]
    U = (Y - std.means) / std.stdvs
    a, b, c, d = warp.a, warp.b, warp.c, warp.d
    Z = (a + b * torch.sinh(c * torch.asinh(U) - d)).squeeze(-1)
    log_det = (
        -std.stdvs.log() + b.log() + c.log() + torch.cosh(c * torch.asinh(U) - d).log() - 0.5 * torch.log1p(U**2)
    ).sum()
    lengthscale = model.covar_module.lengthscale
    K = torch.exp(-0.5 * torch.cdist(X / lengthscale, X / lengthscale) ** 2)
    covariance = K + model.likelihood.noise * torch.eye(len(X))
    mean = model.mean_module.constant.expand(len(X))
    log_likelihood = gpytorch.distributions.MultivariateNormal(mean, covariance).log_prob(Z)
    log_priors = sum(prior.log_prob(closure(module)).sum() for _, module, prior, closure, _ in model.named_priors())
    return log_likelihood + log_det + log_priors


def warped_model(X, Y, warp=None):
    transform = Chain(std=Standardize(m=Y.shape[-1]), warp=warp or SinhArcsinh(m=Y.shape[-1]))
    return SingleTaskGP(X, Y, outcome_transform=transform)


def test_training_loss_is_the_warped_likelihood_and_its_gradients_are_exact():
    X, Y = skewed_data()
    model = warped_model(X, Y, randomized(SinhArcsinh(m=1, learn_location=True), seed=3))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()

    def loss():
        return -mll(model(*model.train_inputs), model.train_targets)

    value = loss()
    torch.testing.assert_close(value, -hand_written_log_likelihood(model, X, Y) / len(X), rtol=1e-10, atol=1e-10)

    parameters = dict(model.outcome_transform.named_parameters())
    gradients = torch.autograd.grad(value, list(parameters.values()))
    for (name, parameter), gradient in zip(parameters.items(), gradients):
        eps = 1e-6
        with torch.no_grad():
            parameter += eps
            up = loss()
            parameter -= 2 * eps
            down = loss()
            parameter += eps
        torch.testing.assert_close(gradient.sum(), (up - down) / (2 * eps), rtol=1e-5, atol=1e-8), name


def test_joint_fit_reaches_the_optimum_of_a_custom_closure():
    """Plain fit_gpytorch_mll against the same optimizer on the hand-written likelihood, from the same start."""
    X, Y = skewed_data()
    model = warped_model(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))

    reference = warped_model(X, Y)
    closure = ForwardBackwardClosure(
        forward=lambda: -hand_written_log_likelihood(reference, X, Y) / len(X),
        parameters={name: p for name, p in reference.named_parameters() if p.requires_grad},
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(reference.likelihood, reference), closure=closure)
    fitted, expected = hand_written_log_likelihood(model, X, Y), hand_written_log_likelihood(reference, X, Y)
    assert abs(fitted - expected) < 1e-4 * abs(expected)
    for (name, p), q in zip(
        model.outcome_transform["warp"].named_parameters(), reference.outcome_transform["warp"].parameters()
    ):
        torch.testing.assert_close(p, q, rtol=0.02, atol=0.02), name


@pytest.fixture(scope="module")
def fitted_warped_model():
    X, Y = skewed_data(40)
    model = warped_model(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def test_posterior_moments_match_numerical_integration(fitted_warped_model):
    """Against quadrature of the change-of-variables density of the forward transform (warped_references.py)."""
    model = fitted_warped_model
    X, Y = skewed_data(40)
    X_test = torch.rand(4, 2, generator=torch.Generator().manual_seed(5))
    posterior = model.posterior(X_test)
    mean, variance = latent_gaussian(model, X, Y, X_test)
    for i in range(len(X_test)):
        expected_mean, expected_variance = Marginal(model, mean[i].item(), variance[i].sqrt().item()).moments()
        assert abs(posterior.mean[i, 0].item() - expected_mean) <= 1e-6 * math.sqrt(expected_variance)
        assert posterior.variance[i, 0].item() == pytest.approx(expected_variance, rel=1e-5)


def test_mean_and_variance_come_from_one_quadrature_with_cached_nodes(fitted_warped_model, monkeypatch):
    X_test = torch.rand(4, 2, generator=torch.Generator().manual_seed(5))
    fitted_warped_model.posterior(X_test).mean  # nodes of this order, dtype and device computed once
    nodes_computed = []
    hermgauss = np.polynomial.hermite.hermgauss
    monkeypatch.setattr(np.polynomial.hermite, "hermgauss", lambda n: nodes_computed.append(n) or hermgauss(n))
    posterior = fitted_warped_model.posterior(X_test)
    passes = []
    to_original = posterior._to_original
    posterior._to_original = lambda Z: passes.append(Z.shape) or to_original(Z)
    mean, variance = posterior.mean, posterior.variance
    assert (nodes_computed, len(passes)) == ([], 1)
    assert passes[0] == torch.Size([WarpedPosterior.num_quadrature_nodes, 4, 1])
    torch.testing.assert_close((mean, variance), (posterior.mean, posterior.variance), rtol=0, atol=0)


def test_targets_are_transformed_once_on_entering_eval_mode():
    """`posterior` calls `eval()` each time: a model already in eval mode keeps its transformed targets (a posterior
    cost twice the Standardize one's when every call transformed them again); entering eval mode again after the
    warp changed in train mode transforms them with the new parameters."""
    X, Y = skewed_data(20)
    model = warped_model(X, Y).eval()
    targets = model.train_targets
    transformed = []
    apply_fitted = model.outcome_transform.apply_fitted
    model.outcome_transform.apply_fitted = lambda *args, **kwargs: transformed.append(1) or apply_fitted(
        *args, **kwargs
    )
    model.posterior(X[:3]).mean
    model.eval()
    assert transformed == [] and model.train_targets is targets
    model.train()
    with torch.no_grad():
        model.outcome_transform["warp"].raw_b.add_(0.5)
    model.eval()
    assert transformed == [1]
    expected, _ = apply_fitted(Y)
    torch.testing.assert_close(model.train_targets, expected.squeeze(-1), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(model.train_targets, targets)


@pytest.mark.parametrize("steepness", [1.0, 30.0, 1000.0])
def test_tanh_inverse_is_exact_for_steep_steps_and_any_leading_dimensions(steepness):
    warp = WARPS["tanh"](batch_shape=torch.Size([3]))
    warp._set_constrained("a", 3 * warp._constrained("a"))
    warp._set_constrained("b", steepness * warp._constrained("b"))
    Z = 4 * torch.randn(5, 3, 40, 2, generator=torch.Generator().manual_seed(2))  # samples x batch x n x m
    Z[0, 0, :3] = torch.tensor([[-1e300, 1e300], [-1e6, 1e6], [0.0, -0.0]])
    for latent in (Z, Z[0, 0]):  # also an n x m tensor, broadcast over the warp's batch
        Y, _ = warp.untransform(latent)
        assert Y.shape == torch.broadcast_shapes(latent.shape, (3, 1, 2))
        residual = (warp._warp(Y) - latent).abs()
        assert (residual <= 1e-12 * (1 + latent.abs())).all()
    # Gradients by the implicit function theorem: dy/dz = 1 / T'(y).
    Z = Z[1:].clone().requires_grad_(True)
    Y, _ = warp.untransform(Z)
    (dY,) = torch.autograd.grad(Y.sum(), Z)
    torch.testing.assert_close(dY, 1 / warp._derivative(Y.detach()), rtol=1e-10, atol=0)


@pytest.mark.parametrize("steepness", [1.0, 30.0, 1000.0])
def test_tanh_inverse_in_eval_mode_agrees_with_the_iteration(steepness):
    """In eval mode the inverse comes from a table (or, for steps too steep for one, the iteration)."""
    warp = WARPS["tanh"](batch_shape=torch.Size([3]))
    warp._set_constrained("a", 3 * warp._constrained("a"))
    warp._set_constrained("b", steepness * warp._constrained("b"))
    warp.eval()
    Z = 4 * torch.randn(5, 3, 40, 2, generator=torch.Generator().manual_seed(2))
    Z[0, 0, :3] = torch.tensor([[-1e300, 1e300], [-1e6, 1e6], [0.0, -0.0]])
    with torch.no_grad():
        Y, _ = warp.untransform(Z)
        solved = warp._solve(Z / warp.d)  # the inverse of the steps, at z / d
    assert ((Y - solved).abs() <= 1e-10 * (1 + Z.abs())).all()
    Z = Z[1:].clone().requires_grad_(True)
    Y, _ = warp.untransform(Z)
    (dY,) = torch.autograd.grad(Y.sum(), Z)
    torch.testing.assert_close(dY, 1 / warp._derivative(Y.detach()), rtol=1e-10, atol=0)


def test_tanh_posterior_with_the_table_equals_the_iteration(monkeypatch):
    """Moments, quantiles and samples of a fitted TanhWarp model, against the same without the table."""
    X, Y = skewed_data(40)
    model = warped_model(X, Y, warp=TanhWarp(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    X_test = torch.cat([torch.rand(30, 2, generator=torch.Generator().manual_seed(8)), 3 + torch.rand(5, 2)])
    levels = torch.tensor([0.01, 0.5, 0.99])
    base_samples = torch.randn(64, 35, 1, generator=torch.Generator().manual_seed(9))

    def statistics():
        with torch.no_grad():
            posterior = model.posterior(X_test)
            samples = posterior._to_original(
                posterior._posterior.mean + posterior._posterior.variance.sqrt() * base_samples
            )
            return posterior.mean, posterior.variance, posterior.quantile(levels), samples

    with_table = statistics()
    assert model.outcome_transform["warp"]._cached_inverse_table is not None
    monkeypatch.setattr(TanhWarp, "_inverse_table", lambda self: None)
    for value, reference in zip(with_table, statistics()):
        torch.testing.assert_close(value, reference, rtol=1e-9, atol=1e-9 * reference.abs().max().item())


def test_samples_quantiles_and_density(fitted_warped_model):
    """Seeded samples within 5 standard errors; quantiles and density against the forward transform's inverse."""
    model = fitted_warped_model
    X, Y = skewed_data(40)
    X_test = torch.rand(3, 2, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(0)
    with torch.no_grad():
        posterior = model.posterior(X_test)
        samples = posterior.rsample(torch.Size([20_000])).squeeze(-1).numpy()
        mean, variance = latent_gaussian(model, X, Y, X_test)
        levels = torch.tensor([0.1, 0.5, 0.9])
        quantiles = posterior.quantile(levels).squeeze(-1)
        for i in range(3):
            marginal = Marginal(model, mean[i].item(), variance[i].sqrt().item())
            assert within_standard_errors(samples[:, i].mean(), samples[:, i], posterior.mean[i, 0].item())
            np.testing.assert_allclose(quantiles[:, i].numpy(), marginal.quantile(levels.numpy()), rtol=1e-10)
            y = marginal.quantile([0.3, 0.7])
            density = posterior.density(torch.tensor(y).view(-1, 1, 1))[:, i, 0].numpy()
            np.testing.assert_allclose(density, marginal.density(y), rtol=1e-9)


def test_mc_acquisition_runs_on_the_warped_posterior(fitted_warped_model):
    model = fitted_warped_model
    acquisition = qLogNoisyExpectedImprovement(
        model, X_baseline=model.train_inputs[0], sampler=SobolQMCNormalSampler(torch.Size([64]), seed=0)
    )
    X = torch.rand(2, 2, requires_grad=True)
    value = acquisition(X.unsqueeze(0))
    (gradient,) = torch.autograd.grad(value.sum(), X)
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all() and gradient.abs().sum() > 0


NOISY_MC_ACQUISITIONS = {
    "qNEI": lambda model, X, **kwargs: qNoisyExpectedImprovement(model, X, **kwargs),
    "qLogNEI": lambda model, X, **kwargs: qLogNoisyExpectedImprovement(model, X, **kwargs),
    "qNEHVI": lambda model, X, **kwargs: qNoisyExpectedHypervolumeImprovement(model, [0.0, 0.0], X, **kwargs),
    "qLogNEHVI": lambda model, X, **kwargs: qLogNoisyExpectedHypervolumeImprovement(model, [0.0, 0.0], X, **kwargs),
}


def cache_root_warnings(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        acquisition = build()
    return acquisition, [str(warning.message) for warning in caught if "cache_root" in str(warning.message)]


@pytest.mark.parametrize("name", NOISY_MC_ACQUISITIONS)
def test_noisy_mc_acquisition_caches_the_root_only_where_it_can_and_warns_only_when_asked(name):
    """A warped posterior has no Gaussian root to cache: by default the acquisition function does not cache it and
    does not warn (legacy botorch 0.12.0 warned on every construction); asking for it explicitly still warns."""
    X, Y = skewed_data(12)
    m = 2 if "HVI" in name else 1
    Y = torch.cat([Y, Y.flip(0)], dim=-1)[:, :m]
    build = NOISY_MC_ACQUISITIONS[name]
    sampler = SobolQMCNormalSampler(torch.Size([16]), seed=0)
    warped = warped_model(X, Y).eval()
    acquisition, caught = cache_root_warnings(lambda: build(warped, X, sampler=sampler))
    assert (acquisition._cache_root, caught) == (False, [])
    acquisition, caught = cache_root_warnings(lambda: build(warped, X, sampler=sampler, cache_root=True))
    assert acquisition._cache_root is False and len(caught) == 1
    plain = SingleTaskGP(X, Y, outcome_transform=Standardize(m=m)).eval()
    acquisition, caught = cache_root_warnings(lambda: build(plain, X, sampler=sampler))
    assert (acquisition._cache_root, caught) == (True, [])


def test_conditioning_uses_learned_parameters(fitted_warped_model):
    model = fitted_warped_model
    X_new, Y_new = torch.rand(3, 2), torch.rand(3, 1) + 1
    conditioned = model.condition_on_observations(model.transform_inputs(X_new), Y_new)
    expected, _ = model.outcome_transform(Y_new)  # eval mode: learned parameters, not re-fitted
    torch.testing.assert_close(conditioned.train_targets[-3:], expected.squeeze(-1))


def test_state_dict_round_trip_and_dtype(fitted_warped_model):
    X, Y = skewed_data(40)
    fresh = warped_model(X, Y)
    fresh.load_state_dict(fitted_warped_model.state_dict())
    X_test = torch.rand(5, 2)
    for a, b in ((fresh.posterior(X_test).mean, fitted_warped_model.posterior(X_test).mean),):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    single = warped_model(X, Y)
    single.load_state_dict(fitted_warped_model.state_dict())
    single = single.to(torch.float32)
    torch.testing.assert_close(
        single.posterior(X_test.float()).mean.double(), fitted_warped_model.posterior(X_test).mean, rtol=1e-4, atol=0
    )


def test_multi_output_subset_and_model_list():
    X, Y = skewed_data(30)
    Y2 = torch.cat([Y, torch.sinh(2 * Y - 3)], dim=-1)
    model = warped_model(X, Y2)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    X_test = torch.rand(4, 2)
    subset = model.subset_output([1])
    torch.testing.assert_close(
        subset.posterior(X_test).mean, model.posterior(X_test).mean[..., 1:], rtol=1e-9, atol=1e-9
    )

    members = [warped_model(X, Y2[:, i : i + 1]) for i in range(2)]
    model_list = ModelListGP(*members)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model_list.likelihood, model_list))
    for member in members:
        assert not torch.allclose(member.outcome_transform["warp"].c, torch.ones(1))  # trained
    assert model_list.posterior(X_test).mean.shape == torch.Size([4, 2])


def test_comparison_favours_the_warp_on_skewed_data():
    X, Y = skewed_data(40)
    standardized = SingleTaskGP(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(standardized.likelihood, standardized))
    warped = warped_model(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(warped.likelihood, warped))
    lml_standardized = log_marginal_likelihood_original_units(standardized)
    lml_warped = log_marginal_likelihood_original_units(warped)
    # Standardize: the likelihood in original units is the standardized one minus n log(stdv).
    with torch.no_grad():
        standardized.train()
        prior = standardized(*standardized.train_inputs)
        standardized_lml = standardized.likelihood(prior).log_prob(standardized.train_targets)
    expected = standardized_lml - len(Y) * standardized.outcome_transform.stdvs.log().squeeze()
    torch.testing.assert_close(lml_standardized, expected)
    assert lml_warped > lml_standardized + 5
    assert math.isfinite(lml_warped.item()) and np.isfinite(lml_standardized.item())
    assert gpytorch.settings.debug.on()  # untouched default


def test_sinh_arcsinh_priors_enter_the_loss_and_can_be_resampled():
    warp = SinhArcsinh(m=2, batch_shape=torch.Size([3]))
    names = sorted(name for name, *_ in warp.named_priors())
    assert names == ["a_prior", "b_prior", "c_prior", "d_prior"]
    assert list(SinhArcsinh(m=1, priors=False).named_priors()) == []
    expected = (
        torch.distributions.Normal(0.0, 1.0).log_prob(warp.a).sum()
        + torch.distributions.LogNormal(0.0, 0.5).log_prob(warp.c).sum()
    )
    actual = sum(
        prior.log_prob(closure(module)).sum()
        for name, module, prior, closure, _ in warp.named_priors()
        if name in ("a_prior", "c_prior")
    )
    torch.testing.assert_close(actual, expected)
    # fit_gpytorch_mll's retries resample every prior: the setting closures must respect shapes and constraints.
    torch.manual_seed(0)
    gpytorch.module.Module.sample_from_prior(warp, "c_prior")
    assert warp.raw_c.shape == torch.Size([3, 2, 1]) and (warp.c > 0).all()
    assert not torch.allclose(warp.c, torch.ones_like(warp.c))


CHAINS = {
    "sinh-arcsinh": lambda: Chain(std=Standardize(m=1), warp=randomized(SinhArcsinh(m=1), seed=3)),
    "box-cox": lambda: Chain(warp=randomized(BoxCox(m=1), seed=3), std=Standardize(m=1)),
    "yeo-johnson": lambda: Chain(std=Standardize(m=1), warp=randomized(YeoJohnson(m=1), seed=3)),
    "tanh": lambda: Chain(std=Standardize(m=1), warp=randomized(TanhWarp(m=1), seed=3)),
    "two sinh-arcsinh layers": lambda: Chain(
        std=Standardize(m=1), sal1=randomized(SinhArcsinh(m=1), seed=3), sal2=randomized(SinhArcsinh(m=1), seed=4)
    ),
}


def autograd_reference_loss(model, X, Y, Yvar=None):
    """-(log N(T(y); c, K + noise) + sum log T'(y) + log priors) / n, with T' from autograd of the eval-mode chain."""
    transform = model.outcome_transform
    modes = {module: module.training for module in transform.modules()}
    transform.eval()
    Y = Y.clone().requires_grad_(True)
    Z, _ = transform(Y)
    (dZ,) = torch.autograd.grad(Z.sum(), Y, create_graph=True)
    for module, mode in modes.items():
        module.training = mode
    lengthscale = model.covar_module.lengthscale
    K = torch.exp(-0.5 * torch.cdist(X / lengthscale, X / lengthscale) ** 2)
    noise = model.likelihood.noise if Yvar is None else (Yvar * dZ**2).squeeze(-1)
    covariance = K + torch.diag_embed(noise.expand(len(X)))
    mean = model.mean_module.constant.expand(len(X))
    log_likelihood = gpytorch.distributions.MultivariateNormal(mean, covariance).log_prob(Z.squeeze(-1))
    log_priors = sum(prior.log_prob(closure(module)).sum() for _, module, prior, closure, _ in model.named_priors())
    return -(log_likelihood + dZ.log().sum() + log_priors) / len(X)


@pytest.mark.parametrize("observed_noise", [False, True], ids=["inferred noise", "observed noise"])
@pytest.mark.parametrize("name", CHAINS)
def test_training_loss_and_gradients_of_every_warp(name, observed_noise):
    """The MLL of a training pass against an autograd reference; every parameter's gradient against finite
    differences. With observed noise, the warped noise is Yvar T'(y)^2 (first order, as for `Log`)."""
    X, Y = skewed_data()
    Yvar = torch.full_like(Y, 0.01) if observed_noise else None
    model = SingleTaskGP(X, Y, Yvar, outcome_transform=CHAINS[name]())
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()

    def loss():
        return -mll(model(*model.train_inputs), model.train_targets)

    value = loss()
    torch.testing.assert_close(value, autograd_reference_loss(model, X, Y, Yvar), rtol=1e-10, atol=1e-10)
    parameters = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("outcome_transform") for n in parameters)
    gradients = dict(zip(parameters, torch.autograd.grad(value, list(parameters.values()))))
    for parameter_name, parameter in parameters.items():
        for index in range(parameter.numel()):
            eps = 1e-6
            with torch.no_grad():
                parameter.view(-1)[index] += eps
                up = loss()
                parameter.view(-1)[index] -= 2 * eps
                down = loss()
                parameter.view(-1)[index] += eps
            expected = (up - down) / (2 * eps)
            actual = gradients[parameter_name].view(-1)[index]
            assert abs(actual - expected) <= 1e-5 * abs(expected) + 1e-7, (parameter_name, index, actual, expected)


def test_observation_noise_and_fantasies_in_original_units(fitted_warped_model):
    model = fitted_warped_model
    X_test = torch.rand(3, 2, generator=torch.Generator().manual_seed(7))
    noiseless, noisy = model.posterior(X_test), model.posterior(X_test, observation_noise=True)
    torch.testing.assert_close(noisy._posterior.variance, noiseless._posterior.variance + model.likelihood.noise)
    assert (noisy.variance > noiseless.variance).all()
    torch.testing.assert_close(noisy.quantile(torch.tensor(0.5)), noiseless.quantile(torch.tensor(0.5)))

    sampler = SobolQMCNormalSampler(torch.Size([4]), seed=1)
    fantasy = model.fantasize(X_test, sampler)
    # The fantasized outcomes are samples in original units, warped back with the learned parameters.
    expected_Y = SobolQMCNormalSampler(torch.Size([4]), seed=1)(noisy)
    expected_Z, _ = model.outcome_transform(expected_Y)
    torch.testing.assert_close(fantasy.train_targets[..., -3:], expected_Z.squeeze(-1))
    assert not fantasy.trains_outcome_transform
    mean = fantasy.posterior(X_test).mean
    assert mean.shape == torch.Size([4, 3, 1]) and torch.isfinite(mean).all()


def test_batched_model_trains_each_batch_and_deep_chains_keep_fixed_statistics():
    X, Y = skewed_data(30)
    X_batch = torch.stack([X, X.flip(0)])
    Y_batch = torch.stack([Y, Y.flip(0) ** 2])
    transform = Chain(
        std=Standardize(m=1, batch_shape=torch.Size([2])),
        sal1=SinhArcsinh(m=1, batch_shape=torch.Size([2])),
        sal2=SinhArcsinh(m=1, batch_shape=torch.Size([2])),
    )
    model = SingleTaskGP(X_batch, Y_batch, outcome_transform=transform)
    means, stdvs = transform["std"].means.clone(), transform["std"].stdvs.clone()
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    torch.testing.assert_close(transform["std"].means, means, rtol=0, atol=0)
    torch.testing.assert_close(transform["std"].stdvs, stdvs, rtol=0, atol=0)
    for layer in ("sal1", "sal2"):
        c = transform[layer].c
        assert c.shape == torch.Size([2, 1, 1]) and not torch.allclose(c[0], c[1])
    lml = log_marginal_likelihood_original_units(model)
    assert lml.shape == torch.Size([2]) and torch.isfinite(lml).all()
    # Each batch member is the model fitted to its data alone, evaluated at the same parameters.
    single = SingleTaskGP(
        X, Y, outcome_transform=Chain(std=Standardize(m=1), sal1=SinhArcsinh(m=1), sal2=SinhArcsinh(m=1))
    )
    single.load_state_dict({k: v[0] if v.dim() > 0 else v for k, v in model.state_dict().items()}, strict=False)
    torch.testing.assert_close(log_marginal_likelihood_original_units(single), lml[0])


def test_initialization_is_the_marginal_maximum_likelihood_estimate():
    """At model construction, lambda is the i.i.d. maximum-likelihood estimate (scipy's, to the grid step 0.05)."""
    generator = torch.Generator().manual_seed(11)
    Y = torch.cat(
        [torch.randn(60, 1, generator=generator).exp(), (torch.rand(60, 1, generator=generator) * 4) ** 2], -1
    )
    X = torch.rand(60, 2, generator=generator)
    U = (Y - Y.mean(0)) / Y.std(0)

    def yeo_johnson_normmax(u):  # within YeoJohnson's (0, 2), where it is a bijection of the real line
        return optimize.minimize_scalar(lambda lam: -stats.yeojohnson_llf(lam, u), bounds=(0.05, 1.95)).x

    for warp, data, normmax in (
        (BoxCox(m=2), Y, lambda y: stats.boxcox_normmax(y, method="mle")),
        (YeoJohnson(m=2), U, yeo_johnson_normmax),
    ):
        SingleTaskGP(X, data, outcome_transform=warp)
        for i in range(2):
            assert abs(warp.lam[0, i].item() - normmax(data[:, i].numpy())) <= 0.025 + 1e-6
        assert bool(warp._is_initialized)

    # SinhArcsinh: (c, d) maximize the profile likelihood on the grid, and a, b standardize the warped outcomes.
    warp = SinhArcsinh(m=2)
    SingleTaskGP(X, U, outcome_transform=warp)
    Z = warp._warp(U)
    torch.testing.assert_close(Z.mean(0), torch.zeros(2), rtol=0, atol=1e-10)
    torch.testing.assert_close(Z.var(0), torch.ones(2), rtol=1e-10, atol=0)  # the sample variance, as Standardize

    def profile(c, d, u):
        s = np.sinh(c * np.arcsinh(u) - d)
        return np.sum(np.log(c * np.cosh(c * np.arcsinh(u) - d) / np.sqrt(1 + u**2))) - len(u) / 2 * np.log(s.var())

    for i in range(2):
        u = U[:, i].numpy()
        best = profile(warp.c[0, i].item(), warp.d[0, i].item(), u)
        assert best >= profile(1.0, 0.0, u)
        assert all(
            best >= profile(c, d, u)
            for c in np.exp(np.linspace(-np.log(3), np.log(3), 15))
            for d in np.linspace(-2, 2, 17)
        )


def test_box_cox_then_standardize_posterior_is_a_distribution_in_original_units():
    """Warp first, Standardize after: the density integrates to the quantile levels, and to 1."""
    X, Y = skewed_data(30)
    model = SingleTaskGP(X, Y, outcome_transform=Chain(warp=BoxCox(m=1), std=Standardize(m=1)))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    posterior = model.posterior(torch.rand(1, 2, generator=torch.Generator().manual_seed(8)), observation_noise=True)
    assert isinstance(posterior, WarpedPosterior)

    def density(y):
        return posterior.density(torch.tensor([[y]])).item()

    levels = torch.tensor([0.1, 0.5, 0.9])
    quantiles = posterior.quantile(levels).flatten().tolist()
    for level, quantile in zip(levels.tolist(), quantiles):
        assert abs(integrate.quad(density, 0, quantile, epsabs=1e-12)[0] - level) < 1e-6
    assert abs(integrate.quad(density, 0, np.inf, epsabs=1e-12)[0] - 1) < 1e-6
    mean = integrate.quad(lambda y: y * density(y), 0, np.inf, epsabs=1e-12)[0]
    assert abs(posterior.mean.item() - mean) < 1e-6 * mean


@pytest.mark.parametrize("priors", [False, True], ids=["no priors", "default priors"])
def test_tanh_priors_bound_the_likelihood_of_a_spike(priors):
    """A steep step at one training outcome: the loss without priors falls without bound as the slope grows."""
    X, Y = skewed_data()
    warp = TanhWarp(m=1, priors=priors)
    model = SingleTaskGP(X, Y, outcome_transform=Chain(std=Standardize(m=1), warp=warp))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    at = -model.outcome_transform["std"](Y[:1])[0].item()  # a step at the first outcome (standardized)
    model.train()
    losses = []
    for slope in (1e1, 1e3, 1e5):
        warp.initialize(raw_a=warp.raw_a_constraint.inverse_transform(torch.full_like(warp.raw_a, 0.05)))
        warp.initialize(raw_b=warp.raw_b_constraint.inverse_transform(torch.full_like(warp.raw_b, slope)))
        warp.initialize(raw_c=torch.full_like(warp.raw_c, at))
        with torch.no_grad():
            losses.append(-mll(model(*model.train_inputs), model.train_targets).item())
    if priors:
        assert losses[0] < losses[1] < losses[2]
    else:
        # At the step, T' = 1 + 3 a b: each factor of 100 in the slope gains about log(100) / n in the loss.
        assert losses[0] > losses[1] > losses[2]
        assert losses[1] - losses[2] == pytest.approx(math.log(100) / len(Y), rel=0.05)
