"""scripts/queue: a series as git commits, and back."""

import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from conftest import interrupted_while_python_started, patchset, run


def git(tree: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True).stdout


def without_upstream_tests(repo: Path, package: str, version: str) -> list[str]:
    """Strip the changes to upstream's test/ and sphinx/ from the patches of a copied series, and drop the patches
    left empty. BoTorch's sdist has neither folder: a test of the queue that gives no (or a made-up) --tests-from
    works on the code changes of the real series. (git am reads the diffs, not the diffstat, which keeps listing
    the stripped files.)"""
    series_dir = repo / "patches" / package / version
    kept_names = []
    for name in (series_dir / "series").read_text().splitlines():
        header, *diffs = (series_dir / name).read_text().split("\ndiff --git a/")
        kept = [
            diff for diff in diffs if not diff.startswith(tuple(f"{folder}/" for folder in patchset.REPOSITORY_ONLY))
        ]
        if kept:
            (series_dir / name).write_text("\ndiff --git a/".join([header, *kept]).rstrip("\n") + "\n")
            kept_names.append(name)
        else:
            (series_dir / name).unlink()
    (series_dir / "series").write_text("".join(f"{name}\n" for name in kept_names))
    return kept_names


def test_edit_then_export_unchanged_is_byte_identical(repo_copy: Path) -> None:
    series_dir = repo_copy / "patches" / "gpytorch" / "1.15.2"
    before = {path.name: path.read_bytes() for path in series_dir.iterdir()}

    result = run(repo_copy, "queue", "edit", "gpytorch", "1.15.2")
    assert result.returncode == 0, result.stderr
    tree = repo_copy / "work" / "gpytorch-1.15.2"
    subjects = git(tree, "log", "--reverse", "--format=%s", "upstream..HEAD").splitlines()
    assert subjects == [subject(patch) for patch in patchset.series(patchset.find_pin("gpytorch", "1.15.2"))]

    result = run(repo_copy, "queue", "export", "gpytorch", "1.15.2")
    assert result.returncode == 0, result.stderr
    assert {path.name: path.read_bytes() for path in series_dir.iterdir()} == before


def test_new_commit_becomes_a_new_patch(repo_copy: Path) -> None:
    assert run(repo_copy, "queue", "edit", "gpytorch", "1.15.2").returncode == 0
    tree = repo_copy / "work" / "gpytorch-1.15.2"
    (tree / "gpytorch" / "__init__.py").write_text((tree / "gpytorch" / "__init__.py").read_text() + "# note\n")
    git(tree, "commit", "-qam", "Add a note\n\nBug: none\nForwarded: not-needed")

    assert run(repo_copy, "queue", "export", "gpytorch", "1.15.2").returncode == 0
    series_dir = repo_copy / "patches" / "gpytorch" / "1.15.2"
    before = [patch.name for patch in patchset.series(patchset.find_pin("gpytorch", "1.15.2"))]
    assert (series_dir / "series").read_text().splitlines() == [*before, f"{len(before) + 1:04d}-Add-a-note.patch"]
    assert "Forwarded: not-needed" in (series_dir / f"{len(before) + 1:04d}-Add-a-note.patch").read_text()


def test_edit_refuses_to_overwrite_and_export_refuses_dirty_tree(repo_copy: Path) -> None:
    assert run(repo_copy, "queue", "edit", "gpytorch", "1.13").returncode == 0
    result = run(repo_copy, "queue", "edit", "gpytorch", "1.13")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: work/gpytorch-1.13 exists; export it or delete it first"

    tree = repo_copy / "work" / "gpytorch-1.13"
    (tree / "setup.py").write_text("changed\n")
    result = run(repo_copy, "queue", "export", "gpytorch", "1.13")
    assert result.returncode == 1
    assert "has uncommitted changes" in result.stderr


def test_unknown_version(repo_copy: Path) -> None:
    result = run(repo_copy, "queue", "edit", "botorch", "0.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: botorch 0.1 is not a pinned upstream version; known versions: 0.12.0, 0.18.1"
    )


def test_export_refuses_during_an_interactive_rebase(repo_copy: Path) -> None:
    """Stopped at an 'edit' step of the README's rebase, HEAD is not the queue's tip: export must not run."""
    without_upstream_tests(repo_copy, "botorch", "0.18.1")
    assert run(repo_copy, "queue", "edit", "botorch", "0.18.1").returncode == 0
    tree = repo_copy / "work" / "botorch-0.18.1"
    series_dir = repo_copy / "patches" / "botorch" / "0.18.1"
    before = {path.name: path.read_bytes() for path in series_dir.iterdir()}
    editor = "sed -i '3s/^pick/edit/'"  # stop after the third patch
    git(tree, "-c", f"sequence.editor={editor}", "rebase", "-qi", "upstream")
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: work/botorch-0.18.1: a rebase is in progress; finish or abort it first"
    assert {path.name: path.read_bytes() for path in series_dir.iterdir()} == before

    git(tree, "rebase", "--abort")
    git(tree, "checkout", "-q", "HEAD~2")  # detached, three patches short
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 1
    assert "HEAD is not on branch 'queue'" in result.stderr
    git(tree, "checkout", "-q", "-b", "side")
    git(tree, "commit", "-q", "--allow-empty", "-m", "Side work")
    git(tree, "checkout", "-q", "queue")
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 1
    assert "1 commit(s) on other branches or tags are not on 'queue'" in result.stderr
    assert {path.name: path.read_bytes() for path in series_dir.iterdir()} == before


def test_export_refuses_untracked_files_and_says_what_it_removes(repo_copy: Path) -> None:
    kept = without_upstream_tests(repo_copy, "botorch", "0.18.1")
    assert run(repo_copy, "queue", "edit", "botorch", "0.18.1").returncode == 0
    tree = repo_copy / "work" / "botorch-0.18.1"
    (tree / "botorch" / "models" / "new_module.py").write_text("VALUE = 1\n")
    (tree / "botorch" / "__pycache__").mkdir(exist_ok=True)
    (tree / "botorch" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"ignored")
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: work/botorch-0.18.1 has untracked files (botorch/models/new_module.py); "
        "git add and commit, or delete them"
    )
    (tree / "botorch" / "models" / "new_module.py").unlink()

    git(tree, "reset", "-q", "--hard", "HEAD~1")  # drop the last patch
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 0, result.stderr
    assert f"removed patches/botorch/0.18.1/{kept[-1]}" in result.stdout
    assert (repo_copy / "patches" / "botorch" / "0.18.1" / "series").read_text().splitlines() == kept[:-1]


def test_export_of_a_changed_series_bumps_its_revision(repo_copy: Path) -> None:
    before = pin_table(repo_copy, "legacy", "gpytorch")
    assert run(repo_copy, "queue", "edit", "gpytorch", "1.13").returncode == 0
    tree = repo_copy / "work" / "gpytorch-1.13"
    result = run(repo_copy, "queue", "export", "gpytorch", "1.13")
    assert "revision" not in result.stdout  # unchanged: no bump
    (tree / "gpytorch" / "__init__.py").write_text((tree / "gpytorch" / "__init__.py").read_text() + "# note\n")
    git(tree, "commit", "-qam", "Add a note")
    result = run(repo_copy, "queue", "export", "gpytorch", "1.13")
    assert result.returncode == 0, result.stderr
    assert f"upstream/legacy.toml: gpytorch revision {before['revision']} -> {before['revision'] + 1}" in result.stdout
    after = pin_table(repo_copy, "legacy", "gpytorch")
    assert after == {**before, "revision": before["revision"] + 1, "series_sha256": after["series_sha256"]}
    assert after["series_sha256"] != before["series_sha256"]
    assert run(repo_copy, "apply", "--line", "legacy").returncode == 0  # the digest check passes


def test_port_a_series_to_another_upstream_version(repo_copy: Path) -> None:
    """botorch 0.12.0's series onto 0.18.1: three-way merges, clear stops at a patch upstream already has and at a
    conflict, then export."""
    shutil.rmtree(repo_copy / "patches" / "botorch" / "0.18.1")
    # Patches that carry upstream tests need upstream's test/ (--tests-from): without it, a clear refusal.
    # The port itself is tested with the others.
    series_file = repo_copy / "patches" / "botorch" / "0.12.0" / "series"
    names = series_file.read_text().split()
    with_tests = [name for name in names if "\n+++ b/test/" in (series_file.parent / name).read_text()]
    result = run(repo_copy, "queue", "port", "botorch", "0.12.0", "0.18.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: patches/botorch/0.12.0/{with_tests[0]} changes upstream's test/, which this sdist lacks; "
        "pass --tests-from an upstream git clone (or a checkout at this version)"
    )
    # A fix that 0.18.1 has, a patch that conflicts there, and one that merges although its context moved.
    subjects = ["Recognize-SciPy-1.15", "Build-traced-multi-output", "Standardize-untransform"]
    stripped = without_upstream_tests(repo_copy, "botorch", "0.12.0")
    kept = [next(name for name in stripped if subject in name) for subject in subjects]
    series_file.write_text("".join(f"{name}\n" for name in kept))
    tree = repo_copy / "work" / "botorch-0.18.1"
    export = "then scripts/queue export botorch 0.18.1"

    result = run(repo_copy, "queue", "port", "botorch", "0.12.0", "0.18.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: work/botorch-0.18.1: ported 0 of 3 patch(es); 'Recognize SciPy 1.15's L-BFGS-B iteration-limit "
        f"message' changes nothing on 0.18.1 (upstream has it): git cherry-pick --skip, {export}"
    )
    assert "a cherry-pick is in progress" in run(repo_copy, "queue", "export", "botorch", "0.18.1").stderr
    skipped = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "cherry-pick", "--skip"], cwd=tree, capture_output=True
    )
    assert skipped.returncode != 0  # the next patch conflicts
    assert git(tree, "diff", "--name-only", "--diff-filter=U").split() == ["botorch/models/gpytorch.py"]

    # Upstream 0.13 has the traced batch too: skip it. The next merges cleanly although its context moved.
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "cherry-pick", "--skip"], cwd=tree)
    assert git(tree, "log", "--format=%s", "upstream..HEAD").splitlines() == [
        "Standardize: untransform without fixed sizes"
    ]
    git(tree, "cherry-pick", "--quit")
    git(tree, "reset", "-q", "--hard")
    result = run(repo_copy, "queue", "export", "botorch", "0.18.1")
    assert result.returncode == 0, result.stderr
    series_dir = repo_copy / "patches" / "botorch" / "0.18.1"
    assert (series_dir / "series").read_text() == "0001-Standardize-untransform-without-fixed-sizes.patch\n"
    assert run(repo_copy, "apply", "--line", "current").returncode == 0


def test_port_refuses_a_version_that_has_a_series(repo_copy: Path) -> None:
    result = run(repo_copy, "queue", "port", "gpytorch", "1.13", "1.15.2")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: patches/gpytorch/1.15.2 already has a series; port only into a new version"


def pin_table(repo: Path, line: str, package: str) -> dict:
    """A package's pin as the repository copy has it now."""
    return tomllib.loads((repo / "upstream" / f"{line}.toml").read_text())[package]


def test_patches_carry_upstream_tests_that_sdists_lack(repo_copy: Path, tmp_path: Path) -> None:
    """BoTorch's sdist has no test/ and no sphinx/: the queue takes them from an upstream git repository at the
    tag; the exported patch applies to a git checkout with its test and docs entry, and to the sdist without them."""
    upstream_git = patchset.unpack_sdist(patchset.find_pin("botorch", "0.18.1"), tmp_path / "upstream-git")
    (upstream_git / "test").mkdir()
    (upstream_git / "test" / "test_version.py").write_text("def test_version():\n    pass\n")
    (upstream_git / "sphinx" / "source").mkdir(parents=True)
    (upstream_git / "sphinx" / "source" / "version.rst").write_text(".. automodule:: botorch.version\n")
    git(upstream_git, "init", "-q")
    git(upstream_git, "add", "-A")
    git(upstream_git, "commit", "-qm", "v0.18.1")
    git(upstream_git, "tag", "v0.18.1")
    (upstream_git / "test" / "test_version.py").write_text("changed after the tag\n")
    kept = without_upstream_tests(repo_copy, "botorch", "0.18.1")  # they need upstream's real test/

    result = run(repo_copy, "queue", "edit", "botorch", "0.18.1", "--tests-from", upstream_git)
    assert result.returncode == 0, result.stderr
    tree = repo_copy / "work" / "botorch-0.18.1"
    assert (tree / "test" / "test_version.py").read_text() == "def test_version():\n    pass\n"  # at the tag
    assert (tree / "sphinx" / "source" / "version.rst").is_file()
    (tree / "test" / "test_version.py").write_text("def test_version():\n    assert True\n")
    (tree / "sphinx" / "source" / "version.rst").write_text(".. automodule:: botorch.version\n    :members:\n")
    git(tree, "commit", "-qam", "Test the version")
    assert run(repo_copy, "queue", "export", "botorch", "0.18.1").returncode == 0
    shutil.rmtree(tree)

    result = run(repo_copy, "queue", "edit", "botorch", "0.18.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: patches/botorch/0.18.1/{len(kept) + 1:04d}-Test-the-version.patch changes upstream's test/, "
        "which this sdist lacks; "
        "pass --tests-from an upstream git clone (or a checkout at this version)"
    )
    git(upstream_git, "reset", "-q", "--hard", "v0.18.1")
    assert run(repo_copy, "apply", "--target", upstream_git).returncode == 0
    assert (upstream_git / "test" / "test_version.py").read_text() == "def test_version():\n    assert True\n"
    assert (upstream_git / "sphinx" / "source" / "version.rst").read_text().endswith(":members:\n")
    sdist_tree = patchset.unpack_sdist(patchset.find_pin("botorch", "0.18.1"), tmp_path / "vendor")
    result = run(repo_copy, "apply", "--target", sdist_tree)
    assert result.returncode == 0, result.stderr
    assert not (sdist_tree / "test").exists() and not (sdist_tree / "sphinx").exists()
    assert f"applied botorch 0.18.1 series ({len(kept) + 1} patch(es))" in result.stdout


def test_a_clone_without_the_release_tag_is_refused(repo_copy: Path, tmp_path: Path) -> None:
    """Its test/ would be another version's; the error says to fetch the tags."""
    clone = tmp_path / "clone"
    (clone / "test").mkdir(parents=True)
    (clone / "test" / "test_version.py").write_text("def test_version():\n    pass\n")
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "an older release")
    git(clone, "tag", "v0.17.0")
    result = run(repo_copy, "queue", "edit", "botorch", "0.18.1", "--tests-from", clone)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {clone}: a git repository without tag v0.18.1, so its test/ is not botorch 0.18.1's; "
        f"fetch the tags (git -C {clone} fetch --tags) or pass a checkout at v0.18.1"
    )
    assert not (repo_copy / "work" / "botorch-0.18.1").exists()


def test_second_export_before_a_commit_does_not_bump_again(repo_copy: Path) -> None:
    """In a git checkout of this repository, one uncommitted change of a series is one revision."""
    git(repo_copy, "init", "-q")
    git(repo_copy, "add", "-A")
    git(repo_copy, "commit", "-qm", "state")
    before = pin_table(repo_copy, "legacy", "gpytorch")["revision"]
    assert run(repo_copy, "queue", "edit", "gpytorch", "1.13").returncode == 0
    tree = repo_copy / "work" / "gpytorch-1.13"
    for note in ("# one\n", "# two\n"):
        (tree / "gpytorch" / "__init__.py").write_text((tree / "gpytorch" / "__init__.py").read_text() + note)
        git(tree, "commit", "-qam", f"Add a note {note.strip()}")
        assert run(repo_copy, "queue", "export", "gpytorch", "1.13").returncode == 0
    after = pin_table(repo_copy, "legacy", "gpytorch")
    assert after["revision"] == before + 1
    assert run(repo_copy, "apply", "--line", "legacy").returncode == 0


def subject(patch: Path) -> str:
    """The Subject header of a patch, unfolded."""
    lines = patch.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject: "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return " ".join(line.strip() for line in lines[start:end]).split("] ", 1)[1]


def test_export_interrupted_at_random_moments_changes_patches_and_pins_together(repo_copy: Path) -> None:
    """SIGINT, SIGTERM or SIGHUP at any moment: the series and its pins are all old or all new; after a SIGKILL,
    the next command's recovery (patchset.recover) brings back the old ones."""
    assert run(repo_copy, "queue", "edit", "gpytorch", "1.15.2").returncode == 0
    tree = repo_copy / "work" / "gpytorch-1.15.2"
    (tree / "gpytorch" / "__init__.py").write_text((tree / "gpytorch" / "__init__.py").read_text() + "# note\n")
    git(tree, "commit", "-qam", "Add a note\n\nBug: none\nForwarded: not-needed")

    def state() -> dict[str, bytes]:
        files = [*(repo_copy / "patches").rglob("*"), *(repo_copy / "upstream").rglob("*")]
        return {str(path.relative_to(repo_copy)): path.read_bytes() for path in sorted(files) if path.is_file()}

    def restore(files: dict[str, bytes]) -> None:
        shutil.rmtree(repo_copy / "patches" / "gpytorch" / "1.15.2")
        for name, content in files.items():
            (repo_copy / name).parent.mkdir(parents=True, exist_ok=True)
            (repo_copy / name).write_bytes(content)

    old = state()
    began = time.monotonic()
    assert run(repo_copy, "queue", "export", "gpytorch", "1.15.2").returncode == 0
    window = time.monotonic() - began
    new = state()
    assert new != old
    rng = random.Random(2)
    outcomes = []
    for attempt in range(30):
        restore(old)
        command = [sys.executable, str(repo_copy / "scripts" / "queue"), "export", "gpytorch", "1.15.2"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0, window))
        kill = attempt % 3 == 2
        process.send_signal(signal.SIGKILL if kill else rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
        _, err = process.communicate()
        if kill:
            patchset.recover(repo_copy)
        elif interrupted_while_python_started(err):
            assert state() == old
        else:
            assert "Traceback" not in err and err.count("\n") <= 1, err
        assert state() in (old, new), f"attempt {attempt}: patches/ and upstream/ are half exported"
        assert not list(repo_copy.glob(".patchset-journal*"))
        outcomes.append(state() == new)
    assert not all(outcomes)  # some interruptions landed before the change
