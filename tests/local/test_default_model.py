"""The default local model is the one the bench scores best, tools and plain instructions together.

bench/results/local_model.json holds what ``python bench/local_model.py --model NAME
--record bench/results/local_model.json`` measured for every catalogue model: change a
model, a prompt or a scorer, re-run the bench, and this test says whether the default
must change with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentdown.models.local.catalog import CATALOG, DEFAULT_MODEL

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "local_model.json"


def recorded() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(RESULTS.read_text(encoding="utf-8"))
    return data


def combined(entry: dict[str, object]) -> int:
    score, instructions = entry["score"], entry["instruction_score"]
    assert isinstance(score, int) and isinstance(instructions, int)
    assert entry["combined_score"] == score + instructions
    return score + instructions


def test_every_catalogue_model_was_measured_on_both_prompt_sets() -> None:
    results = recorded()
    assert set(results) == {m.name for m in CATALOG}
    for entry in results.values():
        assert entry["of"] == 20 and entry["instruction_prompts"] == 14
        combined(entry)


def test_the_default_is_the_best_combined_score_and_ranks_follow_the_scores() -> None:
    results = recorded()
    best = max(combined(results[m.name]) for m in CATALOG)
    assert combined(results[DEFAULT_MODEL]) == best
    by_rank = sorted(CATALOG, key=lambda m: m.rank)
    assert by_rank[0].name == DEFAULT_MODEL
    scores = [combined(results[m.name]) for m in by_rank]
    assert scores == sorted(scores, reverse=True)
