"""``LocalChatModel``: a GGUF model run in-process by llama.cpp, as a :class:`ChatModel`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path

from agentdown.exceptions import ConfigurationError, ModelError
from agentdown.messages import Content, Message, Usage, new_id
from agentdown.models.base import (
    ChatOptions,
    ChatResponse,
    ModelStreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from agentdown.models.local.chat_format import (
    CHATML_STOPS,
    Turn,
    fit_turns,
    render_chatml,
    template_default_system,
    to_turns,
)
from agentdown.models.local.engine import (
    DEFAULT_N_CTX,
    Engine,
    EngineSettings,
    Generation,
    GenerationRequest,
    get_engine,
    resolve_backend,
)
from agentdown.models.local.gguf import GGUFError, read_metadata
from agentdown.models.local.toolproto import ParsedOutput
from agentdown.models.local.toolstream import StreamSplitter

__all__ = ["LocalChatModel", "LocalStats"]

logger = logging.getLogger("agentdown.models.local")

DEFAULT_MAX_OUTPUT_TOKENS = 1024
_DONE = object()


@dataclass(slots=True)
class _Attempt:
    """One generation's outcome, filled in as it runs."""

    splitter: StreamSplitter
    streamed: bool = False
    generation: Generation = field(
        default_factory=lambda: Generation(text="", prompt_tokens=0, completion_tokens=0, finish_reason="")
    )
    parsed: ParsedOutput = field(default_factory=lambda: ParsedOutput(text=""))
    rest: str = ""


@dataclass(slots=True)
class LocalStats:
    """Totals over the requests this model object served (for benchmarks and logs)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_seconds: float = 0.0
    generation_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        """Generation speed, prompt evaluation excluded."""
        return self.completion_tokens / self.generation_seconds if self.generation_seconds else 0.0


class LocalChatModel:
    """A chat model over a GGUF file, in this process.

    Objects are cheap: every one for the same file and settings shares one loaded
    model (loaded at the first request) whose requests are served one at a time, in
    order. Tools are offered through the prompt and parsed from the text (see
    :mod:`agentdown.models.local.toolproto`); sampling is greedy unless
    ``ChatOptions.temperature`` says otherwise, so answers are reproducible.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
        backend: str | None = None,
    ) -> None:
        self.path = Path(path)
        try:
            metadata = read_metadata(self.path)
        except (OSError, GGUFError) as exc:
            raise ConfigurationError(f"cannot use {self.path} as a local model: {exc}") from exc
        trained = metadata.get(f"{metadata.get('general.architecture', '')}.context_length")
        wanted = n_ctx or DEFAULT_N_CTX
        if isinstance(trained, int) and 0 < trained < wanted:
            wanted = trained
        template = metadata.get("tokenizer.chat_template")
        self._template = template if isinstance(template, str) else None
        # ChatML is formatted here (exactly, fast, no Jinja); other templates go through
        # the binding's Jinja renderer. No template at all: ChatML is the best guess.
        self.chat_format = "chatml" if self._template is None or "<|im_start|>" in self._template else "jinja"
        self._default_system = template_default_system(self._template)
        self._name = name or self.path.stem
        self.max_output_tokens = max_output_tokens
        # ``backend`` None: AGENTDOWN_LOCAL_BACKEND, else the best installed binding.
        chosen = resolve_backend(backend or os.environ.get("AGENTDOWN_LOCAL_BACKEND"))
        self._engine: Engine = get_engine(EngineSettings(self.path, wanted, n_threads, chosen))
        self._renderer: Callable[[Sequence[Turn]], str] | None = None
        self.stats = LocalStats()
        self.transcript: list[str] | None = None
        """Set to a list to collect every raw output, tool-call markup included (benchmarks)."""

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def backend(self) -> str:
        """The llama.cpp binding that runs the model (``xllamacpp`` or ``llama-cpp-python``)."""
        return self._engine.settings.backend

    @property
    def load_seconds(self) -> float | None:
        """How long loading took, once loaded."""
        return self._engine.load_seconds

    async def load(self) -> None:
        """Load the model now rather than at the first request (e.g. at server start)."""
        await asyncio.get_running_loop().run_in_executor(self._engine.executor, self._engine.load)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> ChatResponse:
        async for event in self.stream(messages, tools=tools, options=options):
            if isinstance(event, ChatResponse):
                return event
        raise ModelError("the local model ended without a response")  # unreachable by construction

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> AsyncIterator[ModelStreamEvent]:
        opts = options or ChatOptions()
        offered = list(tools) if opts.tool_choice != "none" else []
        names = {t.name for t in offered}
        attempt = _Attempt(StreamSplitter(names))
        # aclosing: a consumer that leaves early stops the generation now, not at GC time.
        turns = to_turns(messages, offered, tool_choice=opts.tool_choice)
        async with aclosing(self._attempt(turns, opts, attempt)) as pieces:
            async for text in pieces:
                yield TextDelta(text)
        parsed, rest = attempt.parsed, attempt.rest
        generations = [attempt.generation]
        invented = parsed.unknown or (
            parsed.calls and not parsed.text and all(c.name not in names for c in parsed.calls)
        )
        if invented and not attempt.streamed and opts.tool_choice != "required":
            # The model made up a tool for a message that needs none (small models answer
            # "hi" with {"name": "greet", ...}). Asked again without tools, it answers.
            made_up = [c.name for c in parsed.unknown or parsed.calls]
            logger.info("%s called tools that do not exist %s; asking without tools", self._name, made_up)
            attempt = _Attempt(StreamSplitter(()))
            turns = to_turns(messages, offered, tool_choice="none")
            async with aclosing(self._attempt(turns, opts, attempt)) as pieces:
                async for text in pieces:
                    yield TextDelta(text)
            parsed, rest = attempt.parsed, attempt.rest
            generations.append(attempt.generation)
        if rest:
            yield TextDelta(rest)
        calls = parsed.calls[:1] if opts.parallel_tool_calls is False else parsed.calls
        contents = [Content.from_text(parsed.text)] if parsed.text else []
        for index, call in enumerate(calls):
            content = Content.from_tool_call(call.name, call.arguments, raw_arguments=call.raw_arguments)
            contents.append(content)
            raw = json.dumps(call.arguments, ensure_ascii=False) if call.arguments is not None else None
            yield ToolCallDelta(index, content.call_id, call.name, raw or call.raw_arguments or "")
        prompt_tokens = sum(g.prompt_tokens for g in generations)
        completion_tokens = sum(g.completion_tokens for g in generations)
        yield ChatResponse(
            message=Message(role="assistant", contents=contents),
            usage=Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, requests=1),
            finish_reason="tool_calls" if calls else generations[-1].finish_reason,
            model=self._name,
            response_id=new_id("local"),
        )

    async def _attempt(
        self, turns: list[Turn], opts: ChatOptions, attempt: _Attempt
    ) -> AsyncGenerator[str, None]:
        """One generation: yields the text safe to stream, fills in ``attempt``."""
        splitter = attempt.splitter
        request = self._request(opts, with_tools=bool(splitter.tool_names))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()
        enough = threading.Event()

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        future = loop.run_in_executor(
            self._engine.executor, self._generate, turns, request, on_text, cancelled, enough
        )
        future.add_done_callback(lambda _: queue.put_nowait(_DONE))
        finished = False
        try:
            while (item := await queue.get()) is not _DONE:
                if safe := splitter.feed(str(item)):
                    attempt.streamed = True
                    yield safe
                if splitter.tool_names and not enough.is_set() and splitter.calls_done():
                    enough.set()
            attempt.generation = await future
            finished = True
        finally:
            if not finished:
                cancelled.set()  # the consumer left: free the model for the next request
        attempt.parsed, attempt.rest = splitter.finish(cut_after_calls=enough.is_set())
        self._count(attempt.generation)
        if self.transcript is not None:
            self.transcript.append(attempt.generation.text)

    def _request(self, opts: ChatOptions, with_tools: bool) -> GenerationRequest:
        stop = list(CHATML_STOPS) if self.chat_format == "chatml" else []
        if with_tools:
            # Small models go on to invent the tool's answer; the real one comes from the loop.
            stop.append("<tool_response>")
        stop += [s for s in opts.stop or [] if s]
        schema: str | None = None
        fmt = opts.response_format or {}
        if not with_tools and fmt.get("type") == "json_schema":
            schema = json.dumps((fmt.get("json_schema") or {}).get("schema") or {})
        elif not with_tools and fmt.get("type") == "json_object":
            schema = "{}"
        return GenerationRequest(
            prompt="",
            max_tokens=opts.max_output_tokens or 0,
            stop=stop,
            temperature=opts.temperature if opts.temperature is not None else 0.0,
            top_p=opts.top_p if opts.top_p is not None else 1.0,
            seed=opts.seed,
            json_schema=schema,
        )

    def _generate(
        self,
        turns: list[Turn],
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event,
    ) -> Generation:
        """Runs on the engine's thread: fit the prompt in the context, then generate."""
        if cancelled.is_set():
            return Generation(text="", prompt_tokens=0, completion_tokens=0, finish_reason="cancelled")
        engine = self._engine
        engine.load()
        n_ctx = engine.n_ctx
        # Room kept for the answer: what was asked for (at most half the window), else
        # the default (at most a quarter), so that long histories still leave room.
        wanted = request.max_tokens or self.max_output_tokens
        reserve = min(wanted, n_ctx // 2 if request.max_tokens else n_ctx // 4)
        kept, prompt, used = fit_turns(turns, self._render, engine.count_tokens, n_ctx - reserve)
        if len(kept) < len(turns):
            logger.warning(
                "%s: dropped %d of %d oldest turns to fit the %d-token context",
                self._name,
                len(turns) - len(kept),
                len(turns),
                n_ctx,
            )
        request.prompt = prompt
        request.max_tokens = min(wanted, n_ctx - used)
        return engine.generate(request, on_text, cancelled, enough)

    def _render(self, turns: Sequence[Turn]) -> str:
        if self.chat_format == "chatml":
            return render_chatml(turns, self._default_system)
        if self._renderer is None:
            self._renderer = self._jinja_renderer()
        return self._renderer(turns)

    def _jinja_renderer(self) -> Callable[[Sequence[Turn]], str]:
        engine = self._engine

        def render(turns: Sequence[Turn]) -> str:
            plain = [{"role": t.role, "content": t.content} for t in turns]
            try:
                return engine.render_template(plain)
            except Exception:
                # Some templates (Gemma's, Mistral's) refuse a system turn: fold it into
                # the first user turn, as their own documentation suggests.
                return engine.render_template(_fold_system(plain))

        return render

    def _count(self, generation: Generation) -> None:
        self.stats.requests += 1
        self.stats.prompt_tokens += generation.prompt_tokens
        self.stats.completion_tokens += generation.completion_tokens
        self.stats.prompt_seconds += generation.prompt_seconds
        self.stats.generation_seconds += generation.generation_seconds


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], messages[1:]
    if rest and rest[0]["role"] == "user":
        return [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]
