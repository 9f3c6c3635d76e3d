"""torch.export and torch.compile of a fresh model's posterior, with no warm-up call (current line).

Each case is a SingleTaskGP (one or two outputs, or one output warped by Standardize and TanhWarp) or a ModelListGP
that has not predicted since it was put in eval mode, in a module whose forward calls ``model.posterior``. The
results are compared with an equal model that predicts eagerly; the saved ``.pt2`` runs in a fresh process that
cannot import botorch, gpytorch or linear_operator.
"""

import subprocess
import sys

import pytest
import torch
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms.outcome import ChainedOutcomeTransform, Standardize

pytest.importorskip("botorch.models.utils.export", reason="torch.export and torch.compile support is current-line")
from botorch.models.transforms.outcome import TanhWarp  # noqa: E402

KINDS = ["one", "two", "list", "warped"]


class MeanAndVariance(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        posterior = self.model.posterior(x)
        return posterior.mean, posterior.variance


def fresh_model(kind: str):
    torch.manual_seed(0)
    X = torch.rand(25, 3, dtype=torch.double)
    Y = torch.sin(5 * X.sum(-1, keepdim=True))
    if kind == "list":
        return ModelListGP(SingleTaskGP(X, Y), SingleTaskGP(X, torch.cos(3 * X[:, :1]))).eval()
    if kind == "warped":
        # Fixed warp parameters (as after a fit): steps the inverse must resolve, which eager code solves
        # until converged and a captured graph in a fixed number of steps.
        warp = TanhWarp(m=1)
        for name, values in zip("abcd", ([0.5, 2.0, 0.2], [3.0, 0.5, 8.0], [-1.0, 0.5, 0.0], 0.7)):
            warp._set_constrained(name, torch.tensor(values))
        transform = ChainedOutcomeTransform(standardize=Standardize(m=1), warp=warp)
        model = SingleTaskGP(X, torch.exp(2 * Y), outcome_transform=transform)
    else:
        model = SingleTaskGP(X, Y if kind == "one" else torch.cat([Y, torch.cos(3 * X[:, :1])], -1))
    model.covar_module.lengthscale = 0.4
    model.likelihood.noise = 1e-3
    return model.eval()


def reference(kind: str, x: torch.Tensor):
    with torch.no_grad():
        return MeanAndVariance(fresh_model(kind))(x)


def has_no_caches(model) -> bool:
    models = model.models if isinstance(model, ModelListGP) else [model]
    return all(member.prediction_strategy is None for member in models)


LOAD = """
import sys
for name in ("botorch", "gpytorch", "linear_operator"):
    sys.modules[name] = None
import torch
x, mean, variance = torch.load(sys.argv[2])
actual = torch.export.load(sys.argv[1]).module()(x)
print(max((a - e).abs().max().item() for a, e in zip(actual, (mean, variance))))
"""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("grad_mode", [torch.enable_grad, torch.no_grad], ids=["grad", "no_grad"])
def test_export_of_a_fresh_model_loads_in_a_fresh_process(kind, grad_mode, tmp_path):
    module = MeanAndVariance(fresh_model(kind))
    example = torch.rand(5, 3, dtype=torch.double)
    with grad_mode():
        program = torch.export.export(
            module, (example,), dynamic_shapes=({0: torch.export.Dim("n", min=1)},), strict=False
        )
    assert has_no_caches(module.model)
    torch.export.save(program, tmp_path / "posterior.pt2")
    x = torch.rand(9, 3, dtype=torch.double)
    torch.save((x, *reference(kind, x)), tmp_path / "expected.pt")
    run = subprocess.run(
        [sys.executable, "-c", LOAD, str(tmp_path / "posterior.pt2"), str(tmp_path / "expected.pt")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout) < 1e-10


@pytest.mark.parametrize("kind", KINDS)
def test_compile_of_a_fresh_model(kind):
    module = MeanAndVariance(fresh_model(kind))
    torch._dynamo.reset()
    compiled = torch.compile(module, fullgraph=True, dynamic=True, backend="eager")
    for n in (3, 8):
        x = torch.rand(n, 3, dtype=torch.double)
        with torch.no_grad():
            for actual, expected in zip(compiled(x), reference(kind, x)):
                assert (actual - expected).abs().max().item() < 1e-10
    assert has_no_caches(module.model)
    with torch.no_grad():
        for actual, expected in zip(module(x), reference(kind, x)):
            assert (actual - expected).abs().max().item() < 1e-10
