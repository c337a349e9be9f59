"""The ``llama-cpp-python`` backend: a ``llama_cpp.Llama`` (extra ``agentdown[local-llama-cpp]``).

PyPI has llama-cpp-python as source only, so installing it compiles llama.cpp
(minutes); the ``xllamacpp`` backend is the prebuilt alternative. This module is the
only one that imports ``llama_cpp``, by name: it ships no complete type information.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

from agentdown.exceptions import ConfigurationError, ModelError
from agentdown.models.local.engine import EngineSettings, Generation, GenerationRequest

__all__ = ["LlamaCppBackend", "load"]


def load(settings: EngineSettings) -> LlamaCppBackend:
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ConfigurationError(
            "the llama-cpp-python backend needs llama-cpp-python: pip install 'agentdown[local-llama-cpp]' "
            "(see docs/local-model.md for the portable build flags)"
        ) from exc
    try:
        llama = llama_cpp.Llama(
            model_path=str(settings.path),
            n_ctx=settings.n_ctx,
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"llama.cpp could not load {settings.path}: {exc}") from exc
    return LlamaCppBackend(llama_cpp, llama)


class LlamaCppBackend:
    def __init__(self, llama_cpp: Any, llama: Any) -> None:
        self._module = llama_cpp
        self._llama = llama
        self.n_ctx = int(llama.n_ctx())
        vocab = llama._model.vocab  # the token-kind lookups are only on the low-level API
        self._enders = [
            token
            for token in range(int(llama.n_vocab()))
            if llama_cpp.llama_vocab_is_eog(vocab, token) or llama_cpp.llama_vocab_is_control(vocab, token)
        ]
        """End-of-generation and control tokens, which may not open a reply."""
        self._formatter: Any = None
        self._bos = ""

    def close(self) -> None:
        # Explicitly: llama-cpp-python's own finaliser fails at exit once modules are gone.
        self._llama.close()

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def render_template(self, messages: list[dict[str, str]]) -> str:
        if self._formatter is None:
            chat_format = importlib.import_module("llama_cpp.llama_chat_format")
            llama, model = self._llama, self._llama._model  # token texts are only on the low-level model
            bos, eos = int(llama.token_bos()), int(llama.token_eos())
            self._bos = str(model.token_get_text(bos)) if bos >= 0 else ""
            self._formatter = chat_format.Jinja2ChatFormatter(
                template=llama.metadata.get("tokenizer.chat_template", ""),
                eos_token=str(model.token_get_text(eos)) if eos >= 0 else "",
                bos_token=self._bos,
            )
        prompt = str(self._formatter(messages=messages).prompt)
        # llama.cpp adds BOS itself when the model wants one; the template's is a duplicate.
        return prompt[len(self._bos) :] if self._bos and prompt.startswith(self._bos) else prompt

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None,
    ) -> Generation:
        llama = self._llama
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
            kwargs["logits_processor"] = self._module.LogitsProcessorList([_NoEmptyStart(self._enders)])
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
