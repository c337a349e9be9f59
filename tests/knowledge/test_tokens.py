"""Token counts are cl100k's, computed with no network at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from agentdown.knowledge import count_tokens

SRC = Path(__file__).resolve().parents[2] / "src"


def test_known_counts() -> None:
    # Reference values of OpenAI's cl100k_base (tiktoken's own test suite).
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") == 7  # special tokens count as plain text
    assert count_tokens("tiktoken is great!") == 6


def test_loads_with_the_network_cut_off(tmp_path: Path) -> None:
    """In a fresh process whose every socket connect fails and whose proxies point at a
    dead port, with an empty tiktoken cache: the encoding still loads and counts."""
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network is forbidden in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from agentdown.knowledge import chunk_text, count_tokens, Chunking
        print(count_tokens("hello world"), len(chunk_text("word " * 500, Chunking("static", 100, 0))))
        """
    )
    env = {
        "PYTHONPATH": str(SRC),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "5"]
    assert not (tmp_path / "cache").exists()  # tiktoken's download cache was never touched
