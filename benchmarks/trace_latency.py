"""Latency of a traced SingleTaskGP posterior (mean + variance) against eager BoTorch and a hand-written floor.

    python benchmarks/trace_latency.py            # in an environment with a line's patched wheels

For n_train in {100, 1000}, n_test in {1, 10, 100, 1000} and 1 or 2 outputs, prints the median latency of
- traced: the TorchScript module (traced once, at 10 points) returning posterior mean and variance,
- eager: `model.posterior(X)` then `.mean` and `.variance`, under `torch.no_grad()`,
- floor: the least torch code for the same numbers: the test-train kernel matrix, one matrix-vector
  product for the mean, one triangular solve for the variance (Cholesky factor precomputed),
and the ratios traced/eager and traced/floor. Each row first checks that the three agree (1e-8).
Runs single-threaded, in double precision, with exact (Cholesky) solves for every n_train.
"""

import statistics
import time
import warnings

import gpytorch
import torch
from botorch.models import SingleTaskGP
from results import save

REPEAT_SECONDS = 0.3
D = 4


class MeanVar(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        posterior = self.model.posterior(x)
        return posterior.mean, posterior.variance


def median_seconds(function, x) -> float:
    function(x)  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < REPEAT_SECONDS and len(times) < 500):
        tick = time.perf_counter()
        function(x)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def model_with_data(n_train: int, num_outputs: int) -> SingleTaskGP:
    torch.manual_seed(0)
    X = torch.rand(n_train, D, dtype=torch.double)
    Y = torch.stack(
        [torch.sin(6 * X[:, k]) + 0.1 * torch.randn(n_train, dtype=X.dtype) for k in range(num_outputs)], -1
    )
    model = SingleTaskGP(X, Y)
    for k, lengthscale in enumerate((0.3, 0.5)[:num_outputs]):
        model.covar_module.lengthscale.data[k] = lengthscale
    model.likelihood.noise = 0.01
    return model.eval()


def floor(model: SingleTaskGP):
    """Precompute what a hand-written predictor keeps: per output, the Cholesky factor and the weights."""
    num_outputs = model.num_outputs  # one batch per output below, also for a single output
    X = model.train_inputs[0].expand(num_outputs, -1, -1)
    targets = model.train_targets.view(num_outputs, -1)  # standardized
    lengthscale = model.covar_module.lengthscale.view(num_outputs, 1, -1)
    constant = model.mean_module.constant.view(num_outputs, 1)
    noise = model.likelihood.noise.view(num_outputs, 1, 1)
    Xs = X / lengthscale
    K = torch.exp(-0.5 * torch.cdist(Xs, Xs).square()) + noise * torch.eye(X.shape[-2], dtype=X.dtype)
    L = torch.linalg.cholesky(K)
    weights = torch.cholesky_solve((targets - constant).unsqueeze(-1), L)
    means, stdvs = model.outcome_transform.means, model.outcome_transform.stdvs  # 1 x outputs

    def predict(x):
        Ks = torch.exp(-0.5 * torch.cdist(x / lengthscale, Xs).square())  # outputs x n_test x n
        mean = (Ks @ weights).squeeze(-1) + constant
        V = torch.linalg.solve_triangular(L, Ks.mT, upper=False)
        variance = 1 - V.square().sum(-2)
        return means + stdvs * mean.mT, stdvs.square() * variance.mT

    return predict


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, gpytorch {gpytorch.__version__}, 1 thread, double precision")
    header = f"{'n_train':>7} {'n_test':>6} {'m':>2} | {'traced ms':>9} {'eager ms':>9} {'floor ms':>9} |"
    print(header + f" {'traced/eager':>12} {'traced/floor':>12}")
    rows = []
    with gpytorch.settings.max_cholesky_size(2000), torch.no_grad():
        for n_train in (100, 1000):
            for num_outputs in (1, 2):
                model = model_with_data(n_train, num_outputs)
                module = MeanVar(model)
                with gpytorch.settings.trace_mode():
                    example = torch.rand(10, D, dtype=torch.double)
                    module(example)
                    traced = torch.jit.trace(module, example)
                hand_written = floor(model)
                for n_test in (1, 10, 100, 1000):
                    x = torch.rand(n_test, D, dtype=torch.double)
                    for result in (module(x), hand_written(x)):
                        for a, b in zip(traced(x), result):
                            torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=1e-8)
                    times = [median_seconds(f, x) for f in (traced, module, hand_written)]
                    ms = " ".join(f"{1e3 * t:9.3f}" for t in times)
                    ratios = f"{times[0] / times[1]:12.2f} {times[0] / times[2]:12.2f}"
                    print(f"{n_train:>7} {n_test:>6} {num_outputs:>2} | {ms} | {ratios}", flush=True)
                    ms_values = [1e3 * t for t in times]
                    rows.append([n_train, n_test, num_outputs, *ms_values, times[0] / times[1], times[0] / times[2]])
    columns = ["n_train", "n_test", "outputs", "traced ms", "eager ms", "floor ms", "traced/eager", "traced/floor"]
    notes = "Median latency of mean and variance; one thread, double precision, exact solves."
    save("trace_latency", columns, ["d"] * 3 + [".3f"] * 3 + [".2f"] * 2, rows, notes)


if __name__ == "__main__":
    main()
