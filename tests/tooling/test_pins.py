"""upstream/<line>.toml: every malformed field is refused with one line that names the file and the field."""

from pathlib import Path

import pytest
from conftest import patchset, run

# gpytorch's revision line in legacy.toml, just before its digest
REVISION = f"revision = {patchset.find_pin('gpytorch', '1.13').revision}\nseries_sha256"


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('version = "1.13"', "version = 1.13", '[gpytorch] version must be a quoted string (version = "1.13")'),
        ('version = "1.13"', 'version = "1.13-foo!"', "[gpytorch] version '1.13-foo!' is not a valid version"),
        (REVISION, "revision = 2.7\nseries_sha256", "[gpytorch] revision must be a whole number >= 1, got 2.7"),
        (REVISION, 'revision = "2"\nseries_sha256', "[gpytorch] revision must be a whole number >= 1, got '2'"),
        (REVISION, "revision = 0\nseries_sha256", "[gpytorch] revision must be a whole number >= 1, got 0"),
        (REVISION, "revision = true\nseries_sha256", "[gpytorch] revision must be a whole number >= 1, got True"),
        (REVISION, "series_sha256", "[gpytorch] lacks revision"),
        ('sha256 = "f4a4', 'sha256 = "F4a4', "[gpytorch] sha256 must be 64 lowercase hex digits, got 'F4a4"),
        ("sdist = \"https://files.pythonhosted.org/packages/1c", "sdist = \"ftp://x/1c",
         "[gpytorch] sdist must be an https:// URL of a .tar.gz or .zip, got 'ftp://x/1c"),
        ('torch = "2.13.0"', "torch = 2.13", "torch must be a quoted version string (torch = \"2.13.0\"), got 2.13"),
        ('torch = "2.13.0"', 'torch = "two"', "torch 'two' is not a valid version"),
        ("[gpytorch]\n", "[gpytorch]\nrevison = 3\n", "[gpytorch] has unknown field(s) revison"),
        ("[gpytorch]\n", "[gpytorh]\n", "unknown entry 'gpytorh'; expected torch and [botorch], [gpytorch], [lin"),
        ("[gpytorch]\n", "[gpytorch\n", "not valid TOML"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["apply", "--line", "legacy"], ["queue", "edit", "botorch", "0.12.0"]])
def test_malformed_pin_gets_one_line(repo_copy: Path, old: str, new: str, message: str, command: list[str]) -> None:
    pins = repo_copy / "upstream" / "legacy.toml"
    text = pins.read_text()
    assert text.count(old) == 1, old
    pins.write_text(text.replace(old, new))
    result = run(repo_copy, *command)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: upstream/legacy.toml: ")
    assert message in result.stderr
    assert not (repo_copy / "dist").exists() and not (repo_copy / "work").exists()
