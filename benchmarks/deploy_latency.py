"""Latency of deployed SingleTaskGP posteriors (mean + variance): eager, traced, exported, against a floor.

    python benchmarks/deploy_latency.py            # in the current line's environment

For n_train in {100, 1000}, n_test in {1, 10, 100, 1000} and 1 or 2 outputs, prints the median latency of
- eager: `model.posterior(X)` then `.mean` and `.variance`, under `torch.no_grad()`,
- traced: the TorchScript module (traced at 10 points, under trace_mode),
- exported: `export_posterior(model, X_example).module()` (torch.export, dynamic number of points),
- compiled: `torch.compile(exported, dynamic=True)` (Inductor),
- compiled model: `torch.compile` (Inductor, `dynamic=True`) of the eager module itself, no export,
- AOTI: `torch._inductor.aoti_compile_and_package` of the exported program, loaded with `aoti_load_package`,
- AOTI tri: the same of a program exported under `gpytorch.settings.trace_triangular_solves()` (the variance
  solves with the Cholesky factor; not convertible to ONNX),
- floor: the hand-written predictor of `benchmarks/trace_latency.py`,
and ratios to eager and to the floor. Each row first checks that they all agree (1e-8).
"""

import tempfile
import warnings

import gpytorch
import torch
from botorch.models.utils.export import export_posterior
from results import save
from trace_latency import D, floor, MeanVar, median_seconds, model_with_data

COLUMNS = ["eager", "traced", "exported", "compiled", "compiled model", "AOTI", "AOTI tri", "floor"]


def aoti_package(program):
    with tempfile.TemporaryDirectory() as directory:
        package = torch._inductor.aoti_compile_and_package(program, package_path=f"{directory}/p.pt2")
        return torch._inductor.aoti_load_package(package)


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, gpytorch {gpytorch.__version__}, 1 thread, double precision")
    print(
        f"{'n_train':>7} {'n_test':>6} {'m':>2} | {'eager ms':>9} {'traced':>8} {'exported':>8} {'compiled':>8}"
        f" {'c. model':>8} {'AOTI':>8} {'AOTI tri':>8} {'floor':>8} | {'AOTI/eager':>10} {'AOTI/traced':>11}"
        f" {'AOTI/floor':>10} {'tri/floor':>9} {'traced/floor':>12}"
    )
    rows = []
    with gpytorch.settings.max_cholesky_size(2000):
        for n_train in (100, 1000):
            for num_outputs in (1, 2):
                model = model_with_data(n_train, num_outputs)
                module = MeanVar(model)
                example = torch.rand(10, D, dtype=torch.double)
                with torch.no_grad(), gpytorch.settings.trace_mode():
                    module(example)
                    traced = torch.jit.trace(module, example)
                program = export_posterior(model, example)
                exported = program.module()
                compiled = torch.compile(exported, dynamic=True)
                compiled_model = torch.compile(module, dynamic=True)
                with gpytorch.settings.trace_triangular_solves():
                    program_tri = export_posterior(model, example)
                aoti, aoti_tri = (aoti_package(p) for p in (program, program_tri))
                hand_written = floor(model)
                with torch.no_grad():
                    for n_test in (1, 10, 100, 1000):
                        x = torch.rand(n_test, D, dtype=torch.double)
                        expected = module(x)
                        functions = (module, traced, exported, compiled, compiled_model, aoti, aoti_tri, hand_written)
                        for function in functions[1:]:
                            for a, b in zip(function(x), expected):
                                torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=1e-8)
                        seconds = [median_seconds(f, x) for f in functions]
                        eager_s, traced_s, aoti_s, tri_s, floor_s = (seconds[i] for i in (0, 1, 5, 6, 7))
                        ms = " ".join(f"{1e3 * t:8.3f}" for t in seconds[1:])
                        print(
                            f"{n_train:>7} {n_test:>6} {num_outputs:>2} | {1e3 * eager_s:9.3f} {ms}"
                            f" | {aoti_s / eager_s:10.2f} {aoti_s / traced_s:11.2f} {aoti_s / floor_s:10.2f}"
                            f" {tri_s / floor_s:9.2f} {traced_s / floor_s:12.2f}",
                            flush=True,
                        )
                        ratios = [aoti_s / eager_s, aoti_s / traced_s, aoti_s / floor_s, tri_s / floor_s]
                        rows.append([n_train, n_test, num_outputs, *(1e3 * s for s in seconds), *ratios])
    ratio_columns = ["AOTI/eager", "AOTI/traced", "AOTI/floor", "AOTI tri/floor"]
    notes = "Milliseconds of mean and variance (median); one thread, double precision."
    formats = ["d"] * 3 + [".3f"] * len(COLUMNS) + [".2f"] * len(ratio_columns)
    save("deploy_latency", ["n_train", "n_test", "m", *COLUMNS, *ratio_columns], formats, rows, notes)


if __name__ == "__main__":
    main()
