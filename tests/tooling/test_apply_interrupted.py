"""scripts/apply --target, interrupted at random moments: the tree is as before or fully changed, never half.

A real series with many files (botorch 0.18.1: 17 patches, 22 files of its sdist) on an unpacked sdist. SIGINT,
SIGTERM and SIGHUP must leave the tree as it was or fully patched, print one line and no traceback, and leave no scratch
folder. SIGKILL cannot be caught: the next run must roll an unfinished change back from its journal.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import interrupted_while_python_started, patchset, run, snapshot
from test_apply import botorch_tree

RUNS = 40
KILLS = 20


def start(repo: Path, tree: Path, scratch: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(repo / "scripts" / "apply"), "--target", str(tree), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )


def duration(repo: Path, tree: Path, scratch: Path) -> float:
    """How long one apply and one reverse take on this machine: the window to interrupt in."""
    began = time.monotonic()
    for flags in ([], ["--reverse"]):
        assert start(repo, tree, scratch, *flags).wait() == 0
    return (time.monotonic() - began) / 2


@pytest.fixture
def trees(repo_copy: Path, tmp_path: Path):
    tree = botorch_tree(tmp_path, "0.18.1", "sdist")
    pristine = snapshot(tree)
    assert run(repo_copy, "apply", "--target", tree).returncode == 0
    patched = snapshot(tree)
    assert run(repo_copy, "apply", "--target", tree, "--reverse").returncode == 0
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    return tree, pristine, patched, scratch


def leftovers(tree: Path, scratch: Path) -> list[str]:
    found = [path.name for path in tree.glob(f"{patchset.JOURNAL}*")]
    found += [str(path) for path in tree.rglob("*.patchset-new")]
    return found + [path.name for path in scratch.iterdir()]


def test_caught_signals_leave_the_tree_whole(repo_copy: Path, trees) -> None:
    tree, pristine, patched, scratch = trees
    window = duration(repo_copy, tree, scratch)
    rng = random.Random(0)
    outcomes = set()
    for attempt in range(RUNS):
        applied = snapshot(tree) == patched
        process = start(repo_copy, tree, scratch, *(["--reverse"] if applied else []))
        time.sleep(rng.uniform(0, 1.2 * window))
        process.send_signal(rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
        out, err = process.communicate()
        now = snapshot(tree)
        assert now in (pristine, patched), f"run {attempt}: the tree is half changed"
        if interrupted_while_python_started(err):
            assert now == (patched if applied else pristine)
            continue
        assert "Traceback" not in err and err.count("\n") <= 1, err
        assert leftovers(tree, scratch) == []
        if process.returncode == 0:
            outcomes.add("finished")
        elif process.returncode < 0:  # before main() installed its handlers, or after Python tore them down
            assert err == ""
            outcomes.add("killed before the start or after the end")
        else:
            assert "interrupted" in err, err
            outcomes.add("unchanged" if (now == patched) == applied else "changed, then interrupted")
    assert "unchanged" in outcomes  # the interruptions did land while the command ran


def test_a_killed_run_is_rolled_back_by_the_next(repo_copy: Path, trees) -> None:
    tree, pristine, patched, scratch = trees
    window = duration(repo_copy, tree, scratch)
    rng = random.Random(1)
    rolled_back = 0
    for attempt in range(KILLS):
        before = snapshot(tree)
        process = start(repo_copy, tree, scratch, *(["--reverse"] if before == patched else []))
        time.sleep(rng.uniform(0.3 * window, window))
        process.kill()
        process.communicate()
        result = run(repo_copy, "apply", "--target", tree, "--check")
        assert result.returncode == 0, result.stderr
        rolled_back += "rolled back" in result.stdout
        after = snapshot(tree)
        assert after in (pristine, patched), f"kill {attempt}: the tree is half changed after recovery"
        assert [name for name in leftovers(tree, scratch) if not name.startswith("patchset-")] == []
        for path in scratch.iterdir():  # what SIGKILL cannot clean up: the scratch copy outside the tree
            subprocess.run(["rm", "-rf", str(path)], check=True)


def test_an_unfinished_change_is_rolled_back_to_the_files_it_kept(repo_copy: Path, trees) -> None:
    """A journal as a run killed halfway through the copy leaves it: the files it kept come back."""
    tree, pristine, _, scratch = trees
    touched = "botorch/models/gpytorch.py"
    journal = tree / patchset.JOURNAL
    (journal / "before" / touched).parent.mkdir(parents=True)
    (journal / "before" / touched).write_bytes((tree / touched).read_bytes())
    (journal / "paths").write_text(f"{touched}\nbotorch/new_file.py")
    (tree / touched).write_text("half written")
    (tree / "botorch" / "new_file.py").write_text("created by the killed run")
    result = run(repo_copy, "apply", "--target", tree, "--check")
    assert result.stdout.splitlines()[0] == (
        f"{tree}: rolled back a series change that an earlier run left unfinished (2 file(s))"
    )
    assert snapshot(tree) == pristine
