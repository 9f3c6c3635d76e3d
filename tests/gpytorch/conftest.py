"""The behavior tests must run against our patched wheels, never against plain upstream."""

from importlib.metadata import version

import gpytorch


def pytest_report_header() -> str:
    return f"gpytorch {version('gpytorch')} (gpytorch.__version__ {gpytorch.__version__})"


def pytest_sessionstart() -> None:
    installed = version("gpytorch")
    if "+patched." not in installed or gpytorch.__version__ != installed:
        raise RuntimeError(f"gpytorch {installed} is not one of our patched wheels; run scripts/apply first")
