"""`posterior(X, output_indices=...)` of a multi-output model with an outcome transform, on both lines.

A multi-output `SingleTaskGP` has `Standardize(m)` by default. Unpatched, its posterior un-transformed the
selected outputs with the transform of all outputs: "The size of tensor a (3) must match the size of tensor b (2)",
or, for a permutation of all outputs, each output with another one's mean and scale. The posterior of the selected
outputs must be that of a model built on those outputs only, with the same hyperparameters (the reference: no
`output_indices`, no `subset_output`), eagerly and traced (`torch.jit.trace` under `gpytorch.settings.trace_mode`).
"""

import warnings

import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms import outcome
from test_traced_posterior import MeanVarWrapper, trace

Chain, Log, Standardize = outcome.ChainedOutcomeTransform, outcome.Log, outcome.Standardize
WARPS = {
    "sinh-arcsinh": outcome.SinhArcsinh,
    "box-cox": outcome.BoxCox,
    "yeo-johnson": outcome.YeoJohnson,
    "tanh": outcome.TanhWarp,
}
D = 3


def transform(name: str, m: int) -> outcome.OutcomeTransform | None:
    """The outcome transform `name` of `m` outputs (None: the model's default, Standardize(m))."""
    if name == "default":
        return None
    if name == "standardize":
        return Standardize(m=m)
    if name == "log+standardize":
        return Chain(log=Log(), std=Standardize(m=m))
    if name == "box-cox+standardize":  # BoxCox needs positive outcomes: it goes first
        return Chain(warp=outcome.BoxCox(m=m), std=Standardize(m=m))
    warp = WARPS[name.split("+")[-1]](m=m)
    return Chain(std=Standardize(m=m), warp=warp) if name.startswith("standardize+") else warp


TRANSFORMS = [
    "default",
    "standardize",
    "log+standardize",
    "standardize+sinh-arcsinh",
    "box-cox+standardize",
    "standardize+yeo-johnson",
    "standardize+tanh",
    "sinh-arcsinh",
]
OUTPUT_INDICES = [[0, 2], [2, 0, 1], [1]]  # a single index: a single-output posterior (it raised upstream)


def warp_of(transform: outcome.OutcomeTransform | None) -> outcome.OutcomeWarp | None:
    members = transform.values() if isinstance(transform, Chain) else [transform]
    return next((member for member in members if isinstance(member, outcome.OutcomeWarp)), None)


def models(name: str, output_indices: list[int]) -> tuple[SingleTaskGP, SingleTaskGP]:
    """A 3-output model with perturbed hyperparameters (and warp parameters), and a model built on the outputs
    `output_indices` only, given the same values."""
    generator = torch.Generator().manual_seed(0)
    X = 4 * torch.rand(16, D, generator=generator, dtype=torch.double)
    Y = torch.stack([(k + 1) * torch.exp(2 * torch.sin(X[:, 0] + k) + 0.3 * X[:, 1]) for k in range(3)], dim=-1)
    full_transform, sub_transform = transform(name, 3), transform(name, len(output_indices))
    for tf in (full_transform, sub_transform):
        if tf is not None:
            tf.double()  # copy the parameters below in double precision
    warp, sub_warp = warp_of(full_transform), warp_of(sub_transform)
    if warp is not None:
        warp.initialize_from_data = sub_warp.initialize_from_data = False  # keep the values set here
        with torch.no_grad():
            for parameter, sub_parameter in zip(warp.parameters(), sub_warp.parameters(), strict=True):
                perturbation = 0.2 * torch.randn(parameter.shape, generator=generator, dtype=torch.double)
                if isinstance(warp, outcome.BoxCox):
                    # Near the log: BoxCox's moments are NaN where the quadrature reaches below -1/lambda.
                    parameter.copy_(0.05 * perturbation)
                else:
                    parameter.add_(perturbation)
                sub_parameter.copy_(parameter[output_indices])  # the outputs lead the shape (m x terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # input data warnings
        full = SingleTaskGP(X, Y, **({} if full_transform is None else {"outcome_transform": full_transform}))
        Y_sub = Y[:, output_indices]
        sub = SingleTaskGP(X, Y_sub, **({} if sub_transform is None else {"outcome_transform": sub_transform}))
    with torch.no_grad():
        for (full_name, parameter), (sub_name, sub_parameter) in zip(
            full.named_parameters(), sub.named_parameters(), strict=True
        ):
            assert full_name == sub_name
            if not full_name.startswith("outcome_transform"):
                # Noise and lengthscales are their raw values (no transform): scale them. The GP's
                # hyperparameters have the outputs as their first batch dimension.
                perturbation = 0.3 * torch.randn(parameter.shape, generator=generator, dtype=torch.double)
                if "constant" in full_name:
                    parameter.add_(perturbation)
                else:
                    parameter.mul_(perturbation.exp())
                # A single-output model has no output batch dimension.
                sub_parameter.copy_(parameter[output_indices].reshape(sub_parameter.shape))
    return full.eval(), sub.eval()


@pytest.mark.parametrize("output_indices", OUTPUT_INDICES)
@pytest.mark.parametrize("name", TRANSFORMS)
def test_eager_posterior_of_selected_outputs(name, output_indices):
    full, sub = models(name, output_indices)
    X = 4 * torch.rand(2, 5, D, dtype=torch.double)
    with torch.no_grad():
        posterior = full.posterior(X, output_indices=output_indices)
        expected = sub.posterior(X)
    assert posterior.mean.shape == torch.Size([2, 5, len(output_indices)])
    assert torch.isfinite(expected.mean).all() and torch.isfinite(expected.variance).all()
    torch.testing.assert_close(posterior.mean, expected.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(posterior.variance, expected.variance, rtol=0, atol=1e-10)
    if name in ("default", "standardize"):  # Gaussian: the whole covariance
        torch.testing.assert_close(
            posterior.distribution.covariance_matrix, expected.distribution.covariance_matrix, rtol=0, atol=1e-10
        )


@pytest.mark.parametrize("output_indices", OUTPUT_INDICES)
@pytest.mark.parametrize("name", TRANSFORMS)
def test_traced_posterior_of_selected_outputs(name, output_indices):
    """Traced at one size, checked at others; a warp's parameters of all outputs must not stay in the graph."""
    full, sub = models(name, output_indices)
    module = MeanVarWrapper(full, output_indices=output_indices)
    for shapes in ([(10, D), (7, D), (1, D)], [(2, 4, D), (3, 6, D)]):
        traced = trace(module, 4 * torch.rand(*shapes[0], dtype=torch.double))
        for shape in shapes:
            X = 4 * torch.rand(*shape, dtype=torch.double)
            with torch.no_grad():
                mean, variance = traced(X)
                expected = sub.posterior(X)
            assert mean.shape == expected.mean.shape == torch.Size([*shape[:-1], len(output_indices)])
            # Relative too: a log model's moments reach 1e3, and the traced variance is computed another way
            # (a triangular solve instead of a product with the inverse factor), which rounds differently.
            torch.testing.assert_close(mean, expected.mean, rtol=1e-12, atol=1e-10)
            torch.testing.assert_close(variance, expected.variance, rtol=1e-12, atol=1e-10)


def test_model_keeps_all_outputs_and_gradients_flow():
    """Selecting outputs changes neither the model's transform nor the posterior of all outputs."""
    full, _ = models("standardize+sinh-arcsinh", [2, 0])
    X = (4 * torch.rand(4, D, dtype=torch.double)).requires_grad_(True)
    selected = full.posterior(X, output_indices=[2, 0]).mean
    everything = full.posterior(X).mean
    assert warp_of(full.outcome_transform).raw_a.shape[-2] == 3 and full.outcome_transform["std"].means.shape[-1] == 3
    torch.testing.assert_close(selected, everything[..., [2, 0]], rtol=0, atol=1e-12)
    (gradient,) = torch.autograd.grad(selected.sum(), X)
    (expected,) = torch.autograd.grad(everything[..., [2, 0]].sum(), X)
    torch.testing.assert_close(gradient, expected, rtol=0, atol=1e-10)
