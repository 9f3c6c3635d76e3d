"""Time of a fantasy posterior: `get_fantasy_model` then the posterior mean and variance at test points.

    python benchmarks/fantasy_posterior.py        # in an environment with a line's patched wheels

`get_fantasy_model` updates the mean cache of the model it conditions (a bordered solve against the cached root
inverse). GPyTorch 1.13 to 1.15.2 store that update under a key that `mean_cache` never reads (#2669), so the
fantasy model solves against its full (n + m) x (n + m) training covariance again at its first prediction; our
patch stores it where it is read. Both are timed here with the patched wheel:
- updated: the patched behavior (the fantasy model reads the updated mean cache),
- recomputed: the release's behavior, reproduced by removing the updated mean cache from the fantasy model's cache
  right after `get_fantasy_model`, so that its first prediction computes it from scratch, as the release does.
Each row checks that both give the same mean and variance (1e-8) and that `recomputed` computes the mean cache
once and `updated` never. Prints the median times and the ratio recomputed/updated (above 1: the fix is faster).
Runs single-threaded, in double precision, with exact (Cholesky) solves for every n_train, under torch.no_grad().
"""

import pickle
import statistics
import time
import warnings

import gpytorch
import torch
from gpytorch.models.exact_prediction_strategies import DefaultPredictionStrategy
from gpytorch.utils.memoize import cached
from results import save

REPEAT_SECONDS = 1.0
D = 4
N_TEST = 64
MEAN_CACHE_KEY = ("mean_cache", ("ignore",), pickle.dumps({}))  # where `mean_cache` reads, under the default policy
MEAN_CACHE_COMPUTATIONS = []


class ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y):
        super().__init__(train_x, train_y, gpytorch.likelihoods.GaussianLikelihood())
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def count_mean_cache_computations() -> None:
    compute = DefaultPredictionStrategy._mean_cache.__wrapped__

    def counting(self, nan_policy):
        MEAN_CACHE_COMPUTATIONS.append(nan_policy)
        return compute(self, nan_policy)

    DefaultPredictionStrategy._mean_cache = cached(name="mean_cache")(counting)


def model_with_data(n_train: int) -> ExactGPModel:
    torch.manual_seed(0)
    train_x = torch.rand(n_train, D, dtype=torch.double)
    train_y = torch.sin(6 * train_x).sum(-1) + 0.1 * torch.randn(n_train, dtype=torch.double)
    model = ExactGPModel(train_x, train_y).double().eval()
    model.covar_module.base_kernel.lengthscale = 0.3
    model.likelihood.noise = 0.01
    model(torch.rand(1, D, dtype=torch.double))  # the caches that fantasy models update
    return model


def fantasy_posterior(model, fantasy_x, fantasy_y, test_x, recompute: bool):
    fantasy_model = model.get_fantasy_model(fantasy_x, fantasy_y)
    if recompute:
        fantasy_model.prediction_strategy._memoize_cache.pop(MEAN_CACHE_KEY, None)
    posterior = fantasy_model(test_x)
    return posterior.mean, posterior.variance


def median_seconds(function) -> float:
    function()  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < REPEAT_SECONDS and len(times) < 200):
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    count_mean_cache_computations()
    print(
        f"torch {torch.__version__}, gpytorch {gpytorch.__version__}, 1 thread, double precision, {N_TEST} test points"
    )
    print(f"{'n_train':>7} {'m':>2} {'fantasies':>9} | {'recomputed ms':>13} {'updated ms':>10} | {'ratio':>5}")
    rows = []
    with gpytorch.settings.max_cholesky_size(4000), torch.no_grad():
        for n_train in (200, 500, 1000):
            model = model_with_data(n_train)
            test_x = torch.rand(N_TEST, D, dtype=torch.double)
            for m, num_fantasies in ((1, 1), (4, 1), (4, 16)):
                fantasy_x = torch.rand(m, D, dtype=torch.double)
                fantasy_y = torch.randn(*(num_fantasies,) * (num_fantasies > 1), m, dtype=torch.double)
                results = []
                for recompute in (True, False):
                    MEAN_CACHE_COMPUTATIONS.clear()
                    results.append(fantasy_posterior(model, fantasy_x, fantasy_y, test_x, recompute))
                    assert len(MEAN_CACHE_COMPUTATIONS) == int(recompute), MEAN_CACHE_COMPUTATIONS
                for a, b in zip(*results):
                    torch.testing.assert_close(a, b, rtol=0, atol=1e-8)
                recomputed, updated = (
                    median_seconds(lambda: fantasy_posterior(model, fantasy_x, fantasy_y, test_x, recompute))
                    for recompute in (True, False)
                )
                print(
                    f"{n_train:>7} {m:>2} {num_fantasies:>9} | {1e3 * recomputed:13.2f} {1e3 * updated:10.2f} |"
                    f" {recomputed / updated:5.2f}",
                    flush=True,
                )
                rows.append([n_train, m, num_fantasies, 1e3 * recomputed, 1e3 * updated, recomputed / updated])
    columns = ["n_train", "m", "fantasies", "recomputed ms", "updated ms", "recomputed/updated"]
    notes = f"Median time of get_fantasy_model then the mean and variance at {N_TEST} test points."
    save("fantasy_posterior", columns, ["d", "d", "d", ".2f", ".2f", ".2f"], rows, notes)


if __name__ == "__main__":
    main()
