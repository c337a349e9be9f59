"""Output bindings and binding expressions: defined in :mod:`agentdown.app.bindings` (the app layer
validates ``output`` and ``session_key`` at load time, and a lower layer never imports a higher
one); re-exported here for the trigger host."""

from agentdown.app.bindings import (
    BindingError,
    OutputBinding,
    PathPattern,
    parse_output,
    render,
    session_id_for,
)

__all__ = ["BindingError", "OutputBinding", "PathPattern", "parse_output", "render", "session_id_for"]
