"""Outside trace_mode, fantasy caches stay attached: derivatives with respect to fantasy inputs are exact."""

import itertools

import gpytorch
import pytest
import torch
from test_fantasy_trace import trained_model

TEST_X = torch.linspace(0, 1, 11, dtype=torch.double)


def fantasy_prediction(model, fantasy_x: torch.Tensor, fantasy_y: torch.Tensor) -> torch.Tensor:
    """A scalar of the fantasy model's predictions that depends on the fantasy inputs."""
    fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y)
    prediction = fantasy_model(TEST_X)
    return prediction.mean.sum() + prediction.variance.sum()


def central_differences(function, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    gradient = torch.zeros_like(x)
    with torch.no_grad():
        for i in range(x.numel()):
            step = torch.zeros_like(x).view(-1)
            step[i] = eps
            step = step.view_as(x)
            gradient.view(-1)[i] = (function(x + step) - function(x - step)) / (2 * eps)
    return gradient


@pytest.mark.parametrize("detach_test_caches, fast_pred_var", list(itertools.product([True, False], repeat=2)))
def test_gradient_wrt_fantasy_inputs_matches_finite_differences(detach_test_caches, fast_pred_var):
    model = trained_model()
    fantasy_y = torch.tensor([0.3, -0.5, 0.9], dtype=torch.double)
    with gpytorch.settings.detach_test_caches(detach_test_caches), gpytorch.settings.fast_pred_var(fast_pred_var):
        fantasy_x = torch.tensor([0.15, 0.55, 0.8], dtype=torch.double, requires_grad=True)
        (gradient,) = torch.autograd.grad(fantasy_prediction(model, fantasy_x, fantasy_y), fantasy_x)
        expected = central_differences(lambda x: fantasy_prediction(model, x, fantasy_y), fantasy_x.detach())
    assert expected.abs().max() > 0.1  # the check is not vacuous
    torch.testing.assert_close(gradient, expected, rtol=1e-5, atol=1e-7)


def test_fantasy_model_equals_model_refit_on_concatenated_data():
    model = trained_model()
    fantasy_x = torch.tensor([0.15, 0.55, 0.8], dtype=torch.double)
    fantasy_y = torch.tensor([0.3, -0.5, 0.9], dtype=torch.double)
    fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y)

    refit = trained_model()
    refit.set_train_data(
        torch.cat([refit.train_inputs[0].squeeze(-1), fantasy_x]),
        torch.cat([refit.train_targets, fantasy_y]),
        strict=False,
    )
    with torch.no_grad():
        fantasy, reference = fantasy_model(TEST_X), refit(TEST_X)
    torch.testing.assert_close(fantasy.mean, reference.mean, rtol=0, atol=1e-8)
    torch.testing.assert_close(fantasy.variance, reference.variance, rtol=0, atol=1e-8)


def test_botorch_integrated_posterior_variance_gradient_matches_finite_differences():
    """The acquisition function where the regression of GPyTorch #2605 shows (off by factors of 3 to 47)."""
    from botorch.acquisition.active_learning import qNegIntegratedPosteriorVariance
    from botorch.models import SingleTaskGP

    torch.manual_seed(1)
    train_x = torch.rand(12, 2, dtype=torch.double)
    model = SingleTaskGP(train_x, torch.sin(5 * train_x).sum(-1, keepdim=True))
    for kernel in model.covar_module.modules():
        if getattr(kernel, "has_lengthscale", False):
            kernel.lengthscale = 0.3
    acquisition = qNegIntegratedPosteriorVariance(model, mc_points=torch.rand(64, 2, dtype=torch.double))

    candidates = torch.rand(1, 3, 2, dtype=torch.double, requires_grad=True)
    (gradient,) = torch.autograd.grad(acquisition(candidates).sum(), candidates)
    expected = central_differences(lambda x: acquisition(x).sum(), candidates.detach())
    assert expected.abs().max() > 0.05
    torch.testing.assert_close(gradient, expected, rtol=1e-5, atol=1e-8)
