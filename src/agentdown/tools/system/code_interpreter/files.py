"""The server's side of a sandbox's directory: listing, reading and deleting what the code left.

The code may have replaced any file or directory with a symlink (to ``/etc``, to the
app), even while the server looks: every step here walks by directory descriptor with
``O_NOFOLLOW``, so a symlink is never followed, and the server (root, perhaps) never
lists, reads or deletes anything outside the directory.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["MAX_ENTRIES", "Listing", "delete_file", "read_file", "scan"]

MAX_ENTRIES = 2000
"""Directory entries looked at per scan: a directory of a million files costs no more."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Listing = dict[str, tuple[int, int]]
"""Relative path -> (size, mtime in ns) of each regular file."""


def scan(directory: Path) -> tuple[Listing, bool]:
    """Regular files under ``directory`` (hidden ones skipped), and whether the scan was cut short."""
    found: Listing = {}
    seen = 0
    try:
        top = os.open(directory, _DIR_FLAGS)
    except OSError:
        return found, False
    stack: list[tuple[str, int]] = [("", top)]
    try:
        while stack:
            rel, fd = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        seen += 1
                        if seen > MAX_ENTRIES:
                            return found, True
                        if entry.name.startswith("."):
                            continue  # caches (fontconfig, matplotlib), not the code's output
                        name = f"{rel}/{entry.name}" if rel else entry.name
                        try:
                            st = entry.stat(follow_symlinks=False)
                            if stat.S_ISDIR(st.st_mode):
                                stack.append((name, os.open(entry.name, _DIR_FLAGS, dir_fd=fd)))
                            elif stat.S_ISREG(st.st_mode):
                                found[name] = (st.st_size, st.st_mtime_ns)
                        except OSError:
                            continue  # gone, or swapped for a symlink meanwhile
            finally:
                os.close(fd)
    finally:
        for _, fd in stack:
            os.close(fd)
    return found, False


def _open_parent(directory: Path, name: str) -> tuple[int, str]:
    """A descriptor of ``name``'s directory (walked without following symlinks) and its last part."""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise OSError(f"refused path {name!r}")
    fd = os.open(directory, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd, parts[-1]


def read_file(directory: Path, name: str, max_bytes: int) -> bytes | None:
    """The bytes of regular file ``name`` if at most ``max_bytes`` long, else ``None``."""
    try:
        parent, last = _open_parent(directory, name)
        try:
            fd = os.open(last, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent)
        finally:
            os.close(parent)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
                return None
            data = os.read(fd, max_bytes + 1)
            return data if len(data) <= max_bytes else None
        finally:
            os.close(fd)
    except OSError:
        return None


def delete_file(directory: Path, name: str) -> None:
    """Remove ``name`` (a symlink put in its place is removed itself, never its target)."""
    with contextlib.suppress(OSError):
        parent, last = _open_parent(directory, name)
        try:
            os.unlink(last, dir_fd=parent)
        finally:
            os.close(parent)
