"""scripts/upstream-tests: the right build, optional dependencies, and failures against the recorded baseline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import patchset

SUITE = {
    "test_fine.py": "def test_fine():\n    assert True\n",
    "test_known.py": "def test_fails_unpatched_too():\n    assert False\n",
    "test_needs_jax.py": "import jax\n\n\ndef test_jax():\n    assert jax\n",
}


def fake_install(site: Path, package: str, version: str) -> None:
    """Make importlib.metadata report `package` `version`, as an installed wheel would."""
    info = site / f"{package}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")


def upstream_tests(repo: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    command = [sys.executable, str(repo / "scripts" / "upstream-tests"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    (source / "test").mkdir(parents=True)
    for name, text in SUITE.items():
        (source / "test" / name).write_text(text)
    return source


def test_failures_are_compared_with_the_baseline(repo_copy: Path, tmp_path: Path, suite: Path) -> None:
    # linear_operator 0.5.3 has no series: the suite is upstream's alone (a series' test changes are
    # tests/tooling/test_series_files.py's).
    fake_install(tmp_path / "site", "linear_operator", "0.5.3")
    baseline = repo_copy / "upstream" / "baselines" / "legacy" / "linear_operator.txt"
    baseline.parent.mkdir(parents=True, exist_ok=True)
    baseline.write_text("# fails unpatched too\ntest.test_known::test_fails_unpatched_too\n")
    args = ("linear_operator", "--line", "legacy", "--source", suite)

    result = upstream_tests(repo_copy, tmp_path / "site", *map(str, args))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipping test/test_needs_jax.py: it imports jax, which is not installed" in result.stdout
    assert "1 test(s) failed, 1 of them also fail unpatched (linear_operator.txt baseline)" in result.stdout
    assert result.stdout.strip().endswith("no new failures")

    (suite / "test" / "test_new.py").write_text("def test_broken_by_a_patch():\n    assert False\n")
    result = upstream_tests(repo_copy, tmp_path / "site", *map(str, args))
    assert result.returncode == 1
    assert result.stdout.strip().endswith(
        "1 new failure(s), not in upstream/baselines/legacy/linear_operator.txt:\n"
        "  test.test_new::test_broken_by_a_patch"
    )


def test_record_baseline_needs_the_unpatched_release(repo_copy: Path, tmp_path: Path, suite: Path) -> None:
    fake_install(tmp_path / "site", "gpytorch", "1.15.2")
    args = ["gpytorch", "--line", "current", "--source", str(suite), "--record-baseline"]
    result = upstream_tests(repo_copy, tmp_path / "site", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = (repo_copy / "upstream" / "baselines" / "current" / "gpytorch.txt").read_text()
    assert recorded.splitlines()[-1] == "test.test_known::test_fails_unpatched_too"

    result = upstream_tests(repo_copy, tmp_path / "site", *args[:-1])  # the unpatched release, not ours
    assert result.returncode == 1
    assert "has gpytorch 1.15.2, not the patched build of the current line (1.15.2+patched." in result.stderr


def test_refuses_another_lines_build(repo_copy: Path, tmp_path: Path, suite: Path) -> None:
    fake_install(tmp_path / "site", "gpytorch", patchset.find_pin("gpytorch", "1.15.2").patched_version)
    result = upstream_tests(repo_copy, tmp_path / "site", "gpytorch", "--line", "legacy", "--source", str(suite))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "not the patched build of the legacy line (1.13+patched." in result.stderr
    assert "use that line's environment (.tox/legacy/bin/python, built by tox -e legacy)" in result.stderr


def test_parallel_run_without_xdist_names_it(repo_copy: Path, tmp_path: Path, suite: Path) -> None:
    pytest.importorskip("pytest")
    if patchset.importlib.util.find_spec("xdist") is not None:
        pytest.skip("pytest-xdist is installed here")
    args = ["gpytorch", "--line", "current", "--source", str(suite), "--", "-n", "2"]
    result = upstream_tests(repo_copy, tmp_path / "site", *args)
    assert result.returncode == 1
    assert "lacks the Python module(s) xdist" in result.stderr


def test_an_sdist_without_tests_asks_for_a_clone(repo_copy: Path, tmp_path: Path) -> None:
    """BoTorch's sdist has no test/: the message names the sdist (not a deleted scratch folder) and the fix."""
    result = upstream_tests(repo_copy, tmp_path / "site", "botorch", "--line", "current")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: the botorch 0.18.1 sdist has no test/ folder; pass --source with an upstream git clone at tag v0.18.1"
    )
