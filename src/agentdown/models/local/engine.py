"""A loaded model and the thread it runs on, over one of two llama.cpp bindings.

Loading a model costs seconds and its whole weight file in memory, and neither
binding's model object may be used from two threads at once. So a process keeps one
:class:`Engine` per model file and settings, loads it lazily on first use, and runs
every call on the engine's single worker thread: requests from any task or event
loop queue up in arrival order and are served one at a time, the event loop never
blocks, and consecutive calls of one conversation reuse the evaluated prompt prefix
that llama.cpp keeps in its cache.

The binding itself is a *backend* (:class:`Backend`): ``xllamacpp`` (a prebuilt
wheel of llama.cpp's server, :mod:`.backend_xllamacpp`) when it is importable, else
``llama-cpp-python`` (compiled at install, :mod:`.backend_llama_cpp`);
``AGENTDOWN_LOCAL_BACKEND`` forces one. The backend modules are the only ones that
import a binding.
"""

from __future__ import annotations

import atexit
import importlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

from agentdown.exceptions import ConfigurationError

__all__ = [
    "BACKENDS",
    "Backend",
    "Engine",
    "EngineSettings",
    "Generation",
    "GenerationRequest",
    "available_backends",
    "get_engine",
    "llama_cpp_available",
    "resolve_backend",
]

DEFAULT_N_CTX = 8192
"""Enough for an agent with a handful of tools; a 32k window would cost ~1 GB of KV cache."""

BACKENDS = {"xllamacpp": "xllamacpp", "llama-cpp-python": "llama_cpp"}
"""Backend name -> the module it imports, in order of preference: xllamacpp installs in
seconds (a prebuilt wheel); llama-cpp-python compiles llama.cpp at install."""
_MODULES = {"xllamacpp": "backend_xllamacpp", "llama-cpp-python": "backend_llama_cpp"}
_ALIASES = {
    "llama_cpp": "llama-cpp-python",
    "llama-cpp": "llama-cpp-python",
    "llama_cpp_python": "llama-cpp-python",
}
_INSTALL = {
    "xllamacpp": "pip install 'agentdown[local]'",
    "llama-cpp-python": "pip install 'agentdown[local-llama-cpp]' (compiles llama.cpp: see docs/local-model.md)",
}


def available_backends() -> list[str]:
    """The backends whose binding can be imported (checked without importing it)."""
    return [name for name, module in BACKENDS.items() if find_spec(module) is not None]


def llama_cpp_available() -> bool:
    """Whether a llama.cpp binding (either backend) can be imported."""
    return bool(available_backends())


def resolve_backend(choice: str | None) -> str:
    """The backend to use: ``choice`` (``AGENTDOWN_LOCAL_BACKEND``) if given, else the best installed.

    A chosen backend that is not installed is an error now, not at the first request;
    with nothing installed the preferred one is named, and loading it says how to install it.
    """
    available = available_backends()
    if not choice:
        return available[0] if available else next(iter(BACKENDS))
    name = _ALIASES.get(choice.strip().lower(), choice.strip().lower())
    if name not in BACKENDS:
        raise ConfigurationError(
            f"AGENTDOWN_LOCAL_BACKEND={choice!r} is not a local model backend: use one of {', '.join(BACKENDS)}"
        )
    if name not in available:
        raise ConfigurationError(
            f"AGENTDOWN_LOCAL_BACKEND={choice} but {name} is not installed: {_INSTALL[name]}"
        )
    return name


@dataclass(frozen=True, slots=True)
class EngineSettings:
    path: Path
    n_ctx: int = DEFAULT_N_CTX
    """The caller caps it at the trained length: a longer window makes a model babble."""
    n_threads: int | None = None
    """``None``: half the CPUs, llama.cpp's default. More is slower as soon as anything
    else runs: llama.cpp's threads wait for each other by spinning, and one preempted
    thread stalls them all (measured: 2 threads on 2 busy cores ran 3x slower than 1)."""
    backend: str = "xllamacpp"
    """A name in :data:`BACKENDS` (see :func:`resolve_backend`)."""

    @property
    def threads(self) -> int:
        return self.n_threads or max(1, (os.cpu_count() or 2) // 2)


@dataclass(slots=True)
class GenerationRequest:
    prompt: str
    max_tokens: int
    stop: list[str]
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    json_schema: str | None = None
    """Constrain the output to this JSON schema (``"{}"``: any JSON object)."""


@dataclass(slots=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    prompt_seconds: float = 0.0
    """From the call to the first generated token: prompt evaluation."""
    generation_seconds: float = 0.0


class Backend(Protocol):
    """A loaded model in one binding. Every method runs on the engine's worker thread.

    Both backends behave alike: greedy unless ``temperature`` is given, the stop
    strings cut the text before them, the first token may not end the reply (or be a
    control token), ``cancelled`` ends a generation as ``cancelled`` and ``enough`` as
    ``stop`` at the next token, and token counts are of the text as returned.
    """

    n_ctx: int

    def count_tokens(self, text: str) -> int:
        """Tokens of a prompt as the model sees it (BOS included, special tokens parsed)."""
        ...

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None,
    ) -> Generation: ...

    def render_template(self, messages: list[dict[str, str]]) -> str:
        """``messages`` through the model's own chat template, ready for the assistant's
        reply, without a leading BOS (tokenizing adds it). Raises if the template refuses them."""
        ...

    def close(self) -> None: ...


def _load_backend(settings: EngineSettings) -> Backend:
    if settings.backend not in BACKENDS:
        raise ConfigurationError(f"unknown local model backend {settings.backend!r}")
    if find_spec(BACKENDS[settings.backend]) is None:
        raise ConfigurationError(
            f"the 'local' model provider needs a llama.cpp binding ({settings.backend} is not installed): "
            f"{_INSTALL[settings.backend]}"
        )
    module = importlib.import_module(f"agentdown.models.local.{_MODULES[settings.backend]}")
    backend: Backend = module.load(settings)
    return backend


class Engine:
    """A lazily loaded backend and the single thread that uses it."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentdown-llama")
        self._backend: Backend | None = None
        self.load_seconds: float | None = None
        self.n_ctx = settings.n_ctx

    def load(self) -> Backend:
        """The loaded backend, loading it first if needed. Call on the worker thread only."""
        if self._backend is not None:
            return self._backend
        started = time.perf_counter()
        backend = _load_backend(self.settings)
        self.n_ctx = backend.n_ctx
        self.load_seconds = time.perf_counter() - started
        self._backend = backend
        return backend

    def close(self) -> None:
        """Free the model (at exit: llama-cpp-python's own finaliser fails once modules are gone)."""
        self.executor.shutdown(wait=True)
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def count_tokens(self, text: str) -> int:
        """Tokens of a prompt as the model sees it. Call on the worker thread only."""
        return self.load().count_tokens(text)

    def render_template(self, messages: list[dict[str, str]]) -> str:
        """The prompt the model's own chat template makes of ``messages``. Worker thread only."""
        return self.load().render_template(messages)

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None = None,
    ) -> Generation:
        """Generate on the worker thread, passing each piece of text to ``on_text``.

        ``cancelled`` ends it as ``cancelled`` (nobody listens any more), ``enough`` as
        ``stop`` (the caller has what it needs).
        """
        return self.load().generate(request, on_text, cancelled, enough)


_engines: dict[EngineSettings, Engine] = {}
_engines_lock = threading.Lock()


@atexit.register
def _close_engines() -> None:
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def get_engine(settings: EngineSettings) -> Engine:
    """The process-wide engine for ``settings`` (created on first request, never twice)."""
    key = EngineSettings(settings.path.resolve(), settings.n_ctx, settings.n_threads, settings.backend)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(key)
        return engine
