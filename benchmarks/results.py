"""Write a benchmark's table to benchmarks/results/<name>-<line>.json, with what it was measured on.

scripts/docs renders docs/benchmarks.md from these files: a table there says only what its file holds. A file
holds the command, the date, the machine, the versions of the packages (a patched wheel's version carries the
revision of its series, `+patched.<revision>`), the code digest of each installed patched package (`code_sha256`,
see scripts/patchset.py: scripts/docs marks the table stale when the current series builds other code), the upstream
line of those versions, and the table: `columns`, `formats` (Python format specs, one per column) and `rows` (numbers
unrounded, strings as printed).
"""

import datetime
import importlib.util
import json
import os
import platform
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PACKAGES = ("botorch", "gpytorch", "linear_operator", "torch", "GPy")

sys.path.insert(0, str(ROOT / "scripts"))
from patchset import code_digest  # noqa: E402


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def code_digests(installed: dict[str, str]) -> dict[str, str]:
    """The code digest of each installed patched package (a `+patched.<revision>` version)."""
    digests = {}
    for package, version in installed.items():
        if "+patched." in version:
            folder = importlib.util.find_spec(package).submodule_search_locations[0]
            digests[package] = code_digest(Path(folder))
    return digests


def line_of(installed: dict[str, str]) -> str:
    """The upstream line whose botorch version is installed ("gpy" where there is no botorch)."""
    if "botorch" not in installed:
        return "gpy"
    version = installed["botorch"].split("+")[0]
    for path in sorted((ROOT / "upstream").glob("*.toml")):
        if tomllib.loads(path.read_text())["botorch"]["version"] == version:
            return path.stem
    return f"botorch-{version}"


def runs_file(name: str) -> Path:
    """Where a long benchmark caches its finished runs at the installed botorch revision, so that it resumes there (an
    unpatched botorch's runs are named by its version)."""
    installed = versions()
    revision = installed["botorch"].split("+patched.")[-1]
    return RESULTS / f"{name}-{line_of(installed)}-r{revision}-runs.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file of finished runs (none if it does not exist)."""
    if not Path(path).exists():
        return []
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # empty, or a line cut by an interruption
            continue
    return records


def append_jsonl(path: Path, record: dict) -> None:
    """Append one finished run, on disk before returning; a line an interruption cut stays apart."""
    cut = Path(path).exists() and Path(path).stat().st_size and not Path(path).read_bytes().endswith(b"\n")
    with open(path, "a") as handle:
        handle.write(("\n" if cut else "") + json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def save(
    name: str, columns: list[str], formats: list[str], rows: list[list], notes: str = "", variant: str = ""
) -> Path:
    """Write the table and its provenance; `notes` says how to read it (units, what a ratio is relative to).

    A run on part of the benchmark (some models, datasets) names its `variant`, so that it keeps the full run's file.
    """
    installed = versions()
    line = line_of(installed)
    record = {
        "benchmark": name,
        "line": line,
        "command": " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        "versions": installed,
        "code_sha256": code_digests(installed),
        "notes": notes,
        "columns": columns,
        "formats": formats,
        "rows": rows,
    }
    path = RESULTS / f"{name}-{line}{'-' + variant.replace(' ', '_') if variant else ''}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
