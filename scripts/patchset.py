"""The small library behind `scripts/apply` and `scripts/queue`.

Pins live in `upstream/<line>.toml`, patch series in `patches/<package>/<version>/`.
Every failure is raised as `PatchSetError` with a one-line message; the commands
print it and exit non-zero.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO / "upstream"
PATCHES = REPO / "patches"
CACHE = REPO / ".cache"
PACKAGES = ("botorch", "gpytorch", "linear_operator")
# Zip timestamps of every wheel we build, so that rebuilds are byte-identical.
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip can hold


class PatchSetError(Exception):
    """A failure that the user can act on, described in one line."""


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    sdist: str
    sha256: str
    revision: int

    @property
    def series_dir(self) -> Path:
        return PATCHES / self.package / self.version

    @property
    def patched_version(self) -> str:
        return f"{self.version}+patched.{self.revision}"


def say(message: str) -> None:
    """Print a progress line."""
    print(message, flush=True)


# --- pins ---------------------------------------------------------------------------


def line_names() -> list[str]:
    return sorted(p.stem for p in UPSTREAM.glob("*.toml"))


def load_line(line: str) -> tuple[dict[str, Pin], str]:
    """Return the pins of an upstream line and the torch version it is tested with."""
    path = UPSTREAM / f"{line}.toml"
    if not path.is_file():
        raise PatchSetError(f"unknown upstream line '{line}'; known lines: {', '.join(line_names())}")
    try:
        data = tomllib.loads(path.read_text())
        pins = {
            package: Pin(package, table["version"], table["sdist"], table["sha256"], int(table["revision"]))
            for package, table in data.items()
            if isinstance(table, dict)
        }
        return pins, data["torch"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise PatchSetError(f"{path.relative_to(REPO)}: malformed pin file ({error})") from None


def all_pins() -> list[Pin]:
    return [pin for line in line_names() for pin in load_line(line)[0].values()]


def find_pin(package: str, version: str) -> Pin:
    """The pin of a package version; equal versions match ("1.13.0" is "1.13")."""
    pins = [pin for pin in all_pins() if pin.package == package]
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise PatchSetError(f"'{version}' is not a valid version") from None
    for pin in pins:
        if Version(pin.version) == wanted:
            return pin
    known = ", ".join(sorted({pin.version for pin in pins})) or "none"
    raise PatchSetError(f"{package} {version} is not a pinned upstream version; known versions: {known}")


# --- series ---------------------------------------------------------------------------


def series(pin: Pin) -> list[Path]:
    """The patch files of a package version, in `series` order (empty if it has none)."""
    series_file = pin.series_dir / "series"
    if not series_file.is_file():
        return []
    names = [line.split("#")[0].strip() for line in series_file.read_text().splitlines()]
    patches = [pin.series_dir / name for name in names if name]
    for patch in patches:
        if not patch.is_file():
            raise PatchSetError(f"{series_file.relative_to(REPO)} lists {patch.name}, which does not exist")
    return patches


def _git_apply(tree: Path, patches: list[Path], *flags: str) -> subprocess.CompletedProcess:
    # One input stream: git apply is atomic per input, and sees the earlier patches' changes.
    stream = "".join(patch.read_text() for patch in patches)
    # The ceiling keeps git from treating an enclosing repository (ours, or a user's
    # monorepo around a vendored copy) as the root that patch paths are relative to.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tree.resolve().parent))
    command = ["git", "apply", *flags, "-"]
    return subprocess.run(command, cwd=tree, env=env, input=stream, capture_output=True, text=True)


def _first_error(result: subprocess.CompletedProcess) -> str:
    for line in result.stderr.splitlines():
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown git apply failure"


def _failing_patch(tree: Path, patches: list[Path], reverse: bool) -> str:
    """Name the first patch of the series that does not apply, and why."""
    for count in range(1, len(patches) + 1):
        prefix = patches[:count]
        result = _git_apply(tree, prefix[::-1] if reverse else prefix, "--check", *(["-R"] if reverse else []))
        if result.returncode != 0:
            return f"{patches[count - 1].name} does not apply: {_first_error(result)}"
    return "the series does not apply"


def series_state(tree: Path, patches: list[Path]) -> str:
    """'unapplied', 'applied', or raise naming the first patch that applies neither way."""
    if _git_apply(tree, patches, "--check").returncode == 0:
        return "unapplied"
    if _git_apply(tree, patches[::-1], "--check", "-R").returncode == 0:
        return "applied"
    raise PatchSetError(f"{tree}: {_failing_patch(tree, patches, reverse=False)}")


def apply_series(tree: Path, patches: list[Path], reverse: bool = False) -> None:
    """Apply (or remove) a whole series; git apply is atomic, so a failure changes nothing."""
    ordered = patches[::-1] if reverse else patches
    result = _git_apply(tree, ordered, *(["-R"] if reverse else []))
    if result.returncode != 0:
        raise PatchSetError(f"{tree}: {_failing_patch(tree, patches, reverse)}")


# --- checkouts ------------------------------------------------------------------------


def detect_package(tree: Path) -> str:
    found = [name for name in PACKAGES if (tree / name / "__init__.py").is_file()]
    if len(found) != 1:
        raise PatchSetError(f"{tree}: not a checkout of {', '.join(PACKAGES)} (no <package>/__init__.py at its top)")
    return found[0]


def detect_version(tree: Path, package: str) -> str:
    """The upstream version of a checkout: PKG-INFO (sdist), an exact git tag, or version.py."""
    pkg_info = tree / "PKG-INFO"
    if pkg_info.is_file():
        match = re.search(r"^Version: (\S+)$", pkg_info.read_text(), re.M)
        if match:
            return match.group(1)
    if (tree / ".git").exists():
        result = subprocess.run(
            ["git", "describe", "--tags", "--exact-match", "HEAD"], cwd=tree, capture_output=True, text=True
        )
        if result.returncode == 0:
            return result.stdout.strip().removeprefix("v")
    version_py = tree / package / "version.py"
    if version_py.is_file():
        match = re.search(r"^__version__ = version = ['\"]([^'\"+]+)", version_py.read_text(), re.M)
        if match:
            return match.group(1)
    raise PatchSetError(f"{tree}: cannot tell which {package} version this is; pass --version")


# --- sources --------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(pin: Pin) -> Path:
    """Download a pinned sdist into .cache/sdists once, and check its sha256 every time."""
    target = CACHE / "sdists" / Path(pin.sdist).name
    if not target.is_file():
        say(f"fetching {pin.package} {pin.version} from {pin.sdist}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        try:
            with urllib.request.urlopen(pin.sdist, timeout=120) as response, partial.open("wb") as stream:
                shutil.copyfileobj(response, stream)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise PatchSetError(f"cannot download {pin.sdist}: {error}") from None
        partial.rename(target)
    actual = _sha256(target)
    if actual != pin.sha256:
        target.unlink()
        raise PatchSetError(
            f"{target.name}: sha256 {actual} does not match the pin {pin.sha256}; the download was deleted"
        )
    return target


def unpack_sdist(pin: Pin, destination: Path) -> Path:
    """Unpack a verified sdist under `destination` and return its source tree."""
    with tarfile.open(fetch_sdist(pin)) as archive:
        archive.extractall(destination, filter="data")
    roots = [path for path in destination.iterdir() if path.is_dir()]
    if len(roots) != 1:
        raise PatchSetError(f"{Path(pin.sdist).name}: expected one top-level folder, found {len(roots)}")
    return roots[0]


# --- wheels ---------------------------------------------------------------------------


def _stamp_version(tree: Path, package: str, version: str) -> None:
    """Make the built package report `version` as its __version__ too."""
    version_py = tree / package / "version.py"
    if version_py.is_file():
        text = re.sub(
            r"^(__version__ = version = )['\"][^'\"]*['\"]", rf"\g<1>'{version}'", version_py.read_text(), flags=re.M
        )
        version_py.write_text(text)


def build_wheel(pin: Pin, outdir: Path) -> Path:
    """Build the wheel of a pinned package with its series applied; returns the wheel path."""
    patches = series(pin)
    version = pin.patched_version if patches else pin.version
    with tempfile.TemporaryDirectory(prefix=f"{pin.package}-") as scratch:
        tree = unpack_sdist(pin, Path(scratch))
        if patches:
            say(f"applying {len(patches)} patch(es) to {pin.package} {pin.version}")
            apply_series(tree, patches)
        _stamp_version(tree, pin.package, version)
        say(f"building {pin.package} {version}")
        env = dict(
            os.environ,
            SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
            SETUPTOOLS_SCM_PRETEND_VERSION=version,
            PYTHONHASHSEED="0",
        )
        command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", scratch + "/out", str(tree)]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wheels = list(Path(scratch, "out").glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise PatchSetError(f"building {pin.package} {version} failed: {_last_line(result)}")
        expected = f"{pin.package}-{version}-"
        if not wheels[0].name.startswith(expected):
            raise PatchSetError(f"built {wheels[0].name}, expected a wheel named {expected}*")
        outdir.mkdir(parents=True, exist_ok=True)
        for stale in outdir.glob(f"{pin.package}-*.whl"):  # an older revision would clash on install
            stale.unlink()
        return Path(shutil.copy2(wheels[0], outdir / wheels[0].name))


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {result.returncode}"
