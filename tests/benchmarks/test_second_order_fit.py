"""The second-order fit benchmark's Newton fit: its Hessian is the loss's (finite differences), and it reaches the
optimum L-BFGS-B reaches, inside BoTorch's bounds."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip(
    "sklearn", reason="the benchmark's tasks need scikit-learn (tox environments ax-loop, bench-tuning)"
)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import second_order_fit  # noqa: E402


def data():
    X = torch.rand(20, 2, dtype=torch.double, generator=torch.Generator().manual_seed(0))
    return X.numpy(), torch.exp(torch.sin(6 * X).sum(-1, keepdim=True)).numpy()


def test_the_hessian_is_the_finite_difference_of_the_gradient():
    mll = second_order_fit.model_and_mll("sinharcsinh", *data(), None)
    mll.train()
    loss = second_order_fit.HessianLoss(mll)
    x = loss.x0() + 0.1  # inside the bounds, away from the initial values' symmetries
    hessian, step = loss.hessian(x), 1e-6
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = step
        column = (loss.value_and_grad(x + e)[1] - loss.value_and_grad(x - e)[1]) / (2 * step)
        np.testing.assert_allclose(hessian[:, i], column, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["standardize", "sinharcsinh"])
def test_newton_reaches_the_optimum_of_lbfgs_inside_the_bounds(method):
    lbfgs, newton = (second_order_fit.model_and_mll(method, *data(), None) for _ in range(2))
    second_order_fit.fit(lbfgs.model)
    _, iterations, hessians = second_order_fit.newton_fit(newton)
    assert 0 < hessians <= iterations
    assert second_order_fit.final_loss(newton) == pytest.approx(second_order_fit.final_loss(lbfgs), abs=1e-3)
    newton.train()
    loss = second_order_fit.HessianLoss(newton)
    x = torch.cat([p.detach().reshape(-1) for p in loss.parameters]).numpy()
    assert (x >= loss.bounds.lb).all() and (x <= loss.bounds.ub).all()
