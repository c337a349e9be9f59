"""Helpers of the files and vector stores tests.

Until the ``agentdown.knowledge`` package (built in parallel) is merged, a small
stand-in with its interface is installed as that module, so the Agents API's side
(records, queue jobs, counts, expiry) is tested the same way either way; with the
real package present the stand-in is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import sys
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _standin() -> types.ModuleType:
    module = types.ModuleType("agentdown.knowledge")

    class ChunkingError(ValueError):
        pass

    class ParseError(Exception):
        pass

    @dataclass(frozen=True)
    class Chunking:
        max_tokens: int = 800
        overlap: int = 400

        @classmethod
        def from_api(cls, raw: dict[str, Any] | None) -> Chunking:
            if raw is None or raw.get("type") == "auto":
                return cls()
            if raw.get("type") != "static":
                raise ChunkingError(f"type: expected 'auto' or 'static', got {raw.get('type')!r}")
            static = raw.get("static") or {}
            size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
            if not isinstance(size, int) or not 100 <= size <= 4096:
                raise ChunkingError(f"static.max_chunk_size_tokens: expected 100 to 4096, got {size!r}")
            if not isinstance(overlap, int) or not 0 <= overlap <= size // 2:
                raise ChunkingError(
                    f"static.chunk_overlap_tokens: expected 0 to half of max_chunk_size_tokens, got {overlap!r}"
                )
            return cls(size, overlap)

        def to_api(self) -> dict[str, Any]:
            return {
                "type": "static",
                "static": {"max_chunk_size_tokens": self.max_tokens, "chunk_overlap_tokens": self.overlap},
            }

    @dataclass(frozen=True)
    class IndexedFile:
        file_id: str
        chunks: int
        usage_bytes: int

    @dataclass(frozen=True)
    class SearchHit:
        file_id: str
        filename: str
        score: float
        text: str
        chunk_index: int = 0

    class StoreIndex:
        def __init__(self, path: Path) -> None:
            self.path = path

        def _load(self) -> dict[str, Any]:
            return json.loads(self.path.read_text()) if self.path.exists() else {}

        def _save(self, data: dict[str, Any]) -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(data))

        async def add(self, file_id: str, filename: str, text: str) -> None:
            data = self._load()
            data[file_id] = {"filename": filename, "text": text}
            self._save(data)

        async def remove_file(self, file_id: str) -> None:
            data = self._load()
            data.pop(file_id, None)
            self._save(data)

        def usage_bytes(self) -> int:
            return sum(len(v["text"].encode()) for v in self._load().values())

    async def ingest_file(
        index: StoreIndex, path: Path, *, file_id: str, filename: str, chunking: Chunking
    ) -> IndexedFile:
        if not filename.endswith((".txt", ".md")):
            raise ParseError(f"unsupported file type: {filename!r}")
        delay = float(module.INGEST_DELAY)
        if delay:
            await asyncio.sleep(delay)
        text = path.read_text()
        await index.add(file_id, filename, text)
        return IndexedFile(file_id, 1, len(text.encode()))

    class KnowledgeBase:
        def __init__(self, root: Path, embedder: Any) -> None:
            self.root = root

        def index(self, store_id: str) -> StoreIndex:
            return StoreIndex(self.root / f"{store_id}.json")

        async def delete(self, store_id: str) -> None:
            (self.root / f"{store_id}.json").unlink(missing_ok=True)

        async def search(
            self, store_ids: list[str], query: str, *, max_results: int = 20, score_threshold: float = 0.0
        ) -> list[SearchHit]:
            hits = []
            for store_id in store_ids:
                for file_id, item in self.index(store_id)._load().items():
                    score = sum(item["text"].lower().count(w) for w in query.lower().split())
                    if score and score >= score_threshold:
                        hits.append(SearchHit(file_id, item["filename"], float(score), item["text"]))
            return sorted(hits, key=lambda h: -h.score)[:max_results]

        async def aclose(self) -> None:
            return None

    def embedder_from_env(environ: Any) -> None:
        return None

    for value in (
        ChunkingError,
        ParseError,
        Chunking,
        IndexedFile,
        SearchHit,
        StoreIndex,
        ingest_file,
        KnowledgeBase,
        embedder_from_env,
    ):
        setattr(module, value.__name__, value)
    module.INGEST_DELAY = 0.0  # type: ignore[attr-defined]
    module.STANDIN = True  # type: ignore[attr-defined]
    return module


def knowledge() -> types.ModuleType:
    """The real ``agentdown.knowledge``, or the stand-in installed in its place."""
    try:
        return importlib.import_module("agentdown.knowledge")
    except ImportError:
        module = _standin()
        sys.modules["agentdown.knowledge"] = module
        return module


KNOWLEDGE = knowledge()
REAL_KNOWLEDGE = not getattr(KNOWLEDGE, "STANDIN", False)


@dataclass
class Served:
    url: str
    api: Any
    """The server's ``AgentsApi`` (its ``search_stores`` is what the run executor calls)."""
    data: Path


@contextlib.asynccontextmanager
async def served_api(tmp_path: Path, settings: Any = None, **environ: str) -> AsyncIterator[Served]:
    """An app served by uvicorn on loopback with its real (SQLite) Agents store in ``tmp_path/data``."""
    import uvicorn
    from serverkit import HELPER, write_app

    from agentdown.app.catalog import load_app
    from agentdown.runtime import Runner
    from agentdown.server import ServerSettings, create_app
    from agentdown.server.serving import bind_socket
    from agentdown.sessions import SqliteSessionStore
    from agentdown.testing import ScriptedModel

    data = tmp_path / "data"
    env = {"AGENTDOWN_DATA_DIR": str(data), "AGENTDOWN_INGEST_POLL_SECONDS": "0.2", **environ}
    app_dir = write_app(tmp_path, {"helper.agent.md": HELPER})
    catalog = load_app(app_dir, model=ScriptedModel([]), environ=env)
    runner = Runner(catalog, SqliteSessionStore(tmp_path / "sessions.db"))
    app = create_app(
        catalog, runner, settings or ServerSettings(port=0), environ=env, close_runner=True, execute_runs=True
    )
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.agents_api, data)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking SDK call off the event loop that serves the app."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def upload(client: Any, name: str, text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.files.upload_and_poll(file=data, purpose="assistants", filename=name, polling_interval=0.1)
