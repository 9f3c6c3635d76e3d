"""Ax's Client runs Bayesian optimization with every output warp (Ax 1.3.1 against our current-line wheels).

Ax applies a ScalarizedPosteriorTransform to every posterior; before the patch set handled transformed
posteriors, the first BoTorch trial failed with "scalarize_posterior only works with a posterior that has an
attribute `distribution`". Each loop: 5 Sobol trials, then 3 trials from a SingleTaskGP whose outcome transform
is the given chain, on a skewed (exponentiated) function. The fitted surrogate must carry the learned warp.
BoxCox is left out: Ax's default outcome transforms (BilogY, StandardizeY) hand BoTorch outcomes of any sign.
"""

import math
import warnings

import pytest
import torch

ax = pytest.importorskip("ax", reason="the ax tox environment installs Ax")

from ax.api.client import Client  # noqa: E402
from ax.api.configs import RangeParameterConfig  # noqa: E402
from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy  # noqa: E402
from ax.api.utils.structs import GenerationStrategyDispatchStruct  # noqa: E402
from ax.generators.torch.botorch_modular.surrogate import ModelConfig  # noqa: E402
from botorch.exceptions.warnings import InputDataWarning  # noqa: E402
from botorch.models import SingleTaskGP  # noqa: E402
from botorch.models.transforms.outcome import (  # noqa: E402
    ChainedOutcomeTransform,
    OutcomeWarp,
    SinhArcsinh,
    Standardize,
    TanhWarp,
    YeoJohnson,
)

CHAINS = {
    "SinhArcsinh": [Standardize, SinhArcsinh],
    "YeoJohnson": [Standardize, YeoJohnson],
    "TanhWarp": [Standardize, TanhWarp],
    "SAL x2": [Standardize, SinhArcsinh, SinhArcsinh],
}


def skewed_branin(x1: float, x2: float) -> float:
    branin = (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2 + 10 * (
        1 - 1 / (8 * math.pi)
    ) * math.cos(x1)
    return math.exp(-branin / 50)  # positive and skewed: most values near 0, a few near 1


@pytest.mark.parametrize("name", CHAINS)
def test_client_loop_with_a_warp(name):
    torch.manual_seed(0)
    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="x1", parameter_type="float", bounds=(-5.0, 10.0)),
            RangeParameterConfig(name="x2", parameter_type="float", bounds=(0.0, 15.0)),
        ]
    )
    client.configure_optimization(objective="y")
    model_config = ModelConfig(botorch_model_class=SingleTaskGP, outcome_transform_classes=CHAINS[name], name=name)
    struct = GenerationStrategyDispatchStruct(method="custom", initialization_budget=5, initialization_random_seed=0)
    client.set_generation_strategy(choose_generation_strategy(struct, model_config=model_config))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDataWarning)  # the documented chains start standardized
        for _ in range(8):
            for index, parameters in client.get_next_trials(max_trials=1).items():
                client.complete_trial(index, raw_data={"y": skewed_branin(parameters["x1"], parameters["x2"])})
    trials = client._experiment.trials
    assert len(trials) == 8 and all(trial.status.is_completed for trial in trials.values())
    generator_runs = [trial.generator_runs[0] for trial in trials.values()]
    assert [run._generation_node_name for run in generator_runs[5:]] == ["MBM"] * 3  # BoTorch, after Sobol
    surrogate = client._generation_strategy.adapter.generator.surrogate
    assert isinstance(surrogate.model, SingleTaskGP)
    warps = [module for module in surrogate.model.outcome_transform.modules() if isinstance(module, OutcomeWarp)]
    assert len(warps) == len(CHAINS[name]) - 1 and surrogate.model.trains_outcome_transform
    # Fitted jointly: the warps moved from where a model built on the same targets starts (data-driven or identity).
    fitted = surrogate.model
    chain = ChainedOutcomeTransform(**{f"otf{i}": transform(m=1) for i, transform in enumerate(CHAINS[name])})
    fresh = SingleTaskGP(fitted.train_inputs[0], fitted._original_train_Y, outcome_transform=chain)
    starts = [module for module in fresh.outcome_transform.modules() if isinstance(module, OutcomeWarp)]
    moved = [(p - q).abs().max().item() for w, s in zip(warps, starts) for p, q in zip(w.parameters(), s.parameters())]
    assert max(moved) > 1e-3
