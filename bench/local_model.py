"""How well a local model calls tools and follows plain instructions, and how fast.

Tools: a fixed set of 20 prompts against four tools (weather, time, calculator,
unit conversion): 14 need a tool, checked for the right tool with valid arguments;
6 need none, checked for no call and no made-up call. Instructions: 14 prompts with
no tools that ask for a length or a format ("exactly three words", "a JSON object
with key x", "a numbered list of 3", ...), each checked by a deterministic scorer.
One model call per prompt, greedy sampling, so a run is reproducible. Also reports
load time, generation and prompt tokens/s, seconds per reply and peak memory.
Results: docs/local-model.md.

Usage: python bench/local_model.py [--model NAME|PATH] [--threads N] [--only tools|instructions]
       [--backend xllamacpp|llama-cpp-python] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import operator
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentdown.messages import Content, Message
from agentdown.models.base import ChatResponse, ToolDefinition
from agentdown.models.local import LocalChatModel, installed_models
from agentdown.models.local.toolproto import parse_output
from agentdown.models.local.weights import resolve_model_path

SYSTEM = "You are a concise, helpful assistant."

TOOLS = [
    ToolDefinition(
        "get_weather",
        "Get today's weather forecast for a city.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. 'Paris'"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            },
            "required": ["city"],
        },
    ),
    ToolDefinition(
        "current_time",
        "Get the current date and time in a time zone.",
        {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "description": "IANA time zone, e.g. 'Europe/Paris'"}
            },
            "required": ["timezone"],
        },
    ),
    ToolDefinition(
        "calculator",
        "Evaluate an arithmetic expression exactly.",
        {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. '(2 + 3) * 4'"}},
            "required": ["expression"],
        },
    ),
    ToolDefinition(
        "convert_units",
        "Convert a quantity from one unit to another (length, mass, temperature).",
        {
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from_unit": {"type": "string", "description": "e.g. 'km', 'lb', 'celsius'"},
                "to_unit": {"type": "string"},
            },
            "required": ["value", "from_unit", "to_unit"],
        },
    ),
]

Check = Callable[[dict[str, Any]], bool]
_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_arith(node.left), _arith(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_arith(node.operand)
    raise ValueError("not arithmetic")


def evaluates_to(expected: float) -> Check:
    def check(args: dict[str, Any]) -> bool:
        try:
            expr = str(args.get("expression", "")).replace("×", "*").replace("^", "**")
            expr = expr.replace("% of", "/ 100 *").replace("%", "/ 100")
            return abs(_arith(ast.parse(expr, mode="eval")) - expected) < 1e-6
        except (ValueError, SyntaxError, ZeroDivisionError):
            return False

    return check


def city(name: str, unit: str | None = None) -> Check:
    return lambda a: (
        name in str(a.get("city", "")).lower() and (unit is None or str(a.get("unit", "")).lower() == unit)
    )


def zone(*names: str) -> Check:
    return lambda a: str(a.get("timezone", "")) in names


_UNITS = {
    "km": {"km", "kilometer", "kilometers", "kilometre", "kilometres"},
    "mi": {"mi", "mile", "miles"},
    "kg": {"kg", "kilogram", "kilograms"},
    "lb": {"lb", "lbs", "pound", "pounds"},
    "f": {"f", "°f", "fahrenheit", "degf"},
    "c": {"c", "°c", "celsius", "degc"},
}


def conversion(value: float, src: str, dst: str) -> Check:
    def check(a: dict[str, Any]) -> bool:
        try:
            ok_value = abs(float(a.get("value", "nan")) - value) < 1e-9
        except (TypeError, ValueError):
            return False
        return (
            ok_value
            and str(a.get("from_unit", "")).strip().lower() in _UNITS[src]
            and str(a.get("to_unit", "")).strip().lower() in _UNITS[dst]
        )

    return check


@dataclass(frozen=True)
class Case:
    prompt: str
    expected: tuple[tuple[str, Check], ...] = ()
    """Every (tool, argument check) that must be called; empty: no tool may be called."""


CASES = [
    Case("What's the weather like in Paris today?", (("get_weather", city("paris")),)),
    Case("Is it going to rain in London?", (("get_weather", city("london")),)),
    Case("Give me the forecast for Tokyo in fahrenheit.", (("get_weather", city("tokyo", "fahrenheit")),)),
    Case("What time is it in Tokyo right now?", (("current_time", zone("Asia/Tokyo")),)),
    Case("Tell me the current time in New York.", (("current_time", zone("America/New_York")),)),
    Case("What's the date today in UTC?", (("current_time", zone("UTC", "Etc/UTC")),)),
    Case("What is 1234 * 5678?", (("calculator", evaluates_to(7006652)),)),
    Case("Calculate (17 + 25) / 6.", (("calculator", evaluates_to(7)),)),
    Case("What's 15% of 240?", (("calculator", evaluates_to(36)),)),
    Case("Convert 5 kilometers to miles.", (("convert_units", conversion(5, "km", "mi")),)),
    Case("How many pounds is 70 kg?", (("convert_units", conversion(70, "kg", "lb")),)),
    Case("Convert 100 fahrenheit to celsius.", (("convert_units", conversion(100, "f", "c")),)),
    Case("I'm flying to Seattle tomorrow, how's the weather there?", (("get_weather", city("seattle")),)),
    Case(
        "What's the weather in Paris, and what time is it in Tokyo?",
        (("get_weather", city("paris")), ("current_time", zone("Asia/Tokyo"))),
    ),
    Case("Hi! Who are you?"),
    Case("Write a haiku about autumn."),
    Case("What is the capital of Italy?"),
    Case("Translate 'good morning' into Spanish."),
    Case("Explain in one sentence what photosynthesis is."),
    Case("Thanks, that's all for today!"),
]


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+(?:-[A-Za-z0-9']+)*", text)


def _bare(text: str) -> str:
    """The reply without surrounding whitespace, quotes, and a final full stop."""
    return text.strip().strip("\"'`*").strip().rstrip(".!").strip()


def _json(text: str) -> Any:
    """The reply as JSON; a Markdown code fence around it is allowed, any other prose is not."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    try:
        return json.loads(fenced.group(1) if fenced else body)
    except ValueError:
        return None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if _words(s)]


@dataclass(frozen=True)
class Instruction:
    prompt: str
    check: Callable[[str], bool]
    """The whole reply must satisfy this."""


INSTRUCTIONS = [
    Instruction(
        "Say hello in five words.",
        lambda t: len(_words(t)) == 5 and "hello" in t.lower(),
    ),
    Instruction("Reply with exactly three words.", lambda t: len(_words(t)) == 3),
    Instruction(
        'Reply with a JSON object with one key, "x", whose value is the number 42. Only the JSON.',
        lambda t: _json(t) == {"x": 42},
    ),
    Instruction(
        "Respond with a JSON array of the first three positive even numbers, and nothing else.",
        lambda t: _json(t) == [2, 4, 6],
    ),
    Instruction(
        "List three fruits as a numbered list, one per line, with nothing before or after the list.",
        lambda t: len(_lines(t)) == 3 and all(re.match(r"\d[.)]\s+\S", line) for line in _lines(t)),
    ),
    Instruction(
        "Give exactly three bullet points about Python, each line starting with '- ', and nothing else.",
        lambda t: len(_lines(t)) == 3 and all(line.startswith("- ") for line in _lines(t)),
    ),
    Instruction(
        "Answer with a single word: what colour is the sky on a clear day?",
        lambda t: _bare(t).lower() == "blue",
    ),
    Instruction("What is 12 plus 30? Answer with the number only.", lambda t: _bare(t) == "42"),
    Instruction("Is 7 a prime number? Reply with yes or no only.", lambda t: _bare(t).lower() == "yes"),
    Instruction(
        "Write the word banana in capital letters, and nothing else.", lambda t: _bare(t) == "BANANA"
    ),
    Instruction(
        "Count from 1 to 5, separated by commas, and nothing else.",
        lambda t: re.sub(r"\s+", "", _bare(t)) == "1,2,3,4,5",
    ),
    Instruction("Write exactly two sentences about the sea.", lambda t: len(_sentences(t)) == 2),
    Instruction(
        "Write one sentence of at least ten words about the moon.",
        lambda t: len(_words(t)) >= 10 and len(_sentences(t)) == 1,
    ),
    Instruction(
        "Name one planet of the solar system, in lowercase letters only.",
        lambda t: (
            t.strip() == t.strip().lower()
            and _bare(t) in {"mercury", "venus", "earth", "mars", "jupiter", "saturn", "uranus", "neptune"}
        ),
    ),
]


async def run_instructions(model: LocalChatModel) -> dict[str, Any]:
    """The instruction prompts, no tools offered; a reply counts only if its scorer accepts it."""
    rows = []
    before = model.stats.completion_tokens
    for case in INSTRUCTIONS:
        started = time.perf_counter()
        response = await model.complete([Message.system(SYSTEM), Message.user(case.prompt)])
        text = response.message.text
        ok = case.check(text)
        rows.append(
            {
                "prompt": case.prompt,
                "ok": ok,
                "text": text,
                "completion_tokens": response.usage.output_tokens if response.usage else None,
                "finish_reason": response.finish_reason,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        print(f"{'ok ' if ok else 'NO '} {case.prompt[:60]:60} {text[:70]!r}", flush=True)
    return {
        "instruction_score": sum(r["ok"] for r in rows),
        "instruction_prompts": len(rows),
        "instruction_completion_tokens": model.stats.completion_tokens - before,
        "instruction_rows": rows,
    }


def score(case: Case, calls: list[Content], text: str) -> tuple[bool, bool]:
    """(right tools called, and with valid arguments) for one reply.

    A reply that needs no tool must call none and must not be a made-up call either
    (JSON naming a tool that does not exist, shown to the user as text).
    """
    if not case.expected:
        clean = not calls and not parse_output(text, {"_"}).unknown
        return clean, clean
    names_ok = sorted(c.name or "" for c in calls) == sorted(name for name, _ in case.expected)
    args_ok = names_ok and all(
        any(c.name == name and c.arguments is not None and check(c.arguments) for c in calls)
        for name, check in case.expected
    )
    return names_ok, args_ok


async def run(model: LocalChatModel) -> dict[str, Any]:
    rows = []
    first_token: list[float] = []
    cold_prompt: tuple[int, float] | None = None
    model.transcript = []
    seen = 0
    for case in CASES:
        started = time.perf_counter()
        first: float | None = None
        response: ChatResponse | None = None
        async for event in model.stream([Message.system(SYSTEM), Message.user(case.prompt)], tools=TOOLS):
            first = first or time.perf_counter()
            if isinstance(event, ChatResponse):
                response = event
        assert response is not None and first is not None
        first_token.append(first - started)
        if cold_prompt is None:
            # The first request evaluates its whole prompt (later ones reuse the cached
            # system prompt), so it gives the prompt-processing speed.
            cold_prompt = (model.stats.prompt_tokens, model.stats.prompt_seconds)
        calls = response.message.tool_calls
        names_ok, args_ok = score(case, calls, response.message.text)
        raws = model.transcript[seen:]
        seen = len(model.transcript)
        raw = raws[0]
        rows.append(
            {
                "prompt": case.prompt,
                "needs_tool": bool(case.expected),
                "tool_ok": names_ok,
                "ok": args_ok,
                "form": parse_output(raw, {t.name for t in TOOLS}).form,
                "calls": [{"name": c.name, "arguments": c.arguments} for c in calls],
                "text": response.message.text,
                "raw": raw,
                "retried_without_tools": len(raws) > 1,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        mark = "ok " if args_ok else ("~  " if names_ok else "NO ")
        print(f"{mark} {case.prompt[:60]:60} {rows[-1]['calls'] or rows[-1]['text'][:50]!r}", flush=True)
    tool_rows = [r for r in rows if r["needs_tool"]]
    plain_rows = [r for r in rows if not r["needs_tool"]]
    stats = model.stats
    return {
        "model": model.model_name,
        "path": str(model.path),
        "score": sum(r["ok"] for r in rows),
        "of": len(rows),
        "tool_calls_right_tool": sum(r["tool_ok"] for r in tool_rows),
        "tool_calls_valid_arguments": sum(r["ok"] for r in tool_rows),
        "tool_prompts": len(tool_rows),
        "no_tool_correct": sum(r["ok"] for r in plain_rows),
        "no_tool_prompts": len(plain_rows),
        "retried_without_tools": sum(r["retried_without_tools"] for r in rows),
        "load_seconds": round(model.load_seconds or 0.0, 2),
        "generation_tokens_per_second": round(stats.tokens_per_second, 1),
        "completion_tokens": stats.completion_tokens,
        "cold_prompt_tokens_per_second": round(cold_prompt[0] / cold_prompt[1], 1) if cold_prompt else None,
        "mean_reply_seconds": round(sum(r["seconds"] for r in rows) / len(rows), 2),
        "mean_time_to_first_event_s": round(sum(first_token) / len(first_token), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a pulled model's name or a .gguf path (default: best pulled)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--backend",
        choices=("xllamacpp", "llama-cpp-python"),
        help="the llama.cpp binding (default: AGENTDOWN_LOCAL_BACKEND, else the best installed)",
    )
    parser.add_argument("--only", choices=("tools", "instructions"), help="run one set of prompts")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument(
        "--record",
        type=Path,
        help="merge the summary into this file, by model (bench/results/local_model.json: "
        "what the default model is chosen by, see tests/local/test_default_model.py)",
    )
    args = parser.parse_args()
    if args.model is None and not installed_models():
        sys.exit("no local model pulled: run `agentdown models pull` first")
    path, name = resolve_model_path(args.model)
    model = LocalChatModel(path, name=name, n_threads=args.threads, backend=args.backend)

    async def go() -> dict[str, Any]:
        await model.load()
        report: dict[str, Any] = {
            "model": model.model_name,
            "path": str(model.path),
            "backend": model.backend,
        }
        if args.only != "instructions":
            report.update(await run(model))
        if args.only != "tools":
            report.update(await run_instructions(model))
        if args.only is None:
            report["combined_score"] = report["score"] + report["instruction_score"]
            report["combined_of"] = report["of"] + report["instruction_prompts"]
        return report

    report = asyncio.run(go())
    summary = {k: v for k, v in report.items() if k not in ("rows", "instruction_rows")}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.record:
        recorded = json.loads(args.record.read_text(encoding="utf-8")) if args.record.exists() else {}
        summary.pop("path", None)  # this machine's cache folder: not a result
        summary["missed"] = [
            r["prompt"] for r in report.get("rows", []) + report.get("instruction_rows", []) if not r["ok"]
        ]
        recorded[report["model"]] = summary
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
