"""scripts/pr: pull-request branches of a series in an upstream git repository, their checks and PR bodies.

The upstream is a small fake BoTorch repository (tag v0.18.1, a main that moved on), and the series three patches
written from commits on it with `git format-patch`, as `scripts/queue export` writes them; 0002 depends on 0001,
0003 on none.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import run

AUTHOR = ("BoTorch patch set", "patches@botorch-patchset.invalid")
DATE = "Tue, 24 Nov 2026 00:00:00 +0000"
UPSTREAM_FILES = {
    "README.md": "A fake BoTorch.\n",
    "botorch/__init__.py": "",
    "botorch/models.py": "def scale(x):\n    return 2 * x\n\n\n\n\n\n\ndef shift(x):\n    return x - 1\n",
    "test/test_models.py": "from botorch.models import scale\n\n\ndef test_scale():\n    assert scale(1) == 2\n",
    ".pre-commit-config.yaml": (
        "repos:\n-   repo: https://github.com/omnilib/ufmt\n    rev: v2.8.0\n    hooks:\n    -   id: ufmt\n"
        "        additional_dependencies:\n        - black == 22.3.0\n        - usort == 1.0.3\n"
        "-   repo: https://github.com/pycqa/flake8\n    rev: 7.3.0\n    hooks:\n    -   id: flake8\n"
    ),
    # Like BoTorch's, it imports the package: the branch's, even where the lint environment has one installed.
    "scripts/validate_sphinx.py": (
        "import os, sys\n\nimport botorch\n\nassert sys.argv[1] == '-p'\n"
        "assert os.path.dirname(botorch.__file__) == os.path.join(sys.argv[2], 'botorch'), botorch.__file__\n"
        "print('checked', sys.argv[2])\n"
    ),
}
DOCUMENT = """Document scale

scale has no docstring, so a reader cannot tell what it returns:

    help(scale)  # no documentation

and nor can Sphinx.

Add a one-line docstring. Nothing else changes.

Bug: https://github.com/meta-pytorch/botorch/issues/2591
Forwarded: not-yet
Applied-Upstream: none yet; see
 https://github.com/cornellius-gp/linear_operator/pull/130 (open)
"""
SHIFT = """Shift by a float

shift returns an int for an int.

Return a float, and test it.

Bug: none filed (a made-up bug)
Forwarded: not-yet
Depends: 0001-Document-scale.patch
"""
EXPECT = """Expect a larger scale

The test of scale is too lenient.

Expect 3 (it fails: nothing makes scale larger).

Bug: none filed (a made-up bug)
Forwarded: not-yet
"""
PATCHES = [
    "0001-Document-scale.patch",
    "0002-Shift-by-a-float.patch",
    "0003-Expect-a-larger-scale.patch",
]
BRANCHES = [f"patchset/{name.removesuffix('.patch')}" for name in PATCHES]


def git(tree: Path, *args: str, env: dict | None = None) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(
        command, cwd=tree, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
    ).stdout


def write(tree: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)


def commit(tree: Path, message: str) -> None:
    name, address = AUTHOR
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": address, "GIT_AUTHOR_DATE": DATE}
    git(tree, "add", "--all")
    git(tree, "commit", "--quiet", "--message", message, env=env)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A user's clone: annotated tag v0.18.1, then a main (checked out) that changed what patch 0002 changes and a
    line next to what patch 0001 changes."""
    tree = tmp_path / "botorch"
    tree.mkdir()
    git(tree, "init", "--quiet", "--initial-branch=main")
    write(tree, UPSTREAM_FILES)
    commit(tree, "botorch 0.18.1")
    git(tree, "tag", "--annotate", "--message", "v0.18.1", "v0.18.1")
    models = UPSTREAM_FILES["botorch/models.py"].replace("x - 1", "x - 2").replace("2 * x\n\n", "2 * x\n# scaled\n")
    write(tree, {"botorch/models.py": models})
    commit(tree, "Shift further")
    return tree


@pytest.fixture
def series(repo_copy: Path, upstream: Path, tmp_path: Path) -> Path:
    """Our botorch 0.18.1 series in the repository copy: three patches exported from commits on the tag."""
    queue = tmp_path / "queue"
    git(tmp_path, "clone", "--quiet", str(upstream), str(queue))
    git(queue, "checkout", "--quiet", "--detach", "v0.18.1")
    models = queue / "botorch" / "models.py"
    write(queue, {"botorch/models.py": models.read_text().replace("x):\n", 'x):\n    """Twice x."""\n', 1)})
    commit(queue, DOCUMENT)
    test_shift = "from botorch.models import shift\n\n\ndef test_shift():\n    assert shift(2) == 1.0\n"
    test_shift += "    assert isinstance(shift(2), float)\n"  # the patched package runs the test, not the tag's
    write(
        queue, {"botorch/models.py": models.read_text().replace("x - 1", "x - 1.0"), "test/test_shift.py": test_shift}
    )
    commit(queue, SHIFT)
    write(queue, {"test/test_models.py": UPSTREAM_FILES["test/test_models.py"].replace("== 2", "== 3")})
    commit(queue, EXPECT)
    series_dir = repo_copy / "patches" / "botorch" / "0.18.1"
    for old in series_dir.iterdir():
        old.unlink()
    git(queue, "format-patch", "--quiet", "--zero-commit", "--no-signature", "-o", str(series_dir), "v0.18.1..HEAD")
    assert sorted(path.name for path in series_dir.iterdir()) == PATCHES
    (series_dir / "series").write_text("".join(f"{name}\n" for name in PATCHES))
    return series_dir


def pr(repo: Path, upstream: Path, *args: str) -> subprocess.CompletedProcess:
    return run(repo, "pr", "botorch", "0.18.1", "--upstream", upstream, *args)


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/patchset/").split()


def user_state(tree: Path) -> dict:
    """What the user sees of a clone: its files, HEAD, status and worktrees."""
    files = {
        str(path.relative_to(tree)): path.read_bytes()
        for path in sorted(tree.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(tree).parts
    }
    return {
        "files": files,
        "head": git(tree, "symbolic-ref", "HEAD"),
        "sha": git(tree, "rev-parse", "HEAD"),
        "status": git(tree, "status", "--porcelain", "--untracked-files=all"),
        "worktrees": git(tree, "worktree", "list", "--porcelain"),
    }


def lint_python(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A Python without pip, ufmt or flake8, plus the given fake modules (name: code of its __main__)."""
    env = tmp_path / "lint-env"
    venv.EnvBuilder(with_pip=False).create(env)
    site = env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for name, main in modules.items():
        write(site, {f"{name}/__init__.py": "", f"{name}/__main__.py": main})
    return env / "bin" / "python"


def test_branches_carry_each_patch_and_its_dependencies_on_the_tag_and_leave_the_clone_alone(
    repo_copy: Path, series: Path, upstream: Path
) -> None:
    write(upstream, {"README.md": "a local change\n", "notes.txt": "untracked\n"})
    before = user_state(upstream)

    result = pr(repo_copy, upstream, "--no-lint", "--no-tests")
    assert result.returncode == 0, result.stderr
    assert branches(upstream) == BRANCHES
    assert user_state(upstream) == before

    tag = git(upstream, "rev-parse", "v0.18.1^{commit}").strip()
    parents = [tag, git(upstream, "rev-parse", BRANCHES[0]).strip(), tag]  # 0002 depends on 0001
    for name, parent, message in zip(BRANCHES, parents, (DOCUMENT, SHIFT, EXPECT)):
        assert git(upstream, "rev-parse", f"{name}^").strip() == parent
        assert git(upstream, "log", "-1", "--format=%B", name).strip() == message.strip()
        assert git(upstream, "log", "-1", "--format=%an <%ae> %aD", name).strip() == (
            f"{AUTHOR[0]} <{AUTHOR[1]}> {DATE}"
        )
    assert result.stdout.count(f"Checked-Against: {tag} (v0.18.1)") == 3
    assert "applied:         cleanly on v0.18.1 + 1 patch(es) it depends on" in result.stdout
    assert result.stdout.count("applied:         cleanly on v0.18.1 + 0 patch(es) it depends on") == 2
    assert "\n".join(git(upstream, "show", f"{BRANCHES[1]}:botorch/models.py").splitlines()[-2:]) == (
        "def shift(x):\n    return x - 1.0"
    )

    # The same series on the same base gives the same commits; another base moves branches only with --force.
    again = pr(repo_copy, upstream, "--no-lint", "--no-tests")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(branch unchanged)") == 3
    shas = [git(upstream, "rev-parse", name) for name in BRANCHES]
    moved = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--base", "main", "--patch", "1")
    assert moved.returncode == 1
    assert moved.stderr.strip() == (
        f"error: {upstream}: branch {BRANCHES[0]} exists at {shas[0][:12]} (another base or series); "
        "pass --force to move it, or delete it"
    )
    assert [git(upstream, "rev-parse", name) for name in BRANCHES] == shas
    forced = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--base", "main", "--patch", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"(branch moved from {shas[0][:12]})" in forced.stdout
    assert git(upstream, "rev-parse", f"{BRANCHES[0]}^") == git(upstream, "rev-parse", "main")
    assert user_state(upstream) == before


def test_a_checked_out_branch_is_not_moved(repo_copy: Path, series: Path, upstream: Path) -> None:
    assert pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "1").returncode == 0
    git(upstream, "switch", "--quiet", BRANCHES[0])
    before = user_state(upstream)
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "1", "--base", "main", "--force")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {upstream}: branch {BRANCHES[0]} is checked out; switch to another one first"
    )
    assert user_state(upstream) == before


def test_a_bare_repository(repo_copy: Path, series: Path, upstream: Path, tmp_path: Path) -> None:
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "--quiet", "--mirror", str(upstream), str(bare))
    result = pr(repo_copy, bare, "--no-lint", "--no-tests")
    assert result.returncode == 0, result.stderr
    assert branches(bare) == BRANCHES
    assert git(bare, "worktree", "list").split() == [str(bare), "(bare)"]
    assert git(bare, "rev-parse", f"{BRANCHES[0]}^") == git(bare, "rev-parse", "v0.18.1^{commit}")


def test_a_patch_that_does_not_apply_gets_no_branch(repo_copy: Path, series: Path, upstream: Path) -> None:
    before = user_state(upstream)
    main = git(upstream, "rev-parse", "main").strip()
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--base", "main")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no branch for 0002: {PATCHES[1]} does not apply on main ({main[:12]}) + 1 patch(es) it depends on: "
        "conflicts in botorch/models.py"
    )
    assert branches(upstream) == [BRANCHES[0], BRANCHES[2]]  # 0003 does not need 0002
    assert git(upstream, "rev-parse", f"{BRANCHES[0]}^").strip() == main
    assert "applied:         with a three-way merge (review it) on main + 0 patch(es) it depends on" in result.stdout
    assert git(upstream, "show", f"{BRANCHES[0]}:botorch/models.py").startswith(
        'def scale(x):\n    """Twice x."""\n    return 2 * x\n# scaled\n'
    )
    assert f"Checked-Against: {main} (main)" in result.stdout
    assert f"  {PATCHES[1].removesuffix('.patch')}: does not apply" in result.stdout
    assert user_state(upstream) == before


def test_a_patch_upstream_already_has_gets_no_branch(repo_copy: Path, series: Path, upstream: Path) -> None:
    git(upstream, "am", "--quiet", "--3way", str(series / PATCHES[0]))  # main gets patch 0001 (HEAD: main)
    main = git(upstream, "rev-parse", "main").strip()
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--base", "main")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no branch for 0001, 0002: {PATCHES[0]} changes nothing on main ({main[:12]}): upstream has it already"
    )
    assert branches(upstream) == [BRANCHES[2]]


def test_lint_reports_each_patch_and_names_a_missing_tool(repo_copy: Path, series: Path, upstream: Path, tmp_path):
    """flake8 (a fake one that flags '1.0') fails patch 0002 only; ufmt is missing: one line with upstream's pins."""
    fake_flake8 = (
        "import sys\n\nbad = [name for name in sys.argv[1:] if '1.0' in open(name).read()]\n"
        "for name in bad:\n    print(f'{name}:10:16: X100 a float')\nsys.exit(1 if bad else 0)\n"
    )
    python = lint_python(tmp_path, {"flake8": fake_flake8, "botorch": "pass\n"})  # an installed botorch too
    result = pr(repo_copy, upstream, "--no-tests", "--lint-python", python)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: checks failed for patch(es) 0002 (flake8); the branches are in {upstream}"
    lines = result.stdout.splitlines()
    hint = f"ufmt is not installed for {python}; install it with: {python} -m pip install ufmt==2.8.0 black==22.3.0"
    assert [line for line in lines if "is not installed for" in line] == [f"{hint} usort==1.0.3"]
    lint = [line for line in lines if line.startswith("lint:")]
    assert lint == [
        "lint:            passed: flake8, validate_sphinx; not run: ufmt (not installed)",
        "lint:            failed: flake8 (passed: validate_sphinx); not run: ufmt (not installed)",
        "lint:            passed: flake8, validate_sphinx; not run: ufmt (not installed)",  # no '1.0' in 0003
    ]
    assert "  flake8: botorch/models.py:10:16: X100 a float" in lines
    assert branches(upstream) == BRANCHES  # failed checks are reported; the branches are there to fix


def test_changed_upstream_tests_run_on_the_branch(repo_copy: Path, series: Path, upstream: Path) -> None:
    result = pr(repo_copy, upstream, "--no-lint")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: checks failed for patch(es) 0003 (pytest); the branches are in {upstream}"
    tests = [line for line in result.stdout.splitlines() if line.startswith("tests:")]
    assert tests[0] == "tests:           none (the patch adds or changes no upstream test file)"
    assert tests[1].startswith("tests:           passed: test/test_shift.py (1 passed in ")
    assert tests[2].startswith("tests:           failed: test/test_models.py (1 failed in ")
    assert "  FAILED test/test_models.py::test_scale - assert 2 == 3" in result.stdout.splitlines()
    assert "  E       assert 2 == 3" in result.stdout.splitlines()
    assert "`python -m pytest -q test/test_shift.py` on this branch (`v0.18.1`, " in result.stdout
    assert "**failed** (1 failed in " in result.stdout


def test_pr_body_from_the_header(repo_copy: Path, series: Path, upstream: Path) -> None:
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "0001", "0002")
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("--- PR body (Markdown) ---\n")[1].split("\n--- end of PR body ---")[0]
    assert body == (
        "# Document scale\n\n"
        "## Problem\n\n"
        "scale has no docstring, so a reader cannot tell what it returns:\n\n"
        "```\nhelp(scale)  # no documentation\n```\n\n"
        "and nor can Sphinx.\n\n"
        "## Fix\n\n"
        "Add a one-line docstring. Nothing else changes.\n\n"
        "## Tests\n\n"
        "This change adds or changes no test file.\n\n"
        "## References\n\n"
        "- Bug: [meta-pytorch/botorch#2591](https://github.com/meta-pytorch/botorch/issues/2591)\n"
        "- Forwarded: not-yet\n"
        "- Applied-Upstream: none yet; see "
        "[cornellius-gp/linear_operator#130](https://github.com/cornellius-gp/linear_operator/pull/130) (open)"
    )
    second = result.stdout.split("--- PR body (Markdown) ---\n")[2]
    assert second.startswith("# Shift by a float\n\n## Problem\n\nshift returns an int for an int.\n\n## Fix\n")
    assert "Tests added or changed: `test/test_shift.py`.\n\nNot run with this report." in second
    assert "## Depends on\n\nThis branch carries the patches it depends on first" in second
    assert "\n- Document scale\n" in second


def test_only_the_selected_patches_get_branches(repo_copy: Path, series: Path, upstream: Path) -> None:
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "2")
    assert result.returncode == 0, result.stderr
    assert branches(upstream) == [BRANCHES[1]]
    assert git(upstream, "log", "--format=%s", f"v0.18.1..{BRANCHES[1]}").splitlines() == [
        "Shift by a float",
        "Document scale",
    ]


def test_a_prefix_keeps_another_line_s_branches_apart(repo_copy: Path, series: Path, upstream: Path) -> None:
    """Both lines have patches of the same name: a prefix keeps one line's branches from meeting the other's."""
    assert pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "1").returncode == 0
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests", "--patch", "1", "--base", "main", "--prefix", "x/main/")
    assert result.returncode == 0, result.stderr
    assert branches(upstream) == [BRANCHES[0]]
    moved = git(upstream, "for-each-ref", "--format=%(refname:short)", "refs/heads/x/").split()
    assert moved == [BRANCHES[0].replace("patchset/", "x/main/")]
    assert git(upstream, "rev-parse", f"{moved[0]}^") == git(upstream, "rev-parse", "main")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--version", "0.1"], "botorch 0.1 is not a pinned upstream version; known versions: 0.12.0, 0.18.1"),
        (["--upstream", "{tmp}/nowhere"], "{tmp}/nowhere: no such directory"),
        (["--upstream", "{tmp}"], "{tmp} is not a git repository"),
        (["--upstream", "{upstream}/botorch"], "{upstream}/botorch is not a git repository"),
        (["--base", "no-such-ref"], "{upstream} has no commit 'no-such-ref' (no such branch, tag or commit)"),
        (["--patch", "0009"], "patch 0009 is not in the botorch 0.18.1 series (0001 to 0003)"),
        (["--python", "{tmp}/no-python"], "--python {tmp}/no-python: no such executable"),
        (["--prefix", "a..b/"], "a..b/0001-Document-scale is not a valid branch name (--prefix)"),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(
    repo_copy: Path, series: Path, upstream: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    options = {"--version": "0.18.1", "--upstream": str(upstream)}
    extra = []
    for key, value in zip(args[::2], args[1::2]):
        value = value.format(tmp=tmp_path, upstream=upstream)
        if key in options:
            options[key] = value
        else:
            extra += [key, value]
    before = user_state(upstream)
    command = ["botorch", options["--version"], "--upstream", options["--upstream"], "--no-lint", *extra]
    result = run(repo_copy, "pr", *command)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: " + message.format(tmp=tmp_path, upstream=upstream)
    assert result.stdout == ""
    assert branches(upstream) == []
    assert user_state(upstream) == before


def test_a_missing_tag_says_how_to_get_it(repo_copy: Path, series: Path, upstream: Path) -> None:
    git(upstream, "tag", "--delete", "v0.18.1")
    result = pr(repo_copy, upstream, "--no-lint", "--no-tests")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {upstream} has no commit 'v0.18.1' (no such branch, tag or commit); "
        "fetch upstream's tags (git fetch --tags) or pass --base"
    )
    assert branches(upstream) == []


def test_known_failures_of_the_release_are_deselected() -> None:
    """The line's baseline (tests that fail on the unpatched release too) becomes pytest --deselect node ids."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("pr_script", str(Path(__file__).parents[2] / "scripts" / "pr"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pr_script", loader))
    loader.exec_module(module)
    assert module._node_id("test.models.test_x.TestX::test_y") == "test/models/test_x.py::TestX::test_y"
    known = module.known_failures(module.patchset.find_pin("botorch", "0.18.1"))
    assert "test/models/test_model_list_gp_regression.py::TestModelListGP::test_with_different_batch_shapes" in known
    assert module.known_failures(module.patchset.find_pin("linear_operator", "0.6.1")) == []


def test_files_unformatted_before_the_patch_do_not_fail_it(repo_copy: Path, series: Path, upstream: Path, tmp_path):
    """A fake ufmt rejects runs of blank lines (upstream's models.py has them at the tag) and '== 3' (which patch
    0003 brings): only 0003 fails; the patches that touch models.py pass, since it was unformatted before them."""
    fake_ufmt = (
        "import os, sys\n\nbad = [name for name in sys.argv[2:] if '\\n\\n\\n\\n' in open(name).read()"
        " or '== 3' in open(name).read()]\n"
        "for name in bad:\n    print(f'Would format {os.path.abspath(name)}')\nsys.exit(1 if bad else 0)\n"
    )
    python = lint_python(tmp_path, {"ufmt": fake_ufmt, "flake8": "import sys\nsys.exit(0)\n"})
    result = pr(repo_copy, upstream, "--no-tests", "--lint-python", python)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: checks failed for patch(es) 0003 (ufmt); the branches are in {upstream}"
    lint = [line for line in result.stdout.splitlines() if line.startswith("lint:")]
    assert lint[:2] == ["lint:            passed: ufmt, flake8, validate_sphinx"] * 2
    assert lint[2] == "lint:            failed: ufmt (passed: flake8, validate_sphinx)"


def test_a_test_that_lacks_a_module_says_to_pass_python(repo_copy: Path, series: Path, upstream: Path) -> None:
    """The default --python (the one running scripts/pr) usually lacks the package's dependencies: say so."""
    patch = series / PATCHES[1]  # its new test file imports a module no environment has
    patch.write_text(patch.read_text().replace("+from botorch.models import shift", "+import not_a_module_anywhere"))
    result = pr(repo_copy, upstream, "--no-lint", "--patch", "2")
    assert result.returncode == 1
    hint = "lacks not_a_module_anywhere: pass --python with an environment that has the package's dependencies"
    assert any(hint in line for line in result.stdout.splitlines()), result.stdout
