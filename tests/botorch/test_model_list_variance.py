"""The eager ModelListGP posterior of a multi-output member equals that member's own posterior.

BoTorch 0.18.1 splits a multi-output member's posterior block by block (separate_mtmvn slices its
BlockDiagLinearOperator covariance), which linear_operator 0.6.1 got wrong for an even number of points:
variances off by up to 0.058 here (by 2.14 in test_traced_posterior's model, at 10 points). BoTorch 0.12.0
splits with tensor indices and is right on linear_operator 0.5.3; the test runs on both lines.
Reference: each member's own posterior, from its dense covariance matrix.
"""

import warnings

import pytest
import torch
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import Standardize

D = 2


def model_list() -> ModelListGP:
    torch.manual_seed(0)
    X = torch.rand(12, D, dtype=torch.double)
    Y = torch.stack([torch.sin(6 * X[:, 0]), torch.cos(5 * X[:, 1]), X.sum(-1) ** 2], dim=-1)
    two_outputs = SingleTaskGP(X, Y[:, :2], outcome_transform=Standardize(m=2))
    one_output = SingleTaskGP(X, Y[:, 2:])
    return ModelListGP(two_outputs, one_output).eval()


def member_outputs(model: ModelListGP, X: torch.Tensor, **kwargs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, covariance over the points) of every output, from the member's own posterior (its dense matrix)."""
    q, outputs = X.shape[-2], []
    for member in model.models:
        posterior = member.posterior(X, **kwargs)
        covariance, m = posterior.distribution.covariance_matrix, member.num_outputs
        interleaved = m > 1 and posterior.distribution._interleaved
        for i in range(m):
            points = torch.arange(q) * m + i if interleaved else torch.arange(q) + i * q
            outputs.append((posterior.mean[..., i], covariance[..., points.unsqueeze(-1), points]))
    return outputs


@pytest.mark.parametrize("batch_shape", [(), (3,)], ids=["flat", "batched"])
@pytest.mark.parametrize("q", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("observation_noise", [False, True], ids=["latent", "noisy"])
def test_model_list_posterior_equals_members(q, batch_shape, observation_noise):
    model = model_list()
    torch.manual_seed(1)
    X = torch.rand(*batch_shape, q, D, dtype=torch.double)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posterior = model.posterior(X, observation_noise=observation_noise)
        expected = member_outputs(model, X, observation_noise=observation_noise)
        mean, variance, covariance = posterior.mean, posterior.variance, posterior.distribution.covariance_matrix

    assert variance.shape == (*batch_shape, q, 3)
    for output, (expected_mean, expected_covariance) in enumerate(expected):
        torch.testing.assert_close(mean[..., output], expected_mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(
            variance[..., output], expected_covariance.diagonal(dim1=-2, dim2=-1), rtol=0, atol=1e-10
        )
        block = slice(output * q, (output + 1) * q)  # the ModelListGP's MTMVN is not interleaved
        torch.testing.assert_close(covariance[..., block, block], expected_covariance, rtol=0, atol=1e-10)
    # Independent members and outputs: nothing off the output blocks
    off_blocks = covariance.clone()
    for output in range(3):
        off_blocks[..., output * q : (output + 1) * q, output * q : (output + 1) * q] = 0
    assert torch.count_nonzero(off_blocks) == 0
