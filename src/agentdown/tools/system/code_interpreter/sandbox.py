"""One session's sandbox: a working directory and the worker process that runs code in it.

The worker is started on the first call and kept: a later call costs a JSON line each
way. Whenever a limit stops it (wall time, CPU time, a crash) it is killed with every
process it started (they share its pid namespace, or its process group without
namespaces) and the next call starts a fresh one in the same directory.

Nothing the worker sends is trusted: replies are size-capped and type-checked, and the
files it leaves are read by the server with ``O_NOFOLLOW`` (a symlink to a host file
is never followed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentdown.messages import Content
from agentdown.tools.system.code_interpreter import launch
from agentdown.tools.system.code_interpreter.files import MAX_ENTRIES, delete_file, read_file, scan
from agentdown.tools.system.code_interpreter.launch import (
    SANDBOX_UID,
    Launch,
    SandboxError,
    build_launch,
    write_id_maps,
)
from agentdown.tools.system.code_interpreter.limits import Isolation, SandboxLimits

__all__ = ["IMAGE_TYPES", "Execution", "Sandbox", "SandboxError"]

logger = logging.getLogger("agentdown.tools.code_interpreter")

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


@dataclass(slots=True)
class Execution:
    """What one run of code produced."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    """``repr`` of the cell's last expression, as a notebook shows it."""
    error: str | None = None
    """Why the code failed or was stopped, for the model to read; ``None`` on success."""
    files_created: list[Path] = field(default_factory=list)
    """Files new or changed in the directory during the call (absolute host paths)."""
    images: list[Content] = field(default_factory=list)
    """Image files among them, as ``data`` contents (``additional_properties["file"]`` names it)."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    restarted: bool = False
    """The interpreter was stopped by this call: variables and imports are gone, files stay."""
    duration: float = 0.0
    directory: Path | None = None
    """The sandbox's directory (``files_created`` are in it)."""

    def to_dict(self) -> dict[str, Any]:
        """What the model reads (the other runtime's ``result``/``stdout``/``stderr``, and more)."""
        out: dict[str, Any] = {"result": self.result, "stdout": self.stdout, "stderr": self.stderr}
        if self.stdout_truncated:
            out["stdout_truncated"] = True
        if self.stderr_truncated:
            out["stderr_truncated"] = True
        if self.error is not None:
            out["error"] = self.error
        if self.files_created:
            root = self.directory
            out["files"] = [str(p.relative_to(root)) if root else p.name for p in self.files_created]
        return out


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


class Sandbox:
    """A working directory and, while it lives, the interpreter process for one session."""

    def __init__(self, directory: Path, limits: SandboxLimits | None = None) -> None:
        self.directory = directory
        self.limits = limits or SandboxLimits()
        self.last_used = time.monotonic()
        self.isolation: Isolation | None = None
        """What the current (or last) worker got: ``namespaces`` or ``rlimits``."""
        self.seccomp = False
        """Whether the current (or last) worker runs under the seccomp filter."""
        self.starts = 0
        """How many workers were started (statistics, tests)."""
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._snapshot: dict[str, tuple[int, int]] | None = None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def _prepare_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if launch.server_is_root():
            os.chown(self.directory, SANDBOX_UID, SANDBOX_UID)

    def put_file(self, name: str, data: bytes) -> Path:
        """Write ``name`` (one plain file name) into the directory; the code sees it in its cwd."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ValueError(f"invalid sandbox file name {name!r}: one plain file name expected")
        self._prepare_directory()
        path = self.directory / name
        # O_NOFOLLOW: the code may have left a symlink of that name pointing at a host file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError(f"sandbox file {name!r} exists and is not a regular file")
            with os.fdopen(os.dup(fd), "wb") as fh:
                fh.write(data)
            if launch.server_is_root():
                os.fchown(fd, SANDBOX_UID, SANDBOX_UID)
        finally:
            os.close(fd)
        if self._snapshot is not None:
            st = path.lstat()
            self._snapshot[name] = (st.st_size, st.st_mtime_ns)
        return path

    async def _start(self) -> None:
        self._prepare_directory()
        launch: Launch = build_launch(self.directory, self.limits)
        proc = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=launch.env,
            cwd=str(self.directory) if launch.user is not None else "/",
            user=launch.user,
            group=launch.user,
            extra_groups=[] if launch.user is not None else None,
            start_new_session=True,
            limit=self._reply_limit(),
        )
        self._proc = proc
        self.starts += 1
        self.isolation = launch.isolation
        try:
            await asyncio.wait_for(self._handshake(proc, launch), self.limits.startup_seconds)
        except Exception as exc:
            detail = await self._stderr_tail(proc)
            await self._kill()
            raise SandboxError(
                f"the sandbox did not start ({type(exc).__name__}: {exc}) {detail}".strip()
            ) from exc
        except BaseException:
            await self._kill()
            raise

    async def _handshake(self, proc: asyncio.subprocess.Process, launch: Launch) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        hello = await proc.stdout.readline()
        if not hello:
            raise SandboxError("the worker exited before it said hello")
        if launch.write_maps:
            proc.stdin.write(write_id_maps(proc.pid))
        proc.stdin.write(json.dumps(launch.setup).encode() + b"\n")
        await proc.stdin.drain()
        ready = json.loads(await proc.stdout.readline() or b"null")
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            raise SandboxError("the worker failed its setup")
        self.seccomp = ready.get("seccomp") is True

    async def _stderr_tail(self, proc: asyncio.subprocess.Process) -> str:
        if proc.stderr is None:
            return ""
        with contextlib.suppress(Exception):
            if proc.returncode is None:
                proc.kill()
            data = await asyncio.wait_for(proc.stderr.read(8192), 2)
            text = data.decode("utf-8", "replace").strip()
            return text.splitlines()[-1] if text else ""
        return ""

    def _reply_limit(self) -> int:
        # JSON may spell one character as six (\uXXXX); a reply past this is not the worker's.
        lim = self.limits
        return 8 * (2 * lim.output_chars + lim.result_chars) + 65536

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                # The whole process group: without namespaces the code's children live there.
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        for stream in (proc.stdin,):
            if stream is not None:
                stream.close()

    async def close(self) -> None:
        """Stop the interpreter (its files stay)."""
        await self._kill()

    async def run(self, code: str) -> Execution:
        """Run ``code`` in the session's interpreter, starting one if there is none."""
        async with self._lock:
            self.last_used = time.monotonic()
            started = time.perf_counter()
            try:
                execution = await self._run(code)
            finally:
                self.last_used = time.monotonic()
            execution.duration = time.perf_counter() - started
            return execution

    async def _run(self, code: str) -> Execution:
        if not self.alive:
            await self._kill()
            await self._start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        if self._snapshot is None:
            self._snapshot = (await asyncio.to_thread(scan, self.directory))[0]
        try:
            proc.stdin.write(json.dumps({"code": code}).encode() + b"\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), self.limits.wall_seconds)
        except TimeoutError:
            await self._kill()
            execution = Execution(
                error=f"TimeoutError: the code ran longer than the wall-time limit of {self.limits.wall_seconds:g} s "
                "and was stopped.",
                restarted=True,
            )
        except (ValueError, ConnectionError) as exc:  # a reply over the limit, or the pipe broke
            await self._kill()
            execution = Execution(
                error=f"the sandbox's reply was refused ({type(exc).__name__}); it was stopped.",
                restarted=True,
            )
        else:
            execution = await self._parse(line, proc)
        if execution.restarted:
            execution.error = (execution.error or "") + (
                " The interpreter was restarted: variables and imports are lost; files in the working "
                "directory are kept."
            )
        await self._collect(execution)
        return execution

    async def _parse(self, line: bytes, proc: asyncio.subprocess.Process) -> Execution:
        if line == b"\n":  # the supervisor's notice follows: the interpreter died mid-reply
            with contextlib.suppress(Exception):
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 5)
        died = _death_notice(line)
        if not line or died is not None:  # the interpreter is gone: say why, from how it ended
            await self._kill()
            return Execution(error=self._death(died or {}), restarted=True)
        try:
            reply = json.loads(line)
            if not isinstance(reply, dict):
                raise TypeError("not an object")
            execution = Execution(
                stdout=_text(reply.get("stdout")),
                stderr=_text(reply.get("stderr")),
                result=reply["result"] if isinstance(reply.get("result"), str) else None,
                stdout_truncated=reply.get("stdout_truncated") is True,
                stderr_truncated=reply.get("stderr_truncated") is True,
            )
            error = reply.get("error")
            if isinstance(error, dict):
                kind, message = _text(error.get("type"))[:100], _text(error.get("message"))[:2000]
                execution.error = f"{kind}: {message}" if message else kind
                if kind == "MemoryError":
                    execution.error += (
                        f" (the sandbox's memory limit is {self.limits.memory_bytes // 2**20} MiB)"
                    )
        except (ValueError, TypeError, KeyError) as exc:
            await self._kill()
            return Execution(
                error=f"the sandbox sent an invalid reply ({exc}); it was stopped.", restarted=True
            )
        cap = self.limits.output_chars
        if len(execution.stdout) > cap or len(execution.stderr) > cap:
            execution.stdout_truncated |= len(execution.stdout) > cap
            execution.stderr_truncated |= len(execution.stderr) > cap
            execution.stdout, execution.stderr = execution.stdout[:cap], execution.stderr[:cap]
        return execution

    def _death(self, died: dict[str, int]) -> str:
        lim = self.limits
        if "signal" in died:
            name = _signal_name(died["signal"])
            if name == "SIGXCPU":
                return f"the code used more than the CPU-time limit of {lim.cpu_seconds} s and was stopped."
            if name == "SIGXFSZ":
                return f"the code wrote a file past the file-size limit of {lim.max_file_bytes // 2**20} MiB and was stopped."
            return (
                f"the interpreter was killed ({name}); the memory limit is {lim.memory_bytes // 2**20} MiB "
                f"and the process limit is {lim.max_processes}."
            )
        if "exit" in died:
            return f"the interpreter exited (status {died['exit']}), for example by sys.exit() in a thread or os._exit()."
        return "the interpreter ended unexpectedly."

    async def _collect(self, execution: Execution) -> None:
        before = self._snapshot or {}
        after, cut = await asyncio.to_thread(scan, self.directory)
        changed = sorted(name for name, sig in after.items() if before.get(name) != sig)
        total = sum(size for size, _ in after.values())
        limit = self.limits.max_directory_bytes
        if total > limit:
            # Over the cap: this call's files go (the server deletes them, never through a symlink).
            for name in changed:
                await asyncio.to_thread(delete_file, self.directory, name)
                after.pop(name, None)
            note = (
                f"The working directory would hold {total // 2**20} MiB, over its limit of "
                f"{limit // 2**20} MiB: the files this call wrote were deleted."
            )
            execution.error = f"{execution.error} {note}" if execution.error else note
            changed = []
        elif cut:
            note = f"The working directory has more than {MAX_ENTRIES} entries: only some were looked at."
            execution.error = f"{execution.error} {note}" if execution.error else note
        self._snapshot = after
        execution.directory = self.directory
        execution.files_created = [self.directory / name for name in changed]
        for name in changed:
            media_type = IMAGE_TYPES.get(os.path.splitext(name)[1].lower())
            if media_type is None or len(execution.images) >= self.limits.max_images:
                continue
            data = await asyncio.to_thread(read_file, self.directory, name, self.limits.max_image_bytes)
            if data is not None:
                image = Content.from_data(data, media_type)
                image.additional_properties["file"] = name
                execution.images.append(image)


def _death_notice(line: bytes) -> dict[str, int] | None:
    """The supervisor's ``{"died": {...}}`` (integers only), or ``None`` for anything else."""
    if not line.startswith(b'{"died"'):
        return None
    try:
        died = json.loads(line).get("died")
    except (ValueError, AttributeError):
        return None
    if not isinstance(died, dict):
        return None
    return {k: v for k, v in died.items() if k in ("signal", "exit") and type(v) is int}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
