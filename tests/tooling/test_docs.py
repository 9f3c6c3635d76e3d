"""docs/patches.md and docs/benchmarks.md are what scripts/docs generates from the headers and results files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def docs(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo / "scripts" / "docs"), *args], capture_output=True, text=True)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("scripts", "patches", "upstream", "docs", "benchmarks"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_generated_pages_are_up_to_date():
    result = docs(REPO, "--check")
    assert result.returncode == 0, result.stderr


def test_check_names_a_page_that_a_header_changed(copy):
    patch = sorted((copy / "patches" / "gpytorch" / "1.15.2").glob("0001-*.patch"))[0]
    patch.write_text(patch.read_text().replace("Subject: [PATCH] Let", "Subject: [PATCH] Make", 1))
    before = (copy / "docs" / "patches.md").read_text()
    result = docs(copy, "--check")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: docs/patches.md is out of date; regenerate it with scripts/docs"
    assert (copy / "docs" / "patches.md").read_text() == before
    assert docs(copy).returncode == 0
    assert (
        "| Make cache-clearing hooks hold their prediction strategy weakly |" in (copy / "docs/patches.md").read_text()
    )


def result_file(revision: int) -> dict:
    return {
        "benchmark": "example",
        "line": "current",
        "command": "python benchmarks/example.py",
        "date": "2026-12-05",
        "machine": "Linux x86_64, 2 cores",
        "versions": {"botorch": f"0.18.1+patched.{revision}", "torch": "2.13.0"},
        "columns": ["n", "ms"],
        "formats": ["d", ".2f"],
        "rows": [[1, 0.5], [10, 1.25]],
    }


def test_a_result_names_its_revisions_and_is_marked_stale_at_an_older_one(copy):
    current = int(
        next(
            line
            for line in (copy / "upstream/current.toml").read_text().split("[botorch]")[1].splitlines()
            if line.startswith("revision")
        ).split("=")[1]
    )
    results = copy / "benchmarks" / "results"
    (results / "example-current.json").write_text(json.dumps(result_file(current)))
    (results / "example-old.json").write_text(json.dumps(result_file(current - 1)))
    (results / "tuning.md").write_text("| task | regret |\n|---|---:|\n| a | 0.1 |\n")
    assert docs(copy).returncode == 0
    page = (copy / "docs" / "benchmarks.md").read_text()
    fresh, old = page.split("### example-current")[1].split("###")[0], page.split("### example-old")[1].split("###")[0]
    assert f"botorch 0.18.1+patched.{current}" in fresh and "2026-12-05" in fresh and "Stale" not in fresh
    assert "| 10 | 1.25 |" in fresh
    assert f"**Stale**: measured at series revision botorch {current - 1} (now {current})" in old
    assert "| a | 0.1 |" in page  # a Markdown results file (the tuning benchmark's) is included as it is


def test_a_broken_results_file_is_named(copy):
    (copy / "benchmarks" / "results" / "broken.json").write_text("{")
    result = docs(copy)
    assert result.returncode == 1
    assert result.stderr.startswith("error: benchmarks/results/broken.json: not a results file")
