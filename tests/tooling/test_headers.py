"""Every patch header is what an upstream pull request needs, and docs/patches.md lists every patch.

A header (as `git format-patch` writes it, from `scripts/queue export`) names the patch set as author with a
fixed date (exports are byte-reproducible), has a subject, and ends its description with a `Bug:` line (an
upstream URL, or `none filed` with the reason or the text to file) and a `Forwarded:` line.
"""

import re
from pathlib import Path

import pytest
from conftest import patchset

ROOT = Path(__file__).resolve().parents[2]
PATCHES = sorted((ROOT / "patches").glob("*/*/*.patch"))
AUTHOR = "From: BoTorch patch set <patches@botorch-patchset.invalid>"
DATE = "Date: Tue, 24 Nov 2026 00:00:00 +0000"
BUG = re.compile(r"^Bug: (https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+|none filed)\b", re.M)
FORWARDED = re.compile(r"^Forwarded: (https://github\.com/\S+|not-yet|not-needed|not yet \(.+\))$", re.M)
CHECKED = re.compile(r"^Checked-Against: ([0-9a-f]{40}) \((v[\w.]+|main, \d{4}-\d{2}-\d{2})\)$", re.M)
# Series checked against upstream's git repository with scripts/pr.
CHECKED_PACKAGES = ("botorch", "gpytorch", "linear_operator")
# The current line's patches are proposed upstream: each is checked against upstream main too.
CURRENT = {(pin.package, pin.version) for pin in patchset.load_line("current")[0].values()}


def header(patch: Path) -> str:
    return patch.read_text().split("\n---\n", 1)[0]


@pytest.mark.parametrize("patch", PATCHES, ids=lambda path: str(path.relative_to(ROOT / "patches")))
def test_header_fields(patch):
    text = header(patch)
    lines = text.splitlines()
    assert lines[1] == AUTHOR and lines[2] == DATE, "author and date must be the patch set's fixed ones"
    assert lines[3].startswith("Subject: [PATCH] ") and len(lines[3]) > len("Subject: [PATCH] ")
    assert BUG.search(text), "a Bug: line with an upstream issue or PR URL, or 'none filed' and why"
    assert len(FORWARDED.findall(text)) == 1, "one Forwarded: line (PR URL, not-yet, not-needed)"
    checked = [line for line in lines if line.startswith("Checked-Against:")]
    assert all(CHECKED.fullmatch(line) for line in checked), "Checked-Against: <40-hex sha> (<tag> | main, <date>)"
    if patch.parent.parent.name in CHECKED_PACKAGES:
        refs = [CHECKED.fullmatch(line).group(2) for line in checked]
        assert f"v{patch.parent.name}" in refs, "checked against the tag of its upstream version (scripts/pr)"
        if (patch.parent.parent.name, patch.parent.name) in CURRENT:
            assert any(ref.startswith("main, ") for ref in refs), "a current-line patch is checked against main too"


@pytest.mark.parametrize("patch", PATCHES, ids=lambda path: str(path.relative_to(ROOT / "patches")))
def test_no_patch_adds_a_binary_file(patch):
    # Such a file has been a test run's output swept into a commit (test/posterior.pt, twice).
    text = patch.read_text()
    assert "GIT binary patch" not in text and not re.search(r"^ \S+ +\| Bin ", text, re.M)


def test_patch_table_lists_every_patch():
    table = (ROOT / "docs" / "patches.md").read_text()
    missing = [
        patch.name for patch in PATCHES if f"]({patch.relative_to(ROOT).as_posix()})" not in table.replace("../", "")
    ]
    assert missing == []


def test_a_malformed_header_is_caught(tmp_path):
    good = header(PATCHES[0])
    unchecked = "\n".join(line for line in good.splitlines() if not line.startswith("Checked-Against:"))
    broken_sha = CHECKED.sub(r"Checked-Against: abc (\2)", good)
    package, version = sorted(CURRENT)[0]
    current = header(next((ROOT / "patches" / package / version).glob("*.patch")))
    not_on_main = "\n".join(line for line in current.splitlines() if "(main, " not in line)
    cases = [(good.replace(AUTHOR, "From: someone <a@b>"), "0.12.0"), (BUG.sub("Bug: #2591", good), "0.12.0")]
    cases += [(unchecked, "0.12.0"), (broken_sha, "0.12.0")]
    for broken, folder in cases + [(not_on_main, version)]:
        patch = tmp_path / package / folder / "0001-x.patch"
        patch.parent.mkdir(parents=True, exist_ok=True)
        patch.write_text(broken + "\n---\n")
        with pytest.raises(AssertionError):
            test_header_fields(patch)
    patch.write_text(current + "\n---\n")
    test_header_fields(patch)  # the same header with its main line passes


def test_patch_table_agrees_with_the_headers():
    """The upstream column cites every issue of a patch's Bug: lines, or says that none is filed."""
    rows = [line for line in (ROOT / "docs" / "patches.md").read_text().splitlines() if line.startswith("| [")]
    disagreements = []
    for patch in PATCHES:
        row = next(line for line in rows if f"({patch.relative_to(ROOT).as_posix()})" in line.replace("../", ""))
        bugs = re.findall(r"^Bug: (\S+)", header(patch), re.M)
        for bug in bugs:
            # "none filed": an issue to file, or a backport of an upstream fix that had no issue.
            cited = bug in row if bug.startswith("https://") else "Bug: none filed" in row
            if not cited:
                disagreements.append(f"{patch.relative_to(ROOT / 'patches')}: {bug}")
    assert disagreements == []
