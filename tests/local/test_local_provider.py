"""Provider ``local`` settings, the GGUF metadata reader and ``agentdown models``, without llama.cpp."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agentdown.models.local as local
from agentdown.cli import model_commands
from agentdown.cli.main import app
from agentdown.exceptions import ConfigurationError
from agentdown.models.local.catalog import find_catalog_model
from agentdown.models.local.gguf import GGUFError, read_metadata
from agentdown.models.local.llama import LocalChatModel
from agentdown.models.provider import ProviderContext, model_from_env


def gguf_bytes(metadata: dict[str, object], arrays: int = 0) -> bytes:
    """A GGUF header with ``metadata`` (strings, ints, bools) and no tensors."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    body = b""
    for key, value in metadata.items():
        body += string(key)
        if isinstance(value, bool):
            body += struct.pack("<I?", 7, value)
        elif isinstance(value, int):
            body += struct.pack("<II", 4, value)
        else:
            body += struct.pack("<I", 8) + string(str(value))
    for i in range(arrays):
        body += string(f"tokenizer.list{i}") + struct.pack("<IIQ", 9, 8, 2) + string("a") + string("bc")
        body += string(f"tokenizer.scores{i}") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 1, 2, 3)
    count = len(metadata) + 2 * arrays
    return b"GGUF" + struct.pack("<IQQ", 3, 0, count) + body


def write_gguf(path: Path, metadata: dict[str, object], arrays: int = 1) -> Path:
    path.write_bytes(gguf_bytes(metadata, arrays))
    return path


def test_metadata_reader_skips_arrays_and_keeps_scalars(tmp_path: Path) -> None:
    meta = {
        "general.architecture": "qwen2",
        "qwen2.context_length": 32768,
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": "{{ '<|im_start|>' }}",
    }
    path = write_gguf(tmp_path / "m.gguf", meta, arrays=2)
    assert read_metadata(path) == meta


def test_metadata_reader_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"PK\x03\x04")
    with pytest.raises(GGUFError, match="not a GGUF"):
        read_metadata(tmp_path / "x")
    (tmp_path / "y").write_bytes(gguf_bytes({"a": "b"})[:-2])
    with pytest.raises(GGUFError, match="truncated"):
        read_metadata(tmp_path / "y")


def test_model_settings_come_from_the_file_without_loading_it(tmp_path: Path) -> None:
    chatml = write_gguf(
        tmp_path / "a.gguf",
        {
            "general.architecture": "llama",
            "llama.context_length": 2048,
            "tokenizer.chat_template": "<|im_start|>",
        },
    )
    model = LocalChatModel(chatml)
    assert model.chat_format == "chatml"
    assert model._engine.settings.n_ctx == 2048  # the default 8192 capped at the trained length
    assert model.model_name == "a"
    other = write_gguf(tmp_path / "b.gguf", {"tokenizer.chat_template": "{{ bos_token }}[INST]"})
    assert LocalChatModel(other, name="b", n_ctx=1024).chat_format == "jinja"
    with pytest.raises(ConfigurationError, match="cannot use"):
        LocalChatModel(tmp_path / "missing.gguf")


def ctx(environ: dict[str, str], model: str | None = None) -> ProviderContext:
    return ProviderContext(provider="local", environ=environ, explicit_model=model)


def test_provider_without_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: False)
    with pytest.raises(ConfigurationError, match=r"agentdown\[local\]"):
        local.local_provider(ctx({}))
    assert local.default_local_model({}) is None


def test_provider_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: True)
    path = write_gguf(tmp_path / "m.gguf", {"general.architecture": "llama"})
    env = {"AGENTDOWN_MODELS_DIR": str(tmp_path / "none")}
    with pytest.raises(ConfigurationError, match="no local model is installed"):
        local.local_provider(ctx(env))
    model = local.local_provider(ctx({**env, "AGENTDOWN_MODEL": str(path), "AGENTDOWN_LOCAL_THREADS": "1"}))
    assert isinstance(model, LocalChatModel)
    assert model._engine.settings.n_threads == 1
    # The model argument and the provider's own variable beat AGENTDOWN_MODEL.
    with pytest.raises(ConfigurationError, match="'nope'"):
        local.local_provider(ctx({**env, "AGENTDOWN_MODEL": str(path), "AGENTDOWN_LOCAL_MODEL": "nope"}))
    with pytest.raises(ConfigurationError, match="'other'"):
        local.local_provider(ctx({**env, "AGENTDOWN_LOCAL_MODEL": str(path)}, model="other"))
    with pytest.raises(ConfigurationError, match="AGENTDOWN_LOCAL_N_CTX must be a positive"):
        local.local_provider(ctx({**env, "AGENTDOWN_MODEL": str(path), "AGENTDOWN_LOCAL_N_CTX": "lots"}))


def test_provider_is_registered_under_its_aliases(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: True)
    path = write_gguf(tmp_path / "m.gguf", {})
    for name in ("local", "llama-cpp", "gguf"):
        model = model_from_env({"AGENTDOWN_PROVIDER": name, "AGENTDOWN_LOCAL_MODEL": str(path)})
        assert isinstance(model, LocalChatModel)


def test_default_local_model_is_the_best_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: True)
    env = {"AGENTDOWN_MODELS_DIR": str(tmp_path)}
    assert local.default_local_model(env) is None
    assert local.default_local_model({}) is None  # a mapping naming no directory: none
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    install_sparse(tmp_path, entry.name, entry.filename, entry.size, entry.sha256)
    found = local.default_local_model(env)
    assert found is not None and found.name == "smollm2-135m"


def install_sparse(directory: Path, name: str, filename: str, size: int, sha256: str) -> None:
    folder = directory / name
    folder.mkdir(parents=True)
    with (folder / filename).open("wb") as fh:
        fh.write(b"GGUF")
        fh.truncate(size)
    (folder / "manifest.json").write_text(json.dumps({"sha256": sha256}))


def test_models_cli_lists_pulls_and_removes(tmp_path: Path) -> None:
    assert model_commands.models_app is not None  # importing the module registered the commands
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "qwen2.5-coder-1.5b" in listed.output and "(default)" in listed.output
    assert "installed" not in listed.output.replace("not installed", "")
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    install_sparse(tmp_path, entry.name, entry.filename, entry.size, entry.sha256)
    listed = runner.invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert "installed" in listed.output and entry.filename in listed.output
    corrupt = runner.invoke(app, ["models", "list", "--dir", str(tmp_path), "--verify"])
    assert corrupt.exit_code == 1 and "CORRUPT" in corrupt.output
    present = runner.invoke(app, ["models", "pull", "smollm2", "--dir", str(tmp_path)])
    assert present.exit_code == 0 and "already installed" in present.output
    unknown = runner.invoke(app, ["models", "pull", "gpt-5", "--dir", str(tmp_path)])
    assert unknown.exit_code == 1 and "unknown model" in unknown.output
    removed = runner.invoke(app, ["models", "remove", "smollm2-135m", "--dir", str(tmp_path)])
    assert removed.exit_code == 0 and not (tmp_path / "smollm2-135m").exists()


def test_with_no_provider_configured_a_pulled_model_is_used_and_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Needs provider.py to fall back on agentdown.models.local.default_local_model.
    monkeypatch.setattr(local, "llama_cpp_available", lambda: True)
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    install_sparse(tmp_path, entry.name, entry.filename, entry.size, entry.sha256)
    path = tmp_path / entry.name / entry.filename
    header = gguf_bytes({"general.architecture": "llama", "llama.context_length": 8192})
    with path.open("r+b") as fh:
        fh.write(header)
    with caplog.at_level("WARNING", logger="agentdown.models"):
        model = model_from_env({"AGENTDOWN_MODELS_DIR": str(tmp_path)})
    assert isinstance(model, LocalChatModel)
    assert model.model_name == "smollm2-135m"
    assert "using the local model smollm2-135m" in caplog.text
