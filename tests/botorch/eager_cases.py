"""Eager posteriors of a set of models, computed the same way by patched and by unpatched BoTorch.

Imported by test_eager_unchanged.py, and run as a script against the unpatched sdist:
    python eager_cases.py OUTPUT_FILE
"""

import sys
import warnings

import torch
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.sampling import SobolQMCNormalSampler


def _models():
    torch.manual_seed(0)
    X = 4 * torch.rand(16, 3, dtype=torch.double)
    Y = torch.stack([(k + 1) * torch.sin(X[:, 0] + k) + 3 * k for k in range(3)], dim=-1)
    for m in (1, 2, 3):
        yield f"stgp{m}", SingleTaskGP(X, Y[:, :m]), {}
        yield f"stgp{m}-normalize-fixed", SingleTaskGP(
            X, Y[:, :m], train_Yvar=torch.full_like(Y[:, :m], 0.01), input_transform=Normalize(d=3)
        ), {"observation_noise": True}
    yield "stgp3-output-indices", SingleTaskGP(X, Y, outcome_transform=None), {"output_indices": [2, 0]}
    yield "model-list", ModelListGP(SingleTaskGP(X, Y[:, :1]), SingleTaskGP(X, Y[:, 1:2])), {}
    model = SingleTaskGP(X, Y[:, :2], outcome_transform=Standardize(m=2))
    model.posterior(X[:2])
    yield "fantasized", model.fantasize(X[:4] + 0.1, SobolQMCNormalSampler(sample_shape=torch.Size([2]), seed=0)), {}


def eager_results() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    X_test = 4 * torch.rand(2, 5, 3, dtype=torch.double)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, kwargs in _models():
            with torch.no_grad():
                posterior = model.eval().posterior(X_test, **kwargs)
                results[f"{name}-mean"] = posterior.mean
                results[f"{name}-variance"] = posterior.variance
                results[f"{name}-covariance"] = posterior.distribution.covariance_matrix
    return results


if __name__ == "__main__":
    import botorch

    torch.save(eager_results(), sys.argv[1])
    print(botorch.__file__)
