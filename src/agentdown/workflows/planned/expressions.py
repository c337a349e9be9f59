"""The ``when`` condition language of planned workflows, parsed and evaluated without ``eval``.

A condition is written by a model, so it is treated as hostile input: a hand-written
tokenizer and recursive-descent parser accept only literals (numbers, quoted strings,
``true``/``false``/``null``), result references (``${fetch.result.count}``), comparisons
(``== != < <= > >=``, ``in``, ``not in``), ``and``/``or``/``not`` (also ``&& || !``) and
parentheses. There are no names, calls, attributes or indexing, so nothing in it can
reach a Python object; its length, token count and nesting are bounded, so a huge or
deeply nested input is refused with a message instead of exhausting the worker.

Values are JSON values: ordering compares two numbers or two strings; truthiness is
JSON's (``null``, ``false``, ``0``, ``""``, ``[]`` and ``{}`` are false).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.exceptions import AgentdownError

from .references import Reference, ReferenceSyntaxError, TemplateResolutionError, lookup, parse_reference

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_LENGTH",
    "Condition",
    "ConditionError",
    "ConditionSyntaxError",
    "parse_condition",
]

MAX_CONDITION_LENGTH = 1000
"""Characters a ``when`` may have."""
MAX_CONDITION_TOKENS = 200
"""Tokens a ``when`` may have."""
MAX_CONDITION_DEPTH = 16
"""How deeply ``not``/parentheses may nest."""


class ConditionSyntaxError(AgentdownError, ValueError):
    """A ``when`` that does not parse; the plan is rejected with this message (the model reads it)."""


class ConditionError(AgentdownError, ValueError):
    """A ``when`` that parsed but could not be evaluated (e.g. ``'a' < 1``); the task fails with this message."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<ref>\$\{[^}]*\})
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_WORDS = {"and", "or", "not", "in", "true", "false", "null"}
_SYMBOL_WORDS = {"&&": "and", "||": "or", "!": "not"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            start = len(text[pos:]) - len(text[pos:].lstrip()) + pos
            raise ConditionSyntaxError(f"unexpected character {text[start]!r} at position {start}")
        kind, value = match.lastgroup, match.group(match.lastgroup)
        if kind == "word":
            if value not in _WORDS:
                raise ConditionSyntaxError(
                    f"unknown name {value!r} at position {match.start(kind)}: a condition has only "
                    "${node_id.result...} references, literals, comparisons, and/or/not and parentheses"
                )
            kind = "op"
        elif kind == "op" and value in _SYMBOL_WORDS:
            value = _SYMBOL_WORDS[value]
        tokens.append(_Tok(kind, value, match.start(match.lastgroup)))
        if len(tokens) > MAX_CONDITION_TOKENS:
            raise ConditionSyntaxError(f"the condition has more than {MAX_CONDITION_TOKENS} tokens")
        pos = match.end()
    return tokens


# The syntax tree: tuples keep it small, immutable and JSON-free of Python objects.
# ("lit", value) | ("ref", Reference) | ("not", node) | ("and"/"or", left, right)
# | ("cmp", op, left, right) | ("list", [nodes])
_Node = tuple[Any, ...]


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.i = 0
        self.refs: list[Reference] = []

    def peek(self) -> str | None:
        return (
            self.tokens[self.i].text
            if self.i < len(self.tokens) and self.tokens[self.i].kind == "op"
            else None
        )

    def take(self) -> _Tok:
        if self.i >= len(self.tokens):
            raise ConditionSyntaxError("the condition ends where a value was expected")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expr(self, depth: int) -> _Node:
        if depth > MAX_CONDITION_DEPTH:
            raise ConditionSyntaxError(f"the condition nests deeper than {MAX_CONDITION_DEPTH} levels")
        node = self.conj(depth)
        while self.peek() == "or":
            self.i += 1
            node = ("or", node, self.conj(depth))
        return node

    def conj(self, depth: int) -> _Node:
        node = self.neg(depth)
        while self.peek() == "and":
            self.i += 1
            node = ("and", node, self.neg(depth))
        return node

    def neg(self, depth: int) -> _Node:
        if self.peek() == "not":
            self.i += 1
            if depth + 1 > MAX_CONDITION_DEPTH:
                raise ConditionSyntaxError(f"the condition nests deeper than {MAX_CONDITION_DEPTH} levels")
            return ("not", self.neg(depth + 1))
        return self.comparison(depth)

    def comparison(self, depth: int) -> _Node:
        left = self.operand(depth)
        op = self.peek()
        if op == "not" and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1].text == "in":
            self.i += 2
            return ("not", ("cmp", "in", left, self.operand(depth)))
        if op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self.i += 1
            return ("cmp", op, left, self.operand(depth))
        return left

    def operand(self, depth: int) -> _Node:
        tok = self.take()
        if tok.kind == "number":
            return ("lit", json.loads(tok.text))
        if tok.kind == "string":
            body = tok.text[1:-1]
            return ("lit", re.sub(r"\\(.)", r"\1", body))
        if tok.kind == "ref":
            try:
                ref = parse_reference(tok.text[2:-1])
            except ReferenceSyntaxError as exc:
                raise ConditionSyntaxError(str(exc)) from None
            self.refs.append(ref)
            return ("ref", ref)
        if tok.text in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[tok.text])
        if tok.text == "(":
            node = self.expr(depth + 1)
            self.expect(")")
            return node
        if tok.text == "[":
            items: list[_Node] = []
            while self.peek() != "]":
                items.append(self.operand(depth + 1))
                if self.peek() != ",":
                    break
                self.i += 1
            self.expect("]")
            return ("list", items)
        raise ConditionSyntaxError(f"expected a value at position {tok.pos}, found {tok.text!r}")

    def expect(self, text: str) -> None:
        tok = self.take() if self.i < len(self.tokens) else None
        if tok is None or tok.text != text:
            where = f"found {tok.text!r} at position {tok.pos}" if tok else "the condition ended"
            raise ConditionSyntaxError(f"expected {text!r}, {where}")


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value != [] and value != {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(
            (left == right and type(left) is type(right))
            or (_number(left) and _number(right) and left == right)
        )
    if op == "!=":
        return not _compare("==", left, right)
    if op == "in":
        if isinstance(right, str) and isinstance(left, str):
            return left in right
        if isinstance(right, list):
            return any(_compare("==", left, v) for v in right)
        if isinstance(right, Mapping) and isinstance(left, str):
            return left in right
        raise ConditionError(
            f"'in' needs a string, list or object on its right, not {json.dumps(right)[:60]}"
        )
    if not ((_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str))):
        raise ConditionError(
            f"{op!r} compares two numbers or two strings, not {json.dumps(left)[:60]} and {json.dumps(right)[:60]}"
        )
    return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])


@dataclass(frozen=True)
class Condition:
    """A parsed ``when``."""

    source: str
    """The text as written."""
    references: tuple[Reference, ...]
    """Every result reference in it (validation checks they are upstream)."""
    tree: _Node
    """The syntax tree."""

    def evaluate(self, results: Mapping[str, Any]) -> bool:
        """Whether the condition holds over ``results`` (``ConditionError`` if it cannot be decided)."""
        try:
            return _truthy(self._eval(self.tree, results))
        except TemplateResolutionError as exc:
            raise ConditionError(f"when {self.source!r}: {exc}") from None

    def _eval(self, node: _Node, results: Mapping[str, Any]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "ref":
            return lookup(node[1], results)
        if kind == "list":
            return [self._eval(n, results) for n in node[1]]
        if kind == "not":
            return not _truthy(self._eval(node[1], results))
        if kind == "and":
            return _truthy(self._eval(node[1], results)) and _truthy(self._eval(node[2], results))
        if kind == "or":
            return _truthy(self._eval(node[1], results)) or _truthy(self._eval(node[2], results))
        return _compare(node[1], self._eval(node[2], results), self._eval(node[3], results))


def parse_condition(text: object) -> Condition:
    """The condition ``text`` spells (``ConditionSyntaxError`` saying where it goes wrong)."""
    if not isinstance(text, str):
        raise ConditionSyntaxError("a condition is a string")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionSyntaxError(f"the condition is longer than {MAX_CONDITION_LENGTH} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise ConditionSyntaxError("the condition is empty")
    parser = _Parser(tokens)
    tree = parser.expr(0)
    if parser.i != len(tokens):
        tok = tokens[parser.i]
        raise ConditionSyntaxError(f"unexpected {tok.text!r} at position {tok.pos}")
    return Condition(text, tuple(parser.refs), tree)
