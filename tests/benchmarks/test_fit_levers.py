"""The fit-cost benchmark's stopping rule: when it stops, and that a fit it stops ends there without a retry."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip(
    "sklearn", reason="the benchmark's tasks need scikit-learn (tox environments ax-loop, bench-tuning)"
)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fit_levers  # noqa: E402
from botorch.models import SingleTaskGP  # noqa: E402


def test_the_rule_stops_once_the_log_likelihood_stops_rising():
    rule = fit_levers.LossPlateau(num_data=10, tol=0.01, window=3)
    # losses per point: 1.0, 0.9, 0.8, 0.7 then flat; over all points 10, 9, 8, 7, 7, 7, 6.9995
    for fval in (1.0, 0.9, 0.8, 0.7, 0.7, 0.7):
        rule(None, SimpleNamespace(fval=fval))  # rises of 3, 2 and 1 nats over the last 3 steps
    with pytest.raises(StopIteration):
        rule(None, SimpleNamespace(fval=0.69995))  # 7.0 - 6.9995 < 0.01 over 3 steps
    assert rule.losses[-1] == pytest.approx(6.9995)


def test_a_stopped_fit_ends_where_the_rule_stopped_it():
    torch.manual_seed(0)
    X = torch.rand(20, 2, dtype=torch.double)
    Y = torch.exp(torch.sin(6 * X).sum(-1, keepdim=True))
    models = [SingleTaskGP(X, Y, outcome_transform=fit_levers.outcome_transform("sinharcsinh")) for _ in range(2)]
    full_seconds, full_iterations, full_loss = fit_levers.fit(models[0])
    rule = fit_levers.LossPlateau(len(X), tol=1.0, window=2)  # a loose rule: it stops early
    seconds, iterations, loss = fit_levers.fit(models[1], rule)
    assert iterations == len(rule.losses) < full_iterations  # one attempt only: no retry after the stop
    assert loss == rule.losses[-1] >= full_loss - 1e-9
    assert np.isfinite([seconds, full_seconds]).all()
