"""Every ```python block of README.md and docs/*.md runs against the current line's wheels.

The blocks of one page run in order in one namespace (a later block uses what an earlier one defined), in a
scratch folder (they write files). A block preceded by the line `<!-- snippet: skip (reason) -->` is not run;
the reason is required. Runs in the `current` tox environment (tox.ini).
"""

import re
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^(<!-- snippet: skip \((?P<reason>[^)]+)\) -->\n)?```python\n(?P<code>.*?)^```$", re.M | re.S)
SKIP_MARKER = re.compile(r"<!-- snippet: skip")


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) of each python block."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start("code")) + 1, m["code"], m["reason"]) for m in BLOCK.finditer(text)]


def test_every_skip_marker_precedes_a_python_block_and_gives_a_reason():
    for page in PAGES:
        markers = len(SKIP_MARKER.findall(page.read_text()))
        assert markers == sum(reason is not None for _, _, reason in blocks(page)), page.name


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"snippets_{page.stem}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation warnings, input-data warnings of tiny examples
        for line, code, reason in blocks(page):
            if reason is None:
                torch._dynamo.reset()
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
