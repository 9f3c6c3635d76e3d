"""scripts/queue: a series as git commits, and back."""

import subprocess
from pathlib import Path

from conftest import run


def git(tree: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True).stdout


def test_edit_then_export_unchanged_is_byte_identical(repo_copy: Path) -> None:
    series_dir = repo_copy / "patches" / "gpytorch" / "1.15.2"
    before = {path.name: path.read_bytes() for path in series_dir.iterdir()}

    result = run(repo_copy, "queue", "edit", "gpytorch", "1.15.2")
    assert result.returncode == 0, result.stderr
    tree = repo_copy / "work" / "gpytorch-1.15.2"
    subjects = git(tree, "log", "--format=%s", "upstream..HEAD").splitlines()
    assert subjects == ["Detach fantasy caches only for tracing"]

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
    assert (series_dir / "series").read_text().splitlines() == [
        "0001-Detach-fantasy-caches-only-for-tracing.patch",
        "0002-Add-a-note.patch",
    ]
    assert "Forwarded: not-needed" in (series_dir / "0002-Add-a-note.patch").read_text()


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
