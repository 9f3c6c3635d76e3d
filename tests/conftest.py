"""The behavior tests (all but tests/tooling) must run against our patched wheels, never plain upstream.

botorch and gpytorch are patched on every line. linear_operator is patched where patches/ has a series for
its installed version (0.6.1 of the current line): there it must be our wheel too; elsewhere (0.5.3 of the
legacy line) the plain release is the right one, and tests/linear_operator, which test that series, skip.
"""

from importlib import import_module
from importlib.metadata import version
from pathlib import Path

import pytest

PATCHES = Path(__file__).resolve().parents[1] / "patches"
PATCHED = ("botorch", "gpytorch")


def _has_series(name: str, installed: str) -> bool:
    return (PATCHES / name / installed.split("+")[0] / "series").is_file()


def _check_patched(name: str) -> None:
    installed = version(name)
    if "+patched." not in installed or import_module(name).__version__ != installed:
        pytest.exit(f"{name} {installed} is not one of our patched wheels; run scripts/apply first", returncode=3)


@pytest.fixture(autouse=True, scope="module")
def _patched_wheels(request: pytest.FixtureRequest) -> None:
    if "tooling" in request.path.parts:
        return
    for name in PATCHED:
        _check_patched(name)
    linear_operator = version("linear_operator")
    if _has_series("linear_operator", linear_operator):
        _check_patched("linear_operator")
    elif "linear_operator" in request.path.parts:
        pytest.skip(f"linear_operator {linear_operator} has no patch series of ours to test")


@pytest.fixture(autouse=True)
def _restore_distribution_validation(request: pytest.FixtureRequest):
    """torch.compile turns off torch.distributions' argument validation for the rest of the process: restore it, so
    that no test depends on whether a compiling test ran before it. (The tooling environment has no torch.)"""
    if "tooling" in request.path.parts:
        yield
        return
    import torch

    validate = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(validate)
