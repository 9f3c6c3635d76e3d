"""Time of a training step of an exact GP, eager and under torch.compile.

    python benchmarks/compiled_training.py                    # in an environment with a line's patched wheels
    python benchmarks/compiled_training.py --backends eager   # without Inductor (it needs a C++ compiler)

A SingleTaskGP-like ExactGP (constant mean, RBF kernel with one lengthscale per input, Gaussian likelihood; d = 4,
double precision, one thread) on 1000 training points. A step is the exact marginal log likelihood and its backward
pass (forward + backward, as in a fit). For each backend and round it times `--steps` steps, eager and compiled
(torch.compile of the loss, compiled and warmed up before the rounds), and checks that the compiled step gives
eager's loss and gradients: bit for bit with the backend "eager", which runs the captured graphs with torch's own
ops; with Inductor, which then draws its random numbers as eager does, within twice the largest change of eager's
own results when the training inputs move by one rounding error (above 800 points the log determinant is estimated
with random probe vectors and CG runs to the loose training tolerance, which turns rounding into relative changes of
about 1e-3; a wrong graph gives changes of order one). Prints and saves the median
over the rounds of the median step time, the compiled/eager ratio, the number of graphs the compiled step captured
and the time of its first (compiling) call. The machine may be loaded: compare the ratios of one run.
"""

import argparse
import statistics
import time

import gpytorch
import torch
from results import save

D = 4
N_TRAIN = 1000


class ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y):
        likelihood = gpytorch.likelihoods.GaussianLikelihood()
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.RBFKernel(ard_num_dims=train_x.shape[-1])

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def model_with_data() -> ExactGPModel:
    torch.manual_seed(0)
    train_x = torch.rand(N_TRAIN, D, dtype=torch.double)
    train_y = torch.sin(6 * train_x).sum(-1) + 0.1 * torch.randn(N_TRAIN, dtype=torch.double)
    model = ExactGPModel(train_x, train_y).double()
    model.covar_module.lengthscale = 0.5
    model.likelihood.noise = 0.01
    return model.train()


def step(model, loss_function) -> list[torch.Tensor]:
    """One training step: the loss and its backward pass; returns the loss and the gradients."""
    torch.manual_seed(0)  # the same probe vectors in every step (stochastic log determinant above 800 points)
    model.zero_grad()
    loss = loss_function(*model.train_inputs)
    loss.backward()
    return [loss.detach()] + [parameter.grad for parameter in model.parameters()]


def median_step_seconds(model, loss_function, steps: int) -> float:
    times = []
    for _ in range(steps):
        tick = time.perf_counter()
        step(model, loss_function)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def relative_change(a: torch.Tensor, e: torch.Tensor) -> float:
    return float(((a - e).abs() / (1 + e.abs())).max())


def rounding_sensitivity(model, loss_function, expected: list[torch.Tensor], draws: int = 3) -> list[float]:
    """The largest relative change of eager's loss and gradients when the training inputs move by one rounding error
    (eps, random signs): the scale of the differences that reordering floating-point operations can cause."""
    train_x = model.train_inputs[0]
    largest = [0.0] * len(expected)
    for draw in range(draws):
        signs = torch.randn(train_x.shape, generator=torch.Generator().manual_seed(draw), dtype=train_x.dtype).sign()
        model.set_train_data(inputs=train_x * (1 + torch.finfo(train_x.dtype).eps * signs), strict=False)
        moved = step(model, loss_function)
        largest = [max(old, relative_change(m, e)) for old, m, e in zip(largest, moved, expected)]
    model.set_train_data(inputs=train_x, strict=False)
    return largest


def check_agreement(actual: list[torch.Tensor], expected: list[torch.Tensor], backend: str, sensitivity) -> None:
    for a, e, scale in zip(actual, expected, sensitivity):
        if backend == "eager":
            assert torch.equal(a, e), (a, e)
        else:
            assert relative_change(a, e) <= 2 * scale, (relative_change(a, e), scale)


def measure(backend: str, rounds: int, steps: int) -> list:
    """The table row of one backend: median step times, their ratio, graphs, first call."""
    torch._dynamo.reset()
    model = model_with_data()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)

    def loss(x):
        return -mll(model(x), model.train_targets)

    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        if backend == "eager":
            return graph_module
        return torch._dynamo.lookup_backend(backend)(graph_module, example_inputs)

    compiled = torch.compile(loss, backend=recording_backend)
    expected = step(model, loss)
    sensitivity = rounding_sensitivity(model, loss, expected)
    tick = time.perf_counter()
    actual = step(model, compiled)
    first_call = time.perf_counter() - tick
    check_agreement(actual, expected, backend, sensitivity)
    step(model, compiled)  # warm-up: recompilations after the first call
    eager_times = []
    compiled_times = []
    for _ in range(rounds):
        eager_times.append(median_step_seconds(model, loss, steps))
        compiled_times.append(median_step_seconds(model, compiled, steps))
    print(f"{backend}: eager rounds (ms) {[round(1e3 * t, 1) for t in eager_times]}")
    print(f"{backend}: compiled rounds (ms) {[round(1e3 * t, 1) for t in compiled_times]}")
    eager, compiled_median = statistics.median(eager_times), statistics.median(compiled_times)
    return [backend, N_TRAIN, 1e3 * eager, 1e3 * compiled_median, compiled_median / eager, len(graphs), first_call]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["eager", "inductor"], help="torch.compile backends")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    # Inductor's own random numbers would give other probe vectors than eager's: draw them as eager does.
    torch._inductor.config.fallback_random = True
    rows = [measure(backend, args.rounds, args.steps) for backend in args.backends]
    for row in rows:
        print(row)
    save(
        "compiled_training",
        ["backend", "n_train", "eager ms", "compiled ms", "compiled/eager", "graphs", "first call s"],
        ["", "d", ".1f", ".1f", ".2f", "d", ".1f"],
        rows,
        notes=(
            f"median over {args.rounds} rounds of the median of {args.steps} steps (loss + backward), one thread; "
            "graphs: the graphs the compiled step captured; first call: its compilation and first step"
        ),
    )


if __name__ == "__main__":
    main()
