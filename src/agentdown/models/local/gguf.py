"""Read the metadata of a GGUF file without llama.cpp.

The context length and chat template decide how a model is loaded and prompted;
reading them first avoids loading a gigabyte twice, and works where no llama.cpp
binding is installed (``agentdown models list``, tests). Only scalar and string
values are kept; arrays (the vocabulary) are skipped, except one asked for by name
(:func:`read_int_array`: the token types, which the xllamacpp backend has no API for).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["GGUFError", "read_int_array", "read_metadata"]

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
MetadataValue = int | float | bool | str


class GGUFError(ValueError):
    """Not a GGUF file, or one this reader does not understand."""


def read_metadata(path: Path) -> dict[str, MetadataValue]:
    """The key/value metadata of the GGUF file at ``path`` (arrays left out)."""
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        (version,) = _unpack(fh, "<I")
        if version < 2:
            raise GGUFError(f"{path}: GGUF version {version} is too old")
        _tensors, count = _unpack(fh, "<QQ")
        out: dict[str, MetadataValue] = {}
        for _ in range(count):
            key = _string(fh)
            (kind,) = _unpack(fh, "<I")
            if kind == _ARRAY:
                _skip_array(fh)
            else:
                out[key] = _value(fh, kind)
        return out


def read_int_array(path: Path, name: str) -> list[int] | None:
    """The integer array ``name`` in the metadata of ``path`` (``None``: there is none)."""
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        _unpack(fh, "<I")
        _tensors, count = _unpack(fh, "<QQ")
        for _ in range(count):
            key = _string(fh)
            (kind,) = _unpack(fh, "<I")
            if kind != _ARRAY:
                _value(fh, kind)
                continue
            if key != name:
                _skip_array(fh)
                continue
            item, length = _unpack(fh, "<IQ")
            fmt = _SCALARS.get(item, "")
            if item in (6, 7, 12) or not fmt:  # floats, bools, strings, nested arrays
                raise GGUFError(f"{path}: {name} is not an array of integers")
            size = struct.calcsize(fmt)
            data = fh.read(size * length)
            if len(data) != size * length:
                raise GGUFError("truncated GGUF metadata")
            return [int(v) for v in struct.unpack(f"<{length}{fmt[1]}", data)]
        return None


def _unpack(fh: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise GGUFError("truncated GGUF metadata")
    return struct.unpack(fmt, data)


def _string(fh: BinaryIO) -> str:
    (length,) = _unpack(fh, "<Q")
    data = fh.read(length)
    if len(data) != length:
        raise GGUFError("truncated GGUF metadata")
    return data.decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int) -> MetadataValue:
    if kind == _STRING:
        return _string(fh)
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise GGUFError(f"unknown GGUF value type {kind}")
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise GGUFError("truncated GGUF metadata")
    value: MetadataValue = struct.unpack(fmt, data)[0]
    return value


def _skip_array(fh: BinaryIO) -> None:
    kind, length = _unpack(fh, "<IQ")
    if kind == _STRING:
        for _ in range(length):
            (size,) = _unpack(fh, "<Q")
            fh.seek(size, 1)
    elif kind == _ARRAY:
        for _ in range(length):
            _skip_array(fh)
    elif kind in _SCALARS:
        fh.seek(struct.calcsize(_SCALARS[kind]) * length, 1)
    else:
        raise GGUFError(f"unknown GGUF array type {kind}")
