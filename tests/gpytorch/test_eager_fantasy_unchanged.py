"""Outside trace_mode, patched GPyTorch computes what unpatched GPyTorch computes: predictions of exact GPs (bit for
bit) and of their (batch) fantasy models, and their derivatives, with detach_test_caches and fast_pred_var on and
off. Fantasy models agree to 1e-10 rather than bit for bit, because they read their updated mean cache instead of
solving again (test_fantasy_mean_cache.py). The one intended difference, derivatives with respect to fantasy inputs
with detach_test_caches on (wrong on the release: see test_fantasy_gradients.py), is left out of the comparison."""

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import torch
from gpytorch_eager_cases import eager_results

REPO = Path(__file__).resolve().parents[2]


def unpatched_gpytorch_source(destination: Path) -> Path:
    """The pinned sdist of the installed GPyTorch's upstream version (fetched by scripts/apply)."""
    upstream_version = version("gpytorch").split("+")[0]
    sdist = REPO / ".cache" / "sdists" / f"gpytorch-{upstream_version}.tar.gz"
    with tarfile.open(sdist) as archive:
        archive.extractall(destination, filter="data")
    return destination / f"gpytorch-{upstream_version}"


def test_eager_predictions_and_gradients_are_bit_identical_to_upstream(tmp_path: Path) -> None:
    source = unpatched_gpytorch_source(tmp_path)
    output = tmp_path / "upstream.pt"
    env = dict(os.environ, PYTHONPATH=str(source))
    script = Path(__file__).with_name("gpytorch_eager_cases.py")
    run = subprocess.run(
        [sys.executable, str(script), str(output)], env=env, check=True, capture_output=True, text=True
    )
    assert Path(run.stdout.strip()).is_relative_to(source)  # the unpatched source, not the installed wheel
    upstream = torch.load(output)

    patched = eager_results()
    assert patched.keys() == upstream.keys()
    assert any(key.startswith("fantasy-detach0") and key.endswith("grad-fantasy_x") for key in patched)
    for name, value in patched.items():
        if "fantasy" in name:
            torch.testing.assert_close(value, upstream[name], rtol=0, atol=1e-10, msg=name)
        else:
            assert torch.equal(value, upstream[name]), name
