"""docs/patches.md and docs/benchmarks.md are what scripts/docs generates from the headers and results files."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import patchset
import pytest

REPO = Path(__file__).resolve().parents[2]


def docs(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo / "scripts" / "docs"), *args], capture_output=True, text=True)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("scripts", "patches", "upstream", "docs", "benchmarks"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".cache" / "sdists").mkdir(parents=True)
    for pin in patchset.all_pins():  # scripts/docs applies the series to them for the code digests
        sdist = patchset.fetch_sdist(pin)
        (tmp_path / ".cache" / "sdists" / sdist.name).symlink_to(sdist)
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


def result_file(revision: int, code_sha256: dict | None = None) -> dict:
    result = {
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
    return result | ({"code_sha256": code_sha256} if code_sha256 is not None else {})


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


def botorch_revision() -> int:
    return patchset.load_line("current")[0]["botorch"].revision


def bump_botorch_revision(copy: Path) -> int:
    """A new revision of the current line's botorch series in the copy, as `scripts/queue export` makes it."""
    pins = copy / "upstream" / "current.toml"
    revision = botorch_revision() + 1
    botorch, rest = pins.read_text().split("[botorch]", 1)
    pins.write_text(botorch + "[botorch]" + re.sub(r"^revision = \d+$", f"revision = {revision}", rest, 1, re.M))
    return revision


def botorch_patch(copy: Path, number: str) -> Path:
    return next((copy / "patches" / "botorch" / "0.18.1").glob(f"{number}-*.patch"))


def stale_line(copy: Path, name: str) -> str:
    """The **Stale** line of a results file's table on the generated page ("" if it is not stale)."""
    section = (copy / "docs" / "benchmarks.md").read_text().split(f"### {name}\n")[1].split("\n### ")[0]
    return next((line for line in section.splitlines() if line.startswith("**Stale**")), "")


def test_a_new_revision_that_leaves_the_code_alone_keeps_a_table_fresh(copy):
    measured = botorch_revision()
    digests = patchset.series_code_digests("current")
    patch = botorch_patch(copy, "0001")  # a new revision that changes a patch header only
    patch.write_text(patch.read_text().replace("Subject: [PATCH] Honor", "Subject: [PATCH] Respect", 1))
    now = bump_botorch_revision(copy)
    results = copy / "benchmarks" / "results"
    (results / "with-digest.json").write_text(json.dumps(result_file(measured, {"botorch": digests["botorch"]})))
    (results / "without-digest.json").write_text(json.dumps(result_file(measured)))
    assert docs(copy).returncode == 0
    assert stale_line(copy, "with-digest") == ""
    # A results file without a digest keeps the revision rule.
    assert stale_line(copy, "without-digest") == (
        f"**Stale**: measured at series revision botorch {measured} (now {now}). Rerun the command to refresh it."
    )


def test_a_new_revision_that_changes_the_code_makes_a_table_stale(copy):
    measured = botorch_revision()
    digests = patchset.series_code_digests("current")
    patch = botorch_patch(copy, "0017")  # the last patch: no later one needs its lines as context
    text = patch.read_text()
    comment = "+# The default rules, so that a first compiled call finds them.\n"
    assert text.count(comment) == 1 and text.split(comment)[0].rsplit("\ndiff --git a/", 1)[1].startswith("botorch/")
    patch.write_text(text.replace(comment, comment.replace("finds them", "finds them (a changed line)")))
    now = bump_botorch_revision(copy)
    (copy / "benchmarks" / "results" / "example.json").write_text(json.dumps(result_file(measured, digests)))
    assert docs(copy).returncode == 0
    assert stale_line(copy, "example") == (
        f"**Stale**: the code of botorch changed since series revision {measured} (now {now}). "
        "Rerun the command to refresh it."
    )


def test_readme_counts_the_patches_of_each_series():
    """The README's table of lines says how many patches each series has."""
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|(.*)\|$", (REPO / "README.md").read_text(), re.M)
    }
    for line in ("current", "legacy"):
        pins = patchset.load_line(line)[0]
        for package, pin in pins.items():
            count = len(patchset.series(pin))
            cell = f"{pin.version} ({count} patches)" if package == "botorch" else f"{pin.version} ({count})"
            if not count:
                cell = f"{pin.version} (none: the upstream release)"
            assert cell in rows[line], f"README.md: the {line} row should say {package} {cell}"
