"""scripts/apply: patching a vendored checkout, and building wheels."""

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import patchset, run, snapshot

FANTASY_PATCH = "0004-Keep-fantasy-caches-differentiable-under-detach_test.patch"
PATCHED_FILE = "gpytorch/models/exact_prediction_strategies.py"


def test_apply_check_reapply_reverse(repo_copy: Path, checkout: Path) -> None:
    pristine = snapshot(checkout)

    result = run(repo_copy, "apply", "--target", checkout, "--check")
    assert result.returncode == 0, result.stderr
    assert "not applied and applies cleanly" in result.stdout
    assert snapshot(checkout) == pristine

    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    count = len(patchset.series(patchset.find_pin("gpytorch", "1.15.2")))
    assert f"applied gpytorch 1.15.2 series ({count} patch(es))" in result.stdout
    patched = snapshot(checkout)
    assert "_prepare_for_tracing" in patched[PATCHED_FILE].decode()
    assert "_prepare_for_tracing" not in pristine[PATCHED_FILE].decode()

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
    assert "_prepare_for_tracing" in (checkout / PATCHED_FILE).read_text()


def test_vendored_copy_inside_a_monorepo(repo_copy: Path, checkout: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=checkout.parent, check=True)
    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 0, result.stderr
    assert "_prepare_for_tracing" in (checkout / PATCHED_FILE).read_text()


def test_hash_mismatch_deletes_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patchset, "CACHE", tmp_path / "cache")
    source = tmp_path / "fake-1.0.tar.gz"
    source.write_bytes(b"not what was pinned")
    pin = patchset.Pin("gpytorch", "1.0", source.as_uri(), "0" * 64, 1)
    with pytest.raises(patchset.PatchSetError, match="fake-1.0.tar.gz: sha256 .* pin 0000.*; the download was deleted"):
        patchset.fetch_sdist(pin)
    assert not (tmp_path / "cache" / "sdists" / "fake-1.0.tar.gz").exists()

    good = patchset.Pin("gpytorch", "1.0", source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest(), 1)
    assert patchset.fetch_sdist(good).read_bytes() == source.read_bytes()
    source.unlink()  # cached now: no download needed
    cached = patchset.fetch_sdist(good)
    assert cached.is_file()
    cached.write_bytes(b"corrupted on disk")
    with pytest.raises(patchset.PatchSetError, match="cached copy .* was deleted; run the command again to download"):
        patchset.fetch_sdist(good)
    assert not cached.exists()


def test_unknown_line(repo_copy: Path) -> None:
    result = run(repo_copy, "apply", "--line", "ancient")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown upstream line 'ancient'; known lines: current, legacy"


def test_wheels_are_versioned_and_byte_identical(repo_copy: Path) -> None:
    result = run(repo_copy, "apply", "--line", "all")
    assert result.returncode == 0, result.stderr
    current = patchset.load_line("current")[0]
    botorch, gpytorch = current["botorch"].patched_version, current["gpytorch"].patched_version
    linear_operator = current["linear_operator"].patched_version
    wheels = sorted((repo_copy / "dist").rglob("*.whl"))
    assert [str(wheel.relative_to(repo_copy / "dist")) for wheel in wheels] == [
        f"current/botorch-{botorch}-py3-none-any.whl",
        f"current/gpytorch-{gpytorch}-py3-none-any.whl",
        f"current/linear_operator-{linear_operator}-py3-none-any.whl",
        f"legacy/botorch-{patchset.find_pin('botorch', '0.12.0').patched_version}-py3-none-any.whl",
        f"legacy/gpytorch-{patchset.find_pin('gpytorch', '1.13').patched_version}-py3-none-any.whl",
    ]
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert f"__version__ = version = '{botorch}'" in wheel.read("botorch/version.py").decode()
    with zipfile.ZipFile(wheels[1]) as wheel:
        assert f"__version__ = version = '{gpytorch}'" in wheel.read("gpytorch/version.py").decode()
        assert "_prepare_for_tracing" in wheel.read(PATCHED_FILE).decode()
    with zipfile.ZipFile(wheels[2]) as wheel:
        assert f"__version__ = version = '{linear_operator}'" in wheel.read("linear_operator/version.py").decode()
        assert "def _getitem(" in wheel.read("linear_operator/operators/block_diag_linear_operator.py").decode()
    packages = [f"botorch=={botorch}", f"gpytorch=={gpytorch}", f"linear_operator=={linear_operator}"]
    requirements = (repo_copy / "dist" / "current" / "requirements.txt").read_text().splitlines()
    assert [line for line in requirements if not line.startswith("#")] == ["--find-links .", "torch==2.13.0", *packages]
    assert "CUDA build" in requirements[1]
    cpu = (repo_copy / "dist" / "current" / "requirements-cpu.txt").read_text().splitlines()
    assert [line for line in cpu if not line.startswith("#")] == [
        "--find-links .",
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        "torch==2.13.0+cpu",
        *packages,
    ]

    first = {wheel.name: wheel.read_bytes() for wheel in wheels}
    (repo_copy / "dist" / "legacy" / "botorch-0.12.0+patched.0-py3-none-any.whl").write_bytes(b"older revision")
    assert run(repo_copy, "apply", "--line", "all").returncode == 0
    assert {wheel.name: wheel.read_bytes() for wheel in sorted((repo_copy / "dist").rglob("*.whl"))} == first


def test_failed_build_leaves_dist_as_it_was(repo_copy: Path) -> None:
    """A bad hash in any line stops the build before dist/ changes."""
    (repo_copy / "dist" / "current").mkdir(parents=True)
    (repo_copy / "dist" / "current" / "botorch-0.18.1+patched.1-py3-none-any.whl").write_bytes(b"earlier build")
    before = snapshot(repo_copy / "dist")
    pins = repo_copy / "upstream" / "legacy.toml"
    sha = patchset.find_pin("linear_operator", "0.5.3").sha256
    pins.write_text(pins.read_text().replace(sha, "0" * 64))
    result = run(repo_copy, "apply", "--line", "all")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: linear_operator-0.5.3.tar.gz: sha256 {sha} does not match the pin {'0' * 64}; the cached copy "
        ".cache/sdists/linear_operator-0.5.3.tar.gz was deleted; run the command again to download it again"
    ]
    assert snapshot(repo_copy / "dist") == before
    assert [path.name for path in (repo_copy / "dist").iterdir()] == ["current"]  # no scratch folder left


def test_changed_series_without_a_new_revision_is_refused(repo_copy: Path) -> None:
    patch = repo_copy / "patches" / "botorch" / "0.18.1" / "0002-Standardize-untransform-without-fixed-sizes.patch"
    text = patch.read_text()
    patch.write_text(text.replace("\nSubject: [PATCH] ", "\nSubject: [PATCH]  ", 1))
    assert patch.read_text() != text
    result = run(repo_copy, "apply", "--line", "current")
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("error: patches/botorch/0.18.1 does not match series_sha256 of its pin (revision ")
    assert f'series_sha256 = "{patchset.series_digest(sorted_series(patch.parent))}"' in message
    assert not (repo_copy / "dist" / "current").exists()


def test_target_refuses_a_series_that_does_not_match_its_digest(repo_copy: Path, checkout: Path) -> None:
    patch = repo_copy / "patches" / "gpytorch" / "1.15.2" / FANTASY_PATCH
    patch.write_text(patch.read_text().replace("\n\n", "\n\n\n", 1))  # in the header: it still applies
    before = snapshot(checkout)
    result = run(repo_copy, "apply", "--target", checkout)
    assert result.returncode == 1
    assert result.stderr.startswith("error: patches/gpytorch/1.15.2 does not match series_sha256 of its pin")
    assert result.stderr.count("\n") == 1
    assert snapshot(checkout) == before
    # The documented override, for a series being edited:
    result = run(repo_copy, "apply", "--target", checkout, "--allow-edited-series")
    assert result.returncode == 0, result.stderr
    assert snapshot(checkout) != before
    result = run(repo_copy, "apply", "--line", "current", "--allow-edited-series")
    assert result.returncode == 2 and "--allow-edited-series goes with --target" in result.stderr


def sorted_series(series_dir: Path) -> list[Path]:
    return [series_dir / name for name in (series_dir / "series").read_text().split()]


def test_every_series_matches_the_digest_recorded_with_its_revision() -> None:
    """Changing a series without bumping its revision (scripts/queue export does it) fails here."""
    for pin in patchset.all_pins():
        patchset.check_series_digest(pin)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--check", "--reverse"], "argument --reverse: not allowed with argument --check"),
        (["--line", "legacy"], "--line builds wheels and --target patches a checkout; give one of them"),
    ],
)
def test_conflicting_options_are_refused(repo_copy: Path, checkout: Path, args: list[str], message: str) -> None:
    result = run(repo_copy, "apply", "--target", checkout, *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(message)


def test_a_file_as_target(repo_copy: Path, checkout: Path) -> None:
    result = run(repo_copy, "apply", "--target", checkout / "setup.py")
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: {checkout / 'setup.py'}: is a file; --target takes the folder of a checkout"
    )


def test_missing_requirements_are_named_before_any_work(repo_copy: Path, tmp_path: Path) -> None:
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    for args, missing in (
        (["apply", "--line", "current"], "packaging, build, setuptools, setuptools_scm, wheel"),
        (["apply", "--target", tmp_path], "packaging"),
        (["queue", "edit", "gpytorch", "1.13"], "packaging"),
    ):
        result = subprocess.run([python, repo_copy / "scripts" / args[0], *args[1:]], capture_output=True, text=True)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"error: {python} lacks the Python module(s) {missing}; install them with: "
            f"{python} -m pip install -r {repo_copy / 'scripts' / 'requirements.txt'}"
        )
    assert not (repo_copy / "dist").exists() and not (repo_copy / "work").exists()


# --- multi-patch series (every BoTorch series), on an unpacked sdist and on a git clone at the tag ------


def botorch_tree(tmp_path: Path, version: str, kind: str) -> Path:
    tree = patchset.unpack_sdist(patchset.find_pin("botorch", version), tmp_path / "vendor")
    if kind == "git":
        (tree / "PKG-INFO").unlink()
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "init", "-q"], cwd=tree, check=True)
        subprocess.run([*git, "add", "-A"], cwd=tree, check=True)
        subprocess.run([*git, "commit", "-qm", "upstream"], cwd=tree, check=True)
        subprocess.run([*git, "tag", f"v{version}"], cwd=tree, check=True)
    return tree


BOTORCH_TREES = [(version, kind) for version in ("0.18.1", "0.12.0") for kind in ("sdist", "git")]


@pytest.mark.parametrize("version, kind", BOTORCH_TREES)
def test_botorch_series_reapply_check_reverse(repo_copy: Path, tmp_path: Path, version: str, kind: str) -> None:
    tree = botorch_tree(tmp_path, version, kind)
    pristine = snapshot(tree)
    label = f"botorch {version} series ({len(patchset.series(patchset.find_pin('botorch', version)))} patch(es))"

    result = run(repo_copy, "apply", "--target", tree)
    assert result.stdout.strip() == f"{tree}: applied {label}", result.stderr
    patched = snapshot(tree)
    assert patched != pristine
    for args, said in (
        ([], "is already applied; nothing to do"),
        (["--check"], "is applied"),
    ):
        result = run(repo_copy, "apply", "--target", tree, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{tree}: {label} {said}"
        assert snapshot(tree) == patched

    result = run(repo_copy, "apply", "--target", tree, "--reverse")
    assert result.stdout.strip() == f"{tree}: removed {label}", result.stderr
    assert snapshot(tree) == pristine
    result = run(repo_copy, "apply", "--target", tree, "--reverse")
    assert result.stdout.strip() == f"{tree}: {label} is not applied; nothing to do"


@pytest.mark.parametrize("version, kind", BOTORCH_TREES)
def test_botorch_tree_untouched_when_a_middle_patch_fails(
    repo_copy: Path, tmp_path: Path, version: str, kind: str
) -> None:
    """A local edit conflicts with a patch in the middle of the series: neither applying nor removing may leave part
    of the series."""
    tree = botorch_tree(tmp_path, version, kind)
    patches = patchset.series(patchset.find_pin("botorch", version))
    middle = next(patch for patch in patches if "ModelListGP-posterior-traceable" in patch.name)
    assert 0 < patches.index(middle) < len(patches) - 1
    # A context line of that patch's hunk that no later patch has in its context.
    touched, line = "botorch/models/gpytorch.py", "mvn_list = []"
    assert f" {line}" in middle.read_text()

    def edit_locally() -> dict[str, bytes]:
        path = tree / touched
        assert path.read_text().count(line) == 1
        path.write_text(path.read_text().replace(line, line + "  # a local change"))
        return snapshot(tree)

    before = edit_locally()
    for flags in ([], ["--check"]):
        result = run(repo_copy, "apply", "--target", tree, *flags)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"{middle.name} does not apply: patch failed: {touched}" in result.stderr
        assert snapshot(tree) == before

    (tree / touched).write_text((tree / touched).read_text().replace("  # a local change", ""))
    assert run(repo_copy, "apply", "--target", tree).returncode == 0
    before = edit_locally()
    result = run(repo_copy, "apply", "--target", tree, "--reverse")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{middle.name} does not reverse: patch failed: {touched}" in result.stderr
    assert snapshot(tree) == before
