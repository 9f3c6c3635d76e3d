"""Write tests/mutants/<name>.patch for every mutant below, against the installed wheels.

  python tests/mutants/refresh.py

Each mutant is a snippet of an installed file (`old`, which must occur exactly once) and its wrong replacement
(`new`); the patch is the unified diff with one line of context, so that it keeps applying while the series changes
code elsewhere in the file. When a series change touches a snippet itself, this script stops with the mutant's name:
edit that mutant's `old` and `new` to the new code, run it again in an environment with the new wheels (for example
.tox/current/bin/python tests/mutants/refresh.py), and check with tests/mutants/run.py that every mutant is killed.
"""

import difflib
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (what is wrong, file, old, new, the tests that must kill it)
MUTANTS = {
    "reversed-standardize-composition": (
        "Standardize.untransform_posterior applies its inverse before the warp's instead of after it",
        "botorch/models/transforms/outcome.py",
        "            # Keep quantiles and densities: standardizing is one more monotone map.\n"
        "            return posterior.then(self)\n",
        "            # Keep quantiles and densities: standardizing is one more monotone map.\n"
        "            return WarpedPosterior(posterior._posterior, [self, *posterior.transforms])\n",
        "tests/botorch/test_warped_references.py",
    ),
    "dropped-log-jacobian": (
        "log_marginal_likelihood_original_units leaves out the log-Jacobian of the outcome transform",
        "botorch/models/utils/marginal_likelihood.py",
        "        log_det = log_det.squeeze(-1)\n    return log_likelihood + log_det\n",
        "        log_det = log_det.squeeze(-1)\n    return log_likelihood\n",
        "tests/botorch/test_warped_references.py",
    ),
    "dropped-log-jacobian-in-density": (
        "WarpedPosterior.density leaves out the log-Jacobian of the change of variables",
        "botorch/posteriors/warped.py",
        "        return (log_normal + log_det).exp()\n",
        "        return log_normal.exp()\n",
        "tests/botorch/test_warped_references.py",
    ),
    "detached-fantasy-cache": (
        "fantasy caches are detached under detach_test_caches outside trace mode (no fantasy exemption)",
        "gpytorch/models/exact_prediction_strategies.py",
        "        if settings.detach_test_caches.on() and not self._has_fantasies:\n",
        "        if settings.detach_test_caches.on():\n",
        "tests/gpytorch/test_fantasy_gradients.py",
    ),
    "traced-branch-ignores-output-indices": (
        "the traced multi-output posterior selects every output, whatever output_indices says",
        "botorch/models/gpytorch.py",
        "                        mvn=mvn, output_dim_idx=output_dim_idx, indices=output_indices\n",
        "                        mvn=mvn, output_dim_idx=output_dim_idx, indices=None\n",
        "tests/botorch/test_output_indices.py",
    ),
    "mean-cache-scaled-under-trace-mode": (
        "the mean cache is scaled by 1.001 when a strategy is prepared for tracing (trace_mode only)",
        "gpytorch/models/exact_prediction_strategies.py",
        "        self.likelihood = likelihood\n        if self._has_fantasies:\n",
        "        self._memoize_cache = {\n"
        '            key: value * 1.001 if isinstance(key, tuple) and key[0] == "mean_cache" else value\n'
        "            for key, value in self._memoize_cache.items()\n"
        "        }\n"
        "        self.likelihood = likelihood\n"
        "        if self._has_fantasies:\n",
        "tests/gpytorch/test_fantasy_trace.py",
    ),
    "wrong-sign-in-tanh-inverse-derivative": (
        "TanhWarp's inverse has the right values but the derivative -1 / T'(y) (the Newton step's sign flipped)",
        "botorch/models/transforms/outcome.py",
        "        return Y - (self._warp(Y) - Z) / self._derivative(Y).detach()\n",
        "        return Y + (self._warp(Y) - Z) / self._derivative(Y).detach()\n",
        "tests/botorch/test_warped_references.py",
    ),
    "wrong-sign-in-untransformed-noise": (
        "OutcomeWarp.untransform carries the noise with T'(y)^2 instead of 1 / T'(y)^2",
        "botorch/models/transforms/outcome.py",
        "            None if Yvar is None else Yvar * (-2 * self._log_derivative(Y_utf)).exp()\n",
        "            None if Yvar is None else Yvar * (2 * self._log_derivative(Y_utf)).exp()\n",
        "tests/botorch/test_warped_references.py",
    ),
}


def site_packages() -> Path:
    spec = importlib.util.find_spec("botorch")
    if spec is None:
        sys.exit(f"error: botorch is not installed in {sys.executable}")
    return Path(list(spec.submodule_search_locations)[0]).parent


def main() -> None:
    site = site_packages()
    for name, (what, path, old, new, tests) in MUTANTS.items():
        text = (site / path).read_text()
        if text.count(old) != 1:
            sys.exit(f"error: mutant {name}: its snippet occurs {text.count(old)} times in {site / path}; update it")
        lines = difflib.unified_diff(
            text.splitlines(True), text.replace(old, new).splitlines(True), f"a/{path}", f"b/{path}", n=1
        )
        header = f"Mutant: {what}.\nTests: {tests}\n\n"
        (HERE / f"{name}.patch").write_text(f"{header}diff --git a/{path} b/{path}\n{''.join(lines)}")
        print(f"wrote {name}.patch")


if __name__ == "__main__":
    main()
