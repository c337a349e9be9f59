"""Problems the Agents API answers with ``{"error": {"code", "message"}}`` and an HTTP status.

Raised by the runtime half (runs, tool definitions, assistants) as well as by the
routes, so a worker and the server refuse the same input the same way.
"""

from __future__ import annotations

from typing import Any

from agentdown.exceptions import AgentdownError

__all__ = ["ApiProblem", "bad_request", "conflict", "not_found"]


class ApiProblem(AgentdownError):
    """An answer other than 200: ``status``, a stable ``code``, and a message for the caller."""

    def __init__(self, status: int, message: str, code: str = "invalid_request", *, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        """The request field at fault (``tools[2].type``), when one is."""

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> ApiProblem:
    return ApiProblem(400, message, code, param=param)


def not_found(kind: str, record_id: str) -> ApiProblem:
    return ApiProblem(404, f"no {kind} with id {record_id!r}", "not_found")


def conflict(message: str, code: str = "conflict") -> ApiProblem:
    return ApiProblem(409, message, code)
