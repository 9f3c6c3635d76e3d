"""q(Log)NEHVI with incremental_nehvi=False: the hypervolume of the baseline under each posterior sample.

On torch 2.13 BoTorch 0.12.0 could not build these acquisition functions (`view(torch.Size, int, int)`).
The reference is the hypervolume of each sample computed here by a sweep over its Pareto front (two objectives).
"""

import pytest
import torch
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.monte_carlo import qNoisyExpectedHypervolumeImprovement
from botorch.models import SingleTaskGP
from botorch.sampling import SobolQMCNormalSampler

REF_POINT = [0.0, 0.0]


def hypervolume_2d(Y, ref_point):
    """Area dominated by the rows of Y (n x 2, maximization) above ref_point: sweep in decreasing first objective."""
    ref = torch.tensor(ref_point, dtype=Y.dtype)
    Y = Y[(Y > ref).all(-1)]
    volume, best_second = 0.0, ref[1].item()
    for y0, y1 in sorted(Y.tolist(), key=lambda y: -y[0]):
        if y1 > best_second:
            volume += (y0 - ref[0].item()) * (y1 - best_second)
            best_second = y1
    return volume


@pytest.mark.parametrize("acqf_class", [qNoisyExpectedHypervolumeImprovement, qLogNoisyExpectedHypervolumeImprovement])
# (One sample dimension: the samplers' base-sample update in NEHVI supports no more, on either line.)
@pytest.mark.parametrize("sample_shape", [torch.Size([4]), torch.Size([16])], ids=["4", "16"])
def test_initial_hypervolumes(acqf_class, sample_shape):
    torch.manual_seed(0)
    X = torch.rand(8, 2, dtype=torch.double)
    Y = torch.stack([X.sum(-1), (1 - X).prod(-1)], dim=-1)
    model = SingleTaskGP(X, Y)
    acqf = acqf_class(
        model,
        ref_point=REF_POINT,
        X_baseline=X,
        sampler=SobolQMCNormalSampler(sample_shape, seed=1),
        incremental_nehvi=False,
        prune_baseline=False,
        cache_root=False,
    )
    assert acqf._batch_sample_shape == sample_shape
    assert acqf._initial_hvs.shape == sample_shape
    # The same baseline samples again: the base sampler keeps its base samples.
    with torch.no_grad():
        samples = acqf.base_sampler(model.posterior(X))
    assert samples.shape == sample_shape + torch.Size([8, 2])
    expected = torch.tensor([hypervolume_2d(s, REF_POINT) for s in samples.reshape(-1, 8, 2)], dtype=torch.double)
    torch.testing.assert_close(acqf._initial_hvs.reshape(-1), expected, rtol=1e-12, atol=1e-12)
    # The acquisition function evaluates (its values are checked by upstream's own tests, not here).
    value = acqf(torch.rand(3, 1, 2, dtype=torch.double))
    assert value.shape == torch.Size([3]) and torch.isfinite(value).all()
