"""Knowledge: parsing files, chunking, and per-store indexes (BM25 + vectors) searched by fused rank.

The Agents API's files and vector stores, and Markdown agents' ``knowledge:`` folders,
build on this package; see docs/knowledge.md.
"""

from agentdown.knowledge.base import (
    Chunk,
    Chunking,
    ChunkingError,
    IndexedFile,
    KnowledgeError,
    ParseError,
    SearchHit,
)
from agentdown.knowledge.chunking import chunk_text
from agentdown.knowledge.file_search import Citation, FileSearchTool, cite
from agentdown.knowledge.index import SearchMode, StoreIndex
from agentdown.knowledge.ingest import ingest_file
from agentdown.knowledge.kb import KnowledgeBase, check_store_id
from agentdown.knowledge.parsing import SUPPORTED_EXTENSIONS, parse_file
from agentdown.knowledge.tokens import count_tokens
from agentdown.models.embeddings import Embedder, OpenAIEmbedder, embedder_from_env

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Chunk",
    "Chunking",
    "ChunkingError",
    "Citation",
    "Embedder",
    "FileSearchTool",
    "IndexedFile",
    "KnowledgeBase",
    "KnowledgeError",
    "OpenAIEmbedder",
    "ParseError",
    "SearchHit",
    "SearchMode",
    "StoreIndex",
    "check_store_id",
    "chunk_text",
    "cite",
    "count_tokens",
    "embedder_from_env",
    "ingest_file",
    "parse_file",
]
