"""Latency of deployed SingleTaskGP posteriors (mean + variance): eager, traced, exported, against a floor.

    python benchmarks/deploy_latency.py            # in the current line's environment

For n_train in {100, 1000}, n_test in {1, 10, 100, 1000} and 1 or 2 outputs, prints the median latency of
- eager: `model.posterior(X)` then `.mean` and `.variance`, under `torch.no_grad()`,
- traced: the TorchScript module (traced at 10 points, under trace_mode),
- exported: `export_posterior(model, X_example).module()` (torch.export, dynamic number of points),
- floor: the hand-written predictor of `benchmarks/trace_latency.py`,
as ratios to eager and to the floor. Each row first checks that they agree (1e-8). torch.compile and
AOTInductor of the exported program are checked for agreement only: on torch 2.13 their variance is wrong
(see README.md), so they are not timed.
"""

import warnings

import gpytorch
import torch
from botorch.models.utils.export import export_posterior
from trace_latency import D, floor, MeanVar, median_seconds, model_with_data


def inductor_agrees(program, x, reference) -> bool:
    compiled = torch.compile(program.module(), dynamic=True)
    return all(torch.allclose(a, b, rtol=0, atol=1e-8) for a, b in zip(compiled(x), reference))


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, gpytorch {gpytorch.__version__}, 1 thread, double precision")
    print(
        f"{'n_train':>7} {'n_test':>6} {'m':>2} | {'eager ms':>9} {'traced':>8} {'exported':>8} {'floor':>8}"
        f" | {'exported/eager':>14} {'exported/floor':>14} {'traced/floor':>12}"
    )
    with gpytorch.settings.max_cholesky_size(2000):
        for n_train in (100, 1000):
            for num_outputs in (1, 2):
                model = model_with_data(n_train, num_outputs)
                module = MeanVar(model)
                example = torch.rand(10, D, dtype=torch.double)
                with torch.no_grad(), gpytorch.settings.trace_mode():
                    module(example)
                    traced = torch.jit.trace(module, example)
                exported = export_posterior(model, example).module()
                hand_written = floor(model)
                with torch.no_grad():
                    if n_train == 100:
                        agrees = inductor_agrees(export_posterior(model, example), example, module(example))
                        print(f"# inductor-compiled exported program agrees with eager: {agrees}")
                    for n_test in (1, 10, 100, 1000):
                        x = torch.rand(n_test, D, dtype=torch.double)
                        expected = module(x)
                        for result in (traced(x), exported(x), hand_written(x)):
                            for a, b in zip(result, expected):
                                torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=1e-8)
                        eager_s, traced_s, exported_s, floor_s = (
                            median_seconds(f, x) for f in (module, traced, exported, hand_written)
                        )
                        print(
                            f"{n_train:>7} {n_test:>6} {num_outputs:>2} | {1e3 * eager_s:9.3f}"
                            f" {1e3 * traced_s:8.3f} {1e3 * exported_s:8.3f} {1e3 * floor_s:8.3f}"
                            f" | {exported_s / eager_s:14.2f} {exported_s / floor_s:14.2f}"
                            f" {traced_s / floor_s:12.2f}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
