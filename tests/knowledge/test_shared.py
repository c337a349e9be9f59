"""Several processes serving one store through Azure Blob Storage (a real Azurite)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from knowledgekit import HashEmbedder

from agentdown.knowledge import Chunking, KnowledgeBase, chunk_text
from azurite_peer import Azurite, running_azurite

pytest.importorskip("azure.storage.blob")
from agentdown.knowledge.shared import IndexSync, SharedStoreIndex

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture
async def sync(azurite: Azurite, request: pytest.FixtureRequest) -> AsyncIterator[IndexSync]:
    name = "kb-" + request.node.name.replace("_", "-").lower()[:50]
    found = IndexSync.from_connection_string(azurite.connection_string, name, staleness=0.0)
    yield found
    await found.aclose()


def chunks(text: str) -> list:  # type: ignore[type-arg]
    return chunk_text(text, Chunking())


async def test_a_write_in_one_base_is_seen_by_another(tmp_path: Path, sync: IndexSync) -> None:
    one = KnowledgeBase(tmp_path / "one", HashEmbedder(), sync=sync)
    two = KnowledgeBase(tmp_path / "two", HashEmbedder(), sync=sync)
    assert await two.search(["vs_s"], "Zorblat") == []
    await one.index("vs_s").add_file("f1", "a.txt", chunks("The Zorblat river flows through Quenmar."))
    assert [h.file_id for h in await two.search(["vs_s"], "Zorblat")] == ["f1"]
    await two.index("vs_s").add_file("f2", "b.txt", chunks("The Kelvor peak towers over Ostia."))
    # one's copy is older than the blob: its next write starts from the blob, so f2 stays.
    await one.index("vs_s").add_file("f3", "c.txt", chunks("Vell builds electric automobiles."))
    await two.index("vs_s").refresh()
    assert two.index("vs_s").files() == ["f1", "f2", "f3"]
    await one.index("vs_s").remove_file("f1")
    found = [h.file_id for h in await two.search(["vs_s"], "Zorblat Kelvor")]
    assert found[0] == "f2" and "f1" not in found
    await one.delete("vs_s")
    fresh = KnowledgeBase(tmp_path / "three", None, sync=sync)
    assert await fresh.search(["vs_s"], "Kelvor") == []
    for kb in (one, two, fresh):
        await kb.aclose()


async def test_a_batch_holds_one_lease_and_concurrent_writers_queue(tmp_path: Path, sync: IndexSync) -> None:
    kb = KnowledgeBase(tmp_path / "one", None, sync=sync)
    index = kb.index("vs_b")
    assert isinstance(index, SharedStoreIndex)
    async with index.writing():
        for i in range(5):
            await index.add_file(f"f{i}", f"{i}.txt", chunks(f"batch file {i} word{i}"))
    await asyncio.gather(
        *(index.add_file(f"g{i}", f"g{i}.txt", chunks(f"concurrent {i} gword{i}")) for i in range(8))
    )
    other = KnowledgeBase(tmp_path / "two", None, sync=sync)
    await other.index("vs_b").refresh()
    assert len(other.index("vs_b").files()) == 13
    await kb.aclose()
    await other.aclose()


WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from agentdown.knowledge import Chunking, KnowledgeBase, chunk_text
    from agentdown.knowledge.shared import IndexSync
    from knowledgekit import HashEmbedder

    async def main(conn, container, root, tag, files):
        sync = IndexSync.from_connection_string(conn, container, staleness=0.0)
        kb = KnowledgeBase(Path(root), HashEmbedder(), sync=sync)
        index = kb.index("vs_shared")
        for j in range(files):
            text = f"Process {tag} file {j} mentions the marker {tag}marker{j} and a river."
            await index.add_file(f"{tag}_{j}", f"{tag}_{j}.txt", chunk_text(text, Chunking()))
            # Searching between writes: the other process's files show up as they land.
            await kb.search(["vs_shared"], "river")
        await index.refresh()
        found = {}
        for other in ("p1", "p2"):
            for j in range(files):
                hits = await kb.search(["vs_shared"], f"{other}marker{j}", max_results=1)
                found[f"{other}_{j}"] = hits[0].file_id if hits else None
        print(json.dumps({"tag": tag, "files": index.files(), "found": found}))
        await kb.aclose()
        await sync.aclose()

    asyncio.run(main(*sys.argv[1:5], int(sys.argv[5])))
    """
)


def test_two_processes_ingest_into_and_search_one_store(tmp_path: Path, azurite: Azurite) -> None:
    files = 12
    env = {"PYTHONPATH": f"{SRC}:{HERE}", "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                azurite.connection_string,
                "kb-two-procs",
                str(tmp_path / tag),
                tag,
                str(files),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=110)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    everything = sorted(f"{tag}_{j}" for tag in ("p1", "p2") for j in range(files))
    # The one that finished last saw every file of both; each saw its own and all the
    # other's that had landed (refreshed at the end: all of them, or it ran first).
    for result in outputs:
        own = {f for f in everything if f.startswith(result["tag"])}
        assert set(result["files"]) >= own
        assert all(result["found"][f] == f for f in own)
    assert max(len(r["files"]) for r in outputs) == 2 * files

    # A third process (here) sees the final index: every write of both, none lost.
    async def check() -> None:
        sync = IndexSync.from_connection_string(azurite.connection_string, "kb-two-procs", staleness=0.0)
        kb = KnowledgeBase(tmp_path / "checker", HashEmbedder(), sync=sync)
        await kb.index("vs_shared").refresh()
        assert kb.index("vs_shared").files() == everything
        for name in everything:
            tag, j = name.split("_")
            (hit,) = await kb.search(["vs_shared"], f"{tag}marker{j}", max_results=1)
            assert hit.file_id == name
        await kb.aclose()
        await sync.aclose()

    asyncio.run(check())
