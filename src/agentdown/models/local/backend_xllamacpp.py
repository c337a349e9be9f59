"""The ``xllamacpp`` backend: llama.cpp's own server, in-process (extra ``agentdown[local]``).

xllamacpp is a Cython binding of llama.cpp's server with a prebuilt manylinux2014
CPU wheel, so it installs in seconds where llama-cpp-python compiles for minutes. Its
API is the server's: ``Server.handle_completions`` takes an OpenAI-style completion
request (a dict) and answers it, or calls back once per streamed chunk (returning
``True`` from the callback cancels the generation). What the server has no Python
call for, it has an HTTP route for: the server always listens, on 127.0.0.1 and a
free port; we give it a random API key, so only this process can use it, and use it
for tokenizing (``/tokenize``), chat templates (``/apply-template``) and the
context size (``/props``).

Where the two backends differ, this one is made to behave like the other:

- stop strings are applied here, across all the text (the server would not see a
  stop that starts in the first token, which is generated separately, below);
- the first token may not end the reply nor be a control token: it is generated on
  its own (one token, ``ignore_eos`` and a ``-inf`` bias on the control tokens that
  the GGUF's token types name), then the rest continues from the prompt and that
  token, the prompt's evaluation reused from the server's cache. A JSON schema needs
  neither: its grammar allows no end before a whole value.
"""

from __future__ import annotations

import http.client
import importlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from agentdown.exceptions import ConfigurationError, ModelError
from agentdown.models.local.engine import EngineSettings, Generation, GenerationRequest
from agentdown.models.local.gguf import GGUFError, read_int_array

__all__ = ["XllamacppBackend", "load"]

_CONTROL = 3
"""``LLAMA_TOKEN_TYPE_CONTROL`` in ``tokenizer.ggml.token_type``."""
_MAX_HEAD = 4
"""The most tokens asked for as the first, for the first character to be whole."""


def load(settings: EngineSettings) -> XllamacppBackend:
    try:
        # By name: xllamacpp ships no type information; this module is its typed boundary.
        xllamacpp: Any = importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise ConfigurationError(
            "the xllamacpp backend needs xllamacpp: pip install 'agentdown[local]'"
        ) from exc
    params = xllamacpp.CommonParams()
    params.model.path = str(settings.path)
    params.n_ctx = settings.n_ctx
    params.n_parallel = 1  # one slot: requests are served one at a time anyway (engine.py)
    params.cpuparams.n_threads = settings.threads
    params.cpuparams_batch.n_threads = settings.threads
    params.fit_params = False  # keep the context size asked for (it would shrink it to fit memory)
    params.cache_ram_mib = 0  # no host-memory copies of old prompts' KV cache (8 GB by default)
    params.warmup = False  # an empty decode at load: a second for nothing
    params.verbosity = -1  # quiet, like llama-cpp-python with verbose=False; errors come back in answers
    params.ui = False
    params.n_threads_http = 2  # we are its only client (one keep-alive connection), plus a spare
    key = secrets.token_urlsafe(24)
    params.api_keys = [key]  # the listening port is then of no use to other local processes
    try:
        server = xllamacpp.Server(params)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"llama.cpp could not load {settings.path}: {exc}") from exc
    try:
        control = [
            i
            for i, kind in enumerate(read_int_array(settings.path, "tokenizer.ggml.token_type") or ())
            if kind == _CONTROL
        ]
    except (OSError, GGUFError):
        control = []
    return XllamacppBackend(server, key, control)


class XllamacppBackend:
    def __init__(self, server: Any, key: str, control: list[int]) -> None:
        self._server = server
        address = urlsplit(str(server.listening_address))
        self._host, self._port = address.hostname or "127.0.0.1", address.port or 80
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._http: http.client.HTTPConnection | None = None
        self._ban = [[token, False] for token in control]
        """Control tokens (``<|im_start|>``...), ruled out for the first token; end-of-generation
        tokens are ruled out by ``ignore_eos``, which covers the server's own, complete list."""
        props = self._call("GET", "/props")
        self.n_ctx = int(props["default_generation_settings"]["n_ctx"])
        self._bos = str(props.get("bos_token") or "")
        self._tokenized: tuple[str, list[int]] = ("", [])
        """The last prompt tokenized: the prompt that fits is tokenized to count it, then generated."""

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._server = None  # the binding's destructor stops the server's threads

    # -- the HTTP routes -----------------------------------------------------------------

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = json.dumps(body) if body is not None else None
        for attempt in (1, 2):
            if self._http is None:
                self._http = http.client.HTTPConnection(self._host, self._port, timeout=600)
            try:
                self._http.request(method, path, data, self._headers)
                response = self._http.getresponse()
                status, raw = response.status, response.read()
                break
            except (http.client.HTTPException, OSError):
                # The server closes idle keep-alive connections: once, connect again.
                self._http.close()
                self._http = None
                if attempt == 2:
                    raise
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw.decode("utf-8", errors="replace")
        if status != 200 or not isinstance(answer, dict):
            raise ModelError(f"llama.cpp server {path}: {_error_message(answer)}")
        return answer

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        if special and self._tokenized[0] == text:
            return self._tokenized[1]
        tokens = [
            int(t)
            for t in self._call("POST", "/tokenize", {"content": text, "add_special": special})["tokens"]
        ]
        if special:
            self._tokenized = (text, tokens)
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=True))

    def render_template(self, messages: list[dict[str, str]]) -> str:
        prompt = str(self._call("POST", "/apply-template", {"messages": messages})["prompt"])
        # llama.cpp adds BOS itself when the model wants one; the template's is a duplicate.
        return prompt[len(self._bos) :] if self._bos and prompt.startswith(self._bos) else prompt

    # -- generation ----------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None,
    ) -> Generation:
        started = time.perf_counter()
        prompt = self.tokenize(request.prompt, special=True)
        budget = request.max_tokens if request.max_tokens > 0 else self.n_ctx - len(prompt)
        run = _Run(_Stops(request.stop), on_text, cancelled, enough)
        sampling: dict[str, Any] = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            # The server's defaults (top_k 40, min_p 0.05) would override top_p=1; top_k 1 is greedy.
            "top_k": 0 if request.temperature > 0 else 1,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "cache_prompt": True,
        }
        if request.seed is not None:
            sampling["seed"] = request.seed
        head: list[int] = []
        if request.json_schema is not None:
            schema = json.loads(request.json_schema) if request.json_schema.strip() not in ("", "{}") else {}
            sampling["json_schema"] = _as_gbnf_would(schema or {"type": "object"})
        else:
            head = self._head(prompt, sampling, budget, run)
            if len(head) >= budget or run.stopped():
                return run.result(len(prompt), self._count, started)
        body = {**sampling, "prompt": prompt + head, "max_tokens": budget - len(head), "stream": True}
        self._server.handle_completions(body, run.on_chunk)
        if run.error is not None:
            raise run.error
        return run.result(len(prompt), self._count, started)

    def _head(self, prompt: list[int], sampling: dict[str, Any], budget: int, run: _Run) -> list[int]:
        """The first token, with ending and control tokens ruled out, and its id.

        The id lets the rest continue from exactly this token. A token that is only part
        of a character comes back as U+FFFD and without log-probabilities (the server
        waits for the whole character), so then two tokens are asked for, three...; their
        ids are not given apart, and the character's text is tokenized instead.
        """
        limit = max(1, min(budget, _MAX_HEAD))
        for count in range(1, limit + 1):
            body = {**sampling, "prompt": prompt, "max_tokens": count, "logprobs": 1}
            body.update(ignore_eos=True, logit_bias=self._ban)  # within a character: harmless
            answer = self._server.handle_completions(body)
            if "error" in answer or "choices" not in answer:
                raise ModelError(f"llama.cpp server: {_error_message(answer)}")
            choice = answer["choices"][0]
            tokens = (choice.get("logprobs") or {}).get("content") or []
            if tokens or count == limit:
                break
        text = str(choice.get("text") or "")
        run.first = time.perf_counter()
        run.feed(text)
        if len(tokens) == count:
            return [int(token["id"]) for token in tokens]
        return self.tokenize(text, special=False)

    def _count(self, text: str) -> int:
        return len(self.tokenize(text, special=False))


class _Run:
    """One generation's state, fed by the head and then by the stream's callback."""

    def __init__(
        self,
        stops: _Stops,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None,
    ) -> None:
        self.stops, self.on_text, self.cancelled, self.enough = stops, on_text, cancelled, enough
        self.pieces: list[str] = []
        self.finish = ""
        self.first: float | None = None
        self.error: BaseException | None = None
        self.interrupted = False
        """Stopped by the caller (``cancelled`` / ``enough``): what is held back stays unsaid."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def feed(self, text: str) -> None:
        if safe := self.stops.feed(text):
            self.pieces.append(safe)
            self.on_text(safe)
        if self.stops.hit:
            self.finish = "stop"

    def stopped(self) -> bool:
        """Whether to stop now: a stop string was found, or the caller stopped listening."""
        if self.stops.hit:
            return True
        if self.cancelled.is_set() or (self.enough is not None and self.enough.is_set()):
            self.finish = "cancelled" if self.cancelled.is_set() else "stop"
            self.interrupted = True
            return True
        return False

    def on_chunk(self, chunk: Any) -> bool:
        """The stream's callback; ``True`` cancels the generation. Never raises: the binding
        would swallow the exception and stop, so it is kept and raised after the call."""
        try:
            if "error" in chunk or "choices" not in chunk:
                self.error = ModelError(f"llama.cpp server: {_error_message(chunk)}")
                return True
            if self.first is None:
                self.first = time.perf_counter()
            choice = chunk["choices"][0]
            if text := choice.get("text"):
                self.feed(str(text))
            if reason := choice.get("finish_reason"):
                self.finish = self.finish or str(reason)
            return self.stopped()
        except BaseException as exc:
            self.error = exc
            return True

    def result(self, prompt_tokens: int, count: Callable[[str], int], started: float) -> Generation:
        if not self.stops.hit and not self.interrupted and (rest := self.stops.flush()):
            # The reply ended on what might have begun a stop string: it did not.
            self.pieces.append(rest)
            self.on_text(rest)
        ended = time.perf_counter()
        first = self.first or ended
        text = self.text
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=count(text) if text else 0,
            finish_reason=self.finish or "length",
            prompt_seconds=first - started,
            generation_seconds=ended - first,
        )


class _Stops:
    """Cuts the text before the first stop string, holding back what may begin one."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if self.hit:
            return ""
        text = self._held + text
        found = [i for s in self._stops if (i := text.find(s)) >= 0]
        if found:
            self.hit, self._held = True, ""
            return text[: min(found)]
        keep = max((k for s in self._stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _as_gbnf_would(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as llama.cpp's GBNF converter (the other backend's) enforces it.

    This build converts schemas with LLGuidance, which follows JSON Schema to the letter:
    whitespace anywhere (a small model then writes ``{\n  "a"  \n:\n\n1}``) and extra
    properties unless ``additionalProperties`` says no (a small model then goes on adding
    keys until it runs out of tokens). The GBNF converter allows neither.
    """

    def closed(node: Any) -> Any:
        if isinstance(node, list):
            return [closed(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: closed(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    out: dict[str, Any] = closed(schema)
    out.setdefault("x-guidance", {"whitespace_flexible": False})
    return out


def _error_message(answer: Any) -> str:
    error = answer.get("error", answer) if isinstance(answer, dict) else answer
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)
