"""The sandbox's worker: a tiny notebook-like Python REPL speaking JSON lines over fd 0/1.

This file runs *inside* the sandbox as a standalone script (``python -I _worker.py``):
it imports nothing from agentdown, only the standard library. Everything it does
before the first request runs with the privileges it was started with (inside the
user namespace when there is one); user code only ever runs after ``_confine.py``
dropped them. The server trusts nothing this process sends back: it is the same
process as the user's code.

Protocol: the server sends one JSON object a line, the worker answers one a line:
``{"hello": true}`` from the worker, the setup from the server (the mount plan, uid,
rlimits, environment), then ``{"code": "..."}`` requests, each answered by a result. The worker writes ``{"ready": true, "seccomp": ...}`` once setup is done.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import os
import sys
import traceback
import types
from typing import Any

_control_fd = [1]
_state: dict[str, Any] = {}
_CONTROL_IN = 0
_CONTROL_OUT = 1


class _CappedWriter(io.TextIOBase):
    """sys.stdout / sys.stderr: writes through to the call's fd until the cap, then only counts."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._left = cap
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        part = s[: max(self._left, 0)]
        self._left -= len(part)
        self.dropped += len(s) - len(part)
        data = part.encode("utf-8", "replace")
        while data:
            data = data[os.write(self._fd, data) :]
        return len(s)

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False


class _Streams:
    """fd 1 and 2 point at fresh memfds for one call: Python's and subprocesses' output alike."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.fds = [os.memfd_create("stdout"), os.memfd_create("stderr")]
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.fds[0], 1)
        os.dup2(self.fds[1], 2)
        self.writers = [_CappedWriter(1, cap), _CappedWriter(2, cap)]
        sys.stdout, sys.stderr = self.writers

    def close(self) -> tuple[str, bool, str, bool]:
        out: list[Any] = []
        for i, fd in enumerate(self.fds):
            os.dup2(self.saved[i], 1 + i)
            os.close(self.saved[i])
            size = os.fstat(fd).st_size
            data = os.pread(fd, self.cap * 4, 0)
            os.close(fd)
            text = data.decode("utf-8", "replace")
            truncated = len(text) > self.cap or size > len(data) or self.writers[i].dropped > 0
            out += [text[: self.cap], truncated]
        return out[0], out[1], out[2], out[3]


_BACKEND = "agentdown_sandbox_backend"
_BACKEND_SOURCE = """
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas
from matplotlib.backend_bases import FigureManagerBase as FigureManager
"""


class _BackendFinder:
    """Imports the matplotlib backend ``MPLBACKEND`` names: Agg, whose ``show()`` saves the
    open figures into the working directory (a headless ``plt.show()`` would show nothing)."""

    def __init__(self, saved: list[str]) -> None:
        self.saved = saved

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _BACKEND:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, self)  # type: ignore[arg-type]

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        exec(_BACKEND_SOURCE, module.__dict__)
        saved = self.saved

        def show(*args: Any, **kwargs: Any) -> None:
            _save_figures(saved)

        module.show = show  # type: ignore[attr-defined]
        # Through importlib: the worker's types do not depend on matplotlib being installed.
        figure_class: Any = importlib.import_module("matplotlib.figure").Figure
        original = figure_class.savefig

        def savefig(figure: Any, *args: Any, **kwargs: Any) -> Any:
            # The code saved this figure itself: it is not saved a second time as figure_N.png.
            figure._agentdown_saved = True
            return original(figure, *args, **kwargs)

        figure_class.savefig = savefig


_figure_counter = [0]


def _save_figures(saved: list[str]) -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        if getattr(plt.figure(num), "_agentdown_saved", False):
            continue
        _figure_counter[0] += 1
        name = f"figure_{_figure_counter[0]}.png"
        plt.figure(num).savefig(name)
        saved.append(name)
    plt.close("all")


class _Repl:
    def __init__(self, cap: int, result_cap: int) -> None:
        self.cap = cap
        self.result_cap = result_cap
        # The cells' namespace is the real __main__ module, as in Jupyter: pickle (and so
        # multiprocessing) finds functions a cell defined by __main__.<name>.
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = main
        self.globals: dict[str, Any] = main.__dict__
        self.loop: Any = None
        self.saved: list[str] = []
        sys.meta_path.append(_BackendFinder(self.saved))

    def _await(self, value: Any) -> Any:
        if self.loop is None:
            import asyncio

            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(value)

    def _exec(self, code: str) -> Any:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = ast.parse(code, "<cell>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)  # type: ignore[attr-defined]
        value = eval(compile(tree, "<cell>", "exec", flags=flags), self.globals)
        if value is not None and hasattr(value, "__await__"):
            self._await(value)
        if last is None:
            return None
        value = eval(compile(last, "<cell>", "eval", flags=flags), self.globals)
        if value is not None and type(value).__name__ == "coroutine" and flags:
            value = self._await(value)
        return value

    def run(self, code: str) -> dict[str, Any]:
        self.saved.clear()
        streams = _Streams(self.cap)
        error = None
        result = None
        try:
            value = self._exec(code)
            if value is not None:
                text = repr(value)
                result = text if len(text) <= self.result_cap else text[: self.result_cap] + "…"
            _save_figures(self.saved)
        except BaseException as exc:  # the user's SystemExit and KeyboardInterrupt too
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
            # Our own frames are noise to the model: keep the cell's.
            kept = [line for line in lines if "_worker.py" not in line]
            error = {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": "".join(kept)}
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        stdout, out_cut, stderr, err_cut = streams.close()
        if error is not None:
            tb = error["traceback"][-self.cap :]
            stderr = (stderr + tb)[-self.cap :] if stderr else tb
        return {
            "result": result,
            "stdout": stdout,
            "stdout_truncated": out_cut,
            "stderr": stderr,
            "stderr_truncated": err_cut,
            "error": error,
            "figures": list(self.saved),
        }


def _load_confine() -> Any:
    """``_confine.py`` beside this file, loaded while it is still visible (not via sys.path,
    so the code's own imports never find it)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_confine.py")
    spec = importlib.util.spec_from_file_location("agentdown_sandbox_confine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    control_in = os.fdopen(os.dup(_CONTROL_IN), "rb", buffering=0)
    control_out = os.dup(_CONTROL_OUT)
    os.set_inheritable(control_in.fileno(), False)
    os.set_inheritable(control_out, False)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)

    _control_fd[0] = control_out

    def send(obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(control_out, data) :]

    if sys.argv[1:] == ["mapped"]:
        pass  # re-executed below: the server already heard our hello
    else:
        send({"hello": True})
        if sys.argv[1:] == ["await-maps"]:
            # The uid map was written after this process was executed, and execve
            # computed its capabilities while uid 0 meant nothing here: none. Executing
            # again as the now mapped uid 0 gives the namespace's full set for the setup.
            line = b""
            while not line.endswith(b"\n"):  # byte by byte: the setup line is not ours to read
                chunk = os.read(control_in.fileno(), 1)
                if not chunk:
                    return
                line += chunk
            os.dup2(control_in.fileno(), 0)
            os.dup2(control_out, 1)
            os.execv(sys.executable, [sys.executable, "-I", os.path.abspath(__file__), "mapped"])
    reader = io.BufferedReader(control_in)
    setup = json.loads(reader.readline())
    _state["seccomp"] = _load_confine().confine(setup)
    os.dup2(os.open("/dev/null", os.O_RDWR), 2)  # the server's stderr pipe is for setup errors only
    child = os.fork()
    if child == 0:
        _serve(reader, send, setup)
        os._exit(0)
    _supervise(child, reader, send)


def _serve(reader: io.BufferedReader[Any], send: Any, setup: dict[str, Any]) -> None:
    repl = _Repl(int(setup["output_chars"]), int(setup["result_chars"]))
    send({"ready": True, "seccomp": bool(_state.get("seccomp"))})
    while True:
        line = reader.readline()
        if not line:
            return
        request = json.loads(line)
        send(repl.run(request["code"]))


def _supervise(child: int, reader: io.BufferedReader[Any], send: Any) -> None:
    """The user's code never runs as this process (pid 1 of the namespace, which signals
    cannot kill from inside): it waits for the interpreter, reaps orphans, and tells the
    server how the interpreter ended, since the server only sees this process end."""
    reader.close()
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return
        if pid == child:
            break
    died: dict[str, int] = {}
    if os.WIFSIGNALED(status):
        died["signal"] = os.WTERMSIG(status)
    else:
        died["exit"] = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        # A leading newline ends whatever line the interpreter was writing when it died.
        os.write(_control_fd[0], b"\n" + json.dumps({"died": died}).encode() + b"\n")


if __name__ == "__main__":
    main()
