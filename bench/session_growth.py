"""Per-turn cost of a stored session at turn 10 and at turn 500: it should stay flat.

Each "agentdown" turn is what a server does for ``POST /agents/{slug}/chat`` with a
session id: ``Runner.run`` takes the lease, loads the session from a real
``SqliteSessionStore``, runs the agent (one request to a loopback fake model, no
tools) and appends the turn. Each "in-memory" turn is ``Agent.run`` with an
in-memory ``Session``, which holds the whole history (nothing bounds it but the
truncation at the model call). The same conversations are also driven by bare
aiohttp (the floor): it keeps the history in a Python list and posts exactly the
messages agentdown sends, so what the floor costs is the price of the request
itself, which agentdown cannot avoid.

Two truncation strategies:

* ``last_messages: 20`` sends the instructions and the 20 newest messages whatever
  the session's length, so a turn at 500 should cost what a turn at 10 costs.
* ``auto`` (the default) sends the newest messages that fit the token budget (32,000
  estimated tokens, about 126 of these 1,000-character messages), so the request
  grows until turn ~63 and then stays the same size; the floor grows with it. What
  must not grow is agentdown's overhead: agentdown minus the floor.

How: each client keeps one long session (grown untimed to about ``--turns``) and, per
sample, starts a short one grown untimed to 9 turns; then its 10th turn and the long
session's next turn are timed back to back, and the clients take turns sample by
sample. Turn 10 and turn 500 are thus measured at the same moments, so a passing load
on the machine (2 shared cores here) does not land on one of them only. Wall and CPU
time of this process (all its threads; the fake model runs in another process) are
reported as medians over ``--samples``. The CPU column is the steadier one on a busy
machine.

Usage: python bench/session_growth.py [--turns 500] [--samples 100] [--chars 1000]
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

from agentdown import Agent, Session
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
SHORT_TURN = 10


def prompt(i: int, chars: int) -> str:
    text = f"Question {i}: what is the weather like in Paris today, and should I take an umbrella? "
    return (text * (chars // len(text) + 1))[:chars]


def estimate(text: str) -> int:
    """agentdown's estimate of a text message (characters / 4 plus framing), for the floor's window."""
    return 4 + -(-len(text) // 4)


NewConversation = Callable[[], Awaitable[Turn]]


async def agentdown_client(
    url: str, workdir: Path, strategy: TruncationStrategy, chars: int
) -> tuple[NewConversation, Callable[[], Awaitable[None]]]:
    app = workdir / "app"
    app.mkdir(exist_ok=True)
    (app / f"{SLUG}.agent.md").write_text(AGENT_FILE)
    model = OpenAIChatModel(model="fake", base_url=url, api_key="bench")
    store = SqliteSessionStore(workdir / f"sessions-{time.monotonic_ns()}.db")
    runner = Runner(load_app(app, model=model), store)
    # Front matter has no truncation key: set the strategy on the built (cached) agent.
    runner.agent(SLUG).truncation = strategy

    async def conversation() -> Turn:
        session_id: str | None = None

        async def turn(i: int) -> None:
            nonlocal session_id
            result = await runner.run(SLUG, prompt(i, chars), session_id=session_id)
            session_id = result.session_id
            assert result.result.text.startswith("Echo"), result.result.text

        return turn

    async def close() -> None:
        await runner.aclose()
        await model.aclose()

    return conversation, close


async def in_memory_client(
    url: str, strategy: TruncationStrategy, chars: int
) -> tuple[NewConversation, Callable[[], Awaitable[None]]]:
    """``Agent.run`` with an in-memory ``Session``: the whole history is at hand on every turn."""
    model = OpenAIChatModel(model="fake", base_url=url, api_key="bench")
    agent = Agent(model, instructions=INSTRUCTIONS, truncation=strategy)

    async def conversation() -> Turn:
        session = Session()

        async def turn(i: int) -> None:
            result = await agent.run(prompt(i, chars), session=session)
            assert result.text.startswith("Echo"), result.text

        return turn

    return conversation, model.aclose


async def floor_client(
    url: str, last_messages: int | None, chars: int
) -> tuple[NewConversation, Callable[[], Awaitable[None]]]:
    """Bare aiohttp sending what agentdown sends: the newest ``last_messages``, or what fits ``auto``."""
    http = aiohttp.ClientSession(headers={"Authorization": "Bearer bench"})
    endpoint = url.rstrip("/") + "/chat/completions"
    system = {"role": "system", "content": INSTRUCTIONS}
    budget = DEFAULT_MAX_INPUT_TOKENS - estimate(INSTRUCTIONS)

    async def conversation() -> Turn:
        history: list[dict[str, Any]] = []

        def window() -> list[dict[str, Any]]:
            if last_messages is not None:
                return history[-last_messages:]
            used, start = 0, len(history)
            while start > 0:
                cost = estimate(history[start - 1]["content"])
                if start < len(history) and used + cost > budget:
                    break
                start -= 1
                used += cost
            return history[start:]

        async def turn(i: int) -> None:
            history.append({"role": "user", "content": prompt(i, chars)})
            async with http.post(endpoint, json={"model": "fake", "messages": [system, *window()]}) as r:
                body = await r.json()
            history.append({"role": "assistant", "content": body["choices"][0]["message"]["content"]})

        return turn

    return conversation, http.close


async def timed(turn: Turn, i: int) -> tuple[float, float]:
    """Wall and CPU milliseconds of one turn."""
    c0, t0 = time.process_time(), time.perf_counter()
    await turn(i)
    return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000


async def measure(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    last, chars = args.last_messages, args.chars
    auto, window = TruncationStrategy("auto"), TruncationStrategy("last_messages", last)
    makers = {
        "aiohttp auto": floor_client(url, None, chars),
        "agentdown auto": agentdown_client(url, workdir, auto, chars),
        "in-memory auto": in_memory_client(url, auto, chars),
        f"aiohttp last{last}": floor_client(url, last, chars),
        f"agentdown last{last}": agentdown_client(url, workdir, window, chars),
        f"in-memory last{last}": in_memory_client(url, window, chars),
    }
    clients = {name: await make for name, make in makers.items()}
    first_long = args.turns - args.samples // 2
    longs: dict[str, Turn] = {}
    for name, (conversation, _) in clients.items():
        longs[name] = await conversation()
        for i in range(1, first_long):
            await longs[name](i)
    out: dict[str, dict[str, list[float]]] = {
        name: {"short wall": [], "short cpu": [], "long wall": [], "long cpu": []} for name in clients
    }
    gc.collect()
    for k in range(args.samples):
        for name, (conversation, _) in clients.items():
            short = await conversation()
            for i in range(1, SHORT_TURN):
                await short(i)
            samples = out[name]
            wall, cpu = await timed(short, SHORT_TURN)
            samples["short wall"].append(wall)
            samples["short cpu"].append(cpu)
            wall, cpu = await timed(longs[name], first_long + k)
            samples["long wall"].append(wall)
            samples["long cpu"].append(cpu)
    for _, close in clients.values():
        await close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=500, help="the long session's length when timed")
    parser.add_argument(
        "--samples",
        type=int,
        default=100,
        help="timed turns per session length and client (fewer: noisier wall medians)",
    )
    parser.add_argument("--last-messages", type=int, default=20)
    parser.add_argument("--chars", type=int, default=1000, help="characters per prompt (the reply echoes it)")
    args = parser.parse_args()
    # The database lives on tmpfs when there is one: a turn's fsync costs milliseconds on a
    # shared disk and varies with the neighbours' I/O, which would drown what is measured here.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="agentdown-bench-", dir=shm) as tmp, fake_server(0) as url:
        out = asyncio.run(measure(url, Path(tmp), args))

    def med(name: str, key: str) -> float:
        return statistics.median(out[name][key])

    kinds = ("auto", f"last{args.last_messages}")
    targets = {kind: target for kind, target in zip(kinds, (1.6, 1.3), strict=True)}
    print(
        f"one session at turn {SHORT_TURN} and one at turn ~{args.turns}, {args.chars}-character prompts "
        f"and replies, 1 model request per turn, no tools; median ms of {args.samples} samples"
    )
    verdicts = []
    for metric in ("wall", "cpu"):
        print()
        print(
            f"{metric + ' ms':<22}{'turn ' + str(SHORT_TURN):>10}{'turn ' + str(args.turns):>10}{'ratio':>8}"
        )
        for name in out:
            a, b = med(name, f"short {metric}"), med(name, f"long {metric}")
            print(f"{name:<22}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")
        for client in ("agentdown", "in-memory"):
            for kind in kinds:
                name = f"{client} {kind}"
                a = med(name, f"short {metric}") - med(f"aiohttp {kind}", f"short {metric}")
                b = med(name, f"long {metric}") - med(f"aiohttp {kind}", f"long {metric}")
                print(f"{'over ' + name:<22}{a:>+10.2f}{b:>+10.2f}{b / a:>8.2f}")
                whole = med(name, f"long {metric}") / med(name, f"short {metric}")
                verdicts.append((metric, name, b / a, whole))
    print()
    print("overhead = agentdown - aiohttp sending the same messages (what agentdown adds to the request)")
    for metric, name, over, whole in verdicts:
        # The targets are a stored session's (the in-memory client adds next to nothing to
        # the floor, so its overhead ratio is a ratio of noise: printed as a reference only).
        target = targets[name.split()[-1]]
        verdict = f"target <= {target:.2f}" if name.startswith("agentdown") else "reference, no target"
        print(
            f"{metric:<4} {name:<20} turn {args.turns} / turn {SHORT_TURN}: whole turn {whole:.2f}, "
            f"overhead {over:.2f} ({verdict})"
        )


if __name__ == "__main__":
    main()
