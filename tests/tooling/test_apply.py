"""scripts/apply: patching a vendored checkout, and building wheels."""

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import patchset, run, snapshot

FANTASY_PATCH = "0001-Detach-fantasy-caches-only-for-tracing.patch"
PATCHED_FILE = "gpytorch/models/exact_prediction_strategies.py"


def test_apply_check_reapply_reverse(repo_copy: Path, checkout: Path) -> None:
    pristine = snapshot(checkout)

    result = run(repo_copy, "apply", "--target", checkout, "--check")
    assert result.returncode == 0, result.stderr
    assert "not applied and applies cleanly" in result.stdout
    assert snapshot(checkout) == pristine

    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    assert "applied gpytorch 1.15.2 series (1 patch(es))" in result.stdout
    patched = snapshot(checkout)
    assert "_detach_for_tracing" in patched[PATCHED_FILE].decode()
    assert "_detach_for_tracing" not in pristine[PATCHED_FILE].decode()

    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    assert "already applied; nothing to do" in result.stdout
    assert snapshot(checkout) == patched

    result = run(repo_copy, "apply", "--target", checkout, "--check")
    assert "is applied" in result.stdout

    result = run(repo_copy, "apply", "--target", checkout, "--reverse")
    assert result.returncode == 0, result.stderr
    assert snapshot(checkout) == pristine

    result = run(repo_copy, "apply", "--target", checkout, "--reverse")
    assert "is not applied; nothing to do" in result.stdout
    assert snapshot(checkout) == pristine


def test_patch_that_does_not_apply_names_patch_and_file(repo_copy: Path, checkout: Path) -> None:
    target = checkout / PATCHED_FILE
    target.write_text(target.read_text().replace("self._last_test_train_covar = None", "self._last = None"))
    before = snapshot(checkout)

    for flags in ([], ["--check"], ["--reverse"]):
        result = run(repo_copy, "apply", "--target", checkout, *flags)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert FANTASY_PATCH in lines[0] and PATCHED_FILE in lines[0]
        assert snapshot(checkout) == before


def test_series_is_all_or_nothing(tmp_path: Path, checkout: Path) -> None:
    """The second patch fails: the first, which applies, must not be left behind."""
    good = patchset.series(patchset.find_pin("gpytorch", "1.15.2"))[0]
    bad = tmp_path / "0002-bad.patch"
    bad.write_text(
        "--- a/gpytorch/version.py\n+++ b/gpytorch/version.py\n@@ -1,1 +1,1 @@\n-no such line\n+other line\n"
    )
    before = snapshot(checkout)
    with pytest.raises(patchset.PatchSetError, match="0002-bad.patch does not apply: .*gpytorch/version.py"):
        patchset.apply_series(checkout, [good, bad])
    assert snapshot(checkout) == before


def test_unknown_version_is_refused_with_known_ones(repo_copy: Path, checkout: Path) -> None:
    pkg_info = checkout / "PKG-INFO"
    pkg_info.write_text(pkg_info.read_text().replace("Version: 1.15.2", "Version: 1.12"))
    before = snapshot(checkout)
    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: gpytorch 1.12 is not a pinned upstream version; known versions: 1.13, 1.15.2"
    )
    assert snapshot(checkout) == before


def test_not_a_checkout(repo_copy: Path, tmp_path: Path) -> None:
    result = run(repo_copy, "apply", "--target", tmp_path)
    assert result.returncode == 1
    assert "not a checkout of botorch, gpytorch, linear_operator" in result.stderr


def test_git_clone_at_tag_inside_a_monorepo(repo_copy: Path, checkout: Path, tmp_path: Path) -> None:
    """Version from the git tag; patch paths relative to the checkout, not to an enclosing repository."""
    (checkout / "PKG-INFO").unlink()
    for tree in (checkout.parent, checkout):  # an enclosing repository, then the clone itself
        subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=checkout, check=True)
    subprocess.run([*git, "commit", "-qm", "upstream"], cwd=checkout, check=True)
    subprocess.run([*git, "tag", "v1.15.2"], cwd=checkout, check=True)

    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    assert "_detach_for_tracing" in (checkout / PATCHED_FILE).read_text()


def test_vendored_copy_inside_a_monorepo(repo_copy: Path, checkout: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=checkout.parent, check=True)
    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    assert "_detach_for_tracing" in (checkout / PATCHED_FILE).read_text()


def test_hash_mismatch_deletes_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patchset, "CACHE", tmp_path / "cache")
    source = tmp_path / "fake-1.0.tar.gz"
    source.write_bytes(b"not what was pinned")
    pin = patchset.Pin("gpytorch", "1.0", source.as_uri(), "0" * 64, 1)
    with pytest.raises(patchset.PatchSetError, match="fake-1.0.tar.gz: sha256 .* does not match the pin 0000"):
        patchset.fetch_sdist(pin)
    assert not (tmp_path / "cache" / "sdists" / "fake-1.0.tar.gz").exists()

    good = patchset.Pin("gpytorch", "1.0", source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest(), 1)
    assert patchset.fetch_sdist(good).read_bytes() == source.read_bytes()
    source.unlink()  # cached now: no download needed
    assert patchset.fetch_sdist(good).is_file()


def test_unknown_line(repo_copy: Path) -> None:
    result = run(repo_copy, "apply", "--line", "ancient")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown upstream line 'ancient'; known lines: current, legacy"


def test_wheels_are_versioned_and_byte_identical(repo_copy: Path) -> None:
    result = run(repo_copy, "apply", "--line", "all")
    assert result.returncode == 0, result.stderr
    wheels = sorted((repo_copy / "dist").rglob("*.whl"))
    assert [str(wheel.relative_to(repo_copy / "dist")) for wheel in wheels] == [
        "current/botorch-0.18.1+patched.2-py3-none-any.whl",
        "current/gpytorch-1.15.2+patched.1-py3-none-any.whl",
        "legacy/botorch-0.12.0+patched.2-py3-none-any.whl",
        "legacy/gpytorch-1.13+patched.1-py3-none-any.whl",
    ]
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert "__version__ = version = '0.18.1+patched.2'" in wheel.read("botorch/version.py").decode()
    with zipfile.ZipFile(wheels[1]) as wheel:
        assert "__version__ = version = '1.15.2+patched.1'" in wheel.read("gpytorch/version.py").decode()
        assert "_detach_for_tracing" in wheel.read(PATCHED_FILE).decode()
    requirements = (repo_copy / "dist" / "current" / "requirements.txt").read_text().splitlines()
    assert requirements[1:] == [
        "--find-links .",
        "torch==2.13.0",
        "botorch==0.18.1+patched.2",
        "gpytorch==1.15.2+patched.1",
        "linear_operator==0.6.1",
    ]

    first = {wheel.name: wheel.read_bytes() for wheel in wheels}
    (repo_copy / "dist" / "legacy" / "botorch-0.12.0+patched.0-py3-none-any.whl").write_bytes(b"older revision")
    assert run(repo_copy, "apply", "--line", "all").returncode == 0
    assert {wheel.name: wheel.read_bytes() for wheel in sorted((repo_copy / "dist").rglob("*.whl"))} == first
