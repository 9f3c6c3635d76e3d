"""scripts/upstream-tests --series-files: which upstream test files a series adds or changes, and the new ones rebuilt
from the series alone.

The upstream is a small fake BoTorch repository (tag v0.18.1) and the series two patches written from commits on it
with `git format-patch`, as `scripts/queue export` writes them.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import patchset

UPSTREAM_FILES = {
    "botorch/__init__.py": "",
    "botorch/models.py": "def scale(x):\n    return 2 * x\n",
    "test/__init__.py": "",
    "test/test_models.py": "from botorch.models import scale\n\n\ndef test_scale():\n    assert scale(1) == 2\n",
    "test/test_gone.py": "def test_gone():\n    assert True\n",
}
SHIFT = "\n\ndef shift(x):\n    return x - 1.0\n"
TEST_SHIFT = "from botorch.models import shift\n\n\ndef test_shift():\n    assert shift(2) == 1.0\n"
TEST_SHIFT_MORE = "\n\ndef test_shift_gives_a_float():\n    assert isinstance(shift(2), float)\n"
# A new test module in a new folder that imports a helper of the package above it, as upstream's tests may (its
# test folders are packages).
TEST_SHIFT_HELPER = "from botorch.models import shift\n\nfrom ..helpers import ONE\n\n\n"
TEST_SHIFT_HELPER += "def test_shift_one():\n    assert shift(ONE) == 0\n"
# A test that the series adds to upstream's file, and that fails unpatched too (the baseline lists it).
TEST_KNOWN = "\n\ndef test_fails_unpatched_too():\n    assert scale(1) == 3\n"
PATCHES = ["0001-Add-shift.patch", "0002-Test-shift-more.patch"]


def git(tree: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True).stdout


def write(tree: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)


def commit(tree: Path, message: str) -> None:
    git(tree, "add", "--all")
    git(tree, "commit", "--quiet", "--message", message)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A BoTorch clone at tag v0.18.1, and a branch 'series' with our two commits on it."""
    tree = tmp_path / "botorch"
    tree.mkdir()
    git(tree, "init", "--quiet", "--initial-branch=main")
    write(tree, UPSTREAM_FILES)
    commit(tree, "botorch 0.18.1")
    git(tree, "tag", "v0.18.1")
    git(tree, "checkout", "--quiet", "-b", "series")
    write(
        tree,
        {
            "botorch/models.py": UPSTREAM_FILES["botorch/models.py"] + SHIFT,
            "test/test_models.py": UPSTREAM_FILES["test/test_models.py"] + TEST_KNOWN,
            "test/test_shift.py": TEST_SHIFT,
            "test/helpers.py": "ONE = 1\n",
            "test/models/__init__.py": "",
            "test/models/test_shift_helper.py": TEST_SHIFT_HELPER,
            "test/test_gone.py": "def test_gone():\n    assert 1\n",
        },
    )
    commit(tree, "Add shift")
    write(tree, {"test/test_shift.py": TEST_SHIFT + TEST_SHIFT_MORE})
    (tree / "test" / "test_gone.py").unlink()
    commit(tree, "Test shift more")
    git(tree, "checkout", "--quiet", "v0.18.1")
    return tree


@pytest.fixture
def patches(upstream: Path, tmp_path: Path) -> list[Path]:
    out = tmp_path / "series"
    git(upstream, "format-patch", "--quiet", "--zero-commit", "--no-signature", "-o", str(out), "v0.18.1..series")
    assert sorted(path.name for path in out.iterdir()) == PATCHES
    return [out / name for name in PATCHES]


def test_series_test_files_are_those_it_creates_or_changes_and_leaves(patches: list[Path]) -> None:
    assert patchset.series_test_files(patches) == [
        patchset.SeriesFile("test/helpers.py", new=True),
        patchset.SeriesFile("test/models/__init__.py", new=True),
        patchset.SeriesFile("test/models/test_shift_helper.py", new=True),
        patchset.SeriesFile("test/test_models.py", new=False),
        patchset.SeriesFile("test/test_shift.py", new=True),  # created by 0001, changed by 0002: still new
    ]  # not botorch/models.py (no test), not test/test_gone.py (changed by 0001, deleted by 0002)
    modules = [item.path for item in patchset.series_test_files(patches) if item.is_test_module]
    assert modules == ["test/models/test_shift_helper.py", "test/test_models.py", "test/test_shift.py"]
    assert patchset.series_test_files(patches[1:]) == [patchset.SeriesFile("test/test_shift.py", new=False)]


def test_new_files_rebuilt_on_an_empty_tree_are_the_files_of_the_patched_upstream(
    patches: list[Path], upstream: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "empty"
    tree.mkdir()
    patchset.write_series_files(tree, patches, ["test/helpers.py", "test/test_shift.py"])
    rebuilt = {str(path.relative_to(tree)): path.read_text() for path in tree.rglob("*") if path.is_file()}
    assert rebuilt == {
        "test/helpers.py": git(upstream, "show", "series:test/helpers.py"),
        "test/test_shift.py": git(upstream, "show", "series:test/test_shift.py"),
    }
    assert rebuilt["test/test_shift.py"] == TEST_SHIFT + TEST_SHIFT_MORE


@pytest.mark.parametrize(
    ("package", "version"), [("gpytorch", "1.15.2"), ("gpytorch", "1.13"), ("linear_operator", "0.6.1")]
)
def test_real_series_new_files_are_absent_upstream_and_rebuild_as_the_patched_sdist_has_them(
    package: str, version: str, tmp_path: Path
) -> None:
    """These sdists ship test/: a file the series calls new is not in it, a changed one is, and a new file rebuilt
    from the series alone equals the file of the sdist with the whole series applied."""
    pin = patchset.find_pin(package, version)
    patches = patchset.series(pin)
    files = patchset.series_test_files(patches)
    sdist = patchset.unpack_sdist(pin, tmp_path / "sdist")
    assert {item.path: item.new for item in files} == {item.path: not (sdist / item.path).is_file() for item in files}
    assert any(item.new for item in files) and any(not item.new for item in files)
    patchset.apply_series(sdist, patches)
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    new = [item.path for item in files if item.new]
    patchset.write_series_files(rebuilt, patches, new)
    assert {path: (rebuilt / path).read_bytes() for path in new} == {path: (sdist / path).read_bytes() for path in new}
    assert sorted(str(path.relative_to(rebuilt)) for path in rebuilt.rglob("*") if path.is_file()) == sorted(new)


# --- the command, with the fake series as our botorch 0.18.1 series ---------------------------------------------


@pytest.fixture
def fake_series(repo_copy: Path, patches: list[Path]) -> Path:
    """The fake series in the repository copy's patches/botorch/0.18.1, its pin's series_sha256 updated."""
    series_dir = repo_copy / "patches" / "botorch" / "0.18.1"
    for old in series_dir.iterdir():
        old.unlink()
    for patch in patches:
        (series_dir / patch.name).write_bytes(patch.read_bytes())
    (series_dir / "series").write_text("".join(f"{name}\n" for name in PATCHES))
    pins = repo_copy / "upstream" / "current.toml"
    old_digest = patchset.find_pin("botorch", "0.18.1").series_sha256
    new_digest = patchset.series_digest([series_dir / name for name in PATCHES])
    pins.write_text(pins.read_text().replace(f'"{old_digest}"', f'"{new_digest}"'))
    return series_dir


@pytest.fixture
def site(tmp_path: Path, upstream: Path) -> Path:
    """The patched build installed: its metadata and the series' botorch/models.py."""
    site = tmp_path / "site"
    version = patchset.find_pin("botorch", "0.18.1").patched_version
    write(
        site,
        {
            f"botorch-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: botorch\nVersion: {version}\n",
            "botorch/__init__.py": "",
            "botorch/models.py": git(upstream, "show", "series:botorch/models.py"),
        },
    )
    return site


def series_files(repo: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    command = [sys.executable, str(repo / "scripts" / "upstream-tests"), "botorch", "--line", "current", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_without_a_checkout_the_new_files_run_and_the_changed_ones_are_named(
    repo_copy: Path, fake_series: Path, site: Path
) -> None:
    result = series_files(repo_copy, site, "--series-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "not running test/test_models.py: the series changes them, and the botorch 0.18.1 sdist ships no tests; "
        "pass --source <botorch checkout at v0.18.1>\n"
    ) in result.stdout
    assert (
        "running the test files that the botorch 0.18.1 series adds or changes: test/models/test_shift_helper.py, "
        "test/test_shift.py\n"
    ) in result.stdout
    assert "3 passed" in result.stdout  # test_shift_helper imports from test/helpers.py: test/ is a package
    assert result.stdout.strip().endswith("no new failures")


def test_with_a_checkout_the_changed_files_run_patched_against_the_baseline(
    repo_copy: Path, fake_series: Path, site: Path, upstream: Path
) -> None:
    baseline = repo_copy / "upstream" / "baselines" / "current" / "botorch.txt"
    args = ("--series-files", "--source", str(upstream))

    baseline.write_text("# fails unpatched too\ntest.test_models::test_fails_unpatched_too\n")
    result = series_files(repo_copy, site, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not running" not in result.stdout
    assert (
        "running the test files that the botorch 0.18.1 series adds or changes: test/models/test_shift_helper.py, "
        "test/test_models.py, test/test_shift.py"
    ) in result.stdout
    assert "1 failed, 4 passed" in result.stdout  # test_scale, test_shift_one, test_shift's two; not test_gone
    assert "1 test(s) failed, 1 of them also fail unpatched (botorch.txt baseline)" in result.stdout
    assert (upstream / "test" / "test_models.py").read_text() == UPSTREAM_FILES["test/test_models.py"]  # untouched

    baseline.write_text("")
    result = series_files(repo_copy, site, *args)
    assert result.returncode == 1
    assert result.stdout.strip().endswith(
        "1 new failure(s), not in upstream/baselines/current/botorch.txt:\n"
        "  test.test_models::test_fails_unpatched_too"
    )


def test_a_checkout_of_another_version_is_refused(
    repo_copy: Path, fake_series: Path, site: Path, upstream: Path
) -> None:
    write(upstream, {"test/test_models.py": "def test_other():\n    pass\n"})
    result = series_files(repo_copy, site, "--series-files", "--source", str(upstream))
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: the series' test changes do not apply to {upstream}: 0001-Add-shift.patch does not apply: "
    )


def test_series_files_do_not_record_a_baseline(repo_copy: Path, site: Path) -> None:
    result = series_files(repo_copy, site, "--series-files", "--record-baseline")
    assert result.returncode == 2
    assert "--record-baseline records the failures of the whole suite; leave out --series-files" in result.stderr


def test_the_whole_suite_runs_with_the_series_test_changes(
    repo_copy: Path, fake_series: Path, site: Path, upstream: Path
) -> None:
    # The patched package's own suite: upstream's test/ with the series' changes (a patch that changes a behavior
    # updates upstream's test of it), so test_models.py runs with the test 0001 adds, and the new modules run too.
    baseline = repo_copy / "upstream" / "baselines" / "current" / "botorch.txt"
    baseline.write_text("# fails unpatched too\ntest.test_models::test_fails_unpatched_too\n")
    result = series_files(repo_copy, site, "--source", str(upstream))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running botorch 0.18.1's own tests with the series' test changes against the installed package" in (
        result.stdout
    )
    assert "1 failed, 5 passed" in result.stdout  # test_models' two, test_shift's two, test_shift_one, test_gone
    assert (upstream / "test" / "test_models.py").read_text() == UPSTREAM_FILES["test/test_models.py"]  # untouched
