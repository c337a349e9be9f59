"""How a worker process is started: the command, its environment and the mount plan.

With namespaces the worker is started by util-linux ``unshare`` in new user, mount,
pid, network, IPC and UTS namespaces. When the server is root, the server itself
writes the user namespace's uid/gid maps (``unshare --map-users`` would need the
``newuidmap`` helper): inner uid 0 is the outer root, for the worker's own setup
only (it needs to see the Python installation to bind-mount it), and inner uid 1000
is :data:`SANDBOX_UID`, an unprivileged host uid the worker switches to before it
runs any user code. That uid is what makes RLIMIT_NPROC bind: the kernel never
applies it to uid 0.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentdown.tools.system.code_interpreter.limits import Isolation, SandboxLimits

__all__ = [
    "SANDBOX_UID",
    "WORKDIR",
    "Launch",
    "SandboxError",
    "build_launch",
    "namespaces_available",
    "server_is_root",
    "write_id_maps",
]

logger = logging.getLogger("agentdown.tools.code_interpreter")

SANDBOX_UID = 101_000
"""The host uid (and gid) user code runs as when the server is root."""
INNER_UID = 1000
WORKDIR = "/mnt/data"
"""The working directory as the code sees it (namespaces), as in Azure's code interpreter."""

WORKER = Path(__file__).with_name("_worker.py")
_UNSHARE = ("--user", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child")


class SandboxError(RuntimeError):
    """The sandbox could not be started (the message says why)."""


@dataclass(slots=True)
class Launch:
    """Everything needed to start one worker."""

    argv: list[str]
    env: dict[str, str]
    setup: dict[str, Any]
    """The first message to the worker."""
    isolation: Isolation
    """``namespaces`` or ``rlimits``: what this worker really gets."""
    write_maps: bool
    """The server must write the uid/gid maps once the worker says hello."""
    user: int | None
    """Start the process as this uid (rlimits under root)."""


def server_is_root() -> bool:
    """Whether the server runs as root (then user code runs as :data:`SANDBOX_UID`)."""
    return os.geteuid() == 0


_probe: bool | None = None


def namespaces_available() -> bool:
    """Whether ``unshare`` exists and this kernel allows user namespaces (checked once)."""
    global _probe
    if _probe is None:
        unshare = shutil.which("unshare")
        ok = unshare is not None and sys.platform == "linux"
        if unshare is not None and ok:
            # Really try: a container's seccomp profile may refuse unshare(2) whatever the sysctl says.
            try:
                probe = subprocess.run(
                    [unshare, *_UNSHARE, "--propagation", "private", "--map-root-user", "true"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
                ok = probe.returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if not ok:
                logger.info("code interpreter: `unshare` cannot create namespaces here")
        _probe = ok
    return _probe


def _python() -> tuple[str, list[str]]:
    """The interpreter to run and the directories it needs (real paths, no symlinks)."""
    prefix = os.path.realpath(sys.prefix)
    base = os.path.realpath(sys.base_prefix)
    exe = os.path.join(prefix, "bin", os.path.basename(sys.executable))
    if not os.path.exists(exe):
        exe = os.path.realpath(sys.executable)
    needed = {prefix, base, os.path.dirname(os.path.realpath(exe))}
    # Drop directories inside another one already bound.
    roots = sorted(needed)
    kept = [d for d in roots if not any(d != o and d.startswith(o + os.sep) for o in roots)]
    return exe, kept


def _plan(directory: Path, limits: SandboxLimits, python_dirs: list[str]) -> dict[str, Any]:
    readonly: list[str] = []
    symlinks: dict[str, str] = {}
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            symlinks[top] = os.readlink(top)
        elif os.path.isdir(top):
            readonly.append(top)
    for d in python_dirs:
        if not any(d == r or d.startswith(r + os.sep) for r in readonly):
            readonly.append(d)
    if os.path.isdir("/etc/fonts"):
        readonly.append("/etc/fonts")
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.isfile(f):
            readonly.append(os.path.realpath(f) if f == "/etc/ld.so.cache" else f)
    files = {
        "/etc/passwd": f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{INNER_UID}:{INNER_UID}::{WORKDIR}:/bin/sh\n",
        "/etc/group": f"root:x:0:\nsandbox:x:{INNER_UID}:\n",
        "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "/etc/hostname": "sandbox\n",
    }
    return {
        # The mount point of the new root: any existing directory will do, since it is
        # only ever covered inside the worker's own mount namespace.
        "new_root": "/tmp",
        "readonly": readonly,
        "symlinks": symlinks,
        "files": files,
        "directory": str(directory),
        "workdir": WORKDIR,
        "tmp_bytes": limits.tmp_bytes,
    }


def _rlimits(limits: SandboxLimits) -> dict[str, int]:
    return {
        "RLIMIT_CPU": int(limits.cpu_seconds),
        "RLIMIT_AS": int(limits.memory_bytes),
        "RLIMIT_NPROC": int(limits.max_processes),
        "RLIMIT_FSIZE": int(limits.max_file_bytes),
        "RLIMIT_NOFILE": int(limits.max_open_files),
        "RLIMIT_CORE": 0,
    }


def _env(home: str, tmp: str | None) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "module://agentdown_sandbox_backend",
        # One thread per numeric library: threads count against RLIMIT_NPROC and each
        # reserves address space against RLIMIT_AS.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if tmp is not None:
        env["TMPDIR"] = tmp
    # Caches in the session's directory (hidden files are not reported as output): matplotlib
    # builds its font list once per session rather than on every interpreter start.
    env["MPLCONFIGDIR"] = home + "/.cache/matplotlib"
    env["XDG_CACHE_HOME"] = home + "/.cache"
    return env


def build_launch(directory: Path, limits: SandboxLimits) -> Launch:
    """The way this machine can start a worker for ``directory`` under ``limits``."""
    exe, python_dirs = _python()
    use_ns = limits.isolation == "namespaces"
    if use_ns and not namespaces_available():
        raise SandboxError(
            "the code interpreter needs Linux user namespaces, but this machine has no `unshare` "
            "or does not allow them (SandboxLimits(isolation='rlimits') runs code without them)"
        )
    root = server_is_root()
    setup: dict[str, Any] = {
        "rlimits": _rlimits(limits),
        "output_chars": limits.output_chars,
        "result_chars": limits.result_chars,
    }
    if use_ns:
        argv = ["unshare", *_UNSHARE, "--propagation", "private"]
        if not root:
            # Unprivileged: the only mapping allowed is our own uid, as root inside.
            argv.append("--map-root-user")
        # As root the worker executes itself again once mapped (see _worker.main): its first
        # stage needs no site-packages (-S: 7 ms less per start).
        argv += [exe, "-I", "-S", str(WORKER), "await-maps"] if root else [exe, "-I", str(WORKER)]
        env = _env(WORKDIR, "/tmp")
        setup |= {
            "plan": _plan(directory, limits, python_dirs),
            "uid": INNER_UID if root else None,
            "cwd": WORKDIR,
            "env": env,
        }
        return Launch(argv, env, setup, "namespaces", write_maps=root, user=None)
    if root:
        _check_reachable([exe, *python_dirs])
    env = _env(str(directory), None)
    setup |= {"plan": None, "uid": None, "cwd": str(directory), "env": env}
    return Launch(
        [exe, "-I", str(WORKER)], env, setup, "rlimits", write_maps=False, user=SANDBOX_UID if root else None
    )


def _check_reachable(paths: list[str]) -> None:
    """Without namespaces the code runs as :data:`SANDBOX_UID`, which must reach Python."""
    for path in paths:
        parts = Path(path).parts
        for i in range(1, len(parts)):
            parent = Path(*parts[:i])
            if not os.stat(parent).st_mode & 0o001:
                raise SandboxError(
                    f"the code interpreter cannot run without namespaces here: {parent} is not "
                    f"searchable by other users, so uid {SANDBOX_UID} cannot reach Python at {path}"
                )


def write_id_maps(pid: int) -> bytes:
    """Map inner 0 to the outer root (setup only) and inner 1000 to :data:`SANDBOX_UID`;
    returns the line that tells the worker so."""
    mapping = f"0 0 1\n{INNER_UID} {SANDBOX_UID} 1\n"
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as fh:
            fh.write(mapping)
    return b"mapped\n"
