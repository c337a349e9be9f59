"""Ingestion of vector store files as durable jobs on the queue (see :mod:`.service`)."""

from agentdown.runtime.agents_api.ingest.service import INGEST_QUEUE, IngestService, IngestSettings

__all__ = ["INGEST_QUEUE", "IngestService", "IngestSettings"]
