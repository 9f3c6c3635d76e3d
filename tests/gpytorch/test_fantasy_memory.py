"""Fantasy models built from the same model are freed (GPyTorch #2631, BoTorch #2728).

A cached tensor with autograd history carries a backward hook that clears its prediction strategy's caches. When
that hook holds the strategy strongly, the strategy, its caches and the autograd graph behind them form a cycle
through a C++ object that Python's garbage collector cannot free: one more strategy (and its n x n matrices) stays
alive per fantasy model.
"""

import gc
import itertools
import weakref

import gpytorch
import pytest
import torch
from gpytorch.models.exact_prediction_strategies import DefaultPredictionStrategy
from test_fantasy_trace import trained_model

TEST_X = torch.linspace(0, 1, 11, dtype=torch.double)
NUM_FANTASY_MODELS = 12


def live_strategies() -> int:
    gc.collect()
    # issubclass(type(...)): isinstance would read __class__ of lazy module proxies, which warn
    return sum(issubclass(type(obj), DefaultPredictionStrategy) for obj in gc.get_objects())


@pytest.mark.parametrize(
    "detach_test_caches, fast_pred_var, nan_policy",
    list(itertools.product([True, False], [True, False], ["ignore", "mask"])),
)
def test_fantasy_models_are_freed(detach_test_caches, fast_pred_var, nan_policy):
    # Under the "mask" policy, a fantasy model computes its mean cache (and registers its hook) itself.
    model = trained_model()
    torch.manual_seed(1)
    strategies, counts = [], []
    with gpytorch.settings.detach_test_caches(detach_test_caches), gpytorch.settings.fast_pred_var(
        fast_pred_var
    ), gpytorch.settings.observation_nan_policy(nan_policy):
        model(TEST_X)
        for _ in range(NUM_FANTASY_MODELS):
            fantasy_model = model.get_fantasy_model(
                torch.rand(3, dtype=torch.double), torch.randn(3, dtype=torch.double)
            )
            posterior = fantasy_model(TEST_X)
            posterior.mean, posterior.variance
            strategies.append(weakref.ref(fantasy_model.prediction_strategy))
            del fantasy_model, posterior
            counts.append(live_strategies())
    assert [strategy() for strategy in strategies] == [None] * NUM_FANTASY_MODELS
    assert counts == [counts[0]] * NUM_FANTASY_MODELS  # flat, not one more per fantasy model


def test_model_evaluated_with_gradients_is_freed_and_its_hooks_still_clear_its_caches():
    model = trained_model()
    model.prediction_strategy = None  # its caches were computed with detach_test_caches on
    with gpytorch.settings.detach_test_caches(False):
        model(TEST_X).mean.sum().backward()  # the hook clears the caches: they depend on the parameters
        assert model.prediction_strategy._memoize_cache == {}
        posterior = model(TEST_X)
        posterior.mean, posterior.variance
        assert len(model.prediction_strategy._memoize_cache) > 0
    strategy = weakref.ref(model.prediction_strategy)
    del model, posterior
    gc.collect()
    assert strategy() is None


def test_botorch_integrated_posterior_variance_does_not_accumulate_fantasy_models():
    """BoTorch #2728: qNegIntegratedPosteriorVariance fantasizes at every evaluation (with propagate_grads)."""
    from botorch.acquisition.active_learning import qNegIntegratedPosteriorVariance
    from botorch.models import SingleTaskGP

    torch.manual_seed(1)
    train_x = torch.rand(12, 2, dtype=torch.double)
    model = SingleTaskGP(train_x, torch.sin(5 * train_x).sum(-1, keepdim=True))
    acquisition = qNegIntegratedPosteriorVariance(model, mc_points=torch.rand(16, 2, dtype=torch.double))
    counts = []
    for _ in range(NUM_FANTASY_MODELS):
        candidates = torch.rand(1, 2, 2, dtype=torch.double, requires_grad=True)
        torch.autograd.grad(acquisition(candidates).sum(), candidates)  # as BoTorch's gen_candidates_scipy does
        counts.append(live_strategies())
    assert counts == [counts[0]] * NUM_FANTASY_MODELS
