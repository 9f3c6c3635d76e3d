"""Outside tracing, patched BoTorch computes exactly what unpatched BoTorch computes, bit for bit."""

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import torch
from eager_cases import eager_results

REPO = Path(__file__).resolve().parents[2]


def unpatched_botorch_source(destination: Path) -> Path:
    """The pinned sdist of the installed BoTorch's upstream version (fetched by scripts/apply)."""
    upstream_version = version("botorch").split("+")[0]
    sdist = REPO / ".cache" / "sdists" / f"botorch-{upstream_version}.tar.gz"
    with tarfile.open(sdist) as archive:
        archive.extractall(destination, filter="data")
    return destination / f"botorch-{upstream_version}"


def test_eager_posteriors_are_bit_identical_to_upstream(tmp_path: Path) -> None:
    source = unpatched_botorch_source(tmp_path)
    output = tmp_path / "upstream.pt"
    env = dict(os.environ, PYTHONPATH=str(source))
    script = Path(__file__).with_name("eager_cases.py")
    run = subprocess.run(
        [sys.executable, str(script), str(output)], env=env, check=True, capture_output=True, text=True
    )
    assert Path(run.stdout.strip()).is_relative_to(source)  # the unpatched source, not the installed wheel
    upstream = torch.load(output)

    patched = eager_results()
    assert patched.keys() == upstream.keys()
    for name, value in patched.items():
        assert torch.equal(value, upstream[name]), name
