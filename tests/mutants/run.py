"""Apply each deliberately wrong change (tests/mutants/*.patch) to a throwaway copy of the installed packages, run
the tests that must notice it, and report every mutant that survives.

  python tests/mutants/run.py [--suite] [NAME ...] [-- PYTEST ARGS]

Each patch is a unified diff against the installed wheels' files (paths relative to site-packages), applied with the
patch set's own machinery (scripts/patchset.py, `git apply`) to a copy of botorch, gpytorch and linear_operator in a
temporary folder, which goes first on PYTHONPATH; the installed packages are not touched. A mutant's `Tests:` line
names the test files that must kill it; `--suite` runs the whole behavior suite against every mutant instead (about
ten minutes each on 2 cores). Exit status 1 if a mutant survives or does not apply.

The patches are written by tests/mutants/refresh.py from a snippet per mutant: when the series changes the code
around a mutant, run `python tests/mutants/refresh.py` in an environment with the new wheels (see its docstring).
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import patchset  # noqa: E402

PACKAGES = ("botorch", "gpytorch", "linear_operator")
SUITE = ["tests/linear_operator", "tests/gpytorch", "tests/botorch"]


def installed_package(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: {name} is not installed in {sys.executable}")
    return Path(list(spec.submodule_search_locations)[0])


def tests_of(patch: Path) -> list[str]:
    for line in patch.read_text().splitlines():
        if line.startswith("Tests:"):
            return line.removeprefix("Tests:").split()
    sys.exit(f"error: {patch.name} has no 'Tests:' line")


def run_mutant(patch: Path, suite: bool, pytest_args: list[str]) -> str:
    """'killed', 'SURVIVED' or 'does not apply: <why>'."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as scratch:
        site = Path(scratch) / "site"
        for name in PACKAGES:
            shutil.copytree(installed_package(name), site / name, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            patchset.apply_series(site, [patch])
        except patchset.PatchSetError as error:
            return f"does not apply: {error}"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        where = subprocess.run(
            [sys.executable, "-c", "import botorch, gpytorch; print(botorch.__file__, gpytorch.__file__)"],
            env=env,
            capture_output=True,
            text=True,
        )
        if not all(path.startswith(str(site)) for path in where.stdout.split()):
            return f"does not apply: the copy is not imported ({where.stdout.strip() or where.stderr.strip()})"
        tests = SUITE if suite else tests_of(patch)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *pytest_args,
            *tests,
        ]
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        if result.returncode == 1:
            failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
            return f"killed ({failed[0].removeprefix('FAILED ') if failed else 'tests failed'})"
        if result.returncode == 0:
            return "SURVIVED"
        return f"does not apply: pytest exited {result.returncode}: {result.stdout.strip().splitlines()[-1:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--suite", action="store_true", help="run the whole behavior suite against each mutant")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, pytest_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    patches = sorted(HERE.glob("*.patch"))
    if args.names:
        patches = [patch for patch in patches if patch.stem in args.names]
    bad = 0
    for patch in patches:
        outcome = run_mutant(patch, args.suite, pytest_args)
        print(f"{patch.stem}: {outcome}", flush=True)
        bad += not outcome.startswith("killed")
    print(f"{len(patches) - bad} of {len(patches)} mutants killed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
