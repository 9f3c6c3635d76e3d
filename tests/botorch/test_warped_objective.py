"""The training objective of a model with a trainable outcome transform, on every path users take.

Each path must give the exact warped-GP likelihood in original units, or raise. The reference is computed
independently of the patch set's objective code: the `MultivariateNormal` log density of T(y) under the GP
prior (the model's own mean and kernel modules, plus the noise) and log |T'(y)| by autograd of the eval-mode
transform, with every prior removed. Parameters are moved away from their construction values first.
"""

import pytest
import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import outcome
from botorch.optim.closures import get_loss_closure
from botorch.optim.utils import get_data_loader
from gpytorch.mlls import ExactMarginalLogLikelihood, LeaveOneOutPseudoLikelihood, SumMarginalLogLikelihood

Chain, Standardize = outcome.ChainedOutcomeTransform, outcome.Standardize
WARPS = {
    "sinh-arcsinh": lambda m: outcome.SinhArcsinh(m=m, priors=False),
    "yeo-johnson": lambda m: outcome.YeoJohnson(m=m),
    "tanh": lambda m: outcome.TanhWarp(m=m, priors=False),
}


@pytest.fixture(autouse=True, scope="module")
def _double_precision():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.double)
    yield
    torch.set_default_dtype(previous)


def without_priors(model):
    for module in model.modules():
        for name in list(getattr(module, "_priors", {})):
            del module._priors[name]
    return model


def data(m=1, n=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=generator)
    Y = torch.exp(torch.sin(6 * X[:, :1]) + X[:, 1:] + 0.1 * torch.randn(n, m, generator=generator))
    return X, Y * torch.arange(1, m + 1)


def warped_model(name, m=1, seed=0, train_Yvar=None):
    X, Y = data(m, seed=seed)
    transform = Chain(std=Standardize(m=m), warp=WARPS[name](m))
    kwargs = {} if train_Yvar is None else {"train_Yvar": train_Yvar.expand_as(Y)}
    return without_priors(SingleTaskGP(X, Y, outcome_transform=transform, **kwargs)), X, Y


def move_parameters(model, seed=1):
    """Move every raw parameter (warp and GP) away from its construction value.

    Positive ones (noise and lengthscales, which BoTorch bounds rather than transforms) stay positive.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            step = 0.3 * torch.randn(parameter.shape, generator=generator)
            parameter.mul_(step.exp()) if (parameter > 0).all() else parameter.add_(step)


def transformed_and_log_derivative(transform, Y):
    """T(y) and log T'(y) of the transform in eval mode, by autograd: independent of the model's code."""
    modes = [(module, module.training) for module in transform.modules()]
    transform.eval()
    try:
        with torch.enable_grad():
            Y = Y.detach().requires_grad_(True)
            Z, _ = transform(Y)
            (dZ,) = torch.autograd.grad(Z.sum(), Y)
    finally:
        for module, training in modes:
            module.training = training
    return Z.detach(), dZ.log()


def reference(model, X, Y, train_Yvar=None):
    """log N(T(y); mu, K + noise) + sum log T'(y), per output, divided by n (as the MLL)."""
    Z, log_derivative = transformed_and_log_derivative(model.outcome_transform, Y)
    with torch.no_grad():
        values = []
        for i in range(Y.shape[-1]):
            mean = model.mean_module(X)
            covar = model.covar_module(X).to_dense()
            if Y.shape[-1] > 1:
                mean, covar = mean[i], covar[i]
            if train_Yvar is None:
                noise = model.likelihood.noise.reshape(-1)[i if Y.shape[-1] > 1 else 0].expand(len(Y))
            else:
                noise = train_Yvar.expand_as(Y)[:, i] * log_derivative[:, i].exp() ** 2
            gaussian = torch.distributions.MultivariateNormal(mean, covar + torch.diag(noise))
            values.append((gaussian.log_prob(Z[:, i]) + log_derivative[:, i].sum()) / len(Y))
    return torch.stack(values).squeeze()


def take_a_step(model, mll):
    """One Adam step on the transform's parameters."""
    optimizer = torch.optim.Adam(model.outcome_transform.parameters(), lr=0.1)
    loss = -mll(model(*model.train_inputs), model.train_targets).sum()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("name", WARPS)
@pytest.mark.parametrize("m", [1, 2])
def test_targets_read_after_the_call(name, m):
    model, X, Y = warped_model(name, m)
    move_parameters(model)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    output = model(*model.train_inputs)
    torch.testing.assert_close(mll(output, model.train_targets), reference(model, X, Y))


@pytest.mark.parametrize("name", WARPS)
@pytest.mark.parametrize("m", [1, 2])
def test_targets_bound_before_the_step(name, m):
    model, X, Y = warped_model(name, m)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    targets = model.train_targets
    take_a_step(model, mll)
    move_parameters(model)
    torch.testing.assert_close(mll(model(*model.train_inputs), targets), reference(model, X, Y))


@pytest.mark.parametrize("name", WARPS)
def test_raw_train_Y(name):
    model, X, Y = warped_model(name)
    move_parameters(model)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    torch.testing.assert_close(mll(model(X), Y.squeeze(-1)), reference(model, X, Y))


@pytest.mark.parametrize("name", WARPS)
def test_botorch_data_loader_closure(name):
    model, X, Y = warped_model(name)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    closure = get_loss_closure(mll, data_loader=get_data_loader(model))
    move_parameters(model)
    model.train()
    torch.testing.assert_close(-closure(), reference(model, X, Y))


def test_data_loader_of_a_model_in_eval_mode_is_refused():
    model, _, _ = warped_model("sinh-arcsinh")
    model.eval()
    with pytest.raises(UnsupportedError, match="model.train"):
        get_data_loader(model)


def test_minibatches_are_refused():
    model, X, Y = warped_model("sinh-arcsinh")
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    closure = get_loss_closure(mll, data_loader=get_data_loader(model, batch_size=5))
    model.train()
    with pytest.raises((UnsupportedError, RuntimeError), match="training inputs"):
        closure()


@pytest.mark.parametrize("name", WARPS)
def test_leave_one_out_pseudo_likelihood(name):
    model, X, Y = warped_model(name)
    move_parameters(model)
    model.train()
    mll = LeaveOneOutPseudoLikelihood(model.likelihood, model)
    value = mll(model(X), model.train_targets)
    # log p(y_i | y_-i) = log N(T(y_i); mu_i, s_i^2) + log T'(y_i), by conditioning the Gaussian directly.
    Z, log_derivative = transformed_and_log_derivative(model.outcome_transform, Y)
    with torch.no_grad():
        covar = model.covar_module(X).to_dense() + model.likelihood.noise * torch.eye(len(Y))
        mean, z = model.mean_module(X), Z[:, 0]
        expected = 0.0
        for i in range(len(Y)):
            rest = [j for j in range(len(Y)) if j != i]
            gain = torch.linalg.solve(covar[rest][:, rest], covar[rest, i])
            mu = mean[i] + gain @ (z[rest] - mean[rest])
            var = covar[i, i] - covar[rest, i] @ gain
            expected = expected + torch.distributions.Normal(mu, var.sqrt()).log_prob(z[i]) + log_derivative[i, 0]
    torch.testing.assert_close(value, expected / len(Y))


def test_sum_marginal_log_likelihood_over_a_model_list():
    (first, X1, Y1), (second, X2, Y2) = warped_model("sinh-arcsinh", seed=0), warped_model("tanh", seed=3)
    model = ModelListGP(first, second)
    move_parameters(model)
    model.train()
    mll = SumMarginalLogLikelihood(model.likelihood, model)
    value = mll(model(*model.train_inputs), model.train_targets)
    # SumMarginalLogLikelihood averages its members' values.
    torch.testing.assert_close(value, (reference(first, X1, Y1) + reference(second, X2, Y2)) / 2)


def test_fixed_noise_carries_the_noise_through_the_warp():
    train_Yvar = torch.tensor(0.01)
    model, X, Y = warped_model("sinh-arcsinh", train_Yvar=train_Yvar)
    move_parameters(model)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    value = mll(model(*model.train_inputs), model.train_targets)
    # To first order, the noise of T(y) is Var(y) T'(y)^2 (T: the whole chain, Standardize included).
    torch.testing.assert_close(value, reference(model, X, Y, train_Yvar=train_Yvar))


@pytest.mark.parametrize("optimizer", ["scipy", "torch"])
def test_fit_gpytorch_mll_maximizes_the_exact_objective(optimizer):
    from botorch.optim.fit import fit_gpytorch_mll_torch

    model, X, Y = warped_model("sinh-arcsinh")
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    kwargs = (
        {"optimizer": fit_gpytorch_mll_torch, "optimizer_kwargs": {"step_limit": 50}} if optimizer == "torch" else {}
    )
    start = reference(model, X, Y)
    fit_gpytorch_mll(mll, **kwargs)
    fitted = reference(model, X, Y)
    assert fitted > start + 0.05
    # The returned model's objective is the reference at its parameters, in train mode again.
    model.train()
    torch.testing.assert_close(mll(model(*model.train_inputs), model.train_targets), fitted)
