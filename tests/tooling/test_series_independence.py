"""Each patch is one upstream pull request: it applies to its release with exactly the patches its `Depends:`
lines name, and it does not rewrite lines that an earlier patch of its series added (upstream merges them one
at a time). Checked for every series against its pinned sdist (BoTorch's lacks test/, so there the code only)."""

import subprocess
from pathlib import Path

import pytest
from conftest import patchset

PINS = [pin for pin in patchset.all_pins() if patchset.series(pin)]


@pytest.mark.parametrize("pin", PINS, ids=lambda pin: f"{pin.package}-{pin.version}")
def test_every_patch_applies_with_its_depends_alone(pin, tmp_path):
    upstream = patchset.unpack_sdist(pin, tmp_path)
    assert patchset.independence_problems(pin, upstream) == []


@pytest.mark.parametrize("pin", PINS, ids=lambda pin: f"{pin.package}-{pin.version}")
def test_depends_on_another_package_name_a_patch_of_the_same_line(pin):
    line = next(name for name in patchset.line_names() if pin in patchset.load_line(name)[0].values())
    others = patchset.load_line(line)[0]
    for patch in patchset.series(pin):
        for package, name in patchset.dependencies(patch):
            if package != pin.package:
                assert package in others, f"{patch.name}: Depends: {package} {name}: no {package} in the {line} line"
                assert name in [item.name for item in patchset.series(others[package])], f"{patch.name}: {name}"


def fake_series(root: Path, headers: dict[str, str], diffs: dict[str, str]) -> patchset.Pin:
    """A series under root/patches/demo/1.0: patch name -> header lines, and its diff."""
    folder = root / "patches" / "demo" / "1.0"
    folder.mkdir(parents=True)
    for name, diff in diffs.items():
        (folder / name).write_text(f"Subject: [PATCH] {name}\n\n{headers.get(name, '')}\n---\n{diff}-- \n2.39.5\n")
    (folder / "series").write_text("".join(f"{name}\n" for name in diffs))
    return patchset.Pin("demo", "1.0", "https://example.invalid/demo-1.0.tar.gz", "0" * 64, 1)


def diff(path: str, old: list[str], new: list[str], start: int = 1) -> str:
    lines = [f"diff --git a/{path} b/{path}", f"--- a/{path}", f"+++ b/{path}"]
    lines.append(f"@@ -{start},{len(old)} +{start},{len(new)} @@")
    common = [line for line in old if line in new]
    lines += [f" {line}" if line in common else f"-{line}" for line in old]
    lines += [f"+{line}" for line in new if line not in common]
    return "\n".join(lines) + "\n"


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    tree = tmp_path / "demo-1.0"
    (tree / "demo").mkdir(parents=True)
    (tree / "demo" / "core.py").write_text("a = 1\nb = 2\nc = 3\n")
    return tree


def test_a_patch_that_needs_an_undeclared_one_and_a_rewrite_are_found(tmp_path, upstream, monkeypatch):
    monkeypatch.setattr(patchset, "PATCHES", tmp_path / "patches")
    first = diff("demo/core.py", ["a = 1", "b = 2", "c = 3"], ["a = 1", "b = 2", "c = 3", "d = 4"])
    second = diff("demo/core.py", ["b = 2", "c = 3", "d = 4"], ["b = 2", "c = 3", "d = 5"], start=2)
    pin = fake_series(tmp_path, {}, {"0001-add-d.patch": first, "0002-change-d.patch": second})
    problems = patchset.independence_problems(pin, upstream)
    assert problems[0].startswith("0002-change-d.patch does not apply with its Depends (none): ")
    assert problems[1:] == ["0002-change-d.patch changes lines of demo/core.py that 0001 added"]
    # Declaring the dependency fixes the first; the rewrite stays a rewrite.
    (pin.series_dir / "0002-change-d.patch").write_text(
        (pin.series_dir / "0002-change-d.patch").read_text().replace("\n\n", "\n\nDepends: 0001-add-d.patch\n", 1)
    )
    assert patchset.independence_problems(pin, upstream) == problems[1:]
    assert subprocess.run(["git", "--version"], capture_output=True).returncode == 0


def test_depends_are_transitive_and_in_series_order(tmp_path, monkeypatch):
    monkeypatch.setattr(patchset, "PATCHES", tmp_path / "patches")
    headers = {"0003-c.patch": "Depends: 0002-b.patch, gpytorch 0007-x.patch", "0002-b.patch": "Depends: 0001-a.patch"}
    pin = fake_series(tmp_path, headers, {name: "" for name in ("0001-a.patch", "0002-b.patch", "0003-c.patch")})
    patches = patchset.series(pin)
    assert [path.name for path in patchset.with_dependencies(patches, patches[2])] == [
        "0001-a.patch",
        "0002-b.patch",
        "0003-c.patch",
    ]
    assert patchset.dependencies(patches[2]) == [("demo", "0002-b.patch"), ("gpytorch", "0007-x.patch")]


@pytest.mark.parametrize(
    "header, message",
    [
        ("Depends: 0003-c.patch", "0002-b.patch: Depends: 0003-c.patch is not an earlier patch of its series"),
        ("Depends: 0009-none.patch", "0002-b.patch: Depends: 0009-none.patch is not an earlier patch of its series"),
        ("Depends: a b c", "0002-b.patch: 'Depends: a b c' is not '[package] NNNN-name.patch, ...'"),
    ],
)
def test_a_wrong_depends_line_is_one_clear_error(tmp_path, monkeypatch, header, message):
    monkeypatch.setattr(patchset, "PATCHES", tmp_path / "patches")
    pin = fake_series(
        tmp_path, {"0002-b.patch": header}, {n: "" for n in ("0001-a.patch", "0002-b.patch", "0003-c.patch")}
    )
    patches = patchset.series(pin)
    with pytest.raises(patchset.PatchSetError) as error:
        patchset.with_dependencies(patches, patches[1])
    assert str(error.value) == message
