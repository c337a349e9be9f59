"""What one local sandbox may use."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

__all__ = ["Isolation", "SandboxLimits"]

Isolation = Literal["namespaces", "rlimits"]
"""``namespaces`` (the default): Linux user, mount, pid, network, IPC and UTS namespaces,
seccomp and rlimits; where the machine allows no user namespaces the tool refuses to be made.
``rlimits``: a plain child process under rlimits and seccomp (as another uid when the server
is root): no network or filesystem isolation, so no security boundary; for trusted code only."""

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Limits of the local sandbox. Every process limit is an rlimit, so it binds the user's
    code and each process it starts alike."""

    wall_seconds: float = 30.0
    """Wall-clock time of one call; past it the interpreter is killed (variables are lost)."""
    cpu_seconds: int = 120
    """CPU time of one interpreter process (RLIMIT_CPU), and of each process it starts."""
    memory_bytes: int = 1024 * _MIB
    """Address space of each process (RLIMIT_AS): allocations past it fail with MemoryError.
    numpy, pandas and a matplotlib chart need about 320 MiB. It binds each process, not
    their sum: the sandbox as a whole may use up to ``max_processes`` times this."""
    max_processes: int = 16
    """Processes and threads the sandbox may have at once (RLIMIT_NPROC, which the kernel
    counts per user namespace: these are the sandbox's own)."""
    max_file_bytes: int = 64 * _MIB
    """Largest file the code may write (RLIMIT_FSIZE)."""
    max_open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_chars: int = 20_000
    """stdout and stderr kept per call, each; the rest is dropped and the result says so."""
    result_chars: int = 4_000
    """Characters of the ``repr`` of the cell's last expression kept."""
    max_directory_bytes: int = 1024 * _MIB
    """Total size of the session's files; past it the files a call wrote are deleted."""
    tmp_bytes: int = 64 * _MIB
    """Size of the sandbox's private ``/tmp`` (namespaces only; it is memory)."""
    max_images: int = 8
    """Images returned per call (the files stay in the directory either way)."""
    max_image_bytes: int = 4 * _MIB
    """Larger images stay in the directory but are not returned as image content."""
    idle_seconds: float = 600.0
    """An interpreter unused this long is stopped (its files are kept)."""
    max_sessions: int = 8
    """Live interpreters at once; the least recently used idle one is stopped for a new one."""
    startup_seconds: float = 20.0
    """Time allowed for a new interpreter to start."""
    isolation: Isolation = "namespaces"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "isolation":
                if value not in ("namespaces", "rlimits"):
                    raise ValueError(
                        f"SandboxLimits.isolation must be 'namespaces' or 'rlimits', not {value!r}"
                    )
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"SandboxLimits.{f.name} must be a positive number, not {value!r}")
