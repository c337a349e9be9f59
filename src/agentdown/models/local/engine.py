"""The one place that touches ``llama_cpp``: a loaded model and the thread it runs on.

A ``llama_cpp.Llama`` holds one KV cache and is not thread-safe, and loading one
costs seconds and its whole weight file in memory. So a process keeps one
:class:`Engine` per model file and settings, loads it lazily on first use, and
runs every call on the engine's single worker thread: requests from any task or
event loop queue up in arrival order and are served one at a time, the event loop
never blocks, and consecutive calls of one conversation reuse the evaluated
prompt prefix that llama.cpp keeps in its cache.
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
from pathlib import Path
from typing import Any

from agentdown.exceptions import ConfigurationError, ModelError

__all__ = ["Engine", "EngineSettings", "Generation", "GenerationRequest", "get_engine", "llama_cpp_available"]

DEFAULT_N_CTX = 8192
"""Enough for an agent with a handful of tools; a 32k window would cost ~1 GB of KV cache."""


def llama_cpp_available() -> bool:
    """Whether ``llama_cpp`` can be imported (checked without importing it)."""
    from importlib.util import find_spec

    return find_spec("llama_cpp") is not None


def _import_llama_cpp() -> Any:
    try:
        # Imported by name: the optional extra has no complete type information.
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ConfigurationError(
            "the 'local' model provider needs llama-cpp-python: pip install 'agentdown[local]' "
            "(see docs/local-model.md for the portable build flags)"
        ) from exc


@dataclass(frozen=True, slots=True)
class EngineSettings:
    path: Path
    n_ctx: int = DEFAULT_N_CTX
    """The caller caps it at the trained length: a longer window makes a model babble."""
    n_threads: int | None = None
    """``None``: half the CPUs, llama.cpp's default. More is slower as soon as anything
    else runs: llama.cpp's threads wait for each other by spinning, and one preempted
    thread stalls them all (measured: 2 threads on 2 busy cores ran 3x slower than 1)."""


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


class Engine:
    """A lazily loaded ``Llama`` and the single thread that uses it."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentdown-llama")
        self._llama: Any = None
        self.load_seconds: float | None = None
        self.n_ctx = settings.n_ctx
        self._enders: list[int] = []
        """End-of-generation and control tokens, which may not open a reply."""

    def load(self) -> Any:
        """The ``Llama`` object, loading it first if needed. Call on the worker thread only."""
        if self._llama is not None:
            return self._llama
        llama_cpp = _import_llama_cpp()
        started = time.perf_counter()
        threads = self.settings.n_threads or max(1, (os.cpu_count() or 2) // 2)
        try:
            llama = llama_cpp.Llama(
                model_path=str(self.settings.path),
                n_ctx=self.settings.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {self.settings.path}: {exc}") from exc
        vocab = llama._model.vocab  # the token-kind lookups are only on the low-level API
        self._enders = [
            token
            for token in range(int(llama.n_vocab()))
            if llama_cpp.llama_vocab_is_eog(vocab, token) or llama_cpp.llama_vocab_is_control(vocab, token)
        ]
        self.n_ctx = int(llama.n_ctx())
        self.load_seconds = time.perf_counter() - started
        self._llama = llama
        return llama

    def close(self) -> None:
        """Free the model (at exit: llama-cpp-python's own finaliser fails once modules are gone)."""
        self.executor.shutdown(wait=True)
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def count_tokens(self, text: str) -> int:
        """Tokens of a prompt as the model sees it. Call on the worker thread only."""
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def special_tokens(self) -> tuple[str, str]:
        """The BOS and EOS token texts. Call on the worker thread only."""
        llama = self.load()
        bos, eos = int(llama.token_bos()), int(llama.token_eos())
        model = llama._model  # the token-text lookup is only on the low-level model
        return (
            str(model.token_get_text(bos)) if bos >= 0 else "",
            str(model.token_get_text(eos)) if eos >= 0 else "",
        )

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
        llama = self.load()
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        finish = "stop"
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "stop": request.stop,
            "temperature": request.temperature,
            "top_p": request.top_p,
            # llama-cpp-python's own defaults (min_p 0.05, top_k 40) would override top_p=1.
            "min_p": 0.0,
            "top_k": 0 if request.temperature > 0 else 1,
            "repeat_penalty": 1.0,
            "stream": True,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if self._enders:
            kwargs["logits_processor"] = importlib.import_module("llama_cpp").LogitsProcessorList(
                [_NoEmptyStart(self._enders)]
            )
        if request.json_schema is not None:
            kwargs["grammar"] = _grammar(request.json_schema)
        prompt_tokens = self.count_tokens(request.prompt)
        stream = llama.create_completion(request.prompt, **kwargs)
        try:
            for chunk in stream:
                if first is None:
                    first = time.perf_counter()
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                if text:
                    pieces.append(text)
                    on_text(text)
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                if enough is not None and enough.is_set():
                    finish = "stop"
                    break
        finally:
            stream.close()  # runs llama-cpp-python's clean-up when we stop early
        ended = time.perf_counter()
        text = "".join(pieces)
        completion = len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
            finish_reason=finish,
            prompt_seconds=(first or ended) - started,
            generation_seconds=ended - (first or ended),
        )


class _NoEmptyStart:
    """Forbids ending (or a control token) as the first token of a reply.

    After a few tool results, small models often end their turn at once: measured on
    Qwen2.5-Coder-1.5B after three calls, ``<|im_end|>`` had 64% of the first token.
    An empty reply is never an answer; with ending ruled out first, the same model
    summed up the results.
    """

    def __init__(self, banned: list[int]) -> None:
        self._banned = banned
        self._first = True

    def __call__(self, _input_ids: Any, scores: Any) -> Any:
        if self._first:
            self._first = False
            scores[self._banned] = float("-inf")
        return scores


def _grammar(schema: str) -> Any:
    grammar_module = importlib.import_module("llama_cpp.llama_grammar")
    if schema.strip() in ("", "{}"):
        return grammar_module.LlamaGrammar.from_string(grammar_module.JSON_GBNF, verbose=False)
    return grammar_module.LlamaGrammar.from_json_schema(schema, verbose=False)


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
    key = EngineSettings(settings.path.resolve(), settings.n_ctx, settings.n_threads)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(key)
        return engine
