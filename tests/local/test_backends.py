"""The two llama.cpp bindings behind the engine: choosing one, and the same behaviour on both.

The pure parts (backend choice, stop strings, schemas, the GGUF token types) run
anywhere; the rest runs the real bindings on SmolLM2-135M, each installed backend in
turn, and skips (or, with ``AGENTDOWN_REQUIRE_LOCAL_MODEL=1``, fails) without them.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.models.base import ChatOptions
from agentdown.models.local import engine as engine_module
from agentdown.models.local.backend_xllamacpp import _as_gbnf_would, _Stops
from agentdown.models.local.catalog import find_catalog_model
from agentdown.models.local.engine import (
    Engine,
    EngineSettings,
    GenerationRequest,
    available_backends,
    resolve_backend,
)
from agentdown.models.local.gguf import read_int_array
from agentdown.models.local.llama import LocalChatModel
from agentdown.models.local.weights import find_installed, models_dir

MODELS_DIR = models_dir()  # read at import: the suite may point it at an empty folder per test


def test_the_backend_is_the_best_installed_unless_one_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "available_backends", lambda: ["llama-cpp-python"])
    assert resolve_backend(None) == resolve_backend("") == "llama-cpp-python"
    assert resolve_backend("llama_cpp") == resolve_backend(" LLAMA-CPP-PYTHON ") == "llama-cpp-python"
    with pytest.raises(
        ConfigurationError, match=r"xllamacpp is not installed: pip install 'agentdown\[local\]'"
    ):
        resolve_backend("xllamacpp")
    with pytest.raises(
        ConfigurationError, match="not a local model backend: use one of xllamacpp, llama-cpp-python"
    ):
        resolve_backend("ollama")
    monkeypatch.setattr(engine_module, "available_backends", lambda: ["xllamacpp", "llama-cpp-python"])
    assert resolve_backend(None) == "xllamacpp"  # the prebuilt one first
    monkeypatch.setattr(engine_module, "available_backends", list)
    assert resolve_backend(None) == "xllamacpp"  # nothing installed: loading says how to install it
    with pytest.raises(ConfigurationError, match=r"local-llama-cpp"):
        resolve_backend("llama-cpp-python")


def test_an_engine_without_its_binding_says_how_to_install_it(tmp_path: Path) -> None:
    missing = [name for name in engine_module.BACKENDS if name not in available_backends()]
    if not missing:
        pytest.skip("both bindings are installed")
    engine = Engine(EngineSettings(tmp_path / "m.gguf", backend=missing[0]))
    with pytest.raises(ConfigurationError, match="pip install 'agentdown"):
        engine.load()


def test_stop_strings_are_cut_across_pieces_and_partial_matches_held_back() -> None:
    stops = _Stops(["<tool_response>", "END"])
    assert stops.feed("Hello <tool") == "Hello "
    assert stops.feed("s> and E") == "<tools> and "
    assert stops.feed("ND of it") == ""
    assert stops.hit and stops.feed("more") == ""
    unfinished = _Stops(["END"])
    assert unfinished.feed("the EN") == "the "
    assert unfinished.flush() == "EN" and not unfinished.hit
    assert _Stops([""]).feed("text") == "text"


def test_schemas_are_enforced_as_the_gbnf_converter_does() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}},
        "$defs": {"x": {"type": "object", "properties": {}, "additionalProperties": True}},
    }
    closed = _as_gbnf_would(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert closed["$defs"]["x"]["additionalProperties"] is True  # said explicitly: kept
    assert closed["x-guidance"] == {"whitespace_flexible": False}
    assert "additionalProperties" not in schema  # the caller's schema is not changed


def test_token_types_are_read_from_the_gguf(tmp_path: Path) -> None:
    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    body = string("general.name") + struct.pack("<I", 8) + string("x")
    body += string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + string("a") + string("<s>")
    body += string("tokenizer.ggml.token_type") + struct.pack("<IIQ3i", 9, 5, 3, 1, 3, 1)
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 3) + body)
    assert read_int_array(path, "tokenizer.ggml.token_type") == [1, 3, 1]
    assert read_int_array(path, "tokenizer.ggml.merges") is None


# -- the real bindings ---------------------------------------------------------------


@pytest.fixture(scope="module")
def smol_path() -> Path:
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    installed = find_installed(entry, MODELS_DIR)
    reason = None if installed else f"smollm2-135m is not pulled into {MODELS_DIR}"
    if not available_backends():
        reason = "no llama.cpp binding is installed (pip install 'agentdown[local]')"
    if reason is not None or installed is None:
        if os.environ.get("AGENTDOWN_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(f"AGENTDOWN_REQUIRE_LOCAL_MODEL=1 but {reason}")
        pytest.skip(str(reason))
    return installed.path


@pytest.fixture(scope="module", params=list(engine_module.BACKENDS))
def engine(request: pytest.FixtureRequest, smol_path: Path) -> Iterator[Engine]:
    if request.param not in available_backends():
        pytest.skip(f"{request.param} is not installed")
    engine = Engine(EngineSettings(smol_path, n_ctx=1024, n_threads=1, backend=request.param))
    yield engine
    engine.close()


def generate(
    engine: Engine, prompt: str, max_tokens: int = 24, stop: tuple[str, ...] = ()
) -> tuple[str, str]:
    pieces: list[str] = []
    request = GenerationRequest(prompt, max_tokens, ["<|im_end|>", *stop])
    generation = engine.executor.submit(engine.generate, request, pieces.append, threading.Event()).result()
    assert "".join(pieces) == generation.text
    return generation.text, generation.finish_reason


def chatml(user: str, assistant: str = "") -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant}"


def test_a_reply_never_starts_by_ending(engine: Engine) -> None:
    # Greedy, SmolLM2's first token here is its end token (p 0.47).
    text, _ = generate(engine, chatml("Say OK.", "OK."))
    assert text.strip()


def test_a_stop_string_across_the_first_token_is_found(engine: Engine) -> None:
    prompt = chatml("Say hello to Ada in one short sentence.")
    full, _ = generate(engine, prompt)
    assert full.startswith("Ada")  # first token "Ad", then "a"
    assert generate(engine, prompt, stop=("da",)) == ("A", "stop")


def test_a_character_split_over_tokens_comes_whole(engine: Engine) -> None:
    text, _ = generate(engine, chatml("Reply with the emoji 😀 only."), max_tokens=6)
    assert text.startswith("🌟") and "\ufffd" not in text


async def test_both_backends_give_the_same_greedy_answer(smol_path: Path) -> None:
    if len(available_backends()) < 2:
        pytest.skip("needs both bindings")
    messages = [Message.system("You are concise."), Message.user("Say hello to Ada in one short sentence.")]
    texts = {}
    for backend in available_backends():
        model = LocalChatModel(smol_path, n_ctx=2048, backend=backend)
        assert model.backend == backend
        reply = await model.complete(messages, options=ChatOptions(max_output_tokens=32))
        texts[backend] = reply.message.text
    assert len(set(texts.values())) == 1, texts
