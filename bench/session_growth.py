"""Per-turn cost as one stored session grows to 500 turns: it should stay flat.

Each turn is what a server does for ``POST /agents/{slug}/chat`` with a session id:
``Runner.run`` takes the lease, loads the session from a real ``SqliteSessionStore``,
runs the agent (one request to a loopback fake model, no tools) and appends the turn.
The same conversation is also driven by bare aiohttp (the floor): it keeps the
history in a Python list and posts exactly the messages agentdown sends, so what
the floor costs is the price of the request itself, which agentdown cannot avoid.

Two truncation strategies:

* ``last_messages: 20`` sends the instructions and the 20 newest messages whatever
  the session's length, so a turn at 500 should cost what a turn at 10 costs.
* ``auto`` (the default) sends every message that fits the token budget; these short
  messages all fit, so the request grows with the session, and so does the floor.
  What must stay flat is agentdown's overhead: agentdown minus the floor.

"Turn N" is the median over the turns of a window ending at N (turns 1-20 for turn
10 would mix in the cold start, so turn 10 is the median of turns 6-15 and turn 500
of turns 491-500), then the median over ``--rounds`` rounds; the rounds interleave
the three clients so a passing load on the machine does not favour one of them.
The fake model runs in another process, so its CPU does not count here.

Usage: python bench/session_growth.py [--turns 500] [--rounds 5] [--last-messages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from overhead import fake_server  # the sibling script (bench/ is on sys.path when run as a script)

from agentdown.app import load_app
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.sessions import DEFAULT_MAX_INPUT_TOKENS, SqliteSessionStore, TruncationStrategy

INSTRUCTIONS = "Be brief."
AGENT_FILE = f"""---
name: Bench
description: Answers.
---
{INSTRUCTIONS}
"""
SLUG = "bench"
Turn = Callable[[int], Awaitable[None]]


def prompt(i: int, chars: int) -> str:
    text = f"Question {i}: what is the weather like in Paris today, and should I take an umbrella? "
    return (text * (chars // len(text) + 1))[:chars]


def estimate(text: str) -> int:
    """agentdown's estimate of a text message (characters / 4 plus framing), for the floor's window."""
    return 4 + -(-len(text) // 4)


def windows(turns: int) -> dict[int, range]:
    """The turns whose median stands for "turn N": a window of 10 around 10, ending at the others."""
    marks = {10: range(6, 16)}
    for mark in (100, 250, turns):
        if 15 < mark <= turns:
            marks[mark] = range(mark - 9, mark + 1)
    return dict(sorted(marks.items()))


async def agentdown_client(
    url: str, workdir: Path, strategy: TruncationStrategy, chars: int
) -> tuple[Turn, Any]:
    app = workdir / "app"
    app.mkdir(exist_ok=True)
    (app / f"{SLUG}.agent.md").write_text(AGENT_FILE)
    model = OpenAIChatModel(model="fake", base_url=url, api_key="bench")
    store = SqliteSessionStore(workdir / f"sessions-{time.monotonic_ns()}.db")
    runner = Runner(load_app(app, model=model), store)
    # Front matter has no truncation key: set the strategy on the built (cached) agent.
    runner.agent(SLUG).truncation = strategy
    session_id: str | None = None

    async def turn(i: int) -> None:
        nonlocal session_id
        result = await runner.run(SLUG, prompt(i, chars), session_id=session_id)
        session_id = result.session_id
        assert result.result.text.startswith("Echo"), result.result.text

    async def close() -> None:
        await runner.aclose()
        await model.aclose()

    return turn, close


async def floor_client(url: str, last_messages: int | None, chars: int) -> tuple[Turn, Any]:
    """Bare aiohttp sending what agentdown sends: the newest ``last_messages``, or what fits ``auto``."""
    http = aiohttp.ClientSession(headers={"Authorization": "Bearer bench"})
    endpoint = url.rstrip("/") + "/chat/completions"
    history: list[dict[str, Any]] = []
    system = {"role": "system", "content": INSTRUCTIONS}
    budget = DEFAULT_MAX_INPUT_TOKENS - estimate(INSTRUCTIONS)

    def window() -> list[dict[str, Any]]:
        if last_messages is not None:
            return history[-last_messages:]
        used, start = 0, len(history)
        while start > 0 and (
            start == len(history) or used + estimate(history[start - 1]["content"]) <= budget
        ):
            start -= 1
            used += estimate(history[start]["content"])
        return history[start:]

    async def turn(i: int) -> None:
        history.append({"role": "user", "content": prompt(i, chars)})
        async with http.post(endpoint, json={"model": "fake", "messages": [system, *window()]}) as r:
            body = await r.json()
        history.append({"role": "assistant", "content": body["choices"][0]["message"]["content"]})

    return turn, http.close


async def grow(turn: Turn, close: Any, turns: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each turn (CPU of this process: all its threads, not the server's)."""
    gc.collect()
    wall, cpu = [], []
    try:
        for i in range(1, turns + 1):
            c0, t0 = time.process_time(), time.perf_counter()
            await turn(i)
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    finally:
        await close()
    return wall, cpu


async def run_round(
    url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, tuple[list[float], list[float]]]:
    last, chars = args.last_messages, args.chars
    clients: dict[str, Callable[[], Awaitable[tuple[Turn, Any]]]] = {
        "aiohttp auto": lambda: floor_client(url, None, chars),
        "agentdown auto": lambda: agentdown_client(url, workdir, TruncationStrategy("auto"), chars),
        f"aiohttp last{last}": lambda: floor_client(url, last, chars),
        f"agentdown last{last}": lambda: agentdown_client(
            url, workdir, TruncationStrategy("last_messages", last), chars
        ),
    }
    out = {}
    for name, make in clients.items():
        turn, close = await make()
        out[name] = await grow(turn, close, args.turns)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--last-messages", type=int, default=20)
    parser.add_argument("--chars", type=int, default=1000, help="characters per prompt (the reply echoes it)")
    args = parser.parse_args()
    marks = windows(args.turns)
    rounds: list[dict[str, tuple[list[float], list[float]]]] = []
    # The database lives on tmpfs when there is one: a turn's fsync costs milliseconds on a
    # shared disk and varies with the neighbours' I/O, which would drown what is measured here.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="agentdown-bench-", dir=shm) as tmp, fake_server(0) as url:
        for _ in range(args.rounds):
            rounds.append(asyncio.run(run_round(url, Path(tmp), args)))

    kinds = ("auto", f"last{args.last_messages}")
    first, last = min(marks), max(marks)
    print(
        f"one session growing to {args.turns} turns of {args.chars}-character prompts and replies "
        f"(1 model request per turn, no tools);\nms per turn, median of {args.rounds} interleaved rounds"
    )
    verdicts = []
    for metric, index in (("wall", 0), ("CPU", 1)):

        def at(name: str, mark: int, index: int = index) -> float:
            return statistics.median(
                statistics.median(r[name][index][i - 1] for i in marks[mark]) for r in rounds
            )

        print()
        print(f"{metric + ' ms':<22}" + "".join(f"{'turn ' + str(m):>10}" for m in marks) + f"{'ratio':>8}")
        for name in rounds[0]:
            print(
                f"{name:<22}"
                + "".join(f"{at(name, m):>10.2f}" for m in marks)
                + f"{at(name, last) / at(name, first):>8.2f}"
            )
        for kind in kinds:
            over = {m: at(f"agentdown {kind}", m) - at(f"aiohttp {kind}", m) for m in marks}
            cells = "".join(f"{over[m]:>+10.2f}" for m in marks)
            print(f"{'overhead ' + kind:<22}{cells}{over[last] / over[first]:>8.2f}")
            verdicts.append(
                (
                    metric,
                    kind,
                    over[last] / over[first],
                    at(f"agentdown {kind}", last) / at(f"agentdown {kind}", first),
                )
            )
    print()
    print("overhead = agentdown - aiohttp sending the same messages (what agentdown adds to the request)")
    targets = {"auto": 1.6, kinds[1]: 1.3}
    for metric, kind, over_ratio, raw_ratio in verdicts:
        print(
            f"{metric:<4} {kind:<7} turn {last} / turn {first}: overhead {over_ratio:.2f}, "
            f"whole turn {raw_ratio:.2f} (target <= {targets[kind]:.2f})"
        )


if __name__ == "__main__":
    main()
