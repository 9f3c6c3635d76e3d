"""Fixtures for the tooling tests: a private copy of the repository and real upstream checkouts.

The commands run in a copy, so that they can write work/, dist/ and .cache/ freely; the copy
shares the real sdist cache, so only the first run ever downloads.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import patchset  # noqa: E402


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("scripts", "patches", "upstream"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / ".cache" / "sdists").mkdir(parents=True)
    for pin in patchset.all_pins():
        sdist = patchset.fetch_sdist(pin)
        (copy / ".cache" / "sdists" / sdist.name).symlink_to(sdist)
    return copy


def run(repo: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / command), *map(str, args)], capture_output=True, text=True
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """An unpacked gpytorch 1.15.2 sdist, the way a user vendors it."""
    return patchset.unpack_sdist(patchset.find_pin("gpytorch", "1.15.2"), tmp_path / "vendor")


def snapshot(tree: Path) -> dict[str, bytes]:
    """Every file of a tree with its content, to prove that a tree did not change."""
    return {str(path.relative_to(tree)): path.read_bytes() for path in sorted(tree.rglob("*")) if path.is_file()}


def interrupted_while_python_started(stderr: str) -> bool:
    """A SIGINT before a command's first line (while Python imports its startup modules) ends in a traceback that
    no command can prevent; nothing has run then."""
    return stderr.rstrip().endswith("KeyboardInterrupt") and "in main" not in stderr and "patchset.py" not in stderr
