"""The small library behind `scripts/apply`, `scripts/queue` and `scripts/upstream-tests`.

Pins live in `upstream/<line>.toml`, patch series in `patches/<package>/<version>/`.
Every failure is raised as `PatchSetError` with a one-line message; the commands
print it and exit non-zero.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use: require() first tells the user how to install it
    from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO / "upstream"
PATCHES = REPO / "patches"
CACHE = REPO / ".cache"
PACKAGES = ("botorch", "gpytorch", "linear_operator")
PIN_FIELDS = ("version", "sdist", "sha256", "revision", "series_sha256")
# What building a wheel imports (scripts/requirements.txt installs them all).
BUILD_MODULES = ("packaging", "build", "setuptools", "setuptools_scm", "wheel")
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
    series_sha256: str | None = None

    @property
    def series_dir(self) -> Path:
        return PATCHES / self.package / self.version

    @property
    def patched_version(self) -> str:
        return f"{self.version}+patched.{self.revision}"


def say(message: str) -> None:
    """Print a progress line."""
    print(message, flush=True)


def require(*modules: str) -> None:
    """Refuse to start, with the install command, if a module the command needs is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise PatchSetError(
            f"{sys.executable} lacks the Python module(s) {', '.join(missing)}; install them with: "
            f"{sys.executable} -m pip install -r {REPO / 'scripts' / 'requirements.txt'}"
        )
    if shutil.which("git") is None:
        raise PatchSetError("git is not on PATH; install git first")


def parse_version(text: str) -> Version:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise PatchSetError(f"'{text}' is not a valid version") from None


# --- pins ---------------------------------------------------------------------------


def line_names() -> list[str]:
    return sorted(p.stem for p in UPSTREAM.glob("*.toml"))


def line_file(line: str) -> Path:
    path = UPSTREAM / f"{line}.toml"
    if not path.is_file():
        raise PatchSetError(f"unknown upstream line '{line}'; known lines: {', '.join(line_names())}")
    return path


def load_line(line: str) -> tuple[dict[str, Pin], str]:
    """Return the pins of an upstream line and the torch version it is tested with."""
    path = line_file(line)
    where = path.relative_to(REPO)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise PatchSetError(f"{where}: not valid TOML ({error})") from None
    torch = data.pop("torch", None)
    if not isinstance(torch, str):
        raise PatchSetError(f'{where}: torch must be a quoted version string (torch = "2.13.0"), got {torch!r}')
    _check_version(where, "torch", torch)
    pins = {}
    for package, table in data.items():
        if package not in PACKAGES or not isinstance(table, dict):
            raise PatchSetError(f"{where}: unknown entry '{package}'; expected torch and [{'], ['.join(PACKAGES)}]")
        pins[package] = _pin(where, package, table)
    return pins, torch


def _pin(where: Path, package: str, table: dict) -> Pin:
    unknown = sorted(set(table) - set(PIN_FIELDS))
    if unknown:
        raise PatchSetError(f"{where}: [{package}] has unknown field(s) {', '.join(unknown)}")
    missing = [field for field in PIN_FIELDS[:4] if field not in table]
    if missing:
        raise PatchSetError(f"{where}: [{package}] lacks {', '.join(missing)}")
    version, sdist, sha256, revision = (table[field] for field in PIN_FIELDS[:4])
    digest = table.get("series_sha256")
    label = f"{where}: [{package}]"
    if not isinstance(version, str):
        raise PatchSetError(f'{label} version must be a quoted string (version = "{version}"), got {version!r}')
    _check_version(where, f"[{package}] version", version)
    if not isinstance(sdist, str) or not re.match(r"(https|file)://\S+\.(tar\.gz|zip)$", sdist):
        raise PatchSetError(f"{label} sdist must be an https:// URL of a .tar.gz or .zip, got {sdist!r}")
    for field, value in (("sha256", sha256), ("series_sha256", digest)):
        if value is not None and not (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value)):
            raise PatchSetError(f"{label} {field} must be 64 lowercase hex digits, got {value!r}")
    if type(revision) is not int or revision < 1:
        raise PatchSetError(f"{label} revision must be a whole number >= 1, got {revision!r}")
    return Pin(package, version, sdist, sha256, revision, digest)


def _check_version(where: Path, field: str, text: str) -> None:
    try:
        parse_version(text)
    except PatchSetError:
        raise PatchSetError(f"{where}: {field} '{text}' is not a valid version") from None


def all_pins() -> list[Pin]:
    return [pin for line in line_names() for pin in load_line(line)[0].values()]


def find_pin(package: str, version: str) -> Pin:
    """The pin of a package version; equal versions match ("1.13.0" is "1.13")."""
    wanted = parse_version(version)
    pins = [pin for pin in all_pins() if pin.package == package]
    for pin in pins:
        if parse_version(pin.version) == wanted:
            return pin
    known = ", ".join(sorted({pin.version for pin in pins})) or "none"
    raise PatchSetError(f"{package} {version} is not a pinned upstream version; known versions: {known}")


def pin_files_with_fields(package: str, version: str, revision: int, series_sha256: str | None) -> dict[Path, str]:
    """The text of every pins file with a pin of `package` `version`, with its revision and series_sha256 set."""
    texts = {}
    for line in line_names():
        pins = load_line(line)[0]
        if package in pins and pins[package].version == version:
            path = UPSTREAM / f"{line}.toml"
            texts[path] = _with_fields(path.read_text(), package, revision, series_sha256)
    return texts


def _with_fields(text: str, package: str, revision: int, series_sha256: str | None) -> str:
    lines = text.splitlines(keepends=True)
    start = lines.index(f"[{package}]\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    table = [line for line in lines[start:end] if not line.startswith(("revision", "series_sha256"))]
    while table and not table[-1].strip():
        table.pop()
    table.append(f"revision = {revision}\n")
    if series_sha256:
        table.append(f'series_sha256 = "{series_sha256}"\n')
    if end < len(lines):
        table.append("\n")
    return "".join(lines[:start] + table + lines[end:])


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


def series_digest(patches: list[Path]) -> str | None:
    """sha256 over the names and bytes of a series, in order; None for no series."""
    if not patches:
        return None
    digest = hashlib.sha256()
    for patch in patches:
        digest.update(patch.name.encode() + b"\0" + patch.read_bytes() + b"\0")
    return digest.hexdigest()


def check_series_digest(pin: Pin) -> None:
    """A series that changed since its revision was bumped would give two builds one version."""
    actual = series_digest(series(pin))
    if actual != pin.series_sha256:
        where = pin.series_dir.relative_to(REPO)
        raise PatchSetError(
            f"{where} does not match series_sha256 of its pin (revision {pin.revision}); bump revision and set "
            f'series_sha256 = "{actual}" in upstream/ (scripts/queue export does both)'
        )


def _touched_paths(patches: list[Path]) -> set[str]:
    paths = set()
    for patch in patches:
        for match in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", patch.read_text(), re.M):
            paths.update(match.groups())
    return paths


def _git_apply(where: Path, patch: Path, flags: list[str]) -> subprocess.CompletedProcess:
    # The ceiling keeps git from treating an enclosing repository (ours, or a user's
    # monorepo around a vendored copy) as the root that patch paths are relative to.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(where.resolve().parent))
    command = ["git", "apply", *flags, str(patch.resolve())]
    return subprocess.run(command, cwd=where, env=env, capture_output=True, text=True)


def baseline_file(line: str, package: str) -> Path:
    """The tests of a package's own suite that fail against the unpatched release of a line."""
    return UPSTREAM / "baselines" / line / f"{package}.txt"


def read_baseline(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


# Folders of an upstream git checkout that BoTorch's sdist lacks (its tests, its Sphinx sources): patches change
# them as upstream pull requests do, and a tree without them gets the code changes only.
REPOSITORY_ONLY = ("test", "sphinx")


def missing_repository_folders(tree: Path) -> list[str]:
    return [folder for folder in REPOSITORY_ONLY if not (tree / folder).is_dir()]


def _run_series(
    tree: Path, patches: list[Path], reverse: bool, write: bool, only: list[str] | None = None
) -> tuple[int, str] | None:
    """Apply (or remove, last first) the patches one by one; None if all went through, else how many did and why
    the next did not. With ``only``, just the patches' changes to those files.

    The patches run in a scratch copy of the files they touch, so each sees the ones before it (a file created by
    one patch and changed by a later one included, which a single `git apply -R` of the whole stream gets wrong),
    and the tree changes only when the whole series went through (and ``write`` is set).
    """
    flags = ["-R"] if reverse else []
    paths = _touched_paths(patches)
    if only is None:
        # An sdist without upstream's tests or docs sources (BoTorch's): the code changes only.
        flags += [f"--exclude={folder}/*" for folder in missing_repository_folders(tree)]
    else:
        flags += [f"--include={path}" for path in only]
        paths &= set(only)
    scratch_dir = None
    try:
        with signals_held():  # an interruption cannot come between making the folder and owning it
            scratch_dir = tempfile.mkdtemp(prefix="patchset-")
        scratch = Path(scratch_dir) / "tree"
        scratch.mkdir()
        for path in paths:
            if (tree / path).is_file():
                (scratch / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree / path, scratch / path)
        for count, patch in enumerate(reversed(patches) if reverse else patches):
            # Held: a signal that came while the git child was being started would leave it writing to the
            # scratch folder while the cleanup below removes it.
            with signals_held():
                result = _git_apply(scratch, patch, flags)
            if result.returncode != 0:
                return count, f"{patch.name} does not {'reverse' if reverse else 'apply'}: {_first_error(result)}"
        if write:
            commit_files(tree, scratch, paths)
    finally:
        if scratch_dir is not None:
            with signals_held():
                shutil.rmtree(scratch_dir)
    return None


# --- dependencies between the patches of a series -----------------------------------------
# A patch names the earlier patches it needs in `Depends:` lines of its header: `0004-Name.patch` for one of
# its own series, `gpytorch 0007-Name.patch` for an API another package's series adds (not applied here).
# Each patch must apply to its release with exactly its dependencies, and must not rewrite lines that an
# earlier patch added: upstream merges them one pull request at a time.

DEPENDS = re.compile(r"^Depends: (.+)$", re.M)


def dependencies(patch: Path) -> list[tuple[str, str]]:
    """(package, patch file name) of each `Depends:` entry in a patch's header."""
    header = patch.read_text().split("\n---\n", 1)[0]
    own = patch.parent.parent.name
    entries = []
    for line in DEPENDS.findall(header):
        for item in filter(None, (part.strip() for part in line.split(","))):
            words = item.split()
            if len(words) not in (1, 2) or not words[-1].endswith(".patch"):
                raise PatchSetError(f"{patch.name}: 'Depends: {line}' is not '[package] NNNN-name.patch, ...'")
            entries.append((words[0], words[1]) if len(words) == 2 else (own, words[0]))
    return entries


def with_dependencies(patches: list[Path], patch: Path) -> list[Path]:
    """The patch and, transitively, the patches of its own series it depends on, in series order."""
    index = {item.name: number for number, item in enumerate(patches)}
    needed, pending = {patch.name}, [patch]
    while pending:
        current = pending.pop()
        for package, name in dependencies(current):
            if package != current.parent.parent.name or name in needed:
                continue
            if index.get(name, len(patches)) >= index[current.name]:
                raise PatchSetError(f"{current.name}: Depends: {name} is not an earlier patch of its series")
            needed.add(name)
            pending.append(patches[index[name]])
    return [item for item in patches if item.name in needed]


def _diff_lines(patch: Path, sign: str) -> dict[str, list[str]]:
    """The lines a patch removes ('-') or adds ('+'), by file (its path before the change)."""
    lines: dict[str, list[str]] = {}
    path = None
    for line in patch.read_text().split("\n-- \n", 1)[0].splitlines():
        if line.startswith("diff --git "):
            path = line.split(" b/", 1)[0].removeprefix("diff --git a/")
        elif path and line.startswith(sign) and not line.startswith(sign * 3 + " "):
            lines.setdefault(path, []).append(line[1:])
    return lines


def independence_problems(pin: Pin, upstream: Path) -> list[str]:
    """Why patches of a series cannot be merged one by one into `upstream` (an unpacked release), if they cannot."""
    patches = series(pin)
    flags = [f"--exclude={folder}/*" for folder in missing_repository_folders(upstream)]
    problems = []
    for number, patch in enumerate(patches):
        chain = with_dependencies(patches, patch)
        with tempfile.TemporaryDirectory(prefix="patchset-") as scratch:
            for path in _touched_paths(chain):
                if (upstream / path).is_file():
                    (Path(scratch) / path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(upstream / path, Path(scratch) / path)
            for item in chain:
                result = _git_apply(Path(scratch), item, flags)
                if result.returncode != 0:
                    names = ", ".join(other.name[:4] for other in chain[:-1]) or "none"
                    problems.append(f"{patch.name} does not apply with its Depends ({names}): {_first_error(result)}")
                    break
        problems += _rewritten_lines(upstream, patches[:number], patch)
    return problems


def _rewritten_lines(upstream: Path, earlier: list[Path], patch: Path) -> list[str]:
    problems = []
    for path, removed in _diff_lines(patch, "-").items():
        if not (upstream / path).is_file() and path.split("/")[0] in missing_repository_folders(upstream):
            continue
        original = set((upstream / path).read_text().splitlines()) if (upstream / path).is_file() else set()
        foreign = {line for line in removed if line not in original}
        added_by = [item.name[:4] for item in earlier if foreign & set(_diff_lines(item, "+").get(path, []))]
        if added_by:
            problems.append(f"{patch.name} changes lines of {path} that {', '.join(added_by)} added")
    return problems


# --- all or nothing under interruption ---------------------------------------------------
# The files a series touches are replaced one by one, so an interrupted copy would leave a tree half
# patched. Signals that can be caught are held until the copy is done; for what cannot be caught (SIGKILL,
# power loss) a journal in the tree keeps the files as they were until the copy is done, and the next run
# of scripts/apply on that tree rolls an unfinished copy back.

JOURNAL = ".patchset-journal"
SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Interrupted(PatchSetError):
    """A signal stopped the command; the message says what state it left."""


def raise_on_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so that cleanup runs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in SIGNALS:
        signal.signal(signum, interrupt)


@contextmanager
def signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP until the block is done (they arrive after it)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def commit_files(tree: Path, scratch: Path, paths: set[str]) -> None:
    """Put the scratch copies of ``paths`` into the tree, all or nothing."""
    staging = None
    try:
        with signals_held():
            staging = Path(tempfile.mkdtemp(dir=tree, prefix=f"{JOURNAL}.tmp-"))
        for path in paths:
            if (tree / path).is_file():
                (staging / "before" / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree / path, staging / "before" / path)
        _write_synced(staging / "paths", "\n".join(sorted(paths)))
        with signals_held():
            staging.rename(tree / JOURNAL)  # from here, an unfinished copy is rolled back
            _sync(tree)
            for path in paths:
                if (scratch / path).is_file():
                    _replace_file(scratch / path, tree / path)
                elif (tree / path).is_file():
                    (tree / path).unlink()
            _discard(tree / JOURNAL, tree)
    except KeyboardInterrupt:
        if staging is None or staging.exists():
            raise  # before the copy: nothing changed
        raise Interrupted(f"{tree}: interrupted, after the whole series went through") from None
    finally:
        if staging is not None and staging.exists():
            with signals_held():
                shutil.rmtree(staging)


def recover(tree: Path) -> str | None:
    """Roll back a copy that a killed run left unfinished; say so, or None if there was none."""
    for leftover in tree.glob(f"{JOURNAL}.tmp-*"):
        shutil.rmtree(leftover)
    journal = tree / JOURNAL
    if not journal.is_dir():
        return None
    with signals_held():
        paths = (journal / "paths").read_text().split("\n") if (journal / "paths").is_file() else []
        for path in filter(None, paths):
            (tree / path).with_name(f".{Path(path).name}.patchset-new").unlink(missing_ok=True)
            before = journal / "before" / path
            if before.is_file():
                _replace_file(before, tree / path)
            elif (tree / path).is_file():
                (tree / path).unlink()
        _discard(journal, tree)
    return f"{tree}: rolled back a series change that an earlier run left unfinished ({len(paths)} file(s))"


def _replace_file(source: Path, target: Path) -> None:
    """Replace one file atomically (a copy beside it, synced, then renamed over it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.patchset-new")
    shutil.copy2(source, temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sync(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _discard(journal: Path, tree: Path) -> None:
    """Remove a journal: renamed away first (atomic), so a kill while deleting it rolls nothing back."""
    done = Path(tempfile.mkdtemp(dir=tree, prefix=f"{JOURNAL}.tmp-"))
    journal.rename(done / "journal")
    _sync(tree)
    shutil.rmtree(done)


def _first_error(result: subprocess.CompletedProcess) -> str:
    for line in result.stderr.splitlines():
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown git apply failure"


def series_state(tree: Path, patches: list[Path]) -> str:
    """'unapplied', 'applied', or raise naming the first patch that applies neither way."""
    forward = _run_series(tree, patches, reverse=False, write=False)
    if forward is None:
        return "unapplied"
    backward = _run_series(tree, patches, reverse=True, write=False)
    if backward is None:
        return "applied"
    # Neither: the tree is closer to the direction in which more of the series goes through.
    raise PatchSetError(f"{tree}: {(backward if backward[0] > forward[0] else forward)[1]}")


def apply_series(tree: Path, patches: list[Path], reverse: bool = False) -> None:
    """Apply (or remove) a whole series; a failure changes nothing."""
    failure = _run_series(tree, patches, reverse=reverse, write=True)
    if failure is not None:
        raise PatchSetError(f"{tree}: {failure[1]}")


# --- the upstream tests a series adds or changes ------------------------------------------


@dataclass(frozen=True)
class SeriesFile:
    """A file of upstream's test/ folder that a series touches."""

    path: str
    new: bool  # the series creates it (else it changes upstream's file)

    @property
    def is_test_module(self) -> bool:
        return re.search(r"(^|/)test_[^/]*\.py$", self.path) is not None


def _file_diffs(patch: Path) -> list[tuple[str, str]]:
    """(path after the change, extended header: the lines between `diff --git` and the first hunk) of each file."""
    body = patch.read_text().split("\n-- \n", 1)[0]
    diffs = []
    for block in re.split(r"^diff --git ", body, flags=re.M)[1:]:
        first, _, rest = block.partition("\n")
        header = re.split(r"^(?:--- |@@ |Binary files )", rest, maxsplit=1, flags=re.M)[0]
        diffs.append((first.split(" b/", 1)[1], header))
    return diffs


def series_test_files(patches: list[Path]) -> list[SeriesFile]:
    """The files under test/ that a series creates or changes (not those it leaves deleted), in the order it first
    touches them; a file that the series creates is new even where later patches change it."""
    touched: dict[str, SeriesFile] = {}
    for patch in patches:
        for path, header in _file_diffs(patch):
            if not path.startswith("test/"):
                continue
            if re.search(r"^deleted file mode ", header, re.M):
                touched.pop(path, None)
            elif path not in touched:
                touched[path] = SeriesFile(path, new=re.search(r"^new file mode ", header, re.M) is not None)
    return list(touched.values())


def write_series_files(tree: Path, patches: list[Path], paths: list[str]) -> None:
    """Apply only the series' changes to ``paths``, patch by patch (all or nothing). On a tree without them, the
    files that the series creates come out as the whole series leaves them."""
    failure = _run_series(tree, patches, reverse=False, write=True, only=paths)
    if failure is not None:
        raise PatchSetError(failure[1])


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
    cached = target.is_file()
    if not cached:
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
        what = (
            f"the cached copy {target.relative_to(REPO) if target.is_relative_to(REPO) else target} was deleted; "
            "run the command again to download it again"
            if cached
            else "the download was deleted; if it happens again, the file on the index differs from the pin"
        )
        raise PatchSetError(f"{target.name}: sha256 {actual} does not match the pin {pin.sha256}; {what}")
    return target


def unpack_sdist(pin: Pin, destination: Path) -> Path:
    """Unpack a verified sdist under `destination` and return its source tree."""
    with tarfile.open(fetch_sdist(pin)) as archive:
        archive.extractall(destination, filter="data")
    roots = [path for path in destination.iterdir() if path.is_dir()]
    if len(roots) != 1:
        raise PatchSetError(f"{Path(pin.sdist).name}: expected one top-level folder, found {len(roots)}")
    return roots[0]


# --- code digests ---------------------------------------------------------------------
# What a benchmark measures is the code of the patched packages, not the revision number of their series: a new
# revision that changes only a patch header, a test or the order of the patches leaves the code's digest as it was.

# The file of a package that the build writes its version (`+patched.<revision>`) into.
VERSION_FILE = "version.py"


def code_digest(package_dir: Path) -> str:
    """sha256 over the relative paths and bytes of a package's *.py files (an installed package, or the package
    folder of a patched source tree), its version file left out."""
    digest = hashlib.sha256()
    files = {path.relative_to(package_dir).as_posix(): path for path in package_dir.rglob("*.py")}
    for name in sorted(files.keys() - {VERSION_FILE}):
        data = files[name].read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def series_code_digests(line: str) -> dict[str, str]:
    """The code digest of each patched package of a line: its pinned sdist with its series applied."""
    digests = {}
    with tempfile.TemporaryDirectory(prefix="code-digest-") as scratch:
        for pin in load_line(line)[0].values():
            patches = series(pin)
            if patches:
                tree = unpack_sdist(pin, Path(scratch) / pin.package)
                apply_series(tree, patches)
                digests[pin.package] = code_digest(tree / pin.package)
    return digests


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
    """Build the wheel of a pinned package with its series applied into `outdir`; returns its path."""
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
        return Path(shutil.copy2(wheels[0], outdir / wheels[0].name))


def replace_dir(new: Path, target: Path) -> None:
    """Put a finished folder in place of `target` whole (the old one is removed only afterwards)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {result.returncode}"
