"""The behavior tests (all but tests/tooling) must run against our patched wheels, never plain upstream."""

from importlib import import_module
from importlib.metadata import version

import pytest

PATCHED = ("botorch", "gpytorch")


@pytest.fixture(autouse=True, scope="module")
def _patched_wheels(request: pytest.FixtureRequest) -> None:
    if "tooling" in request.path.parts:
        return
    for name in PATCHED:
        installed = version(name)
        if "+patched." not in installed or import_module(name).__version__ != installed:
            pytest.exit(f"{name} {installed} is not one of our patched wheels; run scripts/apply first", returncode=3)
