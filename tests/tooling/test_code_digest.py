"""The code digest (scripts/patchset.py) of an installed patched wheel, as benchmarks/results.py records it, is that
of the patched source it was built from, whatever its revision; it changes with the code only."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import patchset
import pytest


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


PACKAGE = {"__init__.py": "from .a import f\n", "a.py": "def f():\n    return 1\n", "sub/b.py": "X = 2\n"}


@pytest.mark.parametrize(
    "change",
    [
        {"version.py": "__version__ = version = '1.0+patched.2'\n"},  # the version file that the build writes
        {"README.md": "notes\n", "sub/data.json": "{}\n"},  # not Python
        {"__pycache__/a.cpython-311.pyc": "bytecode"},
    ],
)
def test_the_digest_ignores_the_version_file_and_what_is_not_python(tmp_path, change):
    files = PACKAGE | {"version.py": "__version__ = version = '1.0+patched.1'\n"}
    assert patchset.code_digest(write(tmp_path / "changed", files | change)) == patchset.code_digest(
        write(tmp_path / "original", files)
    )


@pytest.mark.parametrize(
    "change",
    [
        {"sub/b.py": "X = 3\n"},  # a changed line
        {"sub/c.py": ""},  # a new module, even an empty one
        {"a.py": "def f():\n    return 1\n\n", "sub/b.py": "X = 2"},  # one byte moved from one file to another
    ],
)
def test_the_digest_changes_with_the_code(tmp_path, change):
    assert patchset.code_digest(write(tmp_path / "changed", PACKAGE | change)) != patchset.code_digest(
        write(tmp_path / "original", PACKAGE)
    )


def test_a_moved_module_changes_the_digest(tmp_path):
    moved = {"__init__.py": PACKAGE["__init__.py"], "b.py": PACKAGE["a.py"], "sub/b.py": PACKAGE["sub/b.py"]}
    assert patchset.code_digest(write(tmp_path / "moved", moved)) != patchset.code_digest(
        write(tmp_path / "original", PACKAGE)
    )


@pytest.mark.parametrize("line", ["current", "legacy"])
def test_installed_wheels_have_the_digest_of_their_patched_source_at_any_revision(tmp_path, line):
    source = patchset.series_code_digests(line)
    pins = [pin for pin in patchset.load_line(line)[0].values() if patchset.series(pin)]
    assert sorted(source) == sorted(pin.package for pin in pins)
    (tmp_path / "dist").mkdir()
    # A revision that no wheel in dist/ has: the digest must not depend on the number the build writes.
    wheels = [patchset.build_wheel(dataclasses.replace(pin, revision=1000), tmp_path / "dist") for pin in pins]
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site)]
    subprocess.run([*install, *map(str, wheels)], check=True, capture_output=True)
    for pin in pins:
        assert "+patched.1000'" in (site / pin.package / "version.py").read_text()
    record = "import json, results; print(json.dumps(results.code_digests(results.versions())))"
    path = os.pathsep.join([str(site), str(patchset.REPO / "benchmarks")])
    recorded = subprocess.run(
        [sys.executable, "-c", record], env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True
    )
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout) == source
