"""The deterministic scorers of bench/local_model.py's instruction prompts accept and reject what they should."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "local_model.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_local_model", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# prompt prefix -> (replies that follow it, replies that do not)
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "Say hello in five words": (
        ["Hello there, how are you?", "Hello, friend! Nice day today."],
        ["Hello", "Hello!", "Hello there, how are you doing?", "Greetings to you, my friend."],
    ),
    "Reply with exactly three words": (["I am here."], ["Yes", "I am right here."]),
    "Reply with a JSON object": (
        ['{"x": 42}', '```json\n{"x": 42}\n```'],
        ['Here it is: {"x": 42}', '{"x": "42"}', '{"x": 42, "y": 1}'],
    ),
    "Respond with a JSON array": (["[2, 4, 6]"], ["[0, 2, 4]", "The numbers are [2, 4, 6]."]),
    "List three fruits": (
        ["1. Apple\n2. Banana\n3. Cherry", "1) apple\n2) pear\n3) plum"],
        [
            "Here are three fruits:\n1. Apple\n2. Banana\n3. Cherry",
            "1. Apple\n2. Banana",
            "- Apple\n- Pear\n- Plum",
        ],
    ),
    "Give exactly three bullet points": (
        ["- Easy to read\n- Big library\n- Runs anywhere"],
        ["* a\n* b\n* c", "- a\n- b"],
    ),
    "Answer with a single word": (["Blue", "blue.", "**Blue**"], ["The sky is blue.", "Azure"]),
    "What is 12 plus 30": (["42", "42."], ["12 + 30 = 42", "The answer is 42."]),
    "Is 7 a prime number": (["Yes", "yes."], ["Yes, 7 is prime.", "No"]),
    "Write the word banana": (["BANANA"], ["Banana", "BANANA BANANA"]),
    "Count from 1 to 5": (["1, 2, 3, 4, 5", "1,2,3,4,5."], ["1 2 3 4 5", "1, 2, 3, 4, 5, 6"]),
    "Write exactly two sentences": (
        ["The sea is vast. It covers most of the Earth!"],
        ["The sea is vast.", "The sea is vast. It is deep. It is blue."],
    ),
    "Write one sentence of at least ten words": (
        ["The moon shines softly over the quiet sleeping town every night."],
        ["The moon is bright.", "The moon shines softly over the town. It is quiet and calm at night."],
    ),
    "Name one planet": (["mars", "jupiter."], ["Mars", "mars is a planet", "pluto"]),
}


def test_every_instruction_has_examples_and_its_scorer_agrees(bench: ModuleType) -> None:
    cases = {c.prompt: c for c in bench.INSTRUCTIONS}
    assert len(cases) == len(EXAMPLES) == 14
    for prefix, (good, bad) in EXAMPLES.items():
        (case,) = [c for p, c in cases.items() if p.startswith(prefix)]
        for reply in good:
            assert case.check(reply), (prefix, reply)
        for reply in bad:
            assert not case.check(reply), (prefix, reply)
