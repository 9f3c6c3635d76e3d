"""Posteriors exported with `torch.export` (botorch.models.utils.export, current line) equal eager ones.

At the example size, below and above it, with gradients, and from a `.pt2` file loaded in a fresh process that
cannot import botorch, gpytorch or linear_operator.
"""

import shutil
import subprocess
import sys
import warnings

import gpytorch
import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.models.transforms.outcome import ChainedOutcomeTransform, TanhWarp
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood, SumMarginalLogLikelihood

export = pytest.importorskip("botorch.models.utils.export", reason="torch.export support is a current-line patch")

D = 3
SIZES = (1, 10, 37, 1000)


def fitted(model):
    mll_class = SumMarginalLogLikelihood if isinstance(model, ModelListGP) else ExactMarginalLogLikelihood
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(mll_class(model.likelihood, model))
    return model.eval()


def data(n=40, m=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, D, generator=generator, dtype=torch.double)
    Y = torch.stack([torch.sin(6 * X[:, 0]) + X[:, 1], torch.exp(X.sum(-1))], dim=-1)[:, :m]
    return 5 * X, Y


MODELS = {
    "two outputs": lambda: SingleTaskGP(*data(), input_transform=Normalize(d=D), outcome_transform=Standardize(m=2)),
    "model list": lambda: ModelListGP(*(SingleTaskGP(*data(m=1, seed=s)) for s in (1, 2))),
    "tanh warp": lambda: SingleTaskGP(
        *data(m=1),
        input_transform=Normalize(d=D),
        outcome_transform=ChainedOutcomeTransform(std=Standardize(m=1), warp=TanhWarp(m=1)),
    ),
}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    torch.manual_seed(0)
    return fitted(MODELS[request.param]())


def eager(model, X, quantiles):
    posterior = model.posterior(X, observation_noise=True)
    return posterior.mean, posterior.variance, posterior.quantile(quantiles)


def test_exported_posterior_equals_eager_at_every_size_with_gradients(model):
    quantiles = torch.tensor([0.05, 0.95], dtype=torch.double)
    program = export.export_posterior(
        model,
        torch.rand(10, D, dtype=torch.double),
        statistics=("mean", "variance", "quantile"),
        observation_noise=True,
        quantile_levels=quantiles,
    )
    for n in SIZES:
        X = 5 * torch.rand(n, D, dtype=torch.double, generator=torch.Generator().manual_seed(n))
        X_exported, X_eager = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
        exported, expected = program.module()(X_exported), eager(model, X_eager, quantiles)
        for value, reference in zip(exported, expected):
            torch.testing.assert_close(value, reference, rtol=0, atol=1e-10)
        (gradient,) = torch.autograd.grad(sum(v.sum() for v in exported), X_exported)
        (reference_gradient,) = torch.autograd.grad(sum(v.sum() for v in expected), X_eager)
        torch.testing.assert_close(gradient, reference_gradient, rtol=1e-8, atol=1e-10)


FRESH_PROCESS = """
import sys

class NoModelling:  # a process that has torch, and no BoTorch, GPyTorch or linear_operator
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("botorch", "gpytorch", "linear_operator"):
            raise ImportError(f"{name} is not available here")

sys.meta_path.insert(0, NoModelling())
import torch

program_path, inputs_path, outputs_path = sys.argv[1:]
module = torch.export.load(program_path).module()
with torch.no_grad():
    torch.save([module(X) for X in torch.load(inputs_path)], outputs_path)
assert not any(name.split(".")[0] in ("botorch", "gpytorch", "linear_operator") for name in sys.modules)
"""


def test_pt2_runs_in_a_process_without_botorch(model, tmp_path):
    program_path = tmp_path / "posterior.pt2"
    export.export_posterior(model, torch.rand(10, D, dtype=torch.double), path=program_path)
    inputs = [5 * torch.rand(n, D, dtype=torch.double) for n in SIZES]
    torch.save(inputs, tmp_path / "inputs.pt")
    script = tmp_path / "run.py"
    script.write_text(FRESH_PROCESS)
    subprocess.run(
        [sys.executable, str(script), str(program_path), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
        check=True,
    )
    for X, (mean, variance) in zip(inputs, torch.load(tmp_path / "out.pt")):
        with torch.no_grad():
            posterior = model.posterior(X)
        torch.testing.assert_close(mean, posterior.mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(variance, posterior.variance, rtol=0, atol=1e-10)


def test_compiled_exported_module_has_no_graph_break(model):
    program = export.export_posterior(model, torch.rand(10, D, dtype=torch.double))
    compiled = torch.compile(program.module(), fullgraph=True, dynamic=True, backend="eager")
    for n in (2, 37):
        X = 5 * torch.rand(n, D, dtype=torch.double)
        with torch.no_grad():
            posterior = model.posterior(X)
            mean, variance = compiled(X)
        torch.testing.assert_close(mean, posterior.mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(variance, posterior.variance, rtol=0, atol=1e-10)


needs_compiler = pytest.mark.skipif(
    not (shutil.which("c++") or shutil.which("g++")), reason="Inductor needs a C++ compiler"
)


@needs_compiler
@pytest.mark.parametrize("triangular_solves", [False, True])
def test_inductor_and_aotinductor_equal_eager(model, tmp_path, triangular_solves):
    """Inductor once gave variances off by about 1 (it ignored an alpha=-1; gpytorch 0002 subtracts instead).

    With `trace_triangular_solves` (gpytorch 0014) the variance solves with the Cholesky factor instead.
    """
    with gpytorch.settings.trace_triangular_solves(triangular_solves):
        program = export.export_posterior(model, torch.rand(10, D, dtype=torch.double))
    targets = [node.target for node in program.graph.nodes]
    assert (torch.ops.aten.linalg_solve_triangular.default in targets) == triangular_solves
    compiled = torch.compile(program.module(), dynamic=True)
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "posterior.pt2"))
    runner = torch._inductor.aoti_load_package(package)
    for n in (1, 10, 37):
        X = 5 * torch.rand(n, D, dtype=torch.double)
        with torch.no_grad():
            posterior = model.posterior(X)
            for mean, variance in (compiled(X), runner(X)):
                torch.testing.assert_close(mean, posterior.mean, rtol=0, atol=1e-10)
                torch.testing.assert_close(variance, posterior.variance, rtol=0, atol=1e-10)


QUANTILES = torch.tensor([0.1, 0.9], dtype=torch.double)


class Statistics(torch.nn.Module):
    """Mean, variance and quantiles in original units, and the covariance where the posterior is Gaussian."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, X):
        posterior = self.model.posterior(X, observation_noise=True)
        values = [posterior.mean, posterior.variance, posterior.quantile(QUANTILES)]
        if hasattr(posterior, "distribution"):
            values.append(point_major(posterior.distribution, *posterior.mean.shape[-2:]))
        return values


def point_major(distribution, n, m):
    """The covariance with the outputs of each point together (eager and compiled posteriors order it differently)."""
    covariance = distribution.covariance_matrix
    if m == 1 or distribution._interleaved:
        return covariance
    return covariance.view(m, n, m, n).permute(1, 0, 3, 2).reshape(n * m, n * m)


def test_compiled_model_equals_eager_with_gradients(model):
    """torch.compile of the model itself (not of an exported program): no graph break, values and gradients."""
    torch._dynamo.reset()  # each model is new code to guard on: stay below the recompilation limit
    module = Statistics(model)
    module(torch.rand(3, D, dtype=torch.double))
    compiled = torch.compile(module, fullgraph=True, dynamic=True, backend="aot_eager")
    for n in (1, 10, 37):
        X = (5 * torch.rand(n, D, dtype=torch.double)).requires_grad_(True)
        actual, expected = compiled(X), module(X)
        for a, e in zip(actual, expected):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-10)
        (grad,) = torch.autograd.grad(sum(a.sum() for a in actual), X)
        (expected_grad,) = torch.autograd.grad(sum(e.sum() for e in expected), X)
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-9)


def conditioned(model):
    model.posterior(torch.rand(2, D, dtype=torch.double))
    X, Y = 5 * torch.rand(3, D, dtype=torch.double), torch.rand(3, model.num_outputs, dtype=torch.double)
    return model.condition_on_observations(X, Y)


def fantasized(model):
    model.posterior(torch.rand(2, D, dtype=torch.double))
    X = (5 * torch.rand(2, D, dtype=torch.double)).requires_grad_(True)
    return model.fantasize(X, sampler=SobolQMCNormalSampler(torch.Size([4]), seed=0))


@pytest.mark.parametrize("update", [conditioned, fantasized])
def test_conditioned_and_fantasized_models_export_and_compile(update):
    torch.manual_seed(0)
    model = update(fitted(MODELS["two outputs"]()))
    program = export.export_posterior(model, torch.rand(10, D, dtype=torch.double), observation_noise=True)
    torch._dynamo.reset()
    statistics = export.PosteriorStatistics(model, observation_noise=True)
    compiled = torch.compile(statistics, fullgraph=True, dynamic=True, backend="aot_eager")
    for n in (1, 10, 37):
        X = 5 * torch.rand(n, D, dtype=torch.double)
        with torch.no_grad():
            posterior = model.posterior(X, observation_noise=True)
            for actual in (program.module()(X), compiled(X)):
                torch.testing.assert_close(actual[0], posterior.mean, rtol=0, atol=1e-10)
                torch.testing.assert_close(actual[1], posterior.variance, rtol=0, atol=1e-10)


def test_onnx_model_runs_in_onnxruntime(model, tmp_path):
    """The exported program converts to ONNX (torch.onnx.export, dynamo=True) and onnxruntime gives eager's numbers."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X_example = torch.rand(10, D, dtype=torch.double)
    program = export.export_posterior(model, X_example, observation_noise=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(
            program, (X_example,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("n", min=1)},), verbose=False
        )
    onnx_program.save(str(tmp_path / "posterior.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "posterior.onnx"))
    for n in SIZES:
        X = 5 * torch.rand(n, D, dtype=torch.double)
        mean, variance = session.run(None, {session.get_inputs()[0].name: X.numpy()})
        with torch.no_grad():
            posterior = model.posterior(X, observation_noise=True)
        torch.testing.assert_close(torch.from_numpy(mean), posterior.mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(torch.from_numpy(variance), posterior.variance, rtol=0, atol=1e-10)


def test_quantiles_of_a_model_list_of_warped_models_are_refused_with_the_reason():
    from botorch.exceptions.errors import UnsupportedError
    from botorch.models.transforms.outcome import ChainedOutcomeTransform, SinhArcsinh, Standardize

    X, Y = data(m=1, seed=1)
    members = [
        SingleTaskGP(X, Y + i, outcome_transform=ChainedOutcomeTransform(std=Standardize(m=1), warp=SinhArcsinh(m=1)))
        for i in range(2)
    ]
    model_list = ModelListGP(*members).eval()
    with pytest.raises(UnsupportedError, match="PosteriorList .* has no quantiles; export the quantiles of each"):
        export.export_posterior(model_list, X[:4], statistics=("mean", "quantile"), quantile_levels=[0.1, 0.9])
