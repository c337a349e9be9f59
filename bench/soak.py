"""Soak test: N minutes of mixed traffic on a real ``agentdown serve`` + ``agentdown worker``.

Per backend (the embedded SQLite stores and queues, or Azurite for Azure Storage), one
app on the loopback fake model server gets, at a few requests per second per kind:

* ``chat``: ``/chat`` turns on a pool of sessions (each prompt carries a unique token);
* ``stream``: ``/chatstream`` turns, a third of them dropped by the client after the
  first ``delta`` (the run is cancelled; the turn may or may not be kept);
* ``run``: Agents API runs (``POST /threads/runs``, polled to a terminal state);
* ``queue``: messages on a ``queue_trigger`` agent's queue, each its own session
  (``session_key``), run by the server's trigger host and the worker;
* ``tool``: ``/chat`` turns whose model calls a queue tool served by the worker.

The worker (``--queue-tools``) is SIGKILLed and restarted every ``--kill-every`` seconds.
Every minute it prints requests served, errors by kind, p50/p99 latency and the RSS and
open files of the server and the worker. At the end it checks that nothing was lost:
every session holds each turn that was answered exactly once (a dropped stream's turn at
most once), every run ended ``completed``, every queue message was processed (a second
delivery after a kill is counted as a duplicate, not hidden), and exits 1 otherwise.

Usage: python bench/soak.py [--minutes 30] [--backend embedded|azurite|both] [--kill-every 180]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from agentdown.messages import Message  # noqa: E402
from agentdown.runtime.queues import open_queue_service, resolve_account  # noqa: E402
from agentdown.runtime.triggers.settings import TriggerSettings  # noqa: E402
from agentdown.testing import CallInfo, FakeModelServer, Reply, default_handler, tool_call  # noqa: E402

PROJECT = "/api/projects/soak"
TURNS_PER_SESSION = 30
RATES = {"chat": 1.0, "stream": 1.0, "run": 0.5, "queue": 0.5, "tool": 0.5}
"""Requests started per second, per kind and backend: moderate, the machine is shared."""
IN_FLIGHT = 8
"""At most this many requests of one kind at once: a slow phase does not pile up work."""
FILLER = " ".join(["soak"] * 40)
"""Makes answers long enough (streamed in 8-character pieces) for a mid-stream disconnect."""

AGENTS = {
    "chat.agent.md": "---\nname: Chat\ndescription: Chats.\nbuiltin_endpoints: true\ntools: false\n---\nAnswer.\n",
    "orders.agent.md": (
        "---\nname: Orders\ndescription: Handles orders.\nbuiltin_endpoints: true\ntools: false\n"
        "trigger:\n  type: queue_trigger\n  args: {queue_name: soak-orders, connection: AzureWebJobsStorage}\n"
        "session_key: 'order-{body_json.id}'\n---\nHandle the order.\n"
    ),
    "caller.agent.md": (
        "---\nname: Caller\ndescription: Calls the echo function.\nbuiltin_endpoints: true\ntools: false\n"
        "queue_tools:\n  - name: Echo\n    description: Echo a number.\n"
        "    parameters: {type: object, properties: {n: {type: integer}}, required: [n]}\n"
        "    input_queue: soak-tool-in\n    output_queue: soak-tool-out\n    timeout: 90\n---\nUse Echo.\n"
    ),
    "tools/echo.py": (
        "from agentdown import tool\n\n\n@tool(name='Echo')\nasync def echo(n: int) -> int:\n"
        '    """Echo a number."""\n    return n\n'
    ),
}


def handler(messages: list[Message], info: CallInfo) -> Reply:
    """The caller agent's model calls Echo with the number in the prompt; the rest as the default."""
    last = messages[-1] if messages else None
    if last is not None and last.role == "user" and any(t.name == "Echo" for t in info.tools):
        found = re.search(r"echo (\d+)", last.text)
        return [tool_call("Echo", {"n": int(found.group(1)) if found else 0})]
    return default_handler(messages, info)


def proc_stats(pid: int | None) -> tuple[float, int]:
    """RSS in MiB and the number of open file descriptors of ``pid`` (0, 0 if it is gone)."""
    if pid is None:
        return 0.0, 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, AttributeError):
        return 0.0, 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Session:
    """What the soak expects in one chat session: tokens that must be there once, or at most once."""

    sid: str
    slug: str
    sure: list[str] = field(default_factory=list)
    maybe: list[str] = field(default_factory=list)
    busy: bool = False

    @property
    def turns(self) -> int:
        return len(self.sure) + len(self.maybe)


@dataclass
class Minute:
    ok: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


class Backend:
    """One app served by ``agentdown serve`` and one killable ``agentdown worker``."""

    def __init__(self, name: str, root: Path, env: dict[str, str], kill_every: float) -> None:
        self.name = name
        self.root = root
        self.env = env
        self.kill_every = kill_every
        self.app = root / "app"
        self.url = ""
        self.server: subprocess.Popen[str] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.minute = Minute()
        self.totals = Minute()
        self.sessions: list[Session] = []
        self.runs: list[tuple[str, str]] = []  # (thread id, run id)
        self.queued: list[int] = []
        self.rss: list[tuple[float, float, int, float, int]] = []  # minute, server MiB, fds, worker MiB, fds
        self.stop = asyncio.Event()

    # -- processes ---------------------------------------------------------------------------

    def write_app(self) -> None:
        for rel, text in AGENTS.items():
            path = self.app / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def start_server(self) -> None:
        log = (self.root / "server.log").open("w")
        cmd = [sys.executable, "-m", "agentdown.cli", "serve", str(self.app), "--port", "0"]
        self.server = subprocess.Popen(
            [*cmd, "--log-level", "warning", "--no-access-log"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.server.stdout is not None
        for line in self.server.stdout:
            if found := re.search(r"serving .* at (http://\S+)", line):
                self.url = found.group(1).rstrip("/")
            if line.startswith("Press Ctrl+C"):
                break
        if not self.url:
            raise RuntimeError(f"{self.name}: the server did not start; see {self.root / 'server.log'}")
        # Keep draining stdout so the server never blocks on a full pipe.
        asyncio.get_running_loop().run_in_executor(None, self.server.stdout.read)

    async def start_worker(self) -> None:
        log_path = self.root / "worker.log"
        start = log_path.stat().st_size if log_path.exists() else 0
        log = log_path.open("ab")
        cmd = [sys.executable, "-m", "agentdown.cli", "worker", str(self.app), "--queue-tools"]
        self.worker = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            [*cmd, "--log-level", "info"], env=self.env, stdout=log, stderr=log
        )
        for _ in range(600):
            with log_path.open("rb") as f:
                f.seek(start)
                if b"worker serving" in f.read():
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name}: the worker did not start; see {log_path}")

    async def killer(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.kill_every)
            if self.stop.is_set():
                return
            assert self.worker is not None
            self.worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.worker.wait)
            self.kills += 1
            await self.start_worker()

    def stop_processes(self) -> None:
        for proc in (self.worker, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (self.worker, self.server):
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    # -- traffic -----------------------------------------------------------------------------

    def record(self, kind: str, started: float, error: str | None) -> None:
        for bucket in (self.minute, self.totals):
            if error is None:
                bucket.ok[kind] += 1
                bucket.latencies.append(time.perf_counter() - started)
            else:
                bucket.errors[f"{kind}:{error}"] += 1

    def session(self, slug: str) -> Session:
        idle = [s for s in self.sessions if s.slug == slug and not s.busy and s.turns < TURNS_PER_SESSION]
        if len(idle) < 3:
            idle.append(Session(f"soak-{self.name}-{uuid.uuid4().hex[:10]}", slug))
            self.sessions.append(idle[-1])
        chosen = random.choice(idle)
        chosen.busy = True
        return chosen

    async def chat(self, http: aiohttp.ClientSession) -> str | None:
        s = self.session("chat")
        token = uuid.uuid4().hex
        try:
            headers = {"x-ms-session-id": s.sid}
            async with http.post(
                f"{self.url}/agents/chat/chat", json={"prompt": f"t{token} {FILLER}"}, headers=headers
            ) as r:
                body = await r.json(content_type=None)
                if r.status != 200:
                    s.maybe.append(token)
                    return f"http {r.status} {body.get('code')}"
                s.sure.append(token)
                return None if token in body["response"] else "wrong answer"
        except (aiohttp.ClientError, TimeoutError) as exc:
            s.maybe.append(token)
            return type(exc).__name__
        finally:
            s.busy = False

    async def stream(self, http: aiohttp.ClientSession) -> str | None:
        s = self.session("chat")
        token = uuid.uuid4().hex
        drop = random.random() < 1 / 3
        try:
            headers = {"x-ms-session-id": s.sid}
            async with http.post(
                f"{self.url}/agents/chat/chatstream", json={"prompt": f"t{token} {FILLER}"}, headers=headers
            ) as r:
                if r.status != 200:
                    s.maybe.append(token)
                    return f"http {r.status}"
                data = b""
                async for chunk in r.content.iter_any():
                    data += chunk
                    if drop and b'"type":"delta"' in data:
                        break  # leaving the block closes the connection mid-stream
                if drop:
                    s.maybe.append(token)
                    return None
                if b'"type":"done"' not in data:
                    s.maybe.append(token)
                    return "no done event" if b'"type":"error"' not in data else "error event"
                s.sure.append(token)
                return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            s.maybe.append(token)
            return type(exc).__name__
        finally:
            s.busy = False

    async def run(self, http: aiohttp.ClientSession) -> str | None:
        body = {"assistant_id": "chat", "thread": {"messages": [{"role": "user", "content": "hi run"}]}}
        async with http.post(f"{self.url}{PROJECT}/threads/runs?api-version=v1", json=body) as r:
            run = await r.json(content_type=None)
            if r.status != 200:
                return f"http {r.status}"
        self.runs.append((run["thread_id"], run["id"]))
        deadline = time.monotonic() + 120
        while run["status"] in ("queued", "in_progress") and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            run = await self.get_run(http, run["thread_id"], run["id"])
        return None if run["status"] == "completed" else f"run {run['status']}"

    async def get_run(self, http: aiohttp.ClientSession, thread: str, run: str) -> dict[str, Any]:
        async with http.get(f"{self.url}{PROJECT}/threads/{thread}/runs/{run}?api-version=v1") as r:
            result: dict[str, Any] = await r.json(content_type=None)
            return result if r.status == 200 else {"status": f"http {r.status}"}

    async def enqueue(self, queue: Any) -> str | None:
        n = len(self.queued)
        await queue.send(json.dumps({"id": n}))
        self.queued.append(n)
        return None

    async def tool(self, http: aiohttp.ClientSession) -> str | None:
        n = random.randrange(10**9)
        async with http.post(f"{self.url}/agents/caller/chat", json={"prompt": f"echo {n}"}) as r:
            body = await r.json(content_type=None)
            if r.status != 200:
                return f"http {r.status} {body.get('code')}"
            return None if f"Echo: {n}" in body["response"] else "wrong answer"

    async def kind_loop(self, kind: str, op: Any) -> None:
        gate = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def one() -> None:
            started = time.perf_counter()
            try:
                error = await op()
            except Exception as exc:  # every failure is counted by kind, none stops the soak
                error = type(exc).__name__
            finally:
                gate.release()
            self.record(kind, started, error)

        while not self.stop.is_set():
            await gate.acquire()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), random.expovariate(RATES[kind]))
        if tasks:
            await asyncio.wait(tasks)

    # -- reports -----------------------------------------------------------------------------

    def report_minute(self, index: int) -> None:
        m, self.minute = self.minute, Minute()
        srv = proc_stats(self.server.pid if self.server else None)
        wrk = proc_stats(self.worker.pid if self.worker else None)
        self.rss.append((index, srv[0], srv[1], wrk[0], wrk[1]))
        ok = " ".join(f"{k}={m.ok[k]}" for k in RATES)
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(m.errors.items())) or "none"
        print(
            f"[{self.name:8} min {index:3}] {ok} | p50 {pct(m.latencies, 0.5):6.0f} ms p99 "
            f"{pct(m.latencies, 0.99):6.0f} ms | server {srv[0]:5.0f} MiB {srv[1]:3} fds | worker "
            f"{wrk[0]:5.0f} MiB {wrk[1]:3} fds (kills {self.kills}) | errors: {errors}",
            flush=True,
        )

    async def verify(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """What was lost: turns, runs and queue messages, after the work in flight settles."""
        lost_turns = doubled_turns = 0
        for s in self.sessions:
            headers = {"x-ms-session-id": s.sid}
            async with http.get(f"{self.url}/agents/{s.slug}/history", headers=headers) as r:
                entries = (await r.json(content_type=None)).get("messages", [])
            users = Counter(
                m for e in entries if e.get("role") == "user" for m in re.findall(r"t([0-9a-f]{32})", str(e))
            )
            lost_turns += sum(1 for t in s.sure if users[t] == 0)
            doubled_turns += sum(1 for t in (*s.sure, *s.maybe) if users[t] > 1)
        unfinished: Counter[str] = Counter()
        deadline = time.monotonic() + 180
        pending = list(self.runs)
        while pending and time.monotonic() < deadline:
            still = []
            for thread, run in pending:
                status = (await self.get_run(http, thread, run))["status"]
                if status in ("queued", "in_progress"):
                    still.append((thread, run))
                elif status != "completed":
                    unfinished[status] += 1
            pending = still
            if pending:
                await asyncio.sleep(2)
        unfinished["still running"] += len(pending)
        processed: Counter[int] = Counter()
        deadline = time.monotonic() + 180
        missing = list(self.queued)
        while time.monotonic() < deadline:
            for n in missing:
                headers = {"x-ms-session-id": f"order-{n}"}
                async with http.get(f"{self.url}/agents/orders/history", headers=headers) as r:
                    entries = (await r.json(content_type=None)).get("messages", [])
                processed[n] = sum(1 for e in entries if e.get("role") == "user")
            missing = [n for n in self.queued if processed[n] == 0]
            if not missing:
                break
            await asyncio.sleep(3)
        return {
            "turns": sum(len(s.sure) for s in self.sessions),
            "dropped_streams_or_failed": sum(len(s.maybe) for s in self.sessions),
            "lost_turns": lost_turns,
            "doubled_turns": doubled_turns,
            "runs": len(self.runs),
            "runs_not_completed": sum(unfinished.values()),
            "runs_not_completed_by_status": dict(+unfinished),
            "queue_messages": len(self.queued),
            "queue_lost": len(missing),
            "queue_redelivered": sum(1 for n in self.queued if processed[n] > 1),
        }


async def run_backend(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"soak-{name}-", dir=args.workdir) as tmp:
        backend = Backend(
            name, Path(tmp), {**env, "AGENTDOWN_DATA_DIR": str(Path(tmp) / "data")}, args.kill_every
        )
        backend.write_app()
        backend.start_server()
        await backend.start_worker()
        queues = open_queue_service(
            resolve_account("AzureWebJobsStorage", backend.env),
            encoding=TriggerSettings.from_environ(backend.env).message_encoding,
        )
        queue = queues.queue("soak-orders")
        await queue.create()
        timeout = aiohttp.ClientTimeout(total=180)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                ops = {
                    "chat": lambda: backend.chat(http),
                    "stream": lambda: backend.stream(http),
                    "run": lambda: backend.run(http),
                    "queue": lambda: backend.enqueue(queue),
                    "tool": lambda: backend.tool(http),
                }
                loops = [asyncio.create_task(backend.kind_loop(k, op)) for k, op in ops.items()]
                killer = asyncio.create_task(backend.killer())
                started = time.monotonic()
                minute = 0
                while time.monotonic() - started < args.minutes * 60:
                    left = args.minutes * 60 - (time.monotonic() - started)
                    await asyncio.sleep(min(args.report_every, left))
                    minute += 1
                    backend.report_minute(minute)
                backend.stop.set()
                await asyncio.gather(*loops, killer)
                result = await backend.verify(http)
        finally:
            await queues.aclose()
            backend.stop_processes()
        log = (backend.root / "server.log").read_text(errors="replace")
        totals = backend.totals
        first, last = backend.rss[min(1, len(backend.rss) - 1)], backend.rss[-1]
        result.update(
            backend=name,
            requests=sum(totals.ok.values()),
            requests_by_kind=dict(totals.ok),
            errors=dict(totals.errors),
            p50_ms=round(pct(totals.latencies, 0.5)),
            p99_ms=round(pct(totals.latencies, 0.99)),
            worker_kills=backend.kills,
            server_rss_mib=[round(first[1]), round(last[1])],
            server_fds=[first[2], last[2]],
            worker_rss_mib_last=round(last[3]),
            server_log_tracebacks=log.count("Traceback"),
        )
        if args.keep_logs:
            for log_name in ("server.log", "worker.log"):
                target = Path(args.keep_logs) / f"{name}-{log_name}"
                target.write_bytes((backend.root / log_name).read_bytes())
        return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--backend", choices=["embedded", "azurite", "both"], default="both")
    parser.add_argument("--kill-every", type=float, default=180, help="seconds between worker SIGKILLs")
    parser.add_argument("--report-every", type=float, default=60, help="seconds per report line")
    parser.add_argument("--json", help="write the final report here")
    parser.add_argument("--keep-logs", help="copy the server and worker logs into this folder")
    parser.add_argument("--workdir", help="where the temporary app folders go")
    args = parser.parse_args()
    # The fake model server logs a traceback each time agentdown cancels a model stream (a
    # dropped client stream does that): expected here, and noise in the report.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    model = FakeModelServer(handler, chunk_delay=0.005)
    await model.start()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "soak",
        "AGENTDOWN_MODEL": "fake-model",
        # Short leases: work held by a killed worker comes back within seconds, not minutes.
        "AGENTDOWN_QUEUE_LEASE_SECONDS": "10",
        "AGENTDOWN_RUN_LEASE_SECONDS": "10",
        "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL": "1",
        "AGENTDOWN_DRAIN_SECONDS": "5",
    }

    async def forget_requests() -> None:
        while True:  # the fake server records every request; a long soak must not grow here
            await asyncio.sleep(30)
            model.requests.clear()

    janitor = asyncio.create_task(forget_requests())
    names = ["embedded", "azurite"] if args.backend == "both" else [args.backend]
    print(
        f"soak: {args.minutes:g} min on {', '.join(names)}, worker SIGKILL every {args.kill_every:g} s",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        envs = {"embedded": {**env, "AzureWebJobsStorage": ""}}
        if "azurite" in names:
            from azurite_peer import running_azurite

            azurite = stack.enter_context(running_azurite())
            envs["azurite"] = {**env, "AzureWebJobsStorage": azurite.connection_string}
        results = await asyncio.gather(*(run_backend(n, envs[n], args) for n in names))
    janitor.cancel()
    await model.stop()
    failed = False
    for r in results:
        lost = r["lost_turns"] + r["runs_not_completed"] + r["queue_lost"]
        failed = failed or lost > 0
        print(f"\n== {r['backend']}: {'LOST ' + str(lost) if lost else 'nothing lost'}")
        for key, value in r.items():
            print(f"  {key}: {value}")
    if args.json:
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
