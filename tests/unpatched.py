"""Results computed by the unpatched upstream source of an installed package, for eager-unchanged comparisons."""

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def unpatched_results(package: str, script: Path, tmp_path: Path) -> dict:
    """Run `script OUTPUT` with the pinned sdist of the installed package's upstream version (fetched by
    scripts/apply) ahead of the installed wheel, and load what it saved. The script prints the package's path."""
    upstream_version = version(package).split("+")[0]
    with tarfile.open(REPO / ".cache" / "sdists" / f"{package}-{upstream_version}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    source = tmp_path / f"{package}-{upstream_version}"
    output = tmp_path / "upstream.pt"
    run = subprocess.run(
        [sys.executable, str(script), str(output)],
        env=dict(os.environ, PYTHONPATH=str(source)),
        check=True,
        capture_output=True,
        text=True,
    )
    assert Path(run.stdout.strip()).is_relative_to(source)  # the unpatched source, not the installed wheel
    return torch.load(output)
